#!/usr/bin/env bash
# scripts/chaos.sh: the chaos harness (loadtest/README.md, "Chaos"). Builds `canopy` and
# `canopy-loadtest` (debug; CANOPY_SKIP_BUILD=1 uses what is in the target directory), then runs
# `canopy-loadtest chaos` against Postgres, NATS and Redis instances of its own (never the
# shared ones; it needs Debian's postgresql, nats-server, redis-server and haproxy installed).
#   scripts/chaos.sh --short   a few kills, no infrastructure restarts, about 2 minutes (CI);
#                              its table goes to $TMPDIR (not loadtest/results/), unless
#                              CANOPY_CHAOS_OUT_DIR names a folder
#   scripts/chaos.sh [ARGS]    the long run (24 kills; Postgres, NATS and Redis restarted once
#                              each); ARGS go to `canopy-loadtest chaos` (e.g. --seed N)
# Exits non-zero when anything acknowledged was lost or duplicated or an edge's view is wrong.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
target="${CARGO_TARGET_DIR:-target}/debug"
if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
  echo "canopy: building canopy and canopy-loadtest (debug)" >&2
  cargo build -q -p canopy -p canopy-loadtest
fi
for bin in canopy canopy-loadtest; do
  [[ -x "$target/$bin" ]] || { echo "canopy: $target/$bin missing (build it or unset CANOPY_SKIP_BUILD)" >&2; exit 1; }
done
args=()
if [[ "${1:-}" == "--short" ]]; then
  shift
  args=(--duration 50 --kills 5 --no-infra-restarts --callers 2 --admins 1
        --out-dir "${CANOPY_CHAOS_OUT_DIR:-${TMPDIR:-/tmp}}")
fi
exec "$target/canopy-loadtest" chaos --canopy "$target/canopy" "${args[@]}" "$@"
