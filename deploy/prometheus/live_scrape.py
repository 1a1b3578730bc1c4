#!/usr/bin/env python3
"""A live /metrics scrape of the real wsgate binary, for `promtool check metrics`.

Starts a WebSocket upstream (stdlib only: it answers the upgrade with a valid 101 and
then holds the connection until the peer closes), starts `wsgate run` in front of it on
127.0.0.1 ephemeral ports with a generated config, mints a token with `wsgate mint`,
makes allowed and denied handshakes (no token, a token signed with another secret, a
plain request, a 502 when the upstream is gone), checks that each moved the series
docs/metrics.md names for it, and prints the scrape on stdout.

Usage: live_scrape.py WSGATE_BINARY > scrape.txt   (deploy/prometheus/ci.sh)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SECRET_VAR = "LIVE_SCRAPE_JWT_SECRET"
PATIENCE_S = 20


def log(msg: str) -> None:
    print(f"[live-scrape] {msg}", file=sys.stderr, flush=True)


def read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class Upstream:
    """A minimal WebSocket server: valid 101, then hold until the peer closes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    @staticmethod
    def session(conn: socket.socket) -> None:
        with conn:
            head = read_head(conn).decode("latin-1")
            match = re.search(r"(?im)^sec-websocket-key:\s*(\S+)", head)
            if not match:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                return
            accept = base64.b64encode(hashlib.sha1((match.group(1) + GUID).encode()).digest())
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                if data[0] & 0x0F == 0x8:  # a close frame: answer it and end
                    conn.sendall(b"\x88\x02\x03\xe8")
                    return

    def stop(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone may not.
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def handshake(addr: str, path: str, token: str | None) -> int:
    """One upgrade request; returns the status. A 101 is closed cleanly (1000)."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=PATIENCE_S) as conn:
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        conn.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n{auth}\r\n"
            ).encode()
        )
        head = read_head(conn)
        status = int(head.split(b" ", 2)[1])
        if status == 101:
            mask = secrets.token_bytes(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"\x03\xe8"))
            conn.sendall(b"\x88\x82" + mask + payload)
            while conn.recv(4096):
                pass
        return status


def plain_get(addr: str, path: str, token: str) -> int:
    request = urllib.request.Request(f"http://{addr}{path}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=PATIENCE_S) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def scrape(admin: str) -> str:
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=PATIENCE_S) as response:
        return response.read().decode()


def value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def write_config(path: Path, upstream: str) -> None:
    path.write_text(
        f"""environment = "staging"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
max_connections = 64
drain_timeout = "5s"

[upstream]
url = "ws://{upstream}"
connect_timeout = "2s"

[auth]
deny = "http"
token_sources = ["header:authorization"]

[[auth.issuers]]
name = "ci"
issuer = "https://issuer.example"
audiences = ["chat"]
algorithms = ["HS256"]
secret = {{ env = "{SECRET_VAR}" }}

[[routes]]
path = "/ws"
auth = "required"
"""
    )


def main() -> int:
    wsgate = sys.argv[1] if len(sys.argv) > 1 else "target/release/wsgate"
    env = dict(os.environ, **{SECRET_VAR: secrets.token_hex(32), "WSGATE_LOG": "info"})
    env.pop("PORT", None)
    upstream = Upstream()
    with tempfile.TemporaryDirectory(prefix="wsgate-scrape-") as work:
        config = Path(work) / "wsgate.toml"
        write_config(config, upstream.addr)

        def mint(secret_env: dict[str, str]) -> str:
            return subprocess.run(
                [wsgate, "mint", "--config", str(config), "--issuer", "ci", "--sub", "scrape"],
                env=secret_env, check=True, capture_output=True, text=True, timeout=30,
            ).stdout.strip()

        token = mint(env)
        forged = mint(dict(env, **{SECRET_VAR: secrets.token_hex(32)}))

        logfile = open(Path(work) / "wsgate.log", "w+")
        gate = subprocess.Popen([wsgate, "run", "--config", str(config)], env=env,
                                stdout=logfile, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + PATIENCE_S
            serving = None
            while serving is None:
                if gate.poll() is not None or time.monotonic() > deadline:
                    logfile.seek(0)
                    raise SystemExit(f"wsgate did not start:\n{logfile.read()}")
                logfile.seek(0)
                for line in logfile.read().splitlines():
                    if line.startswith('{"message":"listening"'):
                        serving = json.loads(line)
                time.sleep(0.05)
            listen, admin = serving["listen"], serving["admin_listen"]

            statuses = {
                "allowed": [handshake(listen, "/ws", token) for _ in range(3)],
                "token_missing": handshake(listen, "/ws", None),
                "signature_invalid": handshake(listen, "/ws", forged),
                "plain": plain_get(listen, "/ws/items", token),
            }
            upstream.stop()
            statuses["upstream_unavailable"] = handshake(listen, "/ws", token)
            log(f"statuses: {statuses}")
            expected = {"allowed": [101, 101, 101], "token_missing": 403, "signature_invalid": 403,
                        "plain": 200, "upstream_unavailable": 502}
            if statuses != expected:
                logfile.seek(0)
                raise SystemExit(f"unexpected statuses {statuses}, wanted {expected}; "
                                 f"wsgate's log:\n{logfile.read()}")

            # The sessions' close is counted just after the last frame; wait for it.
            while True:
                text = scrape(admin)
                if value(text, "wsgate_sessions_closed_total") >= 3 or time.monotonic() > deadline + PATIENCE_S:
                    break
                time.sleep(0.05)
            checks = {
                'wsgate_auth_allowed_total{method="jwt"}': (value(text, "wsgate_auth_allowed_total", method="jwt"), 5),
                'wsgate_auth_denied_total{reason="token_missing"}': (value(text, "wsgate_auth_denied_total", reason="token_missing"), 1),
                'wsgate_auth_denied_total{reason="signature_invalid"}': (value(text, "wsgate_auth_denied_total", reason="signature_invalid"), 1),
                'wsgate_auth_denied_total{reason="upstream_unavailable"}': (value(text, "wsgate_auth_denied_total", reason="upstream_unavailable"), 1),
                'wsgate_sessions_closed_total{initiator="client",reason="none"}': (value(text, "wsgate_sessions_closed_total", initiator="client", reason="none"), 3),
                "wsgate_max_connections": (value(text, "wsgate_max_connections"), 64),
                "wsgate_config_last_reload_successful": (value(text, "wsgate_config_last_reload_successful"), 1),
            }
            wrong = {name: got for name, (got, want) in checks.items() if got != want}
            for name in ("process_resident_memory_bytes", "process_cpu_seconds_total",
                         "process_open_fds", "process_max_fds"):
                if not re.search(rf"(?m)^{name} \S+$", text):
                    wrong[name] = "missing"
            if wrong:
                raise SystemExit(f"unexpected values {wrong} (wanted {checks}) in:\n{text}")
            sys.stdout.write(text)
            log(f"scrape OK: {len(text.splitlines())} lines")
        finally:
            gate.send_signal(signal.SIGTERM)
            try:
                gate.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                gate.kill()
            logfile.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
