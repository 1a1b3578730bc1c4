#!/usr/bin/env python3
"""Checks every invariant deploy/cloudrun/service.yaml and config.toml rely on (CI runs
it; exit 1 lists every broken one):

  secrets    every Secret Manager reference (env secretKeyRef, volume items) names a
             pinned version number, never `latest`; the config volume mounts config.toml
             where WSGATE_CONFIG points
  shutdown   server.drain_timeout < Cloud Run's 10 s SIGTERM-to-SIGKILL grace
  sessions   server.max_session_duration < timeoutSeconds (<= 3600)
  ports      wsgate alone has ports: one, named http1 (HTTP/1.1 for upgrades), on
             server.listen's port; probes on server.admin_listen's port: startup
             /readyz, liveness /healthz; the app has no ports and listens on
             upstream.url's port (its startup probe checks that port)
  order      container-dependencies start the app before wsgate
  capacity   containerConcurrency <= server.max_connections (10000 by default)
  images     no :latest
  env        every { env = "NAME" } the config references is set on wsgate

With --image IMG it also runs `IMG check` on config.toml (podman, no network), so the
file is valid for the wsgate that will read it.
"""

import json
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile
import tomllib

import yaml

HERE = pathlib.Path(__file__).resolve().parent
CLOUD_RUN_GRACE_S = 10
problems = []


def need(cond, msg):
    if not cond:
        problems.append(msg)


# Self-test: each edit a user could make by mistake, and the word its problem must contain.
MUTATIONS = [
    ("service", 'key: "1"                  # its', "key: latest # its", "JWT_SECRET"),
    ("service", 'key: "1"                    # the', "key: latest # the", "volume wsgate-config"),
    ("config", 'drain_timeout = "8s"', 'drain_timeout = "12s"', "drain_timeout"),
    ("config", 'max_session_duration = "55m"', 'max_session_duration = "2h"', "max_session_duration"),
    ("service", "name: http1", "name: h2c", "http1"),
    ("service", "path: /readyz", "path: /healthz", "startup probe"),
    ("config", 'admin_listen = "0.0.0.0:9090"', 'admin_listen = "0.0.0.0:9191"', "admin port"),
    ("config", 'url = "ws://127.0.0.1:8000"', 'url = "ws://127.0.0.1:8001"', "8001"),
    ("service", "'{\"wsgate\":[\"app\"]}'", "'{}'", "container-dependencies"),
    ("service", "containerConcurrency: 500", "containerConcurrency: 20000", "containerConcurrency"),
    ("service", "chat-app:1.4.2", "chat-app:latest", "chat-app:latest"),
    ("service", "value: /etc/wsgate/config.toml", "value: /etc/wsgate/wsgate.toml", "WSGATE_CONFIG"),
    ("service", "- name: JWT_SECRET", "- name: JWT_SECRET_OLD", "JWT_SECRET"),
]


def self_test():
    """Every mutation must be caught, and the files as shipped must pass."""
    service, config = (HERE / "service.yaml").read_text(), (HERE / "config.toml").read_text()
    missed = []
    for which, old, new, word in MUTATIONS:
        text = service if which == "service" else config
        if old not in text:
            missed.append(f"mutation target {old!r} not in {which}: update MUTATIONS")
            continue
        problems.clear()
        if which == "service":
            check(text.replace(old, new, 1), config)
        else:
            check(service, text.replace(old, new, 1))
        if not any(word in p for p in problems):
            missed.append(f"{which}: {old!r} -> {new!r} not caught (problems: {problems})")
    problems.clear()
    return missed


def seconds(duration):
    """wsgate's humantime durations as used here: "8s", "55m", "1h 30m"."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+)\s*(ms|s|m|h)", duration)
    if not parts or re.sub(r"(\d+)\s*(ms|s|m|h)|\s", "", duration):
        raise ValueError(f"unparsed duration {duration!r}")
    return sum(int(n) * units[u] for n, u in parts)


def port_of(addr):
    return int(addr.rsplit(":", 1)[1].split("/")[0])


def env_refs(node, out):
    if isinstance(node, dict):
        if set(node) == {"env"}:
            out.add(node["env"])
        for v in node.values():
            env_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            env_refs(v, out)
    return out


def check(service_text, config_text):
    service = yaml.safe_load(service_text)
    config = tomllib.loads(config_text)
    server, upstream = config.get("server", {}), config.get("upstream", {})
    tmpl = service["spec"]["template"]
    spec = tmpl["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    wsgate, app = containers.get("wsgate"), containers.get("app")
    need(wsgate is not None and app is not None, "containers named wsgate and app")
    if not (wsgate and app):
        return
    volumes = {v["name"]: v for v in spec.get("volumes", [])}

    # secrets: pinned versions everywhere
    for c in spec["containers"]:
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref is not None:
                need(re.fullmatch(r"[1-9][0-9]*", str(ref.get("key", ""))) is not None,
                     f"{c['name']} env {e['name']}: secret {ref.get('name')} version {ref.get('key')!r} is not a pinned version number")
    for v in volumes.values():
        if "secret" in v:
            for item in v["secret"].get("items", []) or [None]:
                key = item and item.get("key")
                need(key is not None and re.fullmatch(r"[1-9][0-9]*", str(key)) is not None,
                     f"volume {v['name']}: secret {v['secret'].get('secretName')} version {key!r} is not a pinned version number")
    env = {e["name"]: e for e in wsgate.get("env", [])}
    cfg_path = env.get("WSGATE_CONFIG", {}).get("value")
    mounts = {m["mountPath"]: m["name"] for m in wsgate.get("volumeMounts", [])}
    mounted = False
    for path, vol in mounts.items():
        for item in volumes.get(vol, {}).get("secret", {}).get("items", []):
            if cfg_path == f"{path.rstrip('/')}/{item['path']}":
                mounted = True
    need(mounted, f"WSGATE_CONFIG ({cfg_path}) is a file of a mounted secret volume")
    need(wsgate.get("args") == ["run"], "wsgate args are [\"run\"] (the config path comes from WSGATE_CONFIG)")
    for name in sorted(env_refs(config, set())):
        need(name in env or (name == "E2E_OAUTH_SIMULATION_KEY" and not config.get("e2e_bypass", {}).get("enabled")),
             f"config references env {name}, which wsgate's container does not set")

    # shutdown and sessions
    drain = seconds(server.get("drain_timeout", "25s"))
    need(drain < CLOUD_RUN_GRACE_S, f"server.drain_timeout ({drain}s) must be < Cloud Run's {CLOUD_RUN_GRACE_S}s grace")
    timeout = int(spec.get("timeoutSeconds", 300))
    need(timeout <= 3600, f"timeoutSeconds {timeout} is over Cloud Run's 3600 maximum")
    msd = server.get("max_session_duration")
    need(msd is not None and seconds(msd) < timeout,
         f"server.max_session_duration ({msd}) must be below timeoutSeconds ({timeout}s), or Cloud Run cuts sessions first")

    # ports and probes
    ports = wsgate.get("ports", [])
    need(len(ports) == 1 and ports[0].get("name") == "http1",
         "wsgate has one port, named http1 (WebSocket upgrades need HTTP/1.1)")
    if ports:
        need(ports[0]["containerPort"] == port_of(server.get("listen", "0.0.0.0:8080")),
             "wsgate's containerPort is server.listen's port (Cloud Run's PORT)")
    admin = port_of(server.get("admin_listen", "0.0.0.0:9090"))
    startup, live = wsgate.get("startupProbe", {}), wsgate.get("livenessProbe", {})
    need(startup.get("httpGet", {}).get("path") == "/readyz" and startup["httpGet"].get("port") == admin,
         f"wsgate's startup probe is GET /readyz on the admin port {admin}")
    need(live.get("httpGet", {}).get("path") == "/healthz" and live["httpGet"].get("port") == admin,
         f"wsgate's liveness probe is GET /healthz on the admin port {admin}")
    need(not app.get("ports"), "the app container has no ports (only wsgate receives traffic)")
    up_port = port_of(upstream.get("url", "ws://127.0.0.1:80").split("://", 1)[1].split("/")[0])
    need(re.match(r"^wss?://(127\.0\.0\.1|localhost)[:/]", upstream.get("url", "")) is not None,
         "upstream.url is the app on the instance's localhost")
    need(app.get("startupProbe", {}).get("tcpSocket", {}).get("port") == up_port,
         f"the app's startup probe checks upstream.url's port {up_port}")

    # start order, capacity, images
    deps = json.loads(tmpl["metadata"]["annotations"].get("run.googleapis.com/container-dependencies", "{}"))
    need(deps.get("wsgate") == ["app"], "container-dependencies start the app before wsgate")
    need(int(spec.get("containerConcurrency", 80)) <= int(server.get("max_connections", 10000)),
         "containerConcurrency <= server.max_connections")
    for c in spec["containers"]:
        need(not c["image"].endswith(":latest") and ":" in c["image"].rsplit("/", 1)[-1] or "@sha256:" in c["image"],
             f"{c['name']}: image {c['image']} is pinned (a version tag or a digest, not latest)")


def check_with_image(image):
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / "config.toml").write_text((HERE / "config.toml").read_text())
        pathlib.Path(tmp).chmod(0o755)
        (pathlib.Path(tmp) / "config.toml").chmod(0o644)
        p = subprocess.run(["podman", "run", "--rm", "--network", "none", "-e", "PORT=8080",
                            "-e", f"JWT_SECRET={secrets.token_hex(24)}", "-v", f"{tmp}:/etc/wsgate:ro",
                            image, "check", "--config", "/etc/wsgate/config.toml"],
                           capture_output=True, text=True)
        need(p.returncode == 0, f"wsgate check on config.toml exited {p.returncode}:\n{p.stdout}{p.stderr}")


if __name__ == "__main__":
    missed = self_test()
    for m in missed:
        print(f"cloudrun-check: self-test: {m}", file=sys.stderr)
    if missed:
        sys.exit(1)
    print(f"cloudrun-check: self-test: all {len(MUTATIONS)} broken variants caught")
    check((HERE / "service.yaml").read_text(), (HERE / "config.toml").read_text())
    if len(sys.argv) == 3 and sys.argv[1] == "--image":
        check_with_image(sys.argv[2])
    if problems:
        print("cloudrun-check: service.yaml / config.toml break what they rely on:", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        sys.exit(1)
    print("cloudrun-check: service.yaml and config.toml hold every invariant")
