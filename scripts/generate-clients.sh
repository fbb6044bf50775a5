#!/usr/bin/env bash
# scripts/generate-clients.sh: generate the admin clients from the checked-in OpenAPI document
# (openapi/canopy-api.json; that file is itself generated from the code, see openapi/README.md).
#
#   scripts/generate-clients.sh           regenerate both clients: clients/typescript/canopy-api.d.ts
#                                         (then typecheck it, and rebuild the console, which calls
#                                         the API through it: scripts/build-console.sh) and
#                                         clients/python (then import it)
#   scripts/generate-clients.sh --check   fail if either checked-in client is stale (it differs
#                                         from what the checked-in document generates), or does
#                                         not typecheck / import; changes nothing
#
# The TypeScript client: types from openapi-typescript, requests through openapi-fetch. Both
# (and the TypeScript compiler) are pinned in clients/typescript/package-lock.json and installed
# from the npm registry with `npm ci` into clients/typescript/node_modules (ignored by git)
# the first time, and again whenever the lock file changes. Needs Node.js >= 18.17 (Debian's
# node 20 works) and npm.
#
# The Python client: the package canopy_admin_client (httpx and attrs), its pyproject.toml and
# .gitignore, written by openapi-python-client with clients/python/generator-config.yaml and
# formatted by ruff (its post-hooks), both pinned in scripts/lib/python-tools.sh and installed
# from PyPI with uv into .state/tools/openapi-python-client the first time, and again whenever a
# pin changes. The rest of clients/python (README.md, tests/, the config) is written by hand.
# The generator's warnings (pieces of the document it could not turn into code) are printed.
# Needs python3 (>= 3.10).
#
# Generation itself reads only local files.
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
[[ -f $document ]] || die "$document is missing; generate it: cargo run -p canopy -- openapi > $document"
status=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# --- TypeScript: clients/typescript/canopy-api.d.ts -------------------------------------------
ts_dir=clients/typescript
ts_client=$ts_dir/canopy-api.d.ts

typescript_client() {
  command -v node >/dev/null 2>&1 || { log "error: node is not on PATH (Node.js >= 18.17 is needed)"; return 1; }
  command -v npm >/dev/null 2>&1 || { log "error: npm is not on PATH"; return 1; }
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 17) ? 0 : 1)' ||
    { log "error: Node.js >= 18.17 is needed, found $(node --version)"; return 1; }

  # The pinned tools, installed once per lock file.
  local lock_sum stamp output
  lock_sum=$(sha256sum "$ts_dir/package-lock.json" | cut -d' ' -f1)
  stamp=$ts_dir/node_modules/.canopy-lock-sha256
  if [[ ! -f $stamp || "$(cat "$stamp")" != "$lock_sum" ]]; then
    log "installing the pinned TypeScript generator (npm ci in $ts_dir)"
    (cd "$ts_dir" && npm ci --loglevel=error --no-fund --no-audit --no-update-notifier >&2) || return 1
    echo "$lock_sum" >"$stamp"
  fi

  local target=$ts_client
  [[ $mode == check ]] && target=$scratch/canopy-api.d.ts
  output=$("$ts_dir/node_modules/.bin/openapi-typescript" "$document" --output "$target" 2>&1) || {
    printf '%s\n' "$output" >&2
    log "error: openapi-typescript could not generate the client from $document"
    return 1
  }
  if [[ $mode == check ]]; then
    if ! diff -u "$ts_client" "$target" >"$scratch/ts.diff"; then
      head -n 40 "$scratch/ts.diff" >&2
      log "error: $ts_client is stale: it does not match $document. Regenerate it and commit the result: scripts/generate-clients.sh"
      return 1
    fi
  else
    log "wrote $ts_client from $document"
  fi

  "$ts_dir/node_modules/.bin/tsc" --noEmit -p "$ts_dir" ||
    { log "error: the TypeScript client does not typecheck ($ts_dir/tsconfig.json)"; return 1; }
  log "TypeScript client: up to date with $document, typechecks"
  # The console's calls are typed by this client: a call the new document no longer allows
  # fails its typecheck here (--check leaves that to scripts/build-console.sh --check).
  if [[ $mode == generate ]]; then
    scripts/build-console.sh || { log "error: the console does not build with the new client (console/src)"; return 1; }
  fi
}

# --- Python: clients/python (the package canopy_admin_client) ---------------------------------
py_dir=clients/python
py_package=canopy_admin_client
# What the generator writes into clients/python; everything else there is written by hand (its
# own README.md is not kept: clients/python/README.md is ours).
py_generated=(pyproject.toml .gitignore "$py_package")

python_client() {
  # shellcheck source-path=SCRIPTDIR source=lib/python-tools.sh
  . scripts/lib/python-tools.sh
  canopy_ensure_openapi_python_client || return 1
  local bin output f root=$PWD
  bin=$(dirname "$CANOPY_OPENAPI_PYTHON_CLIENT")
  # In a scratch directory in both modes, so that the two generate alike (ruff reads only the
  # generated pyproject.toml's settings there) and a failure leaves the checked-in client as is.
  output=$(cd "$scratch" && PATH="$bin:$PATH" "$CANOPY_OPENAPI_PYTHON_CLIENT" generate \
    --path "$root/$document" --config "$root/$py_dir/generator-config.yaml" \
    --meta uv --output-path python 2>&1) || {
    printf '%s\n' "$output" >&2
    log "error: openapi-python-client could not generate the client from $document"
    return 1
  }
  if grep -qv '^Generating python$' <<<"$output"; then
    log "openapi-python-client's warnings (see clients/python/README.md):"
    grep -v '^Generating python$' <<<"$output" >&2
  fi
  for f in "${py_generated[@]}"; do
    [[ -e $scratch/python/$f ]] || { log "error: openapi-python-client wrote no $f"; return 1; }
  done

  if [[ $mode == check ]]; then
    : >"$scratch/py.diff"
    for f in "${py_generated[@]}"; do
      diff -ru -x __pycache__ "$py_dir/$f" "$scratch/python/$f" >>"$scratch/py.diff" 2>&1 || true
    done
    if [[ -s $scratch/py.diff ]]; then
      head -n 40 "$scratch/py.diff" >&2
      log "error: $py_dir is stale: it does not match $document. Regenerate it and commit the result: scripts/generate-clients.sh"
      return 1
    fi
  else
    for f in "${py_generated[@]}"; do
      rm -rf "${py_dir:?}/$f"
      cp -R "$scratch/python/$f" "$py_dir/$f" || return 1
    done
    log "wrote $py_dir/{$(IFS=,; echo "${py_generated[*]}")} from $document"
  fi

  # Every module imports (with the generator's own httpx and attrs, which the client needs).
  PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$py_dir" "$bin/python" - "$py_package" <<'PY' ||
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
for name in names:
    importlib.import_module(name)
print(f"generate-clients: {len(names) + 1} modules of {package.__name__} import", file=sys.stderr)
PY
    { log "error: the Python client does not import"; return 1; }
  log "Python client: up to date with $document, imports"
}

# Both, even when the first fails (functions called with `||` do not stop at a failed command
# under set -e: each failure that matters is checked).
typescript_client || status=1
python_client || status=1
exit "$status"
