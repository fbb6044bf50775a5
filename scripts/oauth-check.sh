#!/usr/bin/env bash
# scripts/oauth-check.sh: real OAuth clients against `canopy start --enterprise`.
#
# Starts the fixture MCP server and Canopy in enterprise mode on a fresh database, initializes
# it (owner), registers the fixture as `fx`, creates a member `alice` and an MCP client `robot`,
# then:
#   - scripts/oauth-check.mjs with the official MCP TypeScript SDK: the documented 401s, client
#     credentials (robot), the authorization code flow with PKCE and dynamic registration
#     (alice signs in on Canopy's page), refresh rotation and reuse detection, revocation, and
#     single sign-on through a real OpenID provider (oidc-provider) configured for the tenant;
#   - the MCP Inspector CLI with a bearer token from the client-credentials grant: tools/list
#     and tools/call through /mcp.
# Canopy runs with CANOPY_OAUTH_ALLOW_LOOPBACK_HTTP=true: the identity provider listens on
# http://127.0.0.1, which a production deployment refuses (https at public addresses only).
# Environment as scripts/inspector-check.sh (CANOPY_SKIP_BUILD, CANOPY_KEEP_LOGS).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/infra.sh
. scripts/lib/infra.sh
# shellcheck source-path=SCRIPTDIR source=lib/node-tools.sh
. scripts/lib/node-tools.sh

log() { printf 'oauth-check: %s\n' "$*" >&2; }
fail() {
  printf 'oauth-check: FAILED: %s\n' "$*" >&2
  exit 1
}

work=""
fixture_pid=""
canopy_pid=""
db_name=""
admin_url=""
nats_prefix=""

cleanup() {
  local rc=$?
  set +e
  canopy_stop_pid canopy "$canopy_pid"
  canopy_stop_pid fixture "$fixture_pid"
  if [[ -n "$db_name" && -n "$admin_url" ]]; then
    psql -X -q "$admin_url" -c "drop database if exists \"$db_name\" with (force)" >/dev/null 2>&1 \
      || log "could not drop database $db_name"
  fi
  if [[ -n "$nats_prefix" ]] && command -v node >/dev/null 2>&1; then
    canopy_nats_delete_streams "$CANOPY_NATS_URL" "$nats_prefix"
  fi
  canopy_check_finish oauth-check "$work" "$rc"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

canopy_infra_up
canopy_node_tools

target="${CARGO_TARGET_DIR:-target}/debug"
if [[ -z "${CANOPY_SKIP_BUILD:-}" ]]; then
  canopy_ensure_rust_tools
  log "building canopy and canopy-fixture-mcp (debug)"
  cargo build -q -p canopy --bins || fail "cargo build -p canopy failed"
  cargo build -q -p canopy-fixture-server --bins || fail "cargo build -p canopy-fixture-server failed"
fi
[[ -x "$target/canopy" && -x "$target/canopy-fixture-mcp" ]] \
  || fail "binaries missing in $target (build them or unset CANOPY_SKIP_BUILD)"

work="$(mktemp -d "${TMPDIR:-/tmp}/canopy-oauth.XXXXXX")"
export MCP_CATALOG_PATH="$work/inspector-catalog.json"

_canopy_parse_url "$CANOPY_DATABASE_URL" 5432
db_name="canopy_oauth_$$"
creds="${_URL_USER:-postgres}${_URL_PASS:+:$_URL_PASS}"
host="$_URL_HOST"
[[ "$host" == *:* ]] && host="[$host]"
admin_url="postgres://$creds@$host:$_URL_PORT/postgres"
db_url="postgres://$creds@$host:$_URL_PORT/$db_name"
psql -X -q -v ON_ERROR_STOP=1 "$admin_url" -c "create database \"$db_name\"" >/dev/null \
  || { db_name=""; fail "could not create database on $_URL_HOST:$_URL_PORT"; }
nats_prefix="oauth_$$_$RANDOM"

fx_port="$(canopy_free_port)"
"$target/canopy-fixture-mcp" --transport http --listen "127.0.0.1:$fx_port" >"$work/fixture.log" 2>&1 &
fixture_pid=$!
canopy_wait_tcp 127.0.0.1 "$fx_port" 30 "$fixture_pid" || fail "fixture did not start"

cp_port="$(canopy_free_port)"
base="http://127.0.0.1:$cp_port"
secret_key="$("$target/canopy" secret-key)" || fail "canopy secret-key failed"
CANOPY_DATABASE_URL="$db_url" DATABASE_URL="$db_url" \
  CANOPY_NATS_PREFIX="$nats_prefix" \
  CANOPY_STATE_DIR="$work/state" \
  CANOPY_SECRET_KEY="$secret_key" \
  CANOPY_PUBLIC_URL="$base" \
  CANOPY_OAUTH_ALLOW_LOOPBACK_HTTP=true \
  "$target/canopy" start --enterprise --listen "127.0.0.1:$cp_port" >"$work/canopy.log" 2>&1 &
canopy_pid=$!
canopy_wait_http "$base/readyz" 90 "$canopy_pid" || fail "canopy did not become ready"
log "canopy (enterprise) ready at $base"

# json FILE EXPR: a value from a JSON file.
json() { node -e 'const v = require(process.argv[1]); console.log(eval("v" + process.argv[2]))' "$1" "$2"; }
# api METHOD PATH TOKEN BODY OUT: a REST call; prints the status.
api() {
  curl -sS -o "$5" -w '%{http_code}' -X "$1" "$base$2" -H "authorization: Bearer $3" \
    -H 'content-type: application/json' ${4:+-d "$4"}
}

curl -sS -o "$work/init.json" -X POST "$base/api/v0/init-server" || fail "init-server failed"
owner="$(json "$work/init.json" .access_token)"
[[ -n "$owner" && "$owner" != undefined ]] || fail "init-server: $(cat "$work/init.json")"
# Upstream secrets, to look for in the database dump at the end.
up_bearer="upstream-bearer-$RANDOM$RANDOM$RANDOM"
up_header="upstream-header-$RANDOM$RANDOM$RANDOM"
up_env="upstream-env-$RANDOM$RANDOM$RANDOM"
code="$(api POST /api/v0/servers "$owner" "{\"name\":\"fx\",\"url\":\"http://127.0.0.1:$fx_port/mcp\",\"bearer_token\":\"$up_bearer\",\"headers\":{\"X-Api-Key\":\"$up_header\"}}" "$work/fx.json")"
[[ "$code" == 201 ]] || fail "registering fx: $code $(cat "$work/fx.json")"
code="$(api POST /api/v0/servers "$owner" "{\"name\":\"fxs\",\"command\":\"$PWD/$target/canopy-fixture-mcp\",\"env\":{\"FIXTURE_SECRET\":\"$up_env\"}}" "$work/fxs.json")"
[[ "$code" == 201 ]] || fail "registering fxs: $code $(cat "$work/fxs.json")"
code="$(api POST /api/v0/users "$owner" '{"name":"alice"}' "$work/alice.json")"
[[ "$code" == 201 ]] || fail "creating alice: $code $(cat "$work/alice.json")"
member="$(json "$work/alice.json" .access_token)"
code="$(api POST /api/v0/mcp-clients "$owner" '{"name":"robot","allowed_servers":["*"]}' "$work/robot.json")"
[[ "$code" == 201 ]] || fail "creating robot: $code $(cat "$work/robot.json")"
robot="$(json "$work/robot.json" .access_token)"

log "the MCP TypeScript SDK's OAuth clients, and oidc-provider for single sign-on"
node scripts/oauth-check.mjs "$base" "$owner" "$member" "$robot" 2>&1 | tee "$work/sdk.log" >&2
[[ "${PIPESTATUS[0]}" == 0 ]] || fail "scripts/oauth-check.mjs"

log "the MCP Inspector CLI with a client-credentials token"
basic="$(printf 'robot:%s' "$robot" | base64 -w0)"
curl -sS -o "$work/cc.json" -X POST "$base/oauth/token" -H "authorization: Basic $basic" \
  -d grant_type=client_credentials --data-urlencode "resource=$base/mcp" || fail "token endpoint"
access="$(json "$work/cc.json" .access_token)"
[[ "$access" == *.*.* ]] || fail "client credentials: $(cat "$work/cc.json")"
canopy_inspector --cli "$base/mcp" --transport http --method tools/list --header "Authorization: Bearer $access" \
  >"$work/tools.json" 2>"$work/inspector.log" || { cat "$work/inspector.log" >&2; fail "Inspector tools/list"; }
grep -q '"fx__echo"' "$work/tools.json" || fail "Inspector tools/list lacks fx__echo: $(head -c 400 "$work/tools.json")"
canopy_inspector --cli "$base/mcp" --transport http --method tools/call --tool-name fx__echo \
  --tool-arg message=bearer --header "Authorization: Bearer $access" >"$work/call.json" 2>>"$work/inspector.log" \
  || { cat "$work/inspector.log" >&2; fail "Inspector tools/call"; }
grep -q '"bearer"' "$work/call.json" || fail "Inspector tools/call: $(cat "$work/call.json")"
log "Inspector CLI: tools/list and tools/call fx__echo with a client-credentials token"
# Without a token, the Inspector gets the documented 401.
if canopy_inspector --cli "$base/mcp" --transport http --method tools/list >"$work/none.json" 2>"$work/none.log"; then
  fail "the Inspector listed tools without a token"
fi

# A dump of the whole database holds none of the secrets and tokens above in plaintext.
pg_dump --no-owner "$db_url" >"$work/dump.sql" || fail "pg_dump failed"
dump_size="$(wc -c <"$work/dump.sql")"
((dump_size > 10000)) || fail "the dump is suspiciously small ($dump_size bytes)"
grep -q "oauth_key_ring" "$work/dump.sql" || fail "the dump lacks the OAuth tables"
# (and it does hold the registrations: their non-secret URL is there)
grep -qF "127.0.0.1:$fx_port/mcp" "$work/dump.sql" || fail "the dump lacks the registration of fx"
for name in owner member robot up_bearer up_header up_env access; do
  value="${!name}"
  if grep -qF -- "$value" "$work/dump.sql"; then fail "the database dump contains $name in plaintext"; fi
done
grep -qF -- "canopy-oidc-secret-0123456789" "$work/dump.sql" && fail "the dump contains the identity provider's secret"
log "database dump ($dump_size bytes): no token, upstream secret or provider secret in plaintext"
