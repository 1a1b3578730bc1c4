#!/usr/bin/env python3
"""A WebSocket echo that negotiates permessage-deflate (RFC 7692), for Autobahn 12.x/13.x.

tungstenite (examples/autobahn_echo.rs) has no permessage-deflate, so run.py's `deflate`
mode uses this echo, built on Python `websockets` (pinned in .ci/run), to exercise the
compressed path through wsgate: the offer and the answer relayed verbatim, RSV1 allowed on
the first frame of a message once negotiated, payloads never inflated by wsgate.

Usage: deflate_echo.py HOST:PORT  (port 0 picks one; prints "listening on HOST:PORT")
"""

import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except Exception:  # a case that breaks the protocol ends its connection
        pass


async def main(addr: str) -> None:
    host, _, port = addr.rpartition(":")
    async with serve(
        echo, host, int(port), compression="deflate", max_size=None, ping_interval=None
    ) as server:
        bound = server.sockets[0].getsockname()
        print(f"listening on {bound[0]}:{bound[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:0"))
    except KeyboardInterrupt:
        pass
