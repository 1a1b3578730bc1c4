#!/usr/bin/env python3
"""Runs a built wsgate image the way a user would and checks it from outside
(deploy/image/test.sh builds the image and calls this):

  1. `check` on a mounted config exits 0, and on a broken one exits 1 naming the key;
  2. `mint` in the image signs a token;
  3. `run` (the image's own ENTRYPOINT/CMD) with a read-only root filesystem, no
     capabilities, no writable tmpfs: the process runs as uid 65532 and is PID 1;
  4. /readyz answers 200, /metrics serves wsgate's series; an upgrade without a token
     is refused 403 `token_missing`, one with a tampered token 403 `signature_invalid`;
  5. a WebSocket with the token reaches an echo app on the host with X-Auth-User;
  6. SIGTERM to PID 1: the live session gets close 1001 `server_shutdown`, and the
     container exits 0 within drain_timeout (plus slack for podman itself).

The container uses the host's network namespace, so every address is 127.0.0.1.
Usage: probe.py IMAGE
"""

import asyncio
import json
import os
import pathlib
import re
import secrets
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "testkit"))
import probes  # noqa: E402
from probes import Failure, run  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ECHO_APP = HERE.parent / "testkit" / "echo_app.py"
DRAIN_TIMEOUT_S = 5  # server.drain_timeout in config.toml
PODMAN_SLACK_S = 10  # podman's own stop/wait bookkeeping, not wsgate's


def step(msg):
    print(f"image-test: {msg}", flush=True)


def write_config(tmp, admin_port, upstream_port):
    text = (HERE / "config.toml").read_text()
    text = text.replace('admin_listen = "127.0.0.1:9090"', f'admin_listen = "127.0.0.1:{admin_port}"')
    text = text.replace('url = "ws://127.0.0.1:8000"', f'url = "ws://127.0.0.1:{upstream_port}"')
    if f"127.0.0.1:{admin_port}" not in text or f"127.0.0.1:{upstream_port}" not in text:
        raise Failure("config.toml no longer has the lines probe.py rewrites")
    cfg = pathlib.Path(tmp) / "etc"
    cfg.mkdir()
    (cfg / "config.toml").write_text(text)
    (cfg / "broken.toml").write_text(text.replace('drain_timeout = "5s"', 'drain_timeout = "soon"'))
    os.chmod(cfg, 0o755)
    os.chmod(cfg / "config.toml", 0o644)
    os.chmod(cfg / "broken.toml", 0o644)
    return cfg


def host_pid_status(name):
    pid = run(["podman", "inspect", "--format", "{{.State.Pid}}", name]).strip()
    return pathlib.Path(f"/proc/{pid}/status").read_text()


async def session_then_sigterm(name, proxy_port, token):
    ws, hello = await probes.open_session(proxy_port, "/ws", token, "alice")
    step(f"WebSocket through wsgate reached the app as {hello['x-auth-user']!r}; echo ok")
    started = time.monotonic()
    run(["podman", "kill", "--signal", "TERM", name])
    await probes.expect_close(ws, 1001, "server_shutdown", DRAIN_TIMEOUT_S + PODMAN_SLACK_S)
    step(f"SIGTERM: the live session got close 1001 server_shutdown after {time.monotonic() - started:.2f}s")
    wait = subprocess.run(["podman", "wait", name], capture_output=True, text=True,
                          timeout=DRAIN_TIMEOUT_S + PODMAN_SLACK_S)
    elapsed = time.monotonic() - started
    code = wait.stdout.strip()
    if code != "0":
        raise Failure(f"container exited {code!r} after SIGTERM (expected 0)\n{run(['podman', 'logs', name])}")
    step(f"container exited 0 {elapsed:.2f}s after SIGTERM (drain_timeout {DRAIN_TIMEOUT_S}s)")


def main():
    image = sys.argv[1]
    secret = secrets.token_hex(24)
    env = dict(os.environ, JWT_SECRET=secret)
    proxy_port, admin_port = probes.free_port(), probes.free_port()
    name = f"wsgate-image-test-{os.getpid()}"

    with tempfile.TemporaryDirectory(prefix="wsgate-image-test.") as tmp:
        echo = subprocess.Popen([sys.executable, str(ECHO_APP), "127.0.0.1", "0"],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = echo.stdout.readline()
            m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
            if not m:
                raise Failure(f"echo app did not start: {line!r}")
            cfg = write_config(tmp, admin_port, int(m.group(1)))
            mount = ["-v", f"{cfg}:/etc/wsgate:ro"]
            base = ["podman", "run", "--rm", "--network", "none", "-e", "JWT_SECRET"] + mount

            out = run(base + [image, "check", "--config", "/etc/wsgate/config.toml"], env=env)
            if "configuration OK" not in out:
                raise Failure(f"check did not say OK:\n{out}")
            step("check on the mounted config: exit 0")
            bad = subprocess.run(base + [image, "check", "--config", "/etc/wsgate/broken.toml"],
                                 capture_output=True, text=True, env=env)
            if bad.returncode != 1 or "server.drain_timeout" not in bad.stdout + bad.stderr:
                raise Failure(f"check on a broken config: exit {bad.returncode}, expected 1 naming "
                              f"server.drain_timeout\n{bad.stdout}{bad.stderr}")
            step("check on a broken config: exit 1 naming server.drain_timeout")
            token = run(base + [image, "mint", "--config", "/etc/wsgate/config.toml",
                                "--issuer", "ci", "--sub", "alice"], env=env).strip()

            run(["podman", "run", "-d", "--name", name, "--network", "host",
                 "--read-only", "--read-only-tmpfs=false", "--cap-drop", "ALL",
                 "--security-opt", "no-new-privileges",
                 "-e", "JWT_SECRET", "-e", f"PORT={proxy_port}"] + mount + [image], env=env)
            try:
                user = run(["podman", "image", "inspect", "--format", "{{.Config.User}}", image]).strip()
                if user != "65532:65532":
                    raise Failure(f"image USER is {user!r}, expected 65532:65532")
                status = host_pid_status(name)
                uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
                nspid = re.search(r"^NSpid:\s+(.*)$", status, re.M).group(1).split()
                if set(uids) != {"65532"}:
                    raise Failure(f"wsgate runs with uids {uids}, expected 65532")
                if nspid[-1] != "1":
                    raise Failure(f"wsgate is PID {nspid[-1]} in its container, expected 1")
                ro = run(["podman", "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name]).strip()
                if ro != "true":
                    raise Failure("root filesystem is not read-only")
                step("run: uid 65532, PID 1, read-only root filesystem, no capabilities")

                def alive():
                    st = run(["podman", "inspect", "--format", "{{.State.Running}}", name]).strip()
                    return st == "true"

                probes.wait_ready(admin_port, 60, alive)
                step("/readyz: 200")
                status, _, body = probes.http_get(admin_port, "/metrics")
                if status != 200 or b"wsgate_build_info" not in body:
                    raise Failure(f"/metrics answered {status} without wsgate_build_info")
                step("/metrics: 200 with wsgate_build_info")
                probes.expect_refusal(proxy_port, "/ws", "token_missing")
                step("no token: 403 X-Wsgate-Reason token_missing")
                probes.expect_refusal(proxy_port, "/ws", "signature_invalid",
                                      {"Authorization": "Bearer " + token[:-4] + "AAAA"})
                step("tampered token: 403 signature_invalid")
                asyncio.run(session_then_sigterm(name, proxy_port, token))
                logs = run(["podman", "logs", name])
                first = logs.splitlines()[0] if logs else ""
                json.loads(first)  # logs are JSON lines
            finally:
                subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True)
        finally:
            echo.kill()
            echo.wait()

    size = int(run(["podman", "image", "inspect", "--format", "{{.Size}}", image]).strip())
    step(f"image size: {size / 1e6:.1f} MB ({size} bytes)")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print(f"image-test: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
