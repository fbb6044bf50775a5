#!/usr/bin/env bash
# scripts/run.sh: run Canopy locally, all-in-one (README "Quick start", command 1).
# Brings up PostgreSQL, NATS (JetStream) and Redis if they are not already running (see
# scripts/lib/infra.sh), builds the `canopy` binary and runs `canopy start` in the foreground.
# Extra arguments are passed to `canopy start`. On exit (Ctrl-C, SIGTERM) it stops only the
# infrastructure it started itself.
#
#   CANOPY_PROFILE=release scripts/run.sh     build and run the release binary (default: debug)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh

trap canopy_infra_down EXIT
canopy_infra_up

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
command -v cargo >/dev/null 2>&1 || { echo "canopy: error: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }

profile="${CANOPY_PROFILE:-debug}"
case "$profile" in
  debug | dev) build_args=(); profile_dir=debug ;;
  release) build_args=(--release); profile_dir=release ;;
  *) build_args=(--profile "$profile"); profile_dir="$profile" ;;
esac
cargo build -p canopy "${build_args[@]}"
bin="${CARGO_TARGET_DIR:-target}/$profile_dir/canopy"

# Where clients should connect: CANOPY_PUBLIC_URL if set, else the listen address.
listen="${CANOPY_LISTEN:-127.0.0.1:8080}"
case "$listen" in
  0.0.0.0:* | "[::]":*) listen="127.0.0.1:${listen##*:}" ;;
esac
base="${CANOPY_PUBLIC_URL:-http://$listen}"
base="${base%/}"

cat <<INFO

  Canopy MCP endpoint:  $base/mcp

  Register an upstream MCP server:
    curl -X POST $base/api/v0/servers -H 'content-type: application/json' \\
      -d '{"name":"everything","transport":"streamable_http","url":"http://127.0.0.1:3001/mcp"}'
  List the tools it offers:
    curl $base/api/v0/tools

  Claude (claude_desktop_config.json):
    {
      "mcpServers": {
        "canopy": {
          "command": "npx",
          "args": ["mcp-remote", "$base/mcp", "--allow-http"]
        }
      }
    }

  Cursor (.cursor/mcp.json):
    {
      "mcpServers": {
        "canopy": { "url": "$base/mcp" }
      }
    }

INFO

# Run canopy as a child (not exec) so the EXIT trap can stop the infrastructure afterwards;
# forward SIGINT/SIGTERM to it and wait for it to finish.
child=""
# shellcheck disable=SC2317 # invoked by the trap
forward() { if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null || true; fi; }
trap forward INT TERM
"$bin" start "$@" <&0 &
child=$!
set +e
wait "$child"
status=$?
while kill -0 "$child" 2>/dev/null; do
  wait "$child"
  status=$?
done
set -e
exit "$status"
