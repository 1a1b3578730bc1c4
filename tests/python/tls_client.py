#!/usr/bin/env python3
"""A WebSocket client from another ecosystem: Python's `ssl` and `websockets`, used by
tests/integration/python_tls.rs against wsgate's TLS listener.

    tls_client.py URL CA_FILE [--cert CERT --key KEY] [--token TOKEN] [--send TEXT]

Trusts only CA_FILE, presents CERT/KEY when given, sends TEXT and prints one JSON line:
{"echo": TEXT} on success, or {"status": 403, "reason": "client_cert_missing"} when the
handshake is refused. Exit 0 either way; anything else (TLS failure...) exits 1.
"""

import argparse
import json
import ssl
import sys

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("ca_file")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--token")
    parser.add_argument("--send", default="hello from python")
    args = parser.parse_args()

    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.ca_file)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    try:
        with connect(args.url, ssl=context, additional_headers=headers, open_timeout=30) as ws:
            ws.send(args.send)
            print(json.dumps({"echo": ws.recv(timeout=30)}))
    except InvalidStatus as refused:
        response = refused.response
        print(json.dumps({
            "status": response.status_code,
            "reason": response.headers.get("X-Wsgate-Reason"),
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
