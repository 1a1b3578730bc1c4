#!/usr/bin/env python3
"""Renders charts/wsgate every way a user would and checks the output independently
(deploy/chart/test.sh runs it; helm and kubectl on PATH, kubernetes-validate installed):

  - values.schema.json is what gen_schema.py writes;
  - for every charts/wsgate/ci/*-values.yaml: `helm lint --strict`, `helm template`,
    then `kubernetes-validate --strict` against two Kubernetes versions, plus checks of
    what the schemas cannot see (CRD objects, ports and selectors agreeing);
  - bad values fail at render time with a message naming the problem;
  - mode sidecar: the rendered patch applied to a user's existing Deployment and
    Service with `kubectl patch --local` gives valid objects that carry wsgate.
"""

import json
import pathlib
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "wsgate"
HERE = pathlib.Path(__file__).resolve().parent
K8S_VERSIONS = ["1.30.0", "1.35.0"]
failures = []


def sh(*cmd, ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if ok and p.returncode != 0:
        raise SystemExit(f"chart-test: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}{p.stderr}")
    return p


def check(cond, msg):
    if cond:
        print(f"chart-test: ok: {msg}")
    else:
        print(f"chart-test: FAIL: {msg}", file=sys.stderr)
        failures.append(msg)


def validate(path, what, versions=K8S_VERSIONS):
    for v in versions:
        p = sh("kubernetes-validate", "--strict", "-k", v, "--quiet", str(path), ok=False)
        unknown = [line for line in p.stdout.splitlines() + p.stderr.splitlines()
                   if "Couldn't find schema" in line and "monitoring.coreos.com" not in line]
        check(p.returncode == 0 and not unknown,
              f"{what}: kubernetes-validate --strict for {v}" + ("" if p.returncode == 0 else f"\n{p.stdout}{p.stderr}"))


def render(*args):
    return sh("helm", "template", "chat", str(CHART), "--namespace", "apps", *args).stdout


def docs_of(text):
    return [d for d in yaml.safe_load_all(text) if d]


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def pod_containers(spec):
    return spec.get("initContainers", []) + spec.get("containers", [])


def check_rendered(name, docs, values):
    kinds = by_kind(docs)
    mode = values.get("mode", "wrap")
    services = {s["metadata"]["name"]: s for s in kinds.get("Service", [])}
    client = services.get("chat-wsgate")
    check(client is not None and [p["targetPort"] for p in client["spec"]["ports"]] == ["wsgate-http"],
          f"{name}: the client Service targets wsgate's port only")
    if mode == "sidecar":
        check("Deployment" not in kinds, f"{name}: mode sidecar installs no Deployment")
        check(client["spec"]["selector"] == values["sidecar"]["podSelector"],
              f"{name}: the Service selects the existing pods")
        return
    (dep,) = kinds["Deployment"]
    spec = dep["spec"]["template"]["spec"]
    wsgate = [c for c in pod_containers(spec) if c["name"] == "wsgate"]
    check(len(wsgate) == 1, f"{name}: one wsgate container")
    ws = wsgate[0]
    admin_port = values.get("ports", {}).get("admin", 9090)
    ports = {p["name"]: p["containerPort"] for p in ws["ports"]}
    check(ports.get("wsgate-admin") == admin_port, f"{name}: admin containerPort {admin_port}")
    cm = kinds["ConfigMap"][0]["data"]["config.toml"]
    check(f":{admin_port}\"" in cm, f"{name}: the rendered config listens on the admin port {admin_port}")
    if values.get("wsgate", {}).get("nativeSidecar"):
        check(ws in spec.get("initContainers", []) and ws.get("restartPolicy") == "Always",
              f"{name}: native sidecar (initContainers, restartPolicy Always)")
    if mode == "gateway":
        check(len(spec["containers"]) == 1, f"{name}: gateway pods hold wsgate alone")
        check(len(kinds.get("NetworkPolicy", [])) == 2, f"{name}: gateway NetworkPolicies for wsgate and the app")
        app_np = [n for n in kinds["NetworkPolicy"] if n["metadata"]["name"].endswith("-app")][0]
        check(app_np["spec"]["podSelector"]["matchLabels"] == values["gateway"]["appPodSelector"],
              f"{name}: the app NetworkPolicy selects the app's pods")
    if mode == "wrap":
        app_port = values.get("app", {}).get("port", 8000)
        for np in kinds.get("NetworkPolicy", []):
            allowed = {p["port"] for rule in np["spec"]["ingress"] for p in rule.get("ports", [])}
            check(app_port not in allowed, f"{name}: the NetworkPolicy keeps app port {app_port} closed")
    if values.get("autoscaling", {}).get("enabled"):
        check("replicas" not in dep["spec"] and "HorizontalPodAutoscaler" in kinds,
              f"{name}: HPA owns the replica count")
    for sm in kinds.get("ServiceMonitor", []):
        admin = services["chat-wsgate-admin"]
        check(sm["spec"]["endpoints"][0]["port"] == admin["spec"]["ports"][0]["name"]
              and sm["spec"]["selector"]["matchLabels"].items() <= admin["metadata"]["labels"].items(),
              f"{name}: the ServiceMonitor selects the admin Service's port")
    for pr in kinds.get("PrometheusRule", []):
        want = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())["groups"]
        check(pr["spec"]["groups"] == want and all(r.get("expr") for g in want for r in g["rules"]),
              f"{name}: the PrometheusRule carries files/alerts.yaml")


BAD_VALUES = [
    (["--set", "replicaCount=two"], "replicaCount"),
    (["--set", "bogus=1"], "bogus"),
    (["--set", "wsgate.nativSidecar=true"], "nativSidecar"),
    (["--set", "mode=proxy"], "mode"),
    (["--set", "ports.admin=9091"], "ports.admin (9091) and server.admin_listen"),
    (["--set", "ports.proxy=70000"], "ports/proxy"),
    (["--set", "image.digest=sha256:short"], "digest"),
    (["--set", "podDisruptionBudget.maxUnavailable=lots"], "maxUnavailable"),
    (["--set", "terminationGracePeriodSeconds=20"], "drain_timeout (25s)"),
    (["--set", "app.port=8001"], "upstream.url"),
    (["--set", "mode=sidecar"], "podSelector"),
    (["--set", "mode=gateway"], "mode gateway: upstream.url"),
    (["-f", str(CHART / "ci" / "sidecar-values.yaml"), "--set-string",
      "wsgate.config=[upstream]\nurl = \"ws://chat.apps.svc:8000\"\n"], "mode sidecar: upstream.url"),
    (["--set-string", "wsgate.config=[server"], "not valid TOML"),
    (["--set", "wsgate.nativeSidecar=true", "--kube-version", "1.28.0"], "needs Kubernetes >= 1.29"),
    (["--set", "wsgate.preStopSleepSeconds=3", "--kube-version", "1.29.0"], "needs Kubernetes >= 1.30"),
    (["--set", "mode=sidecar", "--set", "sidecar.podSelector.app=chat", "--set", "autoscaling.enabled=true"],
     "your own HorizontalPodAutoscaler"),
]


def main():
    sh(sys.executable, str(HERE / "gen_schema.py"), "--check")
    check(True, "values.schema.json matches gen_schema.py")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        cases = [("defaults", [], {})] + [
            (f.name, ["-f", str(f)], yaml.safe_load(f.read_text()))
            for f in sorted((CHART / "ci").glob("*-values.yaml"))]
        for name, args, values in cases:
            lint = sh("helm", "lint", "--strict", str(CHART), *args, ok=False)
            check(lint.returncode == 0, f"{name}: helm lint --strict" + ("" if lint.returncode == 0 else f"\n{lint.stdout}{lint.stderr}"))
            for v in K8S_VERSIONS:  # rendered for, and validated against, each version
                text = render(*args, "--kube-version", v)
                out = tmp / f"{name}-{v}.yaml"
                out.write_text(text)
                validate(out, name, [v])
            check_rendered(name, docs_of(text), values)

        for args, needle in BAD_VALUES:
            p = sh("helm", "template", "chat", str(CHART), *args, ok=False)
            check(p.returncode != 0 and needle in p.stderr,
                  f"bad values {' '.join(args)} refused naming {needle!r}" + ("" if p.returncode else " (it rendered)"))

        # mode sidecar: patch the user's own objects, as docs/deployment.md says.
        sidecar = str(CHART / "ci" / "sidecar-values.yaml")
        patch = render("-f", sidecar, "--set", "sidecar.renderPatch=true", "-s", "templates/sidecar-patch.yaml")
        (tmp / "patch.yaml").write_text(patch)
        existing = docs_of((HERE / "existing-app.yaml").read_text())
        (tmp / "deploy.yaml").write_text(yaml.safe_dump(existing[0]))
        (tmp / "service.yaml").write_text(yaml.safe_dump(existing[1]))
        patched = sh("kubectl", "patch", "--local", "-f", str(tmp / "deploy.yaml"), "--type", "strategic",
                     "--patch-file", str(tmp / "patch.yaml"), "-o", "yaml").stdout
        svc = sh("kubectl", "patch", "--local", "-f", str(tmp / "service.yaml"), "--type", "strategic", "-p",
                 json.dumps({"spec": {"ports": [{"port": 80, "targetPort": "wsgate-http"}]}}), "-o", "yaml").stdout
        (tmp / "patched.yaml").write_text(patched + "---\n" + svc)
        validate(tmp / "patched.yaml", "sidecar: the patched Deployment and Service")
        dep = yaml.safe_load(patched)
        spec = dep["spec"]["template"]["spec"]
        names = [c["name"] for c in pod_containers(spec)]
        check(sorted(names) == ["chat", "wsgate"], f"sidecar: the patched pod holds chat and wsgate ({names})")
        check([c["image"] for c in spec["containers"] if c["name"] == "chat"] == ["ghcr.io/acme/chat:1.4.2"],
              "sidecar: the app container is untouched")
        check(sorted(v["name"] for v in spec["volumes"]) == ["config", "wsgate-config"],
              "sidecar: the app's volumes are kept and wsgate's config volume added")
        check("checksum/wsgate-config" in dep["spec"]["template"]["metadata"].get("annotations", {}),
              "sidecar: the config checksum rolls the pods")
        ports = yaml.safe_load(svc)["spec"]["ports"]
        check([(p["port"], p["targetPort"]) for p in ports] == [(80, "wsgate-http")],
              "sidecar: the user's Service now targets wsgate's port")
        installed = docs_of(render("-f", sidecar))
        check(not any("kind" not in d for d in installed), "sidecar: helm install never renders the patch")

    if failures:
        print(f"chart-test: {len(failures)} check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("chart-test: all render checks passed")


if __name__ == "__main__":
    main()
