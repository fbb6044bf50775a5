#!/usr/bin/env bash
# scripts/python-client-check.sh: the generated Python admin client (clients/python, from
# openapi/canopy-api.json) against a real Canopy.
#
# Builds `canopy` and `canopy-fixture-mcp` (debug), starts the fixture MCP server (Streamable
# HTTP, 2 extra tools) and `canopy start` in development mode on a fresh database and NATS prefix
# (scripts/lib/instance.sh), then runs clients/python/tests with pytest, in a Python environment
# that uv (scripts/lib/python-tools.sh) makes from the local python3 with pytest (pinned, from
# PyPI) and the client installed editable: register the fixture, wait until it is ready, list its
# tools, call them through POST /api/v0/tools/invoke, find the calls in the audit log, the typed
# 404 envelope of an unknown server, deregister. Stops everything it started.
#
# Environment as scripts/inspector-check.sh (CANOPY_SKIP_BUILD, CANOPY_KEEP_LOGS); extra
# arguments go to pytest (e.g. -k audit). CANOPY_PYTEST_VERSION overrides the pinned pytest.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh
# shellcheck source-path=SCRIPTDIR source=lib/node-tools.sh
. scripts/lib/node-tools.sh
# shellcheck source-path=SCRIPTDIR source=lib/instance.sh
. scripts/lib/instance.sh
# shellcheck source-path=SCRIPTDIR source=lib/python-tools.sh
. scripts/lib/python-tools.sh

log() { printf 'python-client-check: %s\n' "$*" >&2; }
fail() {
  printf 'python-client-check: FAILED: %s\n' "$*" >&2
  exit 1
}

pytest_version="${CANOPY_PYTEST_VERSION:-9.2.0}"
work=""
fixture_pid=""

cleanup() {
  local rc=$?
  set +e
  canopy_instances_stop
  canopy_stop_pid fixture "$fixture_pid"
  canopy_check_finish python-client-check "$work" "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

canopy_infra_up
# The shared helpers (free ports, NATS cleanup) need node.
command -v node >/dev/null 2>&1 || canopy_node_tools
canopy_ensure_uv || fail "uv could not be installed"
python="${CANOPY_PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || fail "$python is needed (>= 3.11, the client's requires-python)"

target="${CARGO_TARGET_DIR:-target}/debug"
if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
  canopy_ensure_rust_tools
  log "building canopy and canopy-fixture-mcp (debug)"
  cargo build -q -p canopy --bins || fail "cargo build -p canopy failed"
  cargo build -q -p canopy-fixture-server --bins || fail "cargo build -p canopy-fixture-server failed"
fi
[[ -x "$target/canopy" && -x "$target/canopy-fixture-mcp" ]] \
  || fail "binaries missing in $target (build them or unset CANOPY_SKIP_BUILD)"

work="$(mktemp -d "${TMPDIR:-/tmp}/canopy-python-client.XXXXXX")"
# The instance's state dir is under it, and the python built-in's sandboxes (uid 65534) must
# traverse every directory above their environments: mktemp makes it 0700.
chmod 711 "$work"

fx_port="$(canopy_free_port)"
"$target/canopy-fixture-mcp" --transport http --listen "127.0.0.1:$fx_port" --extra-tools 2 \
  >"$work/fixture.log" 2>&1 &
fixture_pid=$!
canopy_wait_tcp 127.0.0.1 "$fx_port" 30 "$fixture_pid" || fail "fixture did not start"
log "fixture at http://127.0.0.1:$fx_port/mcp (pid $fixture_pid)"

canopy_instance_start python-client development "$target/canopy" "$work" || fail "canopy did not start"

# uv makes (or reuses, from its cache) an environment with pytest and the client, editable: the
# tests import the checked-in package itself. No bytecode or pytest cache is left in the tree.
log "pytest $pytest_version on clients/python/tests against $CANOPY_INSTANCE_URL"
CANOPY_URL="$CANOPY_INSTANCE_URL" CANOPY_FIXTURE_URL="http://127.0.0.1:$fx_port/mcp" \
  PYTHONDONTWRITEBYTECODE=1 UV_PYTHON_DOWNLOADS=never \
  "$CANOPY_UV" run --quiet --no-project --python "$(command -v "$python")" \
  --with "pytest==$pytest_version" --with-editable clients/python \
  python -m pytest -p no:cacheprovider -v clients/python/tests "$@" || fail "the Python client's tests failed"
