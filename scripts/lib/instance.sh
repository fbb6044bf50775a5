# shellcheck shell=bash
# scripts/lib/instance.sh: throwaway `canopy start` processes for a check script (sourced after
# scripts/lib/infra.sh and scripts/lib/node-tools.sh, whose helpers it uses).
#
#   canopy_instance_start NAME MODE BIN WORK
#                            start `BIN start` in MODE (development|enterprise) on a free
#                            loopback port, on a fresh database next to CANOPY_DATABASE_URL and
#                            a NATS prefix of its own, with state and a log (WORK/NAME.log)
#                            under WORK; wait for /readyz; set CANOPY_INSTANCE_URL to its base URL.
#   canopy_instances_stop    stop every instance started here, drop their databases, delete
#                            their JetStream streams (call it from the script's EXIT trap).
#
# Messages go to stderr, prefixed with "canopy:".

_CANOPY_INSTANCE_PIDS=()
_CANOPY_INSTANCE_DBS=()
_CANOPY_INSTANCE_PREFIXES=()
_CANOPY_INSTANCE_ADMIN_URL=""

canopy_instance_start() {
  local name="$1" mode="$2" bin="$3" work="$4"
  _canopy_parse_url "$CANOPY_DATABASE_URL" 5432
  local creds="${_URL_USER:-postgres}${_URL_PASS:+:$_URL_PASS}" host="$_URL_HOST"
  [[ "$host" == *:* ]] && host="[$host]"
  _CANOPY_INSTANCE_ADMIN_URL="postgres://$creds@$host:$_URL_PORT/postgres"
  local db="canopy_${name//-/_}_$$" prefix="${name//-/_}_$$_$RANDOM"
  psql -X -q -v ON_ERROR_STOP=1 "$_CANOPY_INSTANCE_ADMIN_URL" -c "create database \"$db\"" >/dev/null \
    || { _canopy_die "could not create database $db on $_URL_HOST:$_URL_PORT"; return 1; }
  _CANOPY_INSTANCE_DBS+=("$db")
  _CANOPY_INSTANCE_PREFIXES+=("$prefix")
  local db_url="postgres://$creds@$host:$_URL_PORT/$db" port secret_key
  port="$(canopy_free_port)"
  secret_key="$("$bin" secret-key)" || { _canopy_die "$bin secret-key failed"; return 1; }
  CANOPY_DATABASE_URL="$db_url" DATABASE_URL="$db_url" \
    CANOPY_NATS_PREFIX="$prefix" \
    CANOPY_STATE_DIR="$work/state-$name" \
    CANOPY_SECRET_KEY="$secret_key" \
    CANOPY_MODE="$mode" \
    "$bin" start --listen "127.0.0.1:$port" >"$work/$name.log" 2>&1 &
  local pid=$!
  _CANOPY_INSTANCE_PIDS+=("$pid")
  CANOPY_INSTANCE_URL="http://127.0.0.1:$port"
  canopy_wait_http "$CANOPY_INSTANCE_URL/readyz" 90 "$pid" || return 1
  _canopy_log "$name: $mode mode at $CANOPY_INSTANCE_URL (pid $pid, database $db, NATS prefix $prefix)"
}

canopy_instances_stop() {
  local pid db prefix
  for pid in "${_CANOPY_INSTANCE_PIDS[@]}"; do canopy_stop_pid canopy "$pid"; done
  for db in "${_CANOPY_INSTANCE_DBS[@]}"; do
    psql -X -q "$_CANOPY_INSTANCE_ADMIN_URL" -c "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 \
      || _canopy_log "could not drop database $db"
  done
  for prefix in "${_CANOPY_INSTANCE_PREFIXES[@]}"; do canopy_nats_delete_streams "$CANOPY_NATS_URL" "$prefix"; done
  _CANOPY_INSTANCE_PIDS=() _CANOPY_INSTANCE_DBS=() _CANOPY_INSTANCE_PREFIXES=()
}
