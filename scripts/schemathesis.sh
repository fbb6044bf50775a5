#!/usr/bin/env bash
# scripts/schemathesis.sh: schema fuzzing of the REST API with Schemathesis, over the checked-in
# OpenAPI document (openapi/canopy-api.json), against `canopy start` in development mode and in
# enterprise mode (as the owner, with the token `init-server` answers).
#
# Each mode gets a fresh database, its own NATS prefix and a free port. Schemathesis (from PyPI,
# pinned, installed once into a venv under $CANOPY_STATE_DIR/tools) runs every operation with
# the phases examples, coverage and fuzzing, and these checks:
#   not_a_server_error           no 5xx, ever (the point of this script);
#   status_code_conformance      every status answered is one the document lists;
#   content_type_conformance     every answer's content type is the documented one;
#   response_schema_conformance  every answer's body matches its documented schema.
# It fails when Schemathesis reports any failure, or when fewer than CANOPY_SCHEMATHESIS_MIN_CASES
# cases ran in a mode.
#
# Canopy runs with PATH set to an empty directory, so a fuzzed stdio registration cannot start a
# program by name, and with short discovery and connect waits, so that fuzzed registrations of
# unreachable upstreams answer quickly.
#
# Environment: CANOPY_DATABASE_URL / CANOPY_NATS_URL / CANOPY_REDIS_URL (infrastructure is
# started when absent, see scripts/lib/infra.sh); CANOPY_SKIP_BUILD=1 to use target/debug/canopy
# as it is; CANOPY_KEEP_LOGS=1 to keep the work directory (logs and Schemathesis' reports);
# CANOPY_SCHEMATHESIS_EXAMPLES (max cases per operation and phase, default 40);
# CANOPY_SCHEMATHESIS_MIN_CASES (per mode, default 1000); CANOPY_SCHEMATHESIS_VERSION;
# CANOPY_SCHEMATHESIS_SEED (for a reproducible run). Needs python3 (>= 3.10, with venv) and
# `node` (the small shared helpers of scripts/lib/node-tools.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh
# shellcheck source-path=SCRIPTDIR source=lib/node-tools.sh
. scripts/lib/node-tools.sh

log() { printf 'schemathesis: %s\n' "$*" >&2; }
fail() {
  printf 'schemathesis: FAILED: %s\n' "$*" >&2
  exit 1
}

version="${CANOPY_SCHEMATHESIS_VERSION:-4.32.5}"
examples="${CANOPY_SCHEMATHESIS_EXAMPLES:-40}"
min_cases="${CANOPY_SCHEMATHESIS_MIN_CASES:-1000}"

work=""
canopy_pid=""
db_name=""
admin_url=""
nats_prefix=""

# Stops what the current mode started: canopy, its database, its NATS streams.
stop_mode() {
  canopy_stop_pid canopy "$canopy_pid"
  canopy_pid=""
  if [[ -n "$db_name" && -n "$admin_url" ]]; then
    psql -X -q "$admin_url" -c "drop database if exists \"$db_name\" with (force)" >/dev/null 2>&1 \
      || log "could not drop database $db_name"
  fi
  db_name=""
  if [[ -n "$nats_prefix" ]]; then canopy_nats_delete_streams "$CANOPY_NATS_URL" "$nats_prefix"; fi
  nats_prefix=""
}

cleanup() {
  local rc=$?
  set +e
  stop_mode
  canopy_check_finish schemathesis "$work" "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v node >/dev/null 2>&1 || canopy_node_tools
canopy_infra_up

# Schemathesis, once, into a project-local venv.
tools_dir="$(_canopy_state_dir)/tools"
venv="$tools_dir/schemathesis-$version"
st="$venv/bin/schemathesis"
if [[ ! -x "$st" ]]; then
  log "installing schemathesis $version from PyPI into $venv"
  mkdir -p "$tools_dir"
  python3 -m venv "$venv" || fail "python3 -m venv failed (install python3-venv)"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version" \
    || { rm -rf "$venv"; fail "pip install schemathesis==$version failed"; }
fi

target="${CARGO_TARGET_DIR:-target}/debug"
if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
  canopy_ensure_rust_tools
  log "building canopy (debug)"
  cargo build -q -p canopy --bins || fail "cargo build -p canopy failed"
fi
[[ -x "$target/canopy" ]] || fail "$target/canopy missing (build it or unset CANOPY_SKIP_BUILD)"
canopy_bin="$(cd "$(dirname "$target/canopy")" && pwd)/canopy"

work="$(mktemp -d "${TMPDIR:-/tmp}/canopy-schemathesis.XXXXXX")"
mkdir -p "$work/empty-path"
_canopy_parse_url "$CANOPY_DATABASE_URL" 5432
creds="${_URL_USER:-postgres}${_URL_PASS:+:$_URL_PASS}"
host="$_URL_HOST"
[[ "$host" == *:* ]] && host="[$host]"
admin_url="postgres://$creds@$host:$_URL_PORT/postgres"
secret_key="$("$canopy_bin" secret-key)" || fail "canopy secret-key failed"

# start_canopy MODE [--enterprise]: a fresh database, NATS prefix and port; sets $base.
start_canopy() {
  local mode="$1"
  shift
  db_name="canopy_schemathesis_${mode}_$$"
  psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "create database \"$db_name\"" >/dev/null \
    || { db_name=""; fail "could not create database on $_URL_HOST:$_URL_PORT"; }
  local db_url="postgres://$creds@$host:$_URL_PORT/$db_name"
  nats_prefix="st_${mode}_$$_$RANDOM"
  local port
  port="$(canopy_free_port)"
  base="http://127.0.0.1:$port"
  PATH="$work/empty-path" \
    CANOPY_DATABASE_URL="$db_url" DATABASE_URL="$db_url" \
    CANOPY_NATS_PREFIX="$nats_prefix" \
    CANOPY_STATE_DIR="$work/state-$mode" \
    CANOPY_SECRET_KEY="$secret_key" \
    CANOPY_PUBLIC_URL="$base" \
    CANOPY_DISCOVERY_WAIT_SECS=1 \
    CANOPY_UPSTREAM_CONNECT_TIMEOUT_SECS=2 \
    CANOPY_CALL_TIMEOUT_SECS=5 \
    "$canopy_bin" start "$@" --listen "127.0.0.1:$port" >"$work/canopy-$mode.log" 2>&1 &
  canopy_pid=$!
  canopy_wait_http "$base/readyz" 90 "$canopy_pid" || fail "canopy ($mode) did not become ready"
  log "canopy ($mode) ready at $base"
}

# fuzz MODE [schemathesis args...]: runs Schemathesis against $base; prints the number of cases.
fuzz() {
  local mode="$1"
  shift
  local report="$work/report-$mode"
  local seed_args=()
  [[ -n "${CANOPY_SCHEMATHESIS_SEED:-}" ]] && seed_args=(--seed "$CANOPY_SCHEMATHESIS_SEED")
  local started=$SECONDS rc=0
  log "fuzzing ($mode): up to $examples cases per operation and phase"
  "$st" run "openapi/canopy-api.json" --url "$base" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases examples,coverage,fuzzing \
    --max-examples "$examples" \
    --workers 2 \
    --request-timeout 15 \
    --no-color \
    --report junit --report-dir "$report" \
    "${seed_args[@]}" "$@" >"$work/schemathesis-$mode.log" 2>&1 || rc=$?
  cat "$work/schemathesis-$mode.log" >&2
  local cases
  # The summary's "Test cases: N generated, N passed".
  cases="$(grep -oE '^ *[0-9]+ generated' "$work/schemathesis-$mode.log" | tail -n 1 | tr -dc 0-9)"
  cases="${cases:-0}"
  log "fuzzing ($mode): $cases cases in $((SECONDS - started)) s, schemathesis exit $rc"
  ((rc == 0)) || fail "schemathesis reported failures in $mode mode (see above)"
  ((cases >= min_cases)) || fail "only $cases cases ran in $mode mode (want at least $min_cases)"
  total_cases=$((total_cases + cases))
}

total_cases=0
started=$SECONDS

start_canopy development
fuzz development
stop_mode

start_canopy enterprise --enterprise
curl -sS -o "$work/init.json" -X POST "$base/api/v0/init-server" || fail "init-server failed"
owner="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/init.json")" \
  || fail "init-server: $(cat "$work/init.json")"
fuzz enterprise -H "Authorization: Bearer $owner"
stop_mode

log "$total_cases cases in all, 0 failures, in $((SECONDS - started)) s"
