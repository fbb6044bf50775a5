#!/usr/bin/env bash
# scripts/test.sh: run the whole test suite (README "Quick start", command 2; also what CI runs).
# Brings up PostgreSQL, NATS (JetStream) and Redis if they are not already running (see
# scripts/lib/infra.sh), installs haproxy if missing (the stateless-edge tests run their own) and
# moto's S3 server into .state/tools/moto (scripts/lib/python-tools.sh; canopy-blobs' S3 tests),
# exports CANOPY_DATABASE_URL / DATABASE_URL, CANOPY_NATS_URL and CANOPY_REDIS_URL for the
# tests, runs `cargo nextest run --workspace --no-fail-fast` (extra arguments are passed to
# nextest), stops only the infrastructure it started, and exits with the test status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh
# shellcheck source-path=SCRIPTDIR source=lib/python-tools.sh
. scripts/lib/python-tools.sh

trap canopy_infra_down EXIT
canopy_infra_up
canopy_ensure_rust_tools
# The stateless-edge e2e tests put two edges behind a real HAProxy (round-robin, no stickiness).
canopy_ensure_haproxy
# Jobs and Python code run in bubblewrap sandboxes (canopy-sandbox's tests use the real one).
canopy_ensure_bubblewrap
# canopy-blobs' S3 tests run against moto's S3 server on loopback (CANOPY_MOTO_SERVER).
canopy_ensure_moto
# canopy-pyenv makes Python environments with uv (CANOPY_UV).
canopy_ensure_uv
# The job-poller's Ray backend tests start a Ray head on loopback (CANOPY_RAY).
canopy_ensure_ray

status=0
# Test databases carry this run's tag; they are dropped when the tests are done.
CANOPY_TEST_RUN="r$(date +%s)p$$"
export CANOPY_TEST_RUN
drop_test_databases() {
  local db
  for db in $(psql "$CANOPY_DATABASE_URL" -XAt -c \
    "select datname from pg_database where datname like 'canopy\_test\_${CANOPY_TEST_RUN}\_%'" 2>/dev/null); do
    psql "$CANOPY_DATABASE_URL" -Xq -c "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true
  done
}
nextest_log="${CANOPY_STATE_DIR:-.state}/nextest.log"
mkdir -p "$(dirname "$nextest_log")"
cargo nextest run --workspace --no-fail-fast "$@" 2>&1 | tee "$nextest_log" || status=$?
drop_test_databases

# ---------------------------------------------------------------------------------------------
# Checks beyond cargo. Each records a failure in `status` rather than exiting, so the
# infrastructure is still torn down.
#
# Real MCP clients (Node >= 22.19 and the npm packages come from scripts/lib/node-tools.sh):
# - the MCP Inspector CLI lists and calls a fixture's tools through `canopy start`;
# - OAuth end to end against `canopy start --enterprise`: the MCP TypeScript SDK's client
#   (authorization code + PKCE with dynamic registration, client credentials), the Inspector
#   with a client-credentials token, single sign-on through oidc-provider;
# - the admin console (/console) in Debian's chromium, headless, driven by playwright-core:
#   register the fixture, try its tools, disable it and see it vanish from /mcp, audit, jobs,
#   connect, enterprise mode's notice; axe-core on every page; screenshots to docs/console/;
# - the official conformance suite (0.1.16 and the 2026-07-28 pre-release) runs against the
#   fixture MCP server directly, then THROUGH Canopy (the fixture registered over HTTP and as
#   stdio, at /servers/NAME/mcp), each with its baseline in conformance/;
# - the admin clients generated from openapi/canopy-api.json (TypeScript, Python) are up to date,
#   and the console's checked-in bundle (console/web/app.js) is what console/src builds with the
#   TypeScript one;
# - the Python admin client does real work against `canopy start` (register the fixture, list and
#   call its tools, read the audit, a typed 404, deregister) in pytest, through uv;
# - Schemathesis (from PyPI) fuzzes every REST operation of openapi/canopy-api.json, in
#   development and in enterprise mode: no 5xx, and every answer as documented;
# - deploy/ checked with real tools, without a cluster: kubectl kustomize renders both
#   overlays, kubernetes-validate checks them against the Kubernetes schemas, Docker Compose
#   v2 parses the Compose files, hadolint lints the Containerfile (scripts/deploy-check.sh).
# CANOPY_SKIP_NODE_CHECKS=1 skips them (e.g. offline).
if [[ -z "${CANOPY_SKIP_NODE_CHECKS:-}" ]]; then
  echo "canopy: MCP Inspector check (scripts/inspector-check.sh)" >&2
  scripts/inspector-check.sh || { echo "canopy: inspector check FAILED" >&2; status=1; }
  echo "canopy: OAuth with real clients: the MCP SDK, the Inspector, oidc-provider (scripts/oauth-check.sh)" >&2
  CANOPY_SKIP_BUILD=1 scripts/oauth-check.sh || { echo "canopy: OAuth check FAILED" >&2; status=1; }
  echo "canopy: the admin console in headless chromium: Playwright and axe-core (scripts/console-check.sh)" >&2
  CANOPY_SKIP_BUILD=1 scripts/console-check.sh || { echo "canopy: console check FAILED" >&2; status=1; }
  echo "canopy: MCP conformance suites against the fixture (scripts/conformance.sh --fixture-direct)" >&2
  scripts/conformance.sh --fixture-direct || { echo "canopy: conformance (fixture-direct) FAILED" >&2; status=1; }
  echo "canopy: MCP conformance suites through the gateway (scripts/conformance-gateway.sh)" >&2
  CANOPY_SKIP_BUILD=1 scripts/conformance-gateway.sh || { echo "canopy: conformance (through canopy) FAILED" >&2; status=1; }
  echo "canopy: generated admin clients match openapi/ (scripts/generate-clients.sh --check)" >&2
  scripts/generate-clients.sh --check || { echo "canopy: generated clients are stale" >&2; status=1; }
  echo "canopy: the console's bundle is what console/src builds with the client (scripts/build-console.sh --check)" >&2
  scripts/build-console.sh --check || { echo "canopy: console bundle is stale" >&2; status=1; }
  echo "canopy: the generated Python admin client against canopy start (scripts/python-client-check.sh)" >&2
  CANOPY_SKIP_BUILD=1 scripts/python-client-check.sh || { echo "canopy: Python client check FAILED" >&2; status=1; }
  echo "canopy: schema fuzzing of the REST API, 0 server errors (scripts/schemathesis.sh)" >&2
  CANOPY_SKIP_BUILD=1 scripts/schemathesis.sh || { echo "canopy: schemathesis FAILED" >&2; status=1; }
  echo "canopy: deploy/ rendered, validated and linted (scripts/deploy-check.sh)" >&2
  scripts/deploy-check.sh || { echo "canopy: deploy check FAILED" >&2; status=1; }
fi
# The chaos harness, short: 8 Canopy processes (two of each service, apis and edges behind
# HAProxy) on a Postgres, NATS and Redis of its own, 5 `kill -9`s under load, then nothing
# acknowledged lost or duplicated, the EVENTS stream = the events table, every edge serving
# what the read models say and refusing deleted clients' tokens, one audit record per call
# (loadtest/README.md, "Chaos"). CANOPY_SKIP_CHAOS=1 skips it.
if [[ -z "${CANOPY_SKIP_CHAOS:-}" ]]; then
  echo "canopy: chaos, short run (scripts/chaos.sh --short)" >&2
  scripts/chaos.sh --short || { echo "canopy: chaos (short) FAILED" >&2; status=1; }
fi
# ---------------------------------------------------------------------------------------------

# The conformance runner prints its own "N passed, N failed" tallies (expected baseline
# failures included); end with the Rust suite's closing line, the run's test count.
if [[ $status -ne 0 ]]; then echo "canopy: some checks FAILED (see above)" >&2; fi
grep -E '^ +Summary ' "$nextest_log" | tail -n 1 || true
exit "$status"
