"""Fixtures of the browser suite: a real Chromium (Debian's, driven by Playwright) against
the real release binary (`target/release/wsgate run`) and a real echo upstream that
negotiates permessage-deflate (tests/autobahn/deflate_echo.py, Python `websockets`).

Every process is started on 127.0.0.1 ephemeral ports, learnt from its own output, and
ended by its own pid. Every wait is on an event (a log line, a WebSocket event in the
page) under an upper bound; nothing sleeps for a fixed time.

Run: `python3 -m pytest tests/browser` after `cargo build --release` (tests/ci-attack.sh
does both). `WSGATE_BIN` and `CHROMIUM` override the binary paths.
"""

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

import tokens

ROOT = Path(__file__).resolve().parents[2]
WSGATE = Path(os.environ.get("WSGATE_BIN", ROOT / "target" / "release" / "wsgate"))
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SECRET_ENV = "WSGATE_BROWSER_SECRET"
# Upper bound for one startup or one WebSocket exchange (release binary, two shared cores).
PATIENCE_S = 20

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Process:
    """A child process whose merged output is read line by line on a thread."""

    def __init__(self, args, env=None):
        self.lines = queue.Queue()
        self.output = []
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pick, what):
        """The first value `pick(line)` returns that is not None, within PATIENCE_S."""
        while True:
            try:
                line = self.lines.get(timeout=PATIENCE_S)
            except queue.Empty:
                raise AssertionError(f"timed out waiting for {what}:\n{''.join(self.output)}")
            if line is None:
                raise AssertionError(f"exited before {what}:\n{''.join(self.output)}")
            value = pick(line)
            if value is not None:
                return value

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=PATIENCE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def listening(line):
    """(listen, admin_listen) from wsgate's "listening" log line, else None."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if record.get("message") != "listening":
        return None
    return record["listen"], record["admin_listen"]


@pytest.fixture(scope="session")
def echo_upstream():
    """`ws://HOST:PORT` of an echo that negotiates permessage-deflate."""
    echo = Process([sys.executable, str(ROOT / "tests/autobahn/deflate_echo.py"), "127.0.0.1:0"])
    addr = echo.wait_for(
        lambda line: line.split()[-1] if line.startswith("listening on") else None,
        "the echo upstream to listen",
    )
    yield f"ws://{addr}"
    echo.stop()


class PageServer:
    """Serves one blank page on 127.0.0.1: the origin a test's JavaScript runs in."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"<!doctype html><title>wsgate browser suite</title>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def app_page():
    """The application's page: its origin is in the gate's allowed_origins."""
    server = PageServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def foreign_page():
    """Another site's page (another port, so another origin): never allowed."""
    server = PageServer()
    yield server
    server.close()


class Gate:
    """`wsgate run` on a config written for this suite."""

    def __init__(self, workdir, upstream, allowed_origin, extra_auth=""):
        assert WSGATE.is_file(), f"{WSGATE} missing: run `cargo build --release` first"
        config = Path(workdir) / "wsgate.toml"
        config.write_text(
            f"""environment = "test"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
max_connections = 100
drain_timeout = "2s"

[upstream]
url = "{upstream}"
connect_timeout = "2s"

[auth]
deny = "close"
token_sources = ["header:authorization", "protocol:bearer", "cookie:access_token"]
allowed_origins = ["{allowed_origin}"]
leeway = "0s"
session_expiry = "close"
{extra_auth}
[[auth.issuers]]
name = "primary"
issuer = "{tokens.ISSUER}"
audiences = ["{tokens.AUDIENCE}"]
algorithms = ["HS256"]
secret = {{ env = "{SECRET_ENV}" }}
kid = "browser-1"

[identity]
user_header = "X-Auth-User"
method_header = "X-Auth-Method"

[[routes]]
path = "/scoped"
auth = "required"
claims = {{ scope = "chat:admin" }}

[[routes]]
path = "/ws"
auth = "required"
"""
        )
        self.process = Process(
            [str(WSGATE), "run", "--config", str(config)],
            env={SECRET_ENV: tokens.SECRET, "WSGATE_LOG": "info"},
        )
        addrs = self.process.wait_for(
            lambda line: listening(line), "wsgate to listen"
        )
        self.url = f"ws://{addrs[0]}"
        self.admin = f"http://{addrs[1]}"

    def metric(self, name, **labels):
        """The value of one sample on /metrics (0.0 when absent)."""
        import urllib.request

        with urllib.request.urlopen(self.admin + "/metrics", timeout=PATIENCE_S) as response:
            text = response.read().decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            series, _, value = line.rpartition(" ")
            if series.split("{")[0] != name:
                continue
            found = ",".join(sorted(series.partition("{")[2].rstrip("}").split(","))) if "{" in series else ""
            if found == wanted:
                return float(value)
        return 0.0

    def stop(self):
        self.process.stop()


@pytest.fixture(scope="session")
def gate(tmp_path_factory, echo_upstream, app_page):
    gate = Gate(tmp_path_factory.mktemp("gate"), echo_upstream, app_page.origin)
    yield gate
    gate.stop()


@pytest.fixture(scope="session")
def dead_upstream_gate(tmp_path_factory, app_page):
    """A gate whose upstream port has nothing listening."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gate = Gate(tmp_path_factory.mktemp("dead"), f"ws://127.0.0.1:{port}", app_page.origin)
    yield gate
    gate.stop()


@pytest.fixture(scope="session")
def browser_context():
    assert CHROMIUM.is_file(), f"{CHROMIUM} missing: apt-get install chromium"
    with tempfile.TemporaryDirectory(prefix="wsgate-chromium-") as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
            )
            context.set_default_timeout(PATIENCE_S * 1000)
            yield context
            context.close()


@pytest.fixture
def page(browser_context, app_page):
    """A tab on the application's page, cookies cleared before and after."""
    browser_context.clear_cookies()
    tab = browser_context.new_page()
    tab.goto(app_page.origin + "/")
    yield tab
    tab.close()
    browser_context.clear_cookies()


@pytest.fixture
def foreign_tab(browser_context, foreign_page):
    tab = browser_context.new_page()
    tab.goto(foreign_page.origin + "/")
    yield tab
    tab.close()
