# shellcheck shell=bash
# scripts/lib/python-tools.sh: Python-based servers Canopy's tests run against (sourced).
#
#   canopy_ensure_moto       install moto's S3 server (PyPI `moto[server]`) into a project-local
#                            venv, $CANOPY_STATE_DIR/tools/moto (once; again when the pinned
#                            version changes), and export CANOPY_MOTO_SERVER=<venv>/bin/moto_server.
#                            canopy-blobs' S3 tests start it on 127.0.0.1 (a port of their own)
#                            and stop it when they end; they read CANOPY_MOTO_SERVER and fail
#                            without it, unless CANOPY_SKIP_S3_TESTS=1 (then they are skipped,
#                            saying why).
#
#   canopy_ensure_uv         install uv (PyPI `uv`, which ships the static binary) into a
#                            project-local venv, $CANOPY_STATE_DIR/tools/uv (once; again when the
#                            pinned version changes), and export CANOPY_UV=<venv>/bin/uv. The
#                            Python sandbox engine (canopy-pyenv) makes environments with it; its
#                            tests read CANOPY_UV (then `uv` on PATH) and fail without one.
#
# Needs python3 with the venv module (Debian: python3-venv). Overridable: CANOPY_MOTO_VERSION, CANOPY_UV_VERSION,
# CANOPY_PYTHON. Safe under `set -euo pipefail`; messages go to stderr.

CANOPY_REPO_ROOT="${CANOPY_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# moto 5.2.6: `moto_server -H 127.0.0.1 -p PORT` answered in under a second here.
CANOPY_MOTO_VERSION="${CANOPY_MOTO_VERSION:-5.2.6}"
# uv 0.13.9: what canopy-pyenv was tested with (venv creation ~15 ms; installs from the shared cache).
CANOPY_UV_VERSION="${CANOPY_UV_VERSION:-0.13.9}"

_canopy_py_log() { printf 'canopy: %s\n' "$*" >&2; }
_canopy_py_die() { printf 'canopy: error: %s\n' "$*" >&2; return 1; }

canopy_ensure_moto() {
  local state="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
  local venv="$state/tools/moto"
  local python="${CANOPY_PYTHON:-python3}"
  local stamp="$venv/.canopy-moto-version"
  if [[ -x "$venv/bin/moto_server" && "$(cat "$stamp" 2>/dev/null)" == "$CANOPY_MOTO_VERSION" ]]; then
    export CANOPY_MOTO_SERVER="$venv/bin/moto_server"
    return 0
  fi
  command -v "$python" >/dev/null 2>&1 || { _canopy_py_die "$python not found (needed for moto's S3 server)"; return 1; }
  _canopy_py_log "installing moto[server]==$CANOPY_MOTO_VERSION into $venv"
  mkdir -p "$state/tools"
  "$python" -m venv "$venv" || { _canopy_py_die "cannot create a venv (Debian: apt-get install python3-venv)"; return 1; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$CANOPY_MOTO_VERSION" \
    || { _canopy_py_die "pip could not install moto[server]==$CANOPY_MOTO_VERSION"; return 1; }
  [[ -x "$venv/bin/moto_server" ]] || { _canopy_py_die "moto installed without its moto_server script"; return 1; }
  printf '%s\n' "$CANOPY_MOTO_VERSION" >"$stamp"
  export CANOPY_MOTO_SERVER="$venv/bin/moto_server"
}

canopy_ensure_uv() {
  local state="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
  local venv="$state/tools/uv"
  local python="${CANOPY_PYTHON:-python3}"
  local stamp="$venv/.canopy-uv-version"
  if [[ -x "$venv/bin/uv" && "$(cat "$stamp" 2>/dev/null)" == "$CANOPY_UV_VERSION" ]]; then
    export CANOPY_UV="$venv/bin/uv"
    return 0
  fi
  command -v "$python" >/dev/null 2>&1 || { _canopy_py_die "$python not found (needed to install uv)"; return 1; }
  _canopy_py_log "installing uv==$CANOPY_UV_VERSION into $venv"
  mkdir -p "$state/tools"
  "$python" -m venv "$venv" || { _canopy_py_die "cannot create a venv (Debian: apt-get install python3-venv)"; return 1; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$CANOPY_UV_VERSION" \
    || { _canopy_py_die "pip could not install uv==$CANOPY_UV_VERSION"; return 1; }
  [[ -x "$venv/bin/uv" ]] || { _canopy_py_die "uv installed without its uv binary"; return 1; }
  printf '%s\n' "$CANOPY_UV_VERSION" >"$stamp"
  export CANOPY_UV="$venv/bin/uv"
}
