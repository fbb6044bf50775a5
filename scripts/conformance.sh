#!/usr/bin/env bash
# scripts/conformance.sh: run the official MCP conformance suite (@modelcontextprotocol/conformance,
# server scenarios) against an MCP endpoint, with an expected-failures baseline.
#
#   scripts/conformance.sh [options] URL [VERSION]
#   scripts/conformance.sh [options] --fixture-direct [VERSION]
#
#   URL        the Streamable HTTP endpoint, e.g. http://127.0.0.1:8080/mcp (development mode:
#              the runner sends no Authorization header)
#   VERSION    suite version: 0.1.16 (session-era suite, 2025-06-18/2025-11-25) or
#              0.2.0-alpha.12 (alias: next, 2026-07-28: runs `--spec-version 2026-07-28`).
#              Default: 0.1.16; with --fixture-direct and no VERSION, both.
#
# Options:
#   --fixture-direct     build canopy-fixture-mcp, start it with --conformance on a free port,
#                        run the suite(s) against it, stop it
#   --fixture-arg ARG    extra argument for the fixture (repeatable; e.g. --stateless)
#   --baseline FILE      expected-failures file (default: conformance/expected-failures-VERSION.yml,
#                        the fixture's own baseline); "none" runs without one
#   --suite NAME         runner suite: all (default), active, pending, ...
#   --scenario NAME      run a single scenario
#   --output DIR         where the runner writes its per-scenario results
#                        (default: $CANOPY_STATE_DIR/conformance/<time>-<version>)
#   -- ARGS...           passed to the runner unchanged
#
# Exit status: 0 when every failure is in the baseline and no baseline entry passes (the
# runner counts WARNING checks as failures once a baseline is given), non-zero otherwise.
# The installed Node >= 22 and the suite packages come from scripts/lib/node-tools.sh.
# Set CANOPY_SKIP_BUILD=1 to use target/debug/canopy-fixture-mcp as it is.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/node-tools.sh
. scripts/lib/node-tools.sh

log() { printf 'conformance: %s\n' "$*" >&2; }
die() {
  printf 'conformance: error: %s\n' "$*" >&2
  exit 2
}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

fixture_direct=""
fixture_args=()
baseline=""
suite="all"
scenario=""
output=""
extra=()
positional=()
while (($#)); do
  case "$1" in
    --fixture-direct) fixture_direct=1 ;;
    --fixture-arg) fixture_args+=("${2:?--fixture-arg needs a value}"); shift ;;
    --baseline) baseline="${2:?--baseline needs a file}"; shift ;;
    --suite) suite="${2:?--suite needs a name}"; shift ;;
    --scenario) scenario="${2:?--scenario needs a name}"; shift ;;
    --output) output="${2:?--output needs a directory}"; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) positional+=("$1") ;;
  esac
  shift
done

url=""
versions=()
if [[ -n "$fixture_direct" ]]; then
  ((${#positional[@]} <= 1)) || die "--fixture-direct takes no URL, only an optional VERSION"
  versions=("${positional[@]}")
  ((${#versions[@]})) || versions=("$CANOPY_CONFORMANCE_VERSION" "$CANOPY_CONFORMANCE_NEXT_VERSION")
else
  ((${#positional[@]} >= 1 && ${#positional[@]} <= 2)) || { usage >&2; exit 2; }
  url="${positional[0]}"
  versions=("${positional[1]:-$CANOPY_CONFORMANCE_VERSION}")
fi

# Normalise version aliases.
for i in "${!versions[@]}"; do
  case "${versions[i]}" in
    next | 2026-07-28) versions[i]="$CANOPY_CONFORMANCE_NEXT_VERSION" ;;
    current | 2025-11-25) versions[i]="$CANOPY_CONFORMANCE_VERSION" ;;
  esac
  case "${versions[i]}" in
    "$CANOPY_CONFORMANCE_VERSION" | "$CANOPY_CONFORMANCE_NEXT_VERSION") ;;
    *) die "suite version ${versions[i]} is not installed by scripts/lib/node-tools.sh ($CANOPY_CONFORMANCE_VERSION, $CANOPY_CONFORMANCE_NEXT_VERSION)" ;;
  esac
done
if [[ -n "$baseline" && "$baseline" != none && ${#versions[@]} -gt 1 ]]; then
  die "--baseline applies to one suite version: give VERSION too"
fi

canopy_node_tools

fixture_pid=""
fixture_log=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  local rc=$?
  set +e
  canopy_stop_pid fixture "$fixture_pid"
  if ((rc != 0)) && [[ -n "$fixture_log" && -s "$fixture_log" ]]; then
    log "---- last lines of the fixture's log ----"
    tail -n 30 "$fixture_log" >&2
  fi
  [[ -n "$fixture_log" ]] && rm -f "$fixture_log"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n "$fixture_direct" ]]; then
  target="${CARGO_TARGET_DIR:-target}/debug"
  if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
    if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
      # shellcheck disable=SC1091
      . "$HOME/.cargo/env"
    fi
    log "building canopy-fixture-mcp (debug)"
    cargo build -q -p canopy-fixture-server --bin canopy-fixture-mcp || die "cargo build failed"
  fi
  [[ -x "$target/canopy-fixture-mcp" ]] || die "$target/canopy-fixture-mcp missing"
  port="$(canopy_free_port)"
  fixture_log="$(mktemp "${TMPDIR:-/tmp}/canopy-fixture-conformance.XXXXXX")"
  "$target/canopy-fixture-mcp" --transport http --listen "127.0.0.1:$port" --conformance \
    "${fixture_args[@]}" >"$fixture_log" 2>&1 &
  fixture_pid=$!
  canopy_wait_tcp 127.0.0.1 "$port" 30 "$fixture_pid" || die "the fixture did not start"
  url="http://127.0.0.1:$port/mcp"
  log "fixture (--conformance${fixture_args[*]:+ ${fixture_args[*]}}) at $url (pid $fixture_pid)"
fi

state="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
# Keep the 20 newest default result folders.
if [[ -z "$output" && -d "$state/conformance" ]]; then
  find "$state/conformance" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn \
    | tail -n +21 | cut -d' ' -f2- | while IFS= read -r old; do rm -rf -- "$old"; done
fi
status=0
summary=()
for version in "${versions[@]}"; do
  runner=()
  args=(server --url "$url")
  if [[ "$version" == "$CANOPY_CONFORMANCE_NEXT_VERSION" ]]; then
    runner=(--next)
    args+=(--spec-version 2026-07-28)
  fi
  if [[ -n "$scenario" ]]; then args+=(--scenario "$scenario"); else args+=(--suite "$suite"); fi

  file="$baseline"
  [[ -n "$file" ]] || file="conformance/expected-failures-$version.yml"
  if [[ "$file" != none ]]; then
    [[ -f "$file" ]] || die "baseline $file not found (use --baseline FILE or --baseline none)"
    args+=(--expected-failures "$file")
  fi

  out="$output"
  [[ -n "$out" ]] || out="$state/conformance/$(date +%Y%m%dT%H%M%S)-$version"
  ((${#versions[@]} == 1)) || [[ -z "$output" ]] || out="$output/$version"
  mkdir -p "$out"
  args+=(-o "$out" "${extra[@]}")

  log "suite $version against $url (baseline: $file; results: $out)"
  rc=0
  timeout "${CANOPY_CONFORMANCE_TIMEOUT:-1200}" \
    bash -c '. scripts/lib/node-tools.sh && canopy_conformance "$@"' _ "${runner[@]}" "${args[@]}" \
    2>&1 | tee "$out/runner.log" || rc=${PIPESTATUS[0]}
  # The runner's own tally (checks, not scenarios).
  tally="$(grep -E '^Total: ' "$out/runner.log" | tail -n1 | sed 's/^Total: //' || true)"
  if ((rc == 0)); then
    summary+=("suite $version: OK (checks: ${tally:-?})")
  else
    summary+=("suite $version: FAILED with exit $rc (checks: ${tally:-?}; results in $out)")
    status=1
  fi
done

for line in "${summary[@]}"; do log "$line"; done
exit "$status"
