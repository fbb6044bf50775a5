#!/usr/bin/env bash
# scripts/generate-clients.sh: generate the admin clients from the checked-in OpenAPI document
# (openapi/canopy-api.json; that file is itself generated from the code, see openapi/README.md).
#
#   scripts/generate-clients.sh           regenerate clients/typescript/canopy-api.d.ts, typecheck
#   scripts/generate-clients.sh --check   fail if the checked-in client is stale (it differs from
#                                         what the checked-in document generates), or does not
#                                         typecheck; changes nothing
#
# The TypeScript client: types from openapi-typescript, requests through openapi-fetch. Both
# (and the TypeScript compiler) are pinned in clients/typescript/package-lock.json and installed
# from the npm registry with `npm ci` into clients/typescript/node_modules (ignored by git)
# the first time, and again whenever the lock file changes. Generation itself reads only local
# files. Needs Node.js >= 18.17 (Debian's node 20 works) and npm.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=generate
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac

die() { printf 'generate-clients: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'generate-clients: %s\n' "$*" >&2; }

document=openapi/canopy-api.json
client_dir=clients/typescript
client=$client_dir/canopy-api.d.ts
[[ -f $document ]] || die "$document is missing; generate it: cargo run -p canopy -- openapi > $document"

command -v node >/dev/null 2>&1 || die "node is not on PATH (Node.js >= 18.17 is needed)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)' ||
  die "Node.js >= 18.17 is needed, found $(node --version)"

# The pinned tools, installed once per lock file.
lock_sum=$(sha256sum "$client_dir/package-lock.json" | cut -d' ' -f1)
stamp=$client_dir/node_modules/.canopy-lock-sha256
if [[ ! -f $stamp || "$(cat "$stamp")" != "$lock_sum" ]]; then
  log "installing the pinned generator (npm ci in $client_dir)"
  (cd "$client_dir" && npm ci --loglevel=error --no-fund --no-audit --no-update-notifier >&2)
  echo "$lock_sum" >"$stamp"
fi

generate() { # generate OUTPUT
  local output
  output=$("$client_dir/node_modules/.bin/openapi-typescript" "$document" --output "$1" 2>&1) || {
    printf '%s\n' "$output" >&2
    die "openapi-typescript could not generate the client from $document"
  }
}

if [[ $mode == check ]]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  generate "$scratch/canopy-api.d.ts"
  if ! diff -u "$client" "$scratch/canopy-api.d.ts" >"$scratch/diff"; then
    head -n 40 "$scratch/diff" >&2
    die "$client is stale: it does not match $document. Regenerate it and commit the result: scripts/generate-clients.sh"
  fi
else
  generate "$client"
  log "wrote $client from $document"
fi

"$client_dir/node_modules/.bin/tsc" --noEmit -p "$client_dir" ||
  die "the TypeScript client does not typecheck ($client_dir/tsconfig.json)"
log "TypeScript client: up to date with $document, typechecks"
