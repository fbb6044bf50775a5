#!/usr/bin/env bash
# scripts/console-check.sh: the admin console (/console) in a real browser.
#
# Builds `canopy` and `canopy-fixture-mcp` (debug), installs Debian's chromium if missing and
# the test's npm packages (`npm ci` in console/: playwright-core, axe-core), checks that the
# checked-in console bundle is what its sources build (scripts/build-console.sh --check), starts the fixture
# MCP server (Streamable HTTP, and legacy SSE behind a bearer token) and two `canopy start`s
# (development and enterprise mode, each on a fresh database and NATS prefix,
# scripts/lib/instance.sh), then runs console/tests/console.test.mjs: register the fixture
# through the page (Streamable HTTP, stdio with an environment variable, SSE with its token,
# Streamable HTTP with a custom header, then replaced with the form's force option), try its
# tools with the generated forms, create, edit and delete a group and see its endpoint follow,
# disable the fixture and see its tools vanish from /mcp, read the audit page and see a call
# appear in live mode, follow a job's log lines live and cancel it, download a job's artifact,
# read an ended job's lines page after page, list an uploaded input on the jobs and job pages,
# see a waiting job's page show it claimed and started (status and events) without a reload,
# read the connect panel and run a server's `canopy stdio` configuration as pasted; in
# enterprise mode sign in through the console's own sign-in (OAuth with PKCE against Canopy's
# authorization server, no header added by the test) as the owner, create a user on the
# identities page, promote it in place and use its once-shown token until the user is deleted,
# create an MCP client and use its once-shown token on /mcp, narrow its allow list in place and
# see tools/list follow, delete it, see the console refresh its token, a reload need sign-in
# again, a group's configurations on the connect panel hold no token and `canopy login --oauth`
# then `canopy stdio` as configured reach it, sign out revoke the tokens; sign in as a member
# (no admin action shown), as another tenant's owner (none of the first tenant's servers or
# audit) and as the platform operator (only the Tenants page: create a tenant there, its owner's
# token shown once, suspend and resume one; the new owner then signs in and sees only their
# tenant); no token in the browser's storage; axe-core on every page and state; a screenshot of
# every page, kept with the logs, or written to docs/console/ (the README's pictures) with
# `--update-screenshots`. Stops everything it started.
#
# Needs bubblewrap (the jobs) and uv (the python built-in; installed into .state/tools like the
# other tools). Environment as scripts/inspector-check.sh (CANOPY_SKIP_BUILD, CANOPY_KEEP_LOGS);
# CHROMIUM to use another browser binary.
set -euo pipefail

screenshots=""
case "${1:-}" in
  --update-screenshots) screenshots="docs/console" ;;
  "") ;;
  *)
    echo "usage: scripts/console-check.sh [--update-screenshots]" >&2
    exit 2
    ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh
# shellcheck source-path=SCRIPTDIR source=lib/node-tools.sh
. scripts/lib/node-tools.sh
# shellcheck source-path=SCRIPTDIR source=lib/instance.sh
. scripts/lib/instance.sh
# shellcheck source-path=SCRIPTDIR source=lib/python-tools.sh
. scripts/lib/python-tools.sh

log() { printf 'console-check: %s\n' "$*" >&2; }
fail() {
  printf 'console-check: FAILED: %s\n' "$*" >&2
  exit 1
}

work=""
fixture_pid=""
sse_pid=""

cleanup() {
  local rc=$?
  set +e
  canopy_instances_stop
  canopy_stop_pid fixture "$fixture_pid"
  canopy_stop_pid fixture-sse "$sse_pid"
  canopy_check_finish console-check "$work" "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

canopy_infra_up
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || fail "node and npm are needed (Debian: apt-get install nodejs npm)"
CHROMIUM="$(canopy_ensure_chromium)" || fail "chromium is needed (Debian: apt-get install chromium)"
export CHROMIUM
# The jobs steps run in the local backend's sandbox, the python step in the python built-in's:
# without these the instances start, but their jobs wait queued and their environments fail.
canopy_ensure_bubblewrap || fail "bubblewrap is needed (Debian: apt-get install bubblewrap)"
canopy_ensure_uv || fail "uv could not be installed"
export CANOPY_UV
log "node $(node --version); installing the test's packages (npm ci in console/)"
(cd console && npm ci --loglevel=error --no-fund --no-audit --no-update-notifier >&2) || fail "npm ci in console/ failed"
# The binary serves the checked-in console/web/app.js: it must be what console/src builds, or the
# browser would test something else than the sources say.
scripts/build-console.sh --check || fail "console/web/app.js is stale (scripts/build-console.sh)"

target="${CARGO_TARGET_DIR:-target}/debug"
if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
  canopy_ensure_rust_tools
  log "building canopy and canopy-fixture-mcp (debug)"
  cargo build -q -p canopy --bins || fail "cargo build -p canopy failed"
  cargo build -q -p canopy-fixture-server --bins || fail "cargo build -p canopy-fixture-server failed"
fi
[[ -x "$target/canopy" && -x "$target/canopy-fixture-mcp" ]] \
  || fail "binaries missing in $target (build them or unset CANOPY_SKIP_BUILD)"

work="$(mktemp -d "${TMPDIR:-/tmp}/canopy-console.XXXXXX")"
# The instances' state dirs are under it, and the python built-in's sandboxes (uid 65534) must
# traverse every directory above their environments: mktemp makes it 0700.
chmod 711 "$work"

fx_port="$(canopy_free_port)"
"$target/canopy-fixture-mcp" --transport http --listen "127.0.0.1:$fx_port" >"$work/fixture.log" 2>&1 &
fixture_pid=$!
canopy_wait_tcp 127.0.0.1 "$fx_port" 30 "$fixture_pid" || fail "fixture did not start"
# The same fixture on legacy HTTP+SSE behind a bearer token: the page registers it as `sse`.
sse_port="$(canopy_free_port)"
sse_token="console-sse-$RANDOM$RANDOM"
"$target/canopy-fixture-mcp" --transport sse --listen "127.0.0.1:$sse_port" --bearer-token "$sse_token" \
  >"$work/fixture-sse.log" 2>&1 &
sse_pid=$!
canopy_wait_tcp 127.0.0.1 "$sse_port" 30 "$sse_pid" || fail "fixture (sse) did not start"

# Two job slots, whatever the host's CPUs: the test fills them to see a job wait, then start.
CANOPY_JOBS_LOCAL_SLOTS=2 canopy_instance_start console-dev development "$target/canopy" "$work" \
  || fail "canopy (development) did not start"
dev_url="$CANOPY_INSTANCE_URL"
# Access tokens of 40 s: the test sees the console refresh one before it expires.
CANOPY_OAUTH_ACCESS_TOKEN_TTL_SECS=40 canopy_instance_start console-ent enterprise "$target/canopy" "$work" \
  || fail "canopy (enterprise) did not start"
ent_url="$CANOPY_INSTANCE_URL"

if [[ -n "$screenshots" ]]; then screenshots="$PWD/$screenshots"; else screenshots="$work/screenshots"; fi
log "running console/tests/console.test.mjs (screenshots to $screenshots)"
CANOPY_URL="$dev_url" CANOPY_ENTERPRISE_URL="$ent_url" FIXTURE_URL="http://127.0.0.1:$fx_port/mcp" \
  FIXTURE_BIN="$(cd "$(dirname "$target/canopy-fixture-mcp")" && pwd)/canopy-fixture-mcp" \
  CANOPY_BIN="$(cd "$(dirname "$target/canopy")" && pwd)/canopy" \
  FIXTURE_SSE_URL="http://127.0.0.1:$sse_port/sse" FIXTURE_SSE_TOKEN="$sse_token" \
  CONSOLE_SCREENSHOTS="$screenshots" \
  node console/tests/console.test.mjs || fail "the browser test failed"
