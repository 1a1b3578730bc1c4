"""Client-side checks shared by the image test and the chart test: what a user sees from
outside a running wsgate. Uses PyPI's websockets (the version .ci/run installs) and the
standard library only. Every wait has a deadline; nothing sleeps and hopes."""

import asyncio
import http.client
import json
import socket
import subprocess
import time

import websockets


class Failure(Exception):
    """A deployment check failed; the message says which and what was seen."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, headers=None, timeout=5.0):
    """(status, headers dict lower-cased, body) of one GET to 127.0.0.1:port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def wait_ready(admin_port, deadline_s, alive=None):
    """Polls /readyz until 200, failing early when `alive()` says the process is gone."""
    end = time.monotonic() + deadline_s
    last = "no answer"
    while time.monotonic() < end:
        if alive is not None and not alive():
            raise Failure(f"wsgate exited before /readyz answered 200 (last: {last})")
        try:
            status, _, body = http_get(admin_port, "/readyz", timeout=2)
            if status == 200:
                return
            last = f"{status} {body[:80]!r}"
        except OSError as e:
            last = repr(e)
        time.sleep(0.2)
    raise Failure(f"/readyz on port {admin_port} not 200 within {deadline_s}s (last: {last})")


def expect_refusal(port, path, reason, headers=None):
    """A WebSocket upgrade that wsgate must refuse with 403 and `reason`."""
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    upgrade.update(headers or {})
    status, hdrs, body = http_get(port, path, upgrade)
    got = hdrs.get("x-wsgate-reason")
    if status != 403 or got != reason:
        raise Failure(f"expected 403 {reason} on {path}, got {status} X-Wsgate-Reason={got} body={body[:200]!r}")
    error = json.loads(body).get("error")
    if error != reason:
        raise Failure(f"403 body names {error!r}, expected {reason!r}")
    return status, reason


async def open_session(port, path, token, user):
    """Opens an authenticated session, checks the app saw `user` in X-Auth-User and that
    a message comes back; returns the open connection."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}{path}",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=10,
        close_timeout=10,
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
    if hello.get("x-auth-user") != user or hello.get("x-auth-method") != "jwt":
        raise Failure(f"the app saw {hello}, expected X-Auth-User {user!r} and X-Auth-Method 'jwt'")
    if hello.get("authorization"):
        raise Failure("the client's Authorization header reached the app")
    await ws.send("ping through wsgate")
    echoed = await asyncio.wait_for(ws.recv(), 10)
    if echoed != "ping through wsgate":
        raise Failure(f"echo came back as {echoed!r}")
    return ws, hello


async def expect_close(ws, code, reason, deadline_s):
    """Waits (bounded) for the server to close `ws` with `code` and `reason`."""
    try:
        await asyncio.wait_for(ws.wait_closed(), deadline_s)
    except asyncio.TimeoutError:
        raise Failure(f"no close within {deadline_s}s") from None
    # The close frame received from wsgate, not the one the client sent back.
    rcvd = getattr(getattr(ws, "protocol", None), "close_rcvd", None)
    got = (rcvd.code, rcvd.reason) if rcvd else None
    if got != (code, reason):
        raise Failure(f"expected close {code} {reason!r}, got {got}")


def run(cmd, **kw):
    """subprocess.run with check, capturing text; the failure shows the output."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p.stdout
