#!/usr/bin/env bash
# scripts/inspector-check.sh: real-client proof that Canopy's gateway serves an upstream's tools.
#
# Builds `canopy` and `canopy-fixture-mcp` (debug), creates a fresh database and a unique NATS
# prefix, starts the fixture MCP server (Streamable HTTP, 3 extra tools, pages of 2) and
# `canopy start` on free ports, registers the fixture as `fx`, then, with the official MCP
# Inspector CLI (Node, installed by scripts/lib/node-tools.sh):
#   - tools/list through http://CANOPY/mcp must list all 8 fixture tools as fx__*;
#   - tools/call fx__echo message=hello must return "hello".
# Stops everything it started, drops the database, deletes the NATS streams, and exits non-zero
# with a clear message on any failure.
#
# Environment: CANOPY_DATABASE_URL / CANOPY_NATS_URL / CANOPY_REDIS_URL (infrastructure is
# started when absent, see scripts/lib/infra.sh); CANOPY_SKIP_BUILD=1 to use the binaries in
# target/debug as they are; CANOPY_KEEP_LOGS=1 to keep the work directory.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh
# shellcheck source-path=SCRIPTDIR source=lib/node-tools.sh
. scripts/lib/node-tools.sh

log() { printf 'inspector-check: %s\n' "$*" >&2; }
fail() {
  printf 'inspector-check: FAILED: %s\n' "$*" >&2
  exit 1
}

work=""
fixture_pid=""
everything_pid=""
everything_sse_pid=""
canopy_pid=""
db_name=""
admin_url=""
nats_prefix=""

cleanup() {
  local rc=$?
  set +e
  canopy_stop_pid canopy "$canopy_pid"
  canopy_stop_pid fixture "$fixture_pid"
  canopy_stop_pid server-everything "$everything_pid"
  canopy_stop_pid server-everything-sse "$everything_sse_pid"
  if [[ -n "$db_name" && -n "$admin_url" ]]; then
    psql -X -q "$admin_url" -c "drop database if exists \"$db_name\" with (force)" >/dev/null 2>&1 \
      || log "could not drop database $db_name"
  fi
  if [[ -n "$nats_prefix" ]] && command -v node >/dev/null 2>&1; then
    canopy_nats_delete_streams "$CANOPY_NATS_URL" "$nats_prefix"
  fi
  canopy_check_finish inspector-check "$work" "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

canopy_infra_up
canopy_node_tools
log "node $(node --version), inspector $CANOPY_INSPECTOR_VERSION"

target="${CARGO_TARGET_DIR:-target}/debug"
if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
  canopy_ensure_rust_tools
  log "building canopy and canopy-fixture-mcp (debug)"
  # Two invocations, as the project builds them elsewhere (each keeps its own feature set
  # cached, so neither rebuilds the other's dependencies).
  cargo build -q -p canopy --bins || fail "cargo build -p canopy failed"
  cargo build -q -p canopy-fixture-server --bins || fail "cargo build -p canopy-fixture-server failed"
fi
[[ -x "$target/canopy" && -x "$target/canopy-fixture-mcp" ]] \
  || fail "binaries missing in $target (build them or unset CANOPY_SKIP_BUILD)"

work="$(mktemp -d "${TMPDIR:-/tmp}/canopy-inspector.XXXXXX")"
export MCP_CATALOG_PATH="$work/inspector-catalog.json" # keep the Inspector out of ~/.mcp-inspector

# A fresh database next to the configured one.
_canopy_parse_url "$CANOPY_DATABASE_URL" 5432
db_name="canopy_inspector_$$"
creds="${_URL_USER:-postgres}${_URL_PASS:+:$_URL_PASS}"
host="$_URL_HOST"
[[ "$host" == *:* ]] && host="[$host]"
admin_url="postgres://$creds@$host:$_URL_PORT/postgres"
db_url="postgres://$creds@$host:$_URL_PORT/$db_name"
psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "create database \"$db_name\"" >/dev/null \
  || { db_name=""; fail "could not create database on $_URL_HOST:$_URL_PORT"; }
nats_prefix="inspector_$$_$RANDOM"
log "database $db_name, NATS prefix $nats_prefix, work dir $work"

# The fixture upstream.
fx_port="$(canopy_free_port)"
"$target/canopy-fixture-mcp" --transport http --listen "127.0.0.1:$fx_port" \
  --extra-tools 3 --page-size 2 >"$work/fixture.log" 2>&1 &
fixture_pid=$!
canopy_wait_tcp 127.0.0.1 "$fx_port" 30 "$fixture_pid" || fail "fixture did not start"
log "fixture at http://127.0.0.1:$fx_port/mcp (pid $fixture_pid)"

# Canopy, all in one.
cp_port="$(canopy_free_port)"
base="http://127.0.0.1:$cp_port"
secret_key="$("$target/canopy" secret-key)" || fail "canopy secret-key failed"
CANOPY_DATABASE_URL="$db_url" DATABASE_URL="$db_url" \
  CANOPY_NATS_PREFIX="$nats_prefix" \
  CANOPY_STATE_DIR="$work/state" \
  CANOPY_SECRET_KEY="$secret_key" \
  CANOPY_MODE=development \
  "$target/canopy" start --listen "127.0.0.1:$cp_port" >"$work/canopy.log" 2>&1 &
canopy_pid=$!
canopy_wait_http "$base/readyz" 90 "$canopy_pid" || fail "canopy did not become ready"
log "canopy ready at $base (pid $canopy_pid)"

# Register the fixture as `fx`.
reg_status="$(curl -sS -o "$work/register.json" -w '%{http_code}' -X POST "$base/api/v0/servers" \
  -H 'content-type: application/json' \
  -d "{\"name\":\"fx\",\"url\":\"http://127.0.0.1:$fx_port/mcp\"}")" || fail "POST /api/v0/servers: curl failed"
log "POST /api/v0/servers -> $reg_status $(head -c 400 "$work/register.json")"
[[ "$reg_status" == 201 ]] || fail "registering fx answered $reg_status, want 201"
grep -q '"status":"ready"' "$work/register.json" \
  || fail "fx registered but not ready: $(cat "$work/register.json")"

mcp="$base/mcp"

# 1. tools/list through the gateway.
log "inspector --cli $mcp --transport http --method tools/list"
canopy_inspector --cli "$mcp" --transport http --method tools/list \
  >"$work/tools-list.json" 2>"$work/inspector-list.log" \
  || { cat "$work/inspector-list.log" >&2; fail "Inspector tools/list failed"; }
node - "$work/tools-list.json" <<'JS' || fail "tools/list through the gateway is missing fixture tools"
const fs = require("fs");
const list = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const names = (list.tools || []).map((t) => t.name);
console.error(`inspector-check: tools/list returned ${names.length} tools: ${names.join(", ")}`);
const want = ["echo", "add", "fail", "slow", "whoami", "extra_0", "extra_1", "extra_2"].map((n) => `fx__${n}`);
const missing = want.filter((n) => !names.includes(n));
if (missing.length) {
  console.error(`inspector-check: missing: ${missing.join(", ")}`);
  process.exit(1);
}
const fx = names.filter((n) => n.startsWith("fx__"));
if (fx.length !== want.length) {
  console.error(`inspector-check: expected exactly ${want.length} fx__ tools, got ${fx.length}`);
  process.exit(1);
}
const echo = list.tools.find((t) => t.name === "fx__echo");
console.error(`inspector-check: fx__echo = ${JSON.stringify(echo)}`);
JS

# 2. tools/call fx__echo through the gateway.
log "inspector --cli $mcp --transport http --method tools/call --tool-name fx__echo --tool-arg message=hello"
canopy_inspector --cli "$mcp" --transport http --method tools/call \
  --tool-name fx__echo --tool-arg message=hello \
  >"$work/tools-call.json" 2>"$work/inspector-call.log" \
  || { cat "$work/inspector-call.log" >&2; fail "Inspector tools/call fx__echo failed"; }
log "tools/call result: $(tr -d '\n ' <"$work/tools-call.json")"
node - "$work/tools-call.json" <<'JS' || fail "tools/call fx__echo did not return \"hello\""
const fs = require("fs");
const r = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const text = (r.content || []).filter((c) => c.type === "text").map((c) => c.text).join("");
if (r.isError || text !== "hello") {
  console.error(`inspector-check: got isError=${r.isError} text=${JSON.stringify(text)}`);
  process.exit(1);
}
JS

# 3. @modelcontextprotocol/server-everything through /mcp, hosted as stdio (`everything`), over
#    Streamable HTTP (`everything-http`) and over the legacy HTTP+SSE transport of 2024-11-05
#    (`everything-sse`): tools, prompts and resources with the Inspector.
everything_js="$CANOPY_NODE_TOOLS_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
[[ -f "$everything_js" ]] || fail "server-everything is not installed ($everything_js)"
ev_port="$(canopy_free_port)"
PORT="$ev_port" node "$everything_js" streamableHttp >"$work/everything.log" 2>&1 &
everything_pid=$!
canopy_wait_tcp 127.0.0.1 "$ev_port" 60 "$everything_pid" || fail "server-everything did not start"
ev_sse_port="$(canopy_free_port)"
PORT="$ev_sse_port" node "$everything_js" sse >"$work/everything-sse.log" 2>&1 &
everything_sse_pid=$!
canopy_wait_tcp 127.0.0.1 "$ev_sse_port" 60 "$everything_sse_pid" || fail "server-everything (sse) did not start"
register() {
  local name="$1" body="$2" code
  code="$(curl -sS -o "$work/register-$name.json" -w '%{http_code}' -X POST "$base/api/v0/servers" \
    -H 'content-type: application/json' -d "$body")" || fail "registering $name: curl failed"
  [[ "$code" == 201 ]] && grep -q '"status":"ready"' "$work/register-$name.json" \
    || fail "registering $name answered $code: $(cat "$work/register-$name.json")"
}
register everything "{\"name\":\"everything\",\"transport\":\"stdio\",\"command\":\"node\",\"args\":[\"$everything_js\",\"stdio\"]}"
register everything-http "{\"name\":\"everything-http\",\"url\":\"http://127.0.0.1:$ev_port/mcp\"}"
register everything-sse "{\"name\":\"everything-sse\",\"transport\":\"sse\",\"url\":\"http://127.0.0.1:$ev_sse_port/sse\"}"

inspect() { # inspect OUTFILE ARGS...: one Inspector CLI call against /mcp
  local out="$1"; shift
  log "inspector --cli $mcp --transport http $*"
  canopy_inspector --cli "$mcp" --transport http "$@" >"$work/$out" 2>"$work/$out.log" \
    || { cat "$work/$out.log" >&2; fail "Inspector $* failed"; }
}
for server in everything everything-http everything-sse; do
  inspect "ev-tools-$server.json" --method tools/list
  inspect "ev-echo-$server.json" --method tools/call --tool-name "${server}__echo" --tool-arg message=canopy
  inspect "ev-sum-$server.json" --method tools/call --tool-name "${server}__get-sum" --tool-arg a=2 --tool-arg b=40
  inspect "ev-prompts-$server.json" --method prompts/list
  inspect "ev-prompt-$server.json" --method prompts/get --prompt-name "${server}__args-prompt" --prompt-args city=Lisbon
  inspect "ev-resources-$server.json" --method resources/list
  node - "$work" "$server" <<'JS' || fail "server-everything ($server) through the gateway"
const fs = require("fs");
const [dir, server] = process.argv.slice(2);
const read = (f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8"));
const text = (r) => (r.content || []).filter((c) => c.type === "text").map((c) => c.text).join("");
const check = (ok, what) => { if (!ok) { console.error(`inspector-check: ${server}: ${what}`); process.exit(1); } };
const tools = read(`ev-tools-${server}.json`).tools.map((t) => t.name);
check(tools.includes(`${server}__echo`) && tools.includes(`${server}__get-sum`), `tools/list lacks echo/get-sum: ${tools}`);
check(text(read(`ev-echo-${server}.json`)).includes("canopy"), "echo did not echo");
check(text(read(`ev-sum-${server}.json`)).includes("42"), "get-sum(2, 40) is not 42");
const prompts = read(`ev-prompts-${server}.json`).prompts.map((p) => p.name);
check(prompts.includes(`${server}__args-prompt`), `prompts/list lacks args-prompt: ${prompts}`);
const messages = read(`ev-prompt-${server}.json`).messages || [];
check(JSON.stringify(messages).includes("Lisbon"), "prompts/get did not use the argument");
const resources = read(`ev-resources-${server}.json`).resources.map((r) => r.uri);
check(resources.some((u) => u.startsWith(`canopy://${server}/`)), `resources/list has no canopy://${server}/ URIs`);
fs.writeFileSync(`${dir}/ev-first-resource-${server}`, resources.find((u) => u.startsWith(`canopy://${server}/`)));
console.error(`inspector-check: ${server}: ${tools.length} tools, ${prompts.length} prompts, ${resources.length} resources; echo, get-sum, args-prompt OK`);
JS
  uri="$(cat "$work/ev-first-resource-$server")"
  inspect "ev-read-$server.json" --method resources/read --uri "$uri"
  grep -q '"contents"' "$work/ev-read-$server.json" || fail "resources/read $uri returned no contents"
done
