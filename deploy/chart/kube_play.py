#!/usr/bin/env python3
"""Runs the chart's rendered wrap pod for real with `podman kube play` and checks it
(deploy/chart/test.sh calls it after the image test built the wsgate image):

  - renders charts/wsgate with ci/wrap-container-values.yaml, pointing the images at the
    locally built wsgate image and an echo app image (deploy/chart/echo-app), one
    replica, plus the Secret the values reference;
  - `podman kube play`: the pod has its own network namespace, shared by wsgate and the
    app as in Kubernetes (its ports published on 127.0.0.1 only);
  - from inside that namespace (nsenter): /readyz 200 on the admin port the values set,
    no token -> 403 token_missing, a tampered token -> 403 signature_invalid, and a
    WebSocket with a token minted by the wsgate in the pod reaches the app, which sees
    X-Auth-User and X-Auth-Method: jwt and no Authorization header.

podman 4.3 runs init containers to completion before the others, so the native-sidecar
variant (ci/wrap-values.yaml) is validated by check_chart.py but not run here.
Usage: kube_play.py WSGATE_IMAGE BUILD_BASE_IMAGE
"""

import asyncio
import base64
import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent / "testkit"))
import probes  # noqa: E402
from probes import Failure, run  # noqa: E402

VALUES = ROOT / "charts" / "wsgate" / "ci" / "wrap-container-values.yaml"
ECHO_IMAGE = "localhost/wsgate-ci/echo-app:latest"
PROXY_PORT, ADMIN_PORT = 8080, 9191  # as in wrap-container-values.yaml


def step(msg):
    print(f"kube-play: {msg}", flush=True)


def split_image(ref):
    repo, _, tag = ref.rpartition(":")
    return repo, tag


def inside(token):
    """Runs in the pod's network namespace."""
    probes.wait_ready(ADMIN_PORT, 60)
    step(f"/readyz 200 on the pod's admin port {ADMIN_PORT}")
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


def main():
    wsgate_image, base_image = sys.argv[1], sys.argv[2]
    run(["podman", "build", "-q", "--network", "none", "--build-arg", f"BASE={base_image}",
         "-f", str(HERE / "echo-app" / "Containerfile"), "-t", ECHO_IMAGE, str(HERE.parent / "testkit")])
    repo, tag = split_image(wsgate_image)
    app_repo, app_tag = split_image(ECHO_IMAGE)
    rendered = run(["helm", "template", "chat", str(ROOT / "charts" / "wsgate"), "-f", str(VALUES),
                    "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
                    "--set", "image.pullPolicy=Never",
                    "--set", f"app.image.repository={app_repo}", "--set", f"app.image.tag={app_tag}",
                    "--set", "app.image.pullPolicy=Never",
                    "--set", "autoscaling.enabled=false", "--set", "replicaCount=1"])
    docs = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in ("ConfigMap", "Deployment")]
    # podman 4.3 publishes every containerPort on the host (the same number, all
    # interfaces) unless hostPort says otherwise: publish them on loopback, on free ports.
    # The pod itself is unchanged; the checks below run inside its network namespace.
    for d in docs:
        if d["kind"] == "Deployment":
            d["spec"]["replicas"] = 1
            for c in d["spec"]["template"]["spec"]["containers"]:
                for port in c.get("ports", []):
                    port["hostIP"] = "127.0.0.1"
                    port["hostPort"] = probes.free_port()
    # The Secret the values reference. podman 4.3 resolves secretKeyRef against its own
    # secret store, whose entry must be the Secret's data as JSON ({key: base64}); a
    # Secret document in the kube YAML is stored unparsed and then refused.
    secret_obj = {"jwt-secret": base64.b64encode(secrets.token_hex(24).encode()).decode()}
    with tempfile.TemporaryDirectory(prefix="wsgate-kube-play.") as tmp:
        kube = pathlib.Path(tmp) / "chat.yaml"
        kube.write_text(yaml.safe_dump_all(docs))
        subprocess.run(["podman", "kube", "down", str(kube)], capture_output=True)
        subprocess.run(["podman", "secret", "rm", "wsgate-secrets"], capture_output=True)
        secret_file = pathlib.Path(tmp) / "secret.json"
        secret_file.write_text(json.dumps(secret_obj))
        run(["podman", "secret", "create", "wsgate-secrets", str(secret_file)])
        try:
            out = run(["podman", "kube", "play", str(kube)])
            step("podman kube play: " + " ".join(out.split()))
            pod = out.split("Pod:", 1)[1].split()[0]
            ctrs = run(["podman", "ps", "-a", "--format", "{{.Names}} {{.Status}}",
                        "--filter", f"pod={pod}"]).splitlines()
            names = [c.split()[0] for c in ctrs]
            wsgate = [n for n in names if n.endswith("-wsgate")]
            app = [n for n in names if n.endswith("-app")]
            if len(wsgate) != 1 or len(app) != 1:
                raise Failure(f"expected one wsgate and one app container, got {ctrs}")
            wsgate = wsgate[0]
            user = run(["podman", "exec", wsgate, "/usr/local/bin/wsgate", "--version"]).strip()
            step(f"pod containers: {', '.join(ctrs)} ({user})")
            token = run(["podman", "exec", wsgate, "/usr/local/bin/wsgate", "mint",
                         "--config", "/etc/wsgate/config.toml", "--issuer", "primary", "--sub", "alice"]).strip()
            pid = run(["podman", "inspect", "--format", "{{.State.Pid}}", wsgate]).strip()
            status = pathlib.Path(f"/proc/{pid}/status").read_text()
            uid = [line.split()[1] for line in status.splitlines() if line.startswith("Uid:")][0]
            ro = run(["podman", "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", wsgate]).strip()
            if uid != "65532" or ro != "true":
                raise Failure(f"wsgate in the pod runs as uid {uid}, read-only root {ro}: the chart's securityContext was not applied")
            step("wsgate in the pod: uid 65532, read-only root filesystem")
            p = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, __file__,
                                "--inside", token], text=True)
            if p.returncode != 0:
                logs = run(["podman", "logs", wsgate])
                raise Failure(f"checks inside the pod failed; wsgate's log:\n{logs[-3000:]}")
        finally:
            subprocess.run(["podman", "kube", "down", str(kube)], capture_output=True)
            subprocess.run(["podman", "secret", "rm", "wsgate-secrets"], capture_output=True)


if __name__ == "__main__":
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--inside":
            inside(sys.argv[2])
        else:
            main()
    except Failure as e:
        print(f"kube-play: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
