#!/usr/bin/env python3
"""Runs pods rendered by the chart for real with `podman kube play` and checks them
(deploy/chart/test.sh calls it after the image test built the wsgate image):

  wrap     charts/wsgate rendered with ci/wrap-container-values.yaml, images pointed at
           the locally built wsgate image and an echo app image (deploy/chart/echo-app),
           one replica;
  sidecar  deploy/chart/existing-app.yaml (a user's own Deployment, its image swapped
           for the echo app) patched with the chart's sidecar patch (ci/sidecar-values.yaml)
           via `kubectl patch --local`, with the ConfigMap `helm install` would create;
  gateway  ci/gateway-values.yaml's wsgate pod in front of the app running as its own pod
           (listening on all interfaces, as a Service's backend); podman's DNS name for
           that pod stands in for the Service name in upstream.url. The config says
           environment = "production", where `mint` is refused, so the token is signed
           here with the Secret's value;

each with the Secret the values reference. Then, from inside the pod's network namespace
(nsenter; wsgate and the app share it as in Kubernetes): /readyz 200 on the admin port,
no token -> 403 token_missing, a tampered token -> 403 signature_invalid, and a
WebSocket with a token minted by the wsgate in the pod reaches the app, which sees
X-Auth-User and X-Auth-Method: jwt and no Authorization header. wsgate must run as uid
65532 on a read-only root filesystem (the chart's securityContext).

podman 4.3 runs init containers to completion before the others, so wsgate runs here as
a regular container (wsgate.nativeSidecar=false); the native-sidecar renderings are
validated by check_chart.py but not run.
Usage: kube_play.py WSGATE_IMAGE BUILD_BASE_IMAGE
"""

import asyncio
import base64
import hashlib
import hmac
import json
import pathlib
import secrets
import subprocess
import sys
import tempfile
import time
import tomllib

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHART = ROOT / "charts" / "wsgate"
sys.path.insert(0, str(HERE.parent / "testkit"))
import probes  # noqa: E402
from probes import Failure, run  # noqa: E402

ECHO_IMAGE = "localhost/wsgate-ci/echo-app:latest"
PROXY_PORT = 8080


def step(msg):
    print(f"kube-play: {msg}", flush=True)


def split_image(ref):
    repo, _, tag = ref.rpartition(":")
    return repo, tag


def inside(admin_port, token):
    """Runs in the pod's network namespace."""
    probes.wait_ready(admin_port, 60)
    step(f"/readyz 200 on the pod's admin port {admin_port}")
    probes.expect_refusal(PROXY_PORT, "/ws", "token_missing")
    step("no token: 403 token_missing")
    probes.expect_refusal(PROXY_PORT, "/ws", "signature_invalid", {"Authorization": f"Bearer {token[:-4]}AAAA"})
    step("bad token: 403 signature_invalid")

    async def session():
        ws, hello = await probes.open_session(PROXY_PORT, "/ws", token, "alice")
        await ws.close()
        return hello

    hello = asyncio.run(session())
    step(f"WebSocket through wsgate reached the app: X-Auth-User={hello['x-auth-user']!r}, "
         f"X-Auth-Method={hello['x-auth-method']!r}, no Authorization")


def helm_template(values, *extra):
    return run(["helm", "template", "chat", str(CHART), "-f", str(CHART / "ci" / values), *extra])


def wrap_docs(image_args):
    app_repo, app_tag = split_image(ECHO_IMAGE)
    rendered = helm_template("wrap-container-values.yaml", *image_args,
                             "--set", f"app.image.repository={app_repo}", "--set", f"app.image.tag={app_tag}",
                             "--set", "app.image.pullPolicy=Never",
                             "--set", "autoscaling.enabled=false", "--set", "replicaCount=1")
    return [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in ("ConfigMap", "Deployment")]


def sidecar_docs(image_args, tmp):
    values = ("sidecar-values.yaml", *image_args, "--set", "wsgate.nativeSidecar=false")
    installed = [d for d in yaml.safe_load_all(helm_template(*values)) if d and d["kind"] == "ConfigMap"]
    patch = tmp / "patch.yaml"
    patch.write_text(helm_template(*values, "--set", "sidecar.renderPatch=true", "-s", "templates/sidecar-patch.yaml"))
    existing = next(yaml.safe_load_all((HERE / "existing-app.yaml").read_text()))
    existing["spec"]["replicas"] = 1
    app = existing["spec"]["template"]["spec"]["containers"][0]
    app["image"], app["imagePullPolicy"] = ECHO_IMAGE, "Never"
    # The user's own config volume, which the example references, so the pod can start.
    installed.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chat-config"},
                      "data": {"app.conf": "# the app's own config\n"}})
    deploy = tmp / "deploy.yaml"
    deploy.write_text(yaml.safe_dump(existing))
    patched = yaml.safe_load(run(["kubectl", "patch", "--local", "-f", str(deploy), "--type", "strategic",
                                  "--patch-file", str(patch), "-o", "yaml"]))
    return installed + [patched]


def hs256_token(secret, issuer, sub, audience="chat", ttl=600):
    """A JWT signed independently of wsgate (for a production config, where `mint` is refused)."""
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64(json.dumps({"iss": issuer, "aud": audience, "sub": sub, "iat": now, "exp": now + ttl}).encode())
    sig = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64(sig)}"


def play(mode, docs, admin_port, tmp, secret=None, token=None, containers=3):
    # podman 4.3 publishes every containerPort on the host (the same number, all
    # interfaces) unless hostPort says otherwise: publish them on loopback, on free ports.
    # The pod itself is unchanged; the checks run inside its network namespace.
    for d in docs:
        if d["kind"] == "Deployment":
            for c in d["spec"]["template"]["spec"]["containers"]:
                for port in c.get("ports", []):
                    port["hostIP"] = "127.0.0.1"
                    port["hostPort"] = probes.free_port()
    kube = tmp / f"{mode}.yaml"
    kube.write_text(yaml.safe_dump_all(docs))
    # The Secret the values reference. podman 4.3 resolves secretKeyRef against its own
    # secret store, whose entry must be the Secret's data as JSON ({key: base64}); a
    # Secret document in the kube YAML is stored unparsed and then refused.
    secret_file = tmp / "secret.json"
    secret = secret or secrets.token_hex(24)
    secret_file.write_text(json.dumps({"jwt-secret": base64.b64encode(secret.encode()).decode()}))
    subprocess.run(["podman", "kube", "down", str(kube)], capture_output=True)
    subprocess.run(["podman", "secret", "rm", "wsgate-secrets"], capture_output=True)
    run(["podman", "secret", "create", "wsgate-secrets", str(secret_file)])
    try:
        out = run(["podman", "kube", "play", str(kube)])
        pod = out.split("Pod:", 1)[1].split()[0]
        ctrs = run(["podman", "ps", "-a", "--format", "{{.Names}} {{.Status}}", "--filter", f"pod={pod}"]).splitlines()
        step(f"{mode}: podman kube play started {'; '.join(ctrs)}")
        wsgate = [c.split()[0] for c in ctrs if c.split()[0].endswith("-wsgate")]
        if len(wsgate) != 1 or len(ctrs) != containers:
            raise Failure(f"expected {containers} containers (infra, wsgate, the app's), got {ctrs}")
        wsgate = wsgate[0]
        if token is None:
            token = run(["podman", "exec", wsgate, "/usr/local/bin/wsgate", "mint",
                         "--config", "/etc/wsgate/config.toml", "--issuer", "primary", "--sub", "alice"]).strip()
        pid = run(["podman", "inspect", "--format", "{{.State.Pid}}", wsgate]).strip()
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
        uid = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")][0]
        ro = run(["podman", "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", wsgate]).strip()
        if uid != "65532" or ro != "true":
            raise Failure(f"wsgate in the pod runs as uid {uid}, read-only root {ro}: the chart's securityContext was not applied")
        step(f"{mode}: wsgate in the pod runs as uid 65532 on a read-only root filesystem")
        p = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, __file__,
                            "--inside", str(admin_port), token], text=True)
        if p.returncode != 0:
            raise Failure(f"{mode}: checks inside the pod failed; wsgate's log:\n{run(['podman', 'logs', wsgate])[-3000:]}")
    finally:
        subprocess.run(["podman", "kube", "down", str(kube)], capture_output=True)
        subprocess.run(["podman", "secret", "rm", "wsgate-secrets"], capture_output=True)


def gateway(image_args, tmp):
    """mode gateway: the user's app as its own pod (a Service's backend; podman resolves the
    pod's name on its kube network, standing in for the Service's DNS name), and wsgate's
    own pod in front of it, rendered from ci/gateway-values.yaml."""
    app = next(yaml.safe_load_all((HERE / "existing-app.yaml").read_text()))
    app["spec"]["replicas"] = 1
    spec = app["spec"]["template"]["spec"]
    spec["volumes"] = []
    ctr = spec["containers"][0]
    ctr.pop("ports")
    ctr["image"], ctr["imagePullPolicy"] = ECHO_IMAGE, "Never"
    ctr["command"] = ["python3", "/app/echo_app.py", "0.0.0.0", "8000"]  # a Service backend
    app_kube = tmp / "gateway-app.yaml"
    app_kube.write_text(yaml.safe_dump(app))
    subprocess.run(["podman", "kube", "down", str(app_kube)], capture_output=True)
    run(["podman", "kube", "play", str(app_kube)])
    try:
        docs = [d for d in yaml.safe_load_all(helm_template("gateway-values.yaml", *image_args, "--set", "image.digest=",
                                                            "--set", "replicaCount=1"))
                if d and d["kind"] in ("ConfigMap", "Deployment")]
        for d in docs:
            if d["kind"] == "ConfigMap":
                toml = d["data"]["config.toml"]
                if "chat.apps.svc.cluster.local" not in toml:
                    raise Failure("gateway-values.yaml no longer names chat.apps.svc.cluster.local")
                d["data"]["config.toml"] = toml.replace("chat.apps.svc.cluster.local", "chat-pod-0")
                issuer = tomllib.loads(toml)["auth"]["issuers"][0]["issuer"]
        secret = secrets.token_hex(24)
        play("gateway", docs, 9090, tmp, secret=secret, containers=2,
             token=hs256_token(secret, issuer, "alice"))
    finally:
        subprocess.run(["podman", "kube", "down", str(app_kube)], capture_output=True)


def main():
    wsgate_image, base_image = sys.argv[1], sys.argv[2]
    run(["podman", "build", "-q", "--network", "none", "--build-arg", f"BASE={base_image}",
         "-f", str(HERE / "echo-app" / "Containerfile"), "-t", ECHO_IMAGE, str(HERE.parent / "testkit")])
    repo, tag = split_image(wsgate_image)
    image_args = ["--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never"]
    with tempfile.TemporaryDirectory(prefix="wsgate-kube-play.") as tmp:
        tmp = pathlib.Path(tmp)
        play("wrap", wrap_docs(image_args), 9191, tmp)  # admin port of wrap-container-values.yaml
        play("sidecar", sidecar_docs(image_args, tmp), 9090, tmp)  # the chart's default
        gateway(image_args, tmp)


if __name__ == "__main__":
    try:
        if len(sys.argv) == 4 and sys.argv[1] == "--inside":
            inside(int(sys.argv[2]), sys.argv[3])
        else:
            main()
    except Failure as e:
        print(f"kube-play: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
