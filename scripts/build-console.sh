#!/usr/bin/env bash
# scripts/build-console.sh: build the admin console's script from its TypeScript sources.
#
#   scripts/build-console.sh           typecheck console/src against the generated admin client
#                                      (clients/typescript) and bundle it into console/web/app.js
#   scripts/build-console.sh --check   fail if the checked-in console/web/app.js differs from what
#                                      the sources build, or the sources do not typecheck;
#                                      changes nothing
#
# The console (console/src/*.ts) calls the REST API only through the TypeScript client generated
# from openapi/canopy-api.json (clients/typescript: openapi-typescript's types, openapi-fetch),
# so a path, parameter or body the document does not have fails the typecheck. esbuild bundles
# the sources and openapi-fetch into one ES module, console/web/app.js, which is checked in and
# embedded in the `canopy` binary beside console/web/index.html and style.css
# (services/api/src/console/mod.rs): no web server or node at run time. Commit the rebuilt
# app.js with the sources; scripts/test.sh runs --check. After scripts/generate-clients.sh
# changes the client, run this too: a call the new document no longer allows fails here.
#
# Tools pinned in console/package-lock.json (esbuild, typescript) and
# clients/typescript/package-lock.json (openapi-fetch), installed from the npm registry with
# `npm ci` the first time and again whenever a lock file changes. Needs Node.js >= 20 and npm.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=build
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

die() { printf 'build-console: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'build-console: %s\n' "$*" >&2; }

command -v node >/dev/null 2>&1 || die "node is not on PATH (Node.js >= 20 is needed)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"

# `npm ci` in $1 once per lock file (the stamp is the lock's hash, as generate-clients.sh keeps).
install() {
  local dir=$1 lock_sum stamp
  lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  stamp=$dir/node_modules/.canopy-lock-sha256
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$lock_sum" ]]; then
    log "installing the pinned packages (npm ci in $dir)"
    (cd "$dir" && npm ci --loglevel=error --no-fund --no-audit --no-update-notifier >&2) || die "npm ci in $dir failed"
    echo "$lock_sum" >"$stamp"
  fi
}
install clients/typescript
install console

console/node_modules/.bin/tsc --noEmit -p console ||
  die "console/src does not typecheck against the generated client (console/tsconfig.json)"

output=console/web/app.js
target=$output
scratch=""
if [[ $mode == check ]]; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  target=$scratch/app.js
fi
# From the repository root, so the bundle's module comments are the same on every machine.
console/node_modules/.bin/esbuild console/src/app.ts --bundle --format=esm --target=es2022 \
  --charset=utf8 --legal-comments=none --log-level=warning \
  "--banner:js=// Built by scripts/build-console.sh from console/src (TypeScript) and the generated client in clients/typescript: do not edit; edit the sources and rebuild." \
  --outfile="$target" || die "esbuild could not bundle console/src/app.ts"

if [[ $mode == check ]]; then
  if ! diff -u "$output" "$target" >"$scratch/app.diff"; then
    head -n 40 "$scratch/app.diff" >&2
    die "$output is stale: it is not what console/src builds. Rebuild it and commit the result: scripts/build-console.sh"
  fi
  log "$output: up to date with console/src, typechecks"
else
  log "wrote $output from console/src (typechecked)"
fi
