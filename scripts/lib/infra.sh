# shellcheck shell=bash
# scripts/lib/infra.sh: bring up (and later tear down) the local infrastructure Canopy needs:
# PostgreSQL, NATS with JetStream and Redis. Sourced by scripts/run.sh and scripts/test.sh.
#
#   canopy_infra_up          make PostgreSQL, NATS (JetStream) and Redis reachable at
#                            CANOPY_DATABASE_URL (or DATABASE_URL), CANOPY_NATS_URL and
#                            CANOPY_REDIS_URL, starting whatever is missing on a loopback host
#                            (state and logs under $CANOPY_STATE_DIR), creating the database,
#                            and exporting the URLs.
#   canopy_infra_down        stop only what canopy_infra_up started in this shell.
#   canopy_check_finish NAME WORK RC
#                            a check script's cleanup: failed logs shown, WORK removed,
#                            canopy_infra_down, "NAME: PASSED" (see the function).
#   canopy_ensure_rust_tools make sure cargo and cargo-nextest are available.
#   canopy_ensure_haproxy    make sure the `haproxy` binary is installed (the stateless-edge
#                            e2e tests run their own HAProxy in front of two edges); never
#                            leaves a system-wide haproxy service running.
#   canopy_ensure_bubblewrap make sure `bwrap` is installed (canopy-sandbox runs user code in it).
#   canopy_ensure_chromium   make sure Debian's `chromium` is installed (the console's browser
#                            tests drive it headless); prints its path on stdout.
#
# Safe under `set -euo pipefail`. Messages go to stderr, prefixed with "canopy:".
# (The `bash -c '...' _ HOST PORT` probes take their arguments as $1/$2 on purpose.)
# shellcheck disable=SC2016

CANOPY_REPO_ROOT="${CANOPY_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

# What this shell started (space-separated: postgres nats redis) and how to stop each.
_CANOPY_STARTED=""
_CANOPY_PG_DATA=""
_CANOPY_PG_BIN=""
_CANOPY_NATS_PID=""
_CANOPY_REDIS_PID=""
_CANOPY_APT_UPDATED=""

_canopy_log() { printf 'canopy: %s\n' "$*" >&2; }
_canopy_die() { printf 'canopy: error: %s\n' "$*" >&2; return 1; }

# _canopy_parse_url URL DEFAULT_PORT
# Sets _URL_USER _URL_PASS _URL_HOST _URL_PORT _URL_PATH (path without leading slash).
_canopy_parse_url() {
  local url="$1" default_port="$2"
  local re='^[A-Za-z][A-Za-z0-9+.-]*://(([^:@/]*)(:([^@/]*))?@)?(\[[^]/]*\]|[^:/?#]*)(:([0-9]+))?(/([^?#]*))?([?#].*)?$'
  if [[ ! "$url" =~ $re ]]; then
    _canopy_die "cannot parse URL '$url'"
    return 1
  fi
  _URL_USER="${BASH_REMATCH[2]}"
  _URL_PASS="${BASH_REMATCH[4]}"
  _URL_HOST="${BASH_REMATCH[5]}"
  _URL_PORT="${BASH_REMATCH[7]:-$default_port}"
  _URL_PATH="${BASH_REMATCH[9]}"
  _URL_HOST="${_URL_HOST#[}"
  _URL_HOST="${_URL_HOST%]}"
  [[ -n "$_URL_HOST" ]] || _URL_HOST=127.0.0.1
}

_canopy_is_loopback() {
  case "$1" in
    localhost | 127.* | ::1) return 0 ;;
    *) return 1 ;;
  esac
}

# Address to bind a service we start for a loopback URL host.
_canopy_bind_addr() {
  if [[ "$1" == "::1" ]]; then echo "::1"; else echo "127.0.0.1"; fi
}

_canopy_tcp_open() { # HOST PORT
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

_canopy_state_dir() {
  local dir="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
  mkdir -p "$dir"
  (cd "$dir" && pwd)
}

_canopy_timeout() { echo "${CANOPY_INFRA_TIMEOUT:-60}"; }

# Run a command as the postgres OS user when we are root (initdb/postgres refuse root).
_canopy_as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# _canopy_apt_install PACKAGE...: install Debian packages, only as root with apt-get.
_canopy_apt_install() {
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    _canopy_die "missing $*: install it (Debian: sudo apt-get install $*) or point the URL at a running instance"
    return 1
  fi
  _canopy_log "installing $* with apt-get"
  if [[ -z "$_CANOPY_APT_UPDATED" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    _CANOPY_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

# Newest server bin dir under /usr/lib/postgresql, or "" if none.
_canopy_pg_bindir() {
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || continue
    if [[ -z "$best" ]] || [[ "$(printf '%s\n%s\n' "$best" "$d" | sort -V | tail -n1)" == "$d" ]]; then
      best="$d"
    fi
  done
  echo "$best"
}

# A client tool (psql, pg_isready): from PATH or any server bin dir.
_canopy_pg_tool() {
  local name="$1" d
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for d in /usr/lib/postgresql/*/bin; do
    if [[ -x "$d/$name" ]]; then echo "$d/$name"; return 0; fi
  done
  return 1
}

_canopy_pg_ready() { # HOST PORT USER
  local isready
  if isready="$(_canopy_pg_tool pg_isready)"; then
    "$isready" -q -h "$1" -p "$2" -U "$3" -d postgres -t 2 >/dev/null 2>&1
  else
    _canopy_tcp_open "$1" "$2"
  fi
}

_canopy_pg_up() {
  local url="${CANOPY_DATABASE_URL:-${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/canopy}}"
  export CANOPY_DATABASE_URL="$url"
  export DATABASE_URL="$url"
  _canopy_parse_url "$url" 5432
  local host="$_URL_HOST" port="$_URL_PORT" user="${_URL_USER:-postgres}" pass="$_URL_PASS"
  local db="${_URL_PATH:-$user}"

  if _canopy_pg_ready "$host" "$port" "$user"; then
    _canopy_log "postgres: reachable at $host:$port"
  elif ! _canopy_is_loopback "$host"; then
    _canopy_die "postgres not reachable at $host:$port (not a loopback host, so not starting one here)"
    return 1
  else
    _canopy_pg_start "$host" "$port" "$user"
  fi
  _canopy_pg_ensure_db "$host" "$port" "$user" "$pass" "$db"
}

_canopy_pg_start() { # HOST PORT SUPERUSER
  local host="$1" port="$2" user="$3"
  local bindir state root data log bind
  bindir="$(_canopy_pg_bindir)"
  if [[ -z "$bindir" ]]; then
    _canopy_apt_install postgresql
    bindir="$(_canopy_pg_bindir)"
    [[ -n "$bindir" ]] || { _canopy_die "postgresql installed but no server found under /usr/lib/postgresql"; return 1; }
    # Debian's package may have started its own cluster: use it if it is the one we want.
    if _canopy_pg_ready "$host" "$port" "$user"; then
      _canopy_log "postgres: reachable at $host:$port (started by the Debian package)"
      return 0
    fi
  fi
  if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
    _canopy_die "postgres refuses to run as root and there is no 'postgres' user: create one (or install the Debian 'postgresql' package) or run as a normal user"
    return 1
  fi

  state="$(_canopy_state_dir)"
  root="$state/postgres-$port"
  mkdir -p "$root"
  if [[ "$(id -u)" == 0 ]]; then
    chown postgres: "$root"
    if ! runuser -u postgres -- test -w "$root"; then
      # The state dir is somewhere the postgres user cannot reach (e.g. under /root):
      # keep the cluster in /var/tmp and leave a symlink in the state dir.
      local alt
      alt="/var/tmp/canopy-postgres-$(printf '%s' "$root" | sha1sum | cut -c1-10)"
      _canopy_log "postgres: user 'postgres' cannot access $root; using $alt (symlinked)"
      rmdir "$root" 2>/dev/null || true
      mkdir -p "$alt"
      chown postgres: "$alt"
      chmod 700 "$alt"
      [[ -L "$root" ]] || ln -s "$alt" "$root"
      root="$alt"
    fi
  fi
  data="$root/data"
  log="$root/postgres.log"
  bind="$(_canopy_bind_addr "$host")"

  if [[ -f "$data/PG_VERSION" ]]; then
    local ver
    ver="$(cat "$data/PG_VERSION")"
    if [[ -x "/usr/lib/postgresql/$ver/bin/pg_ctl" ]]; then
      bindir="/usr/lib/postgresql/$ver/bin"
    else
      _canopy_die "postgres: $data was created by PostgreSQL $ver, which is not installed (remove the directory to start afresh)"
      return 1
    fi
  else
    _canopy_log "postgres: initdb $data (superuser '$user', trust auth)"
    _canopy_as_pg "$bindir/initdb" -D "$data" -U "$user" --auth=trust -E UTF8 --no-locale >"$root/initdb.log" 2>&1 \
      || { _canopy_die "initdb failed, see $root/initdb.log"; return 1; }
  fi

  _canopy_log "postgres: starting on $bind:$port (log: $log)"
  # pg_ctl detaches the postmaster into its own session, so Ctrl-C does not reach it.
  if ! _canopy_as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -s -w -t "$(_canopy_timeout)" \
    -o "-c listen_addresses=$bind -p $port -c unix_socket_directories= -c max_connections=200 -c synchronous_commit=off" \
    start; then
    _canopy_die "postgres did not start on $bind:$port, see $log"
    return 1
  fi
  _CANOPY_STARTED="$_CANOPY_STARTED postgres"
  _CANOPY_PG_DATA="$data"
  _CANOPY_PG_BIN="$bindir"

  local deadline=$((SECONDS + $(_canopy_timeout)))
  until _canopy_pg_ready "$host" "$port" "$user"; do
    if ((SECONDS >= deadline)); then
      _canopy_die "postgres not ready on $host:$port after $(_canopy_timeout)s, see $log"
      return 1
    fi
    sleep 0.5
  done
  _canopy_log "postgres: ready on $host:$port"
}

_canopy_pg_ensure_db() { # HOST PORT USER PASS DB
  local host="$1" port="$2" user="$3" pass="$4" db="$5" psql lit ident
  [[ "$db" == postgres ]] && return 0
  if ! psql="$(_canopy_pg_tool psql)"; then
    _canopy_apt_install postgresql-client
    psql="$(_canopy_pg_tool psql)"
  fi
  lit="'${db//\'/\'\'}'"
  ident="\"${db//\"/\"\"}\""
  local -a cmd=(env PGPASSWORD="$pass" PGCONNECT_TIMEOUT=5 "$psql" -X -q -v ON_ERROR_STOP=1
    -h "$host" -p "$port" -U "$user" -d postgres -tA)
  if [[ "$("${cmd[@]}" -c "select 1 from pg_database where datname = $lit")" == 1 ]]; then
    return 0
  fi
  _canopy_log "postgres: creating database $db"
  if ! "${cmd[@]}" -c "create database $ident" >/dev/null; then
    # Lost a race with another process creating it? Fine if it exists now.
    [[ "$("${cmd[@]}" -c "select 1 from pg_database where datname = $lit")" == 1 ]] \
      || { _canopy_die "could not create database $db on $host:$port"; return 1; }
  fi
}

_canopy_pg_stop() {
  [[ -n "$_CANOPY_PG_DATA" ]] || return 0
  _canopy_log "postgres: stopping ($_CANOPY_PG_DATA)"
  _canopy_as_pg "$_CANOPY_PG_BIN/pg_ctl" -D "$_CANOPY_PG_DATA" -s -m fast -w -t 60 stop \
    || _canopy_log "postgres: pg_ctl stop failed"
  _CANOPY_PG_DATA=""
}

# ---------------------------------------------------------------------------------------------
# NATS (with JetStream)

# First line the server sends on connect ("INFO {...}"), or nothing.
_canopy_nats_info() { # HOST PORT
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && IFS= read -r -t 2 line <&3 && printf "%s\n" "$line"' \
    _ "$1" "$2" 2>/dev/null || true
}

_canopy_nats_up() {
  local url="${CANOPY_NATS_URL:-nats://127.0.0.1:4222}"
  export CANOPY_NATS_URL="$url"
  _canopy_parse_url "$url" 4222
  local host="$_URL_HOST" port="$_URL_PORT" info
  info="$(_canopy_nats_info "$host" "$port")"
  if [[ "$info" == INFO* ]]; then
    _canopy_log "nats: reachable at $host:$port"
  elif ! _canopy_is_loopback "$host"; then
    _canopy_die "nats not reachable at $host:$port (not a loopback host, so not starting one here)"
    return 1
  else
    _canopy_nats_start "$host" "$port"
    info="$(_canopy_nats_info "$host" "$port")"
  fi
  if [[ "$info" != *'"jetstream":true'* ]]; then
    _canopy_die "nats at $host:$port does not have JetStream enabled (start nats-server with -js)"
    return 1
  fi
}

_canopy_nats_start() { # HOST PORT
  local host="$1" port="$2" bin state dir log pidfile bind
  bin="$(command -v nats-server || true)"
  [[ -n "$bin" ]] || { [[ -x /usr/sbin/nats-server ]] && bin=/usr/sbin/nats-server; }
  if [[ -z "$bin" ]]; then
    _canopy_apt_install nats-server
    bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
    if [[ "$(_canopy_nats_info "$host" "$port")" == INFO* ]]; then
      _canopy_log "nats: reachable at $host:$port (started by the Debian package)"
      return 0
    fi
  fi
  state="$(_canopy_state_dir)"
  dir="$state/nats-$port"
  log="$dir/nats.log"
  pidfile="$dir/nats.pid"
  bind="$(_canopy_bind_addr "$host")"
  mkdir -p "$dir/store"
  rm -f "$pidfile"
  _canopy_log "nats: starting on $bind:$port with JetStream (log: $log)"
  # setsid: own session, so Ctrl-C in the terminal does not kill it before we stop it.
  # (-w: if setsid has to fork, it waits, so $! lives exactly as long as nats-server.)
  setsid -w "$bin" -a "$bind" -p "$port" -js -sd "$dir/store" -l "$log" -P "$pidfile" \
    </dev/null >>"$dir/nats.out" 2>&1 &
  local launcher=$!
  _CANOPY_STARTED="$_CANOPY_STARTED nats"

  local deadline=$((SECONDS + $(_canopy_timeout)))
  until [[ -s "$pidfile" && "$(_canopy_nats_info "$host" "$port")" == INFO* ]]; do
    if ! kill -0 "$launcher" 2>/dev/null; then
      _canopy_die "nats-server exited during startup, see $log and $dir/nats.out"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      [[ -s "$pidfile" ]] && _CANOPY_NATS_PID="$(cat "$pidfile")"
      _canopy_die "nats not ready on $host:$port after $(_canopy_timeout)s, see $log and $dir/nats.out"
      return 1
    fi
    sleep 0.3
  done
  _CANOPY_NATS_PID="$(cat "$pidfile")"
  _canopy_log "nats: ready on $host:$port (pid $_CANOPY_NATS_PID)"
}

# ---------------------------------------------------------------------------------------------
# Redis

# Reply to a raw PING: "+PONG" when up (or "-NOAUTH..." when it needs a password).
_canopy_redis_ping() { # HOST PORT
  local line
  line="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "PING\r\n" >&3 && IFS= read -r -t 2 line <&3 && printf "%s\n" "$line"' \
    _ "$1" "$2" 2>/dev/null || true)"
  printf '%s\n' "${line%$'\r'}"
}

_canopy_redis_ok() { # HOST PORT
  local r
  r="$(_canopy_redis_ping "$1" "$2")"
  [[ "$r" == "+PONG" || "$r" == -NOAUTH* ]]
}

_canopy_redis_up() {
  local url="${CANOPY_REDIS_URL:-redis://127.0.0.1:6379}"
  export CANOPY_REDIS_URL="$url"
  _canopy_parse_url "$url" 6379
  local host="$_URL_HOST" port="$_URL_PORT"
  if _canopy_redis_ok "$host" "$port"; then
    _canopy_log "redis: reachable at $host:$port"
  elif ! _canopy_is_loopback "$host"; then
    _canopy_die "redis not reachable at $host:$port (not a loopback host, so not starting one here)"
    return 1
  else
    _canopy_redis_start "$host" "$port"
  fi
}

_canopy_redis_start() { # HOST PORT
  local host="$1" port="$2" bin state dir log pidfile bind
  bin="$(command -v redis-server || true)"
  if [[ -z "$bin" ]]; then
    _canopy_apt_install redis-server
    bin="$(command -v redis-server)"
    if _canopy_redis_ok "$host" "$port"; then
      _canopy_log "redis: reachable at $host:$port (started by the Debian package)"
      return 0
    fi
  fi
  state="$(_canopy_state_dir)"
  dir="$state/redis-$port"
  log="$dir/redis.log"
  pidfile="$dir/redis.pid"
  bind="$(_canopy_bind_addr "$host")"
  mkdir -p "$dir"
  rm -f "$pidfile"
  _canopy_log "redis: starting on $bind:$port (log: $log)"
  # --daemonize detaches it into its own session.
  if ! "$bin" --daemonize yes --bind "$bind" --port "$port" --save "" --appendonly no \
    --dir "$dir" --logfile "$log" --pidfile "$pidfile" >>"$dir/redis.out" 2>&1; then
    _canopy_die "redis-server failed to start, see $log and $dir/redis.out"
    return 1
  fi
  _CANOPY_STARTED="$_CANOPY_STARTED redis"

  local deadline=$((SECONDS + $(_canopy_timeout)))
  until [[ -s "$pidfile" ]] && _canopy_redis_ok "$host" "$port"; do
    if [[ -s "$pidfile" ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      _canopy_die "redis-server exited during startup, see $log"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      [[ -s "$pidfile" ]] && _CANOPY_REDIS_PID="$(cat "$pidfile")"
      _canopy_die "redis not ready on $host:$port after $(_canopy_timeout)s, see $log"
      return 1
    fi
    sleep 0.3
  done
  _CANOPY_REDIS_PID="$(cat "$pidfile")"
  _canopy_log "redis: ready on $host:$port (pid $_CANOPY_REDIS_PID)"
}

# ---------------------------------------------------------------------------------------------

# _canopy_kill_wait NAME PID: SIGTERM, wait up to 20s, then SIGKILL.
_canopy_kill_wait() {
  local name="$1" pid="$2" i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  _canopy_log "$name: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  _canopy_log "$name: still running after 20s, killing"
  kill -KILL "$pid" 2>/dev/null || true
}

canopy_infra_up() {
  _canopy_pg_up
  _canopy_nats_up
  _canopy_redis_up
  export CANOPY_DATABASE_URL DATABASE_URL CANOPY_NATS_URL CANOPY_REDIS_URL
  _canopy_log "infra ready: CANOPY_DATABASE_URL=$CANOPY_DATABASE_URL CANOPY_NATS_URL=$CANOPY_NATS_URL CANOPY_REDIS_URL=$CANOPY_REDIS_URL"
}

# Stops only what canopy_infra_up started in this shell, in reverse order. Idempotent.
# canopy_check_finish NAME WORK RC
#                              the end of a check script's cleanup (inspector-check, oauth-check,
#                              console-check, schemathesis): on failure (RC != 0) the last lines
#                              of each WORK/*.log; WORK removed (kept with CANOPY_KEEP_LOGS); the
#                              infrastructure the script started stopped; "NAME: PASSED" on success.
canopy_check_finish() {
  local name=$1 work=$2 rc=$3 f
  if [[ -n "$work" ]]; then
    if ((rc != 0)); then
      for f in "$work"/*.log; do
        [[ -f "$f" ]] || continue
        printf '%s: ---- last lines of %s ----\n' "$name" "$(basename "$f")" >&2
        tail -n 40 "$f" >&2
      done
    fi
    if [[ -n "${CANOPY_KEEP_LOGS:-}" ]]; then
      printf '%s: logs kept in %s\n' "$name" "$work" >&2
    else
      rm -rf "$work"
    fi
  fi
  canopy_infra_down
  if ((rc == 0)); then printf '%s: PASSED\n' "$name" >&2; fi
}

canopy_infra_down() {
  local -a started
  local i
  read -r -a started <<<"$_CANOPY_STARTED"
  _CANOPY_STARTED=""
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    case "${started[i]}" in
      redis) _canopy_kill_wait redis "$_CANOPY_REDIS_PID"; _CANOPY_REDIS_PID="" ;;
      nats) _canopy_kill_wait nats "$_CANOPY_NATS_PID"; _CANOPY_NATS_PID="" ;;
      postgres) _canopy_pg_stop ;;
    esac
  done
}

canopy_ensure_rust_tools() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 \
    || { _canopy_die "cargo not found: install Rust (https://rustup.rs) and make sure cargo is on PATH"; return 1; }
  if ! cargo nextest --version >/dev/null 2>&1; then
    _canopy_log "installing cargo-nextest (cargo install --locked cargo-nextest)"
    cargo install --locked cargo-nextest
  fi
}

# The haproxy binary: from PATH or Debian's /usr/sbin (not on a normal user's PATH), or "".
_canopy_haproxy_bin() {
  command -v haproxy 2>/dev/null || { [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy; } || true
}

canopy_ensure_haproxy() {
  local bin
  bin="$(_canopy_haproxy_bin)"
  if [[ -z "$bin" ]]; then
    local systemd=""
    [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 && systemd=1
    # Debian's package enables and starts a system-wide haproxy.service (with a configuration
    # that listens nowhere). The tests start their own haproxy: keep the service from starting
    # (masked while the package installs) and leave it disabled.
    # (The package's postinst unmasks only masks of its own, so ours holds while it runs.)
    if [[ -n "$systemd" && "$(id -u)" == 0 ]]; then
      systemctl mask haproxy.service >/dev/null 2>&1 || true
    fi
    local installed=0
    _canopy_apt_install haproxy || installed=$?
    if [[ -n "$systemd" && "$(id -u)" == 0 ]]; then
      systemctl unmask haproxy.service >/dev/null 2>&1 || true
      systemctl disable --now haproxy.service >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/haproxy ]]; then
      # No systemd: unless policy-rc.d forbade it, the package started the SysV service.
      /etc/init.d/haproxy stop >/dev/null 2>&1 || true
      update-rc.d haproxy disable >/dev/null 2>&1 || true
    fi
    ((installed == 0)) || return "$installed"
    bin="$(_canopy_haproxy_bin)"
    [[ -n "$bin" ]] || { _canopy_die "haproxy installed but not found on PATH or in /usr/sbin"; return 1; }
  fi
  _canopy_log "haproxy: $("$bin" -v 2>/dev/null | head -n 1) ($bin)"
}

canopy_ensure_bubblewrap() {
  command -v bwrap >/dev/null 2>&1 || _canopy_apt_install bubblewrap || return
  _canopy_log "bubblewrap: $(bwrap --version 2>/dev/null)"
}

canopy_ensure_chromium() {
  local bin="${CHROMIUM:-}"
  [[ -n "$bin" && -x "$bin" ]] || bin="$(command -v chromium || true)"
  if [[ -z "$bin" ]]; then
    _canopy_apt_install chromium || return
    bin="$(command -v chromium)"
  fi
  _canopy_log "chromium: $("$bin" --version 2>/dev/null | head -n1)"
  printf '%s\n' "$bin"
}
