#!/usr/bin/env python3
"""A stand-in for "your app" behind wsgate in the deployment tests.

A WebSocket server that first sends one JSON text message describing the upgrade
request it received (path and the identity headers wsgate injects), then echoes every
message back. Runs with Debian bookworm's python3-websockets (10.x, in the chart test's
app container) and PyPI's websockets (17.x, on the CI host).

Usage: echo_app.py [HOST] [PORT]  (default 127.0.0.1 8000; PORT 0 picks one). Prints
`listening on HOST:PORT` on stdout once bound, then serves until killed.
"""

import asyncio
import json
import sys

import websockets

IDENTITY_HEADERS = ("x-auth-user", "x-auth-method", "authorization")


def request_of(ws):
    """(path, headers) of the upgrade request, across websockets' old and new APIs."""
    request = getattr(ws, "request", None)
    if request is not None:
        return request.path, request.headers
    return ws.path, ws.request_headers


async def handler(ws, *_legacy_path):
    path, headers = request_of(ws)
    hello = {"path": path}
    for name in IDENTITY_HEADERS:
        hello[name] = headers.get(name)
    await ws.send(json.dumps(hello))
    async for message in ws:
        await ws.send(message)


async def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    async with websockets.serve(handler, host, port) as server:
        bound = next(iter(server.sockets)).getsockname()
        print(f"listening on {bound[0]}:{bound[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
