"""Checks what the schemas cannot about a rendered Kubernetes overlay of deploy/kubernetes.

Usage: deploy_policy.py RENDERED.yaml (the output of `kubectl kustomize`). Prints every breach
and exits 1 if there is any. Run by scripts/deploy-check.sh with the deploy tools' Python
(PyYAML comes with kubernetes-validate). What it holds the manifests to:

- the four services are Deployments running `canopy serve api|edge|worker|poller`, and a Job
  runs `canopy migrate`;
- each Deployment has readiness on /readyz, liveness on /healthz, CPU and memory requests and
  limits, a PodDisruptionBudget, and the edge and the worker a HorizontalPodAutoscaler;
- no credential is inline: no environment variable of a secret setting (CANOPY_SECRET_KEY,
  CANOPY_DATABASE_URL, DATABASE_URL, CANOPY_NATS_URL, CANOPY_REDIS_URL, CANOPY_EXTERNAL_ISSUERS)
  has a value, their _FILE forms point into a mounted Secret volume, and the ConfigMap's TOML
  holds no secret key, password or URL with credentials;
- the session-worker and the job-poller pods have what bubblewrap needs (a user namespace of
  their own, seccomp and AppArmor unconfined, an unmasked /proc, not privileged), and the api
  and edge pods do not;
- the Ingress sends /api/v0, /oauth and /.well-known/oauth-authorization-server to the api,
  the MCP endpoints and /.well-known/oauth-protected-resource to the edges.
"""

import re
import sys

import yaml

SECRET_VARS = {
    "CANOPY_SECRET_KEY",
    "CANOPY_DATABASE_URL",
    "DATABASE_URL",
    "CANOPY_NATS_URL",
    "CANOPY_REDIS_URL",
    "CANOPY_EXTERNAL_ISSUERS",
}
SERVICES = {"api", "edge", "worker", "poller"}
SANDBOXED = {"worker", "poller"}
API_PATHS = {"/api/v0", "/oauth", "/.well-known/oauth-authorization-server"}
EDGE_PATHS = {"/mcp", "/servers", "/groups", "/v0/groups", "/.well-known/oauth-protected-resource"}

breaches = []


def breach(what):
    breaches.append(what)


def check_pod(name, spec, sandboxed):
    container = next((c for c in spec["containers"] if c["name"] == "canopy"), None)
    if container is None:
        return breach(f"{name}: no container named canopy")
    secret_mounts = set()
    secret_volumes = {v["name"] for v in spec.get("volumes", []) if "secret" in v}
    for mount in container.get("volumeMounts", []):
        if mount["name"] in secret_volumes:
            secret_mounts.add(mount["mountPath"].rstrip("/"))
    for env in container.get("env", []):
        var = env["name"]
        if var in SECRET_VARS:
            breach(f"{name}: {var} is set in the environment; use {var}_FILE and a Secret volume")
        if var.endswith("_FILE") and var[: -len("_FILE")] in SECRET_VARS:
            path = env.get("value", "")
            if not any(path.startswith(m + "/") for m in secret_mounts):
                breach(f"{name}: {var}={path} is not in a mounted Secret volume")
        if "valueFrom" in env and "secretKeyRef" in env["valueFrom"]:
            breach(f"{name}: {var} takes a Secret as an environment value; mount it as a file")
    pod_sc = spec.get("securityContext", {})
    sc = container.get("securityContext", {})
    if not pod_sc.get("runAsNonRoot"):
        breach(f"{name}: the pod does not require a non-root user")
    if sc.get("privileged"):
        breach(f"{name}: privileged")
    if sandboxed:
        if spec.get("hostUsers") is not False:
            breach(f"{name}: bubblewrap needs hostUsers: false (a user namespace for the pod)")
        if sc.get("seccompProfile", {}).get("type") not in ("Unconfined", "Localhost"):
            breach(f"{name}: bubblewrap needs a seccomp profile allowing clone/unshare of namespaces")
        if sc.get("appArmorProfile", {}).get("type") not in ("Unconfined", "Localhost"):
            breach(f"{name}: bubblewrap needs an AppArmor profile allowing mount")
        if sc.get("procMount") != "Unmasked":
            breach(f"{name}: bubblewrap needs procMount: Unmasked to mount the sandbox's /proc")
    else:
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            breach(f"{name}: no sandboxes here, so the runtime's default seccomp profile")
        if spec.get("hostUsers") is False or sc.get("procMount") == "Unmasked":
            breach(f"{name}: no sandboxes here, so none of their pod settings")
    return container


def main(path):
    with open(path, encoding="utf-8") as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    by_kind = {}
    for o in objects:
        by_kind.setdefault(o["kind"], []).append(o)

    seen = {}
    for d in by_kind.get("Deployment", []):
        container = next((c for c in d["spec"]["template"]["spec"]["containers"] if c["name"] == "canopy"), None)
        if container is None:
            continue  # the dev overlay's Redis
        args = container.get("args", [])
        if len(args) != 2 or args[0] != "serve" or args[1] not in SERVICES:
            breach(f"{d['metadata']['name']}: runs {args}, not `canopy serve api|edge|worker|poller`")
            continue
        service = args[1]
        seen[service] = d
        name = d["metadata"]["name"]
        check_pod(name, d["spec"]["template"]["spec"], service in SANDBOXED)
        for probe, want in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            got = container.get(probe, {}).get("httpGet", {}).get("path")
            if got != want:
                breach(f"{name}: {probe} is {got}, not {want}")
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory"):
                if what not in resources.get(kind, {}):
                    breach(f"{name}: no {what} {kind}")
    for service in SERVICES - seen.keys():
        breach(f"no Deployment runs `canopy serve {service}`")

    jobs = [j for j in by_kind.get("Job", []) if j["spec"]["template"]["spec"]["containers"][0].get("args") == ["migrate"]]
    if not jobs:
        breach("no Job runs `canopy migrate`")
    for j in jobs:
        check_pod(j["metadata"]["name"], j["spec"]["template"]["spec"], False)

    def selects(selector, deployment):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())

    for service, d in seen.items():
        if not any(selects(p["spec"]["selector"], d) for p in by_kind.get("PodDisruptionBudget", [])):
            breach(f"{d['metadata']['name']}: no PodDisruptionBudget")
        scaled = [h for h in by_kind.get("HorizontalPodAutoscaler", []) if h["spec"]["scaleTargetRef"]["name"] == d["metadata"]["name"]]
        if service in ("edge", "worker") and not scaled:
            breach(f"{d['metadata']['name']}: no HorizontalPodAutoscaler")

    for cm in by_kind.get("ConfigMap", []):
        for key, text in cm.get("data", {}).items():
            if re.search(r"://[^/\s\"]*:[^/\s\"]*@", text) or re.search(r"(?m)^\s*(key|client_secret|password)\s*=\s*\"[^\"]", text):
                breach(f"configmap {cm['metadata']['name']}/{key}: holds a credential")

    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    ingresses = by_kind.get("Ingress", [])
    if len(ingresses) != 1:
        breach(f"{len(ingresses)} Ingresses, not one")
    routes = {}
    for ing in ingresses:
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                routes[p["path"]] = p["backend"]["service"]["name"]
    for paths, service in ((API_PATHS, "api"), (EDGE_PATHS, "edge")):
        target = seen.get(service)
        for p in paths:
            backend = services.get(routes.get(p, ""))
            if backend is None or target is None or not selects({"matchLabels": backend["spec"]["selector"]}, target):
                breach(f"ingress: {p} does not reach the {service}")

    for b in breaches:
        print(f"deploy policy: {path}: {b}", file=sys.stderr)
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
