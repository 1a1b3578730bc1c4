#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/corpus/<target>/seed-NNN-<what>.

Seeds are meaningful starting points (valid inputs and each known attack shape), so a
short CI run explores near them instead of rediscovering HTTP or JSON from nothing. Their
formats are those of src/fuzzing.rs; the HMAC secret and the fuzzing policy's issuers
are the ones declared there. Deterministic: re-running rewrites the same files.

    python3 fuzz/make_corpus.py
"""

import base64
import hashlib
import hmac
import json
import shutil
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECRET = b"wsgate-fuzzing-hmac-secret-7c1e4b9a2d8f6053"  # src/fuzzing.rs SECRET
BYPASS_KEY = "wsgate-fuzzing-bypass-key-0a9b8c7d6e5f4a3b2c1d"  # src/fuzzing.rs BYPASS_KEY
NOW = 1_800_000_000  # src/fuzzing.rs NOW
FAR = 4_102_444_800  # 2100-01-01
ISS = "https://auth.fuzz.test"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def hs256(header: bytes, payload: bytes) -> str:
    signing_input = b64(header) + "." + b64(payload)
    signature = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def claims(**changes):
    result = {
        "iss": ISS,
        "aud": "chat",
        "sub": "alice",
        "iat": NOW - 10,
        "exp": FAR,
        "email": "alice@example.com",
        "roles": ["reader", "writer"],
        "scope": "chat:read chat:admin",
    }
    for name, value in changes.items():
        if value is ...:
            result.pop(name, None)
        else:
            result[name] = value
    return result


HEADER = {"alg": "HS256", "typ": "JWT", "kid": "hs-1"}
VALID = hs256(compact(HEADER), compact(claims()))


def jwt_seeds():
    signed = {  # sign: mode, header and payload as JSON text
        "valid": (HEADER, claims()),
        "no-kid": ({"alg": "HS256"}, claims()),
        "kid-traversal": ({"alg": "HS256", "kid": "../../dev/null"}, claims()),
        "kid-sql": ({"alg": "HS256", "kid": "x' UNION SELECT '1"}, claims()),
        "kid-number": ({"alg": "HS256", "kid": 7}, claims()),
        "alg-none": ({"alg": "none"}, claims()),
        "alg-lower": ({"alg": "hs256"}, claims()),
        "alg-rs256": ({"alg": "RS256", "kid": "hs-1"}, claims()),
        "crit": (dict(HEADER, crit=["exp"]), claims()),
        "b64": (dict(HEADER, b64=False), claims()),
        "zip": (dict(HEADER, zip="DEF"), claims()),
        "cty-jwt": (dict(HEADER, cty="JWT"), claims()),
        "jku": (dict(HEADER, jku="http://127.0.0.1:1/jwks.json"), claims()),
        "jwk": (dict(HEADER, jwk={"kty": "oct", "k": "AAAA"}), claims()),
        "typ-at": (dict(HEADER, typ="at+jwt"), claims()),
        "exp-string": (HEADER, claims(exp="4102444800")),
        "exp-null": (HEADER, claims(exp=None)),
        "exp-float": (HEADER, claims(exp=4102444800.5)),
        "exp-negative": (HEADER, claims(exp=-1)),
        "exp-missing": (HEADER, claims(exp=...)),
        "expired": (HEADER, claims(exp=NOW - 3600)),
        "nbf-future": (HEADER, claims(nbf=NOW + 3600)),
        "nbf-string": (HEADER, claims(nbf="0")),
        "iat-future": (HEADER, claims(iat=NOW + 3600)),
        "iss-array": (HEADER, claims(iss=["evil", ISS])),
        "iss-number": (HEADER, claims(iss=123)),
        "iss-other": (HEADER, claims(iss="https://evil.example")),
        "aud-array": (HEADER, claims(aud=["other", "chat"])),
        "aud-number": (HEADER, claims(aud=1)),
        "aud-empty": (HEADER, claims(aud=[])),
        "sub-number": (HEADER, claims(sub=42)),
        "sub-crlf": (HEADER, claims(sub="alice\r\nX-Auth-User: admin")),
        "sub-nul": (HEADER, claims(sub="alice\u0000")),
        "sub-empty": (HEADER, claims(sub="")),
        "sub-long": (HEADER, claims(sub="a" * 1100)),
        "email-crlf": (HEADER, claims(email="a@b\r\nX: y")),
        "roles-object": (HEADER, claims(roles={"admin": True})),
        "payload-array": (HEADER, [1, 2, 3]),
        "payload-string": (HEADER, "claims"),
    }
    seeds = {}
    for name, (header, payload) in signed.items():
        seeds["sign-" + name] = b"sign:" + compact(header) + b"\n" + compact(payload)
    text_payload = compact(claims()).decode()
    seeds["sign-duplicate-sub"] = b"sign:" + compact(HEADER) + b"\n" + (text_payload[:-1] + ',"sub":"admin"}').encode()
    seeds["sign-exp-1e400"] = b"sign:" + compact(HEADER) + b"\n" + text_payload.replace(f'"exp":{FAR}', '"exp":1e400').encode()
    seeds["sign-duplicate-alg"] = b'sign:{"alg":"none","alg":"HS256"}\n' + compact(claims())
    seeds["sign-deep-nesting"] = b"sign:" + compact(HEADER) + b"\n" + b'{"x":' + b"[" * 200 + b"]" * 200 + b"}"
    raw = {
        "valid": VALID,
        "null-signature": VALID.rsplit(".", 1)[0] + ".",
        "flipped-signature": VALID[:-5] + ("A" if VALID[-5] != "A" else "B") + VALID[-4:],
        "padded": VALID + "==",
        "two-segments": VALID.rsplit(".", 1)[0],
        "four-segments": VALID + ".e30",
        "jwe": b64(compact({"alg": "RSA-OAEP", "enc": "A256GCM"})) + ".a2V5.aXY.Y2lwaGVy.dGFn",
        "pbes2": b64(compact({"alg": "PBES2-HS512+A256KW", "enc": "A256GCM", "p2c": 2000000000})) + ".a.b.c.d",
        "dots": "." * 200,
        "empty": "",
        "json-serialization": json.dumps({"payload": "e30", "signatures": [{"protected": "e30", "signature": "AA"}]}),
        "psychic-es256": b64(compact({"alg": "ES256"})) + "." + b64(compact(dict(claims(), iss="https://ec.fuzz.test"))) + "." + b64(bytes(64)),
        "rs256-garbage": b64(compact({"alg": "RS256"})) + "." + b64(compact(dict(claims(), iss="https://rsa.fuzz.test"))) + "." + b64(bytes(256)),
        "bad-base64": "eyJ!!!.e30.AA",
        "whitespace": VALID[:10] + " " + VALID[10:],
    }
    for name, token in raw.items():
        seeds["raw-" + name] = token.encode()
    return seeds


KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def request(target="/ws", headers=None, drop=(), method="GET", version="HTTP/1.1", tail=b""):
    base = [
        ("Host", "gate.example"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", KEY),
    ]
    lines = [f"{method} {target} {version}"]
    lines += [f"{n}: {v}" for n, v in base if n not in drop]
    lines += [f"{n}: {v}" for n, v in (headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + tail


def request_head_seeds():
    return {
        "valid": request(),
        "valid-with-token": request(headers=[("Authorization", "Bearer " + VALID)]),
        "subprotocol": request(headers=[("Sec-WebSocket-Protocol", "bearer, " + VALID)]),
        "deflate": request(headers=[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]),
        "plain-get": b"GET /api/items?x=1 HTTP/1.1\r\nHost: gate.example\r\n\r\n",
        "http10": request(version="HTTP/1.0"),
        "no-key": request(drop=("Sec-WebSocket-Key",)),
        "short-key": request(drop=("Sec-WebSocket-Key",), headers=[("Sec-WebSocket-Key", "AAAA")]),
        "two-keys": request(headers=[("Sec-WebSocket-Key", KEY)]),
        "version-8": request(drop=("Sec-WebSocket-Version",), headers=[("Sec-WebSocket-Version", "8")]),
        "h2c": request(drop=("Upgrade",), headers=[("Upgrade", "h2c")]),
        "no-connection": request(drop=("Connection",)),
        "connect": b"CONNECT gate.example:443 HTTP/1.1\r\nHost: gate.example:443\r\n\r\n",
        "post-upgrade": request(method="POST"),
        "body": request(headers=[("Content-Length", "5")], tail=b"hello"),
        "chunked": request(headers=[("Transfer-Encoding", "chunked")], tail=b"0\r\n\r\n"),
        "cl-te": b"POST /api HTTP/1.1\r\nHost: g\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "two-hosts": request(headers=[("Host", "other.example")]),
        "bad-host": request(drop=("Host",), headers=[("Host", "bad host/x")]),
        "no-host": request(drop=("Host",)),
        "absolute-form": request(target="http://gate.example/ws"),
        "dot-segments": request(target="/public/../ws"),
        "encoded-dots": request(target="/public/%2e%2e/ws"),
        "encoded-letter": request(target="/%77s"),
        "encoded-slash": request(target="/public%2fws"),
        "double-slash": request(target="//ws"),
        "semicolon": request(target="/public;/../ws"),
        "backslash": request(target="/public\\..\\ws"),
        "override-headers": request(target="/public", headers=[("X-Original-URL", "/ws"), ("X-Rewrite-URL", "/ws")]),
        "bare-lf": request().replace(b"\r\n", b"\n"),
        "obs-fold": request(headers=[("X-Long", "a\r\n b")]),
        "nul-in-header": request(headers=[("X-Nul", "a\x00b")]),
        "high-bytes": request(headers=[("X-Latin", "caf\xe9")]),
        "space-before-colon": b"GET /ws HTTP/1.1\r\nHost : g\r\n\r\n",
        "frames-after-head": request(tail=bytes([0x81, 0x85, 1, 2, 3, 4]) + bytes(b ^ k for b, k in zip(b"hello", b"\x01\x02\x03\x04\x01"))),
        "pipelined": request() + b"GET /admin HTTP/1.1\r\nHost: g\r\n\r\n",
        "partial": request()[:-3],
        "many-headers": request(headers=[(f"X-H{i}", "v") for i in range(120)]),
        "long-target": request(target="/ws?" + "a" * 5000),
        "query-token": request(target="/ws?access_token=" + VALID),
    }


def frame(opcode, payload=b"", fin=True, mask=b"\x01\x02\x03\x04", rsv=0, length_form=None):
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mask_bit = 0x80 if mask else 0
    form = length_form or ("7" if n < 126 else "16" if n < 65536 else "64")
    if form == "7":
        head = bytes([first, mask_bit | n])
    elif form == "16":
        head = bytes([first, mask_bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close(code, reason=b"", **kw):
    return frame(0x8, struct.pack(">H", code) + reason, **kw)


def frames_seeds():
    # First byte: bit 0 sender (0 client, 1 upstream), bits 1-2 extensions (0 none,
    # 1 permessage-deflate, 2 other), bit 3 small frame limit, bit 4 small message limit,
    # bit 5 ping limit, bits 6-7 chunk size.
    c, u = 0x00, 0x01
    um = {"mask": None}
    return {
        "text": bytes([c]) + frame(0x1, b"hello"),
        "text-upstream": bytes([u]) + frame(0x1, b"hello", **um),
        "binary-16bit": bytes([c]) + frame(0x2, bytes(300)),
        "binary-64bit": bytes([c]) + frame(0x2, bytes(70000)),
        "non-minimal-16": bytes([c]) + frame(0x2, b"abc", length_form="16"),
        "non-minimal-64": bytes([c]) + frame(0x2, b"abc", length_form="64"),
        "fragmented": bytes([c]) + frame(0x1, b"hel", fin=False) + frame(0x9, b"p") + frame(0x0, b"lo"),
        "continuation-first": bytes([c]) + frame(0x0, b"x"),
        "data-inside-message": bytes([c]) + frame(0x1, b"a", fin=False) + frame(0x1, b"b"),
        "ping-pong": bytes([c]) + frame(0x9, b"ping") + frame(0xA, b"pong"),
        "ping-125": bytes([c]) + frame(0x9, bytes(125)),
        "ping-126": bytes([c]) + frame(0x9, bytes(126)),
        "ping-fragmented": bytes([c]) + frame(0x9, b"x", fin=False),
        "ping-flood": bytes([c | 0x20]) + frame(0x9, b"") * 10,
        "reserved-opcode": bytes([c]) + frame(0x3, b"x"),
        "reserved-control": bytes([c]) + frame(0xB, b"x"),
        "rsv1-none": bytes([c]) + frame(0x1, b"x", rsv=4),
        "rsv1-deflate": bytes([c | 0x02]) + frame(0x1, b"\xf2\x48\xcd\xc9\xc9\x07\x00", rsv=4),
        "rsv1-continuation": bytes([c | 0x02]) + frame(0x1, b"a", fin=False, rsv=4) + frame(0x0, b"b", rsv=4),
        "rsv-other": bytes([c | 0x04]) + frame(0x1, b"x", rsv=7),
        "unmasked-client": bytes([c]) + frame(0x1, b"x", **um),
        "masked-upstream": bytes([u]) + frame(0x1, b"x"),
        "close-1000": bytes([c]) + close(1000, b"bye"),
        "close-empty": bytes([c]) + frame(0x8, b""),
        "close-one-byte": bytes([c]) + frame(0x8, b"\x03"),
        "close-1005": bytes([c]) + close(1005),
        "close-999": bytes([c]) + close(999),
        "close-4000": bytes([c]) + close(4000, b"app"),
        "close-5000": bytes([c]) + close(5000),
        "close-bad-utf8": bytes([c]) + close(1000, b"\xff\xfe"),
        "data-after-close": bytes([c]) + close(1000) + frame(0x1, b"late"),
        "frame-over-limit": bytes([c | 0x08]) + frame(0x2, bytes(100)),
        "message-over-limit": bytes([c | 0x10]) + frame(0x2, bytes(120), fin=False) + frame(0x0, bytes(120)),
        "length-top-bit": bytes([c]) + bytes([0x82, 0xFF]) + b"\x80" + bytes(7) + b"\x01\x02\x03\x04",
        "byte-by-byte": bytes([c]) + frame(0x1, b"slow") + close(1001),
        "big-chunks": bytes([c | 0xC0]) + frame(0x1, b"a" * 1000) + frame(0x9, b"p") + close(1000),
        "many-small": bytes([c | 0x40]) + b"".join(frame(0x1 if i == 0 else 0x0, b"x", fin=(i == 49)) for i in range(50)),
    }


def answer(status_line, headers, body=b""):
    lines = [status_line] + [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def upstream_answer_seeds():
    # First byte: % 3 picks offered protocols ("", "chat", "chat, superchat"),
    # / 3 % 2 whether permessage-deflate was offered.
    switch = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", ACCEPT)]
    ok = "HTTP/1.1 101 Switching Protocols"
    return {
        "101": b"\x00" + answer(ok, switch),
        "101-protocol": b"\x01" + answer(ok, switch + [("Sec-WebSocket-Protocol", "chat")]),
        "101-unoffered-protocol": b"\x00" + answer(ok, switch + [("Sec-WebSocket-Protocol", "chat")]),
        "101-two-protocols": b"\x02" + answer(ok, switch + [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")]),
        "101-deflate": b"\x03" + answer(ok, switch + [("Sec-WebSocket-Extensions", "permessage-deflate")]),
        "101-unoffered-extension": b"\x00" + answer(ok, switch + [("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")]),
        "101-wrong-accept": b"\x00" + answer(ok, switch[:2] + [("Sec-WebSocket-Accept", "AAAA")]),
        "101-two-accepts": b"\x00" + answer(ok, switch + [("Sec-WebSocket-Accept", ACCEPT)]),
        "101-no-upgrade": b"\x00" + answer(ok, switch[1:]),
        "101-h2c": b"\x00" + answer(ok, [("Upgrade", "h2c")] + switch[1:]),
        "101-then-frames": b"\x00" + answer(ok, switch) + frame(0x1, b"hi", mask=None),
        "103-then-101": b"\x00" + answer("HTTP/1.1 103 Early Hints", [("Link", "</a>")]) + answer(ok, switch),
        "100s": b"\x00" + answer("HTTP/1.1 100 Continue", []) * 20 + answer(ok, switch),
        "403-length": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Content-Length", "6")], b"denied"),
        "403-chunked": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Transfer-Encoding", "chunked")], b"6;ext=1\r\ndenied\r\n0\r\nX-T: 1\r\n\r\n"),
        "403-until-close": b"\x00" + answer("HTTP/1.1 403 Forbidden", [], b"denied until close"),
        "403-short-body": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Content-Length", "100")], b"short"),
        "403-conflicting-length": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Content-Length", "6"), ("Content-Length", "7")], b"denied"),
        "403-length-list": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Content-Length", "6, 6")], b"denied"),
        "403-te-and-cl": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Content-Length", "3"), ("Transfer-Encoding", "chunked")], b"3\r\nabc\r\n0\r\n\r\n"),
        "403-gzip-te": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Transfer-Encoding", "gzip")], b"xx"),
        "403-huge-length": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Content-Length", "99999999999999999999")]),
        "403-bad-chunk": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Transfer-Encoding", "chunked")], b"zz\r\nabc\r\n"),
        "403-huge-chunk": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("Transfer-Encoding", "chunked")], b"ffffffffffffffff\r\n"),
        "204": b"\x00" + answer("HTTP/1.1 204 No Content", [("Content-Length", "5")], b"extra"),
        "302": b"\x00" + answer("HTTP/1.1 302 Found", [("Location", "http://evil.example/"), ("Content-Length", "0")]),
        "200-smuggle": b"\x00" + answer("HTTP/1.1 200 OK", [("Content-Length", "0")]) + b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "status-999": b"\x00" + answer("HTTP/1.1 999 Odd", []),
        "status-000": b"\x00" + answer("HTTP/1.1 000 Zero", []),
        "http10": b"\x00" + answer("HTTP/1.0 101 Switching Protocols", switch),
        "bare-lf": b"\x00" + answer(ok, switch).replace(b"\r\n", b"\n"),
        "header-crlf-value": b"\x00" + answer("HTTP/1.1 403 Forbidden", [("X-A", "a\rb"), ("Content-Length", "0")]),
        "truncated": b"\x00" + answer(ok, switch)[:40],
        "empty": b"\x00",
        "many-headers": b"\x00" + answer(ok, switch + [(f"X-{i}", "v") for i in range(110)]),
    }


POLICY = """environment = "test"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "ws://127.0.0.1:8000"
[auth]
deny = "close"
token_sources = ["header:authorization", "protocol:bearer"]
[[auth.issuers]]
name = "primary"
issuer = "https://auth.example.com"
audiences = ["chat"]
algorithms = ["HS256"]
secret = { env = "JWT_SECRET" }
[[routes]]
path = "/ws"
auth = "required"
"""


def config_seeds():
    def edit(old, new):
        assert old in POLICY, old
        return POLICY.replace(old, new, 1)

    seeds = {
        "minimal": POLICY,
        "http-deny": edit('deny = "close"', 'deny = "http"'),
        "cookie-no-origins": edit('"protocol:bearer"]', '"protocol:bearer", "cookie:access_token"]'),
        "cookie-origins": edit('"protocol:bearer"]', '"cookie:access_token"]\nallowed_origins = ["https://app.example.com"]'),
        "query-source": edit('"protocol:bearer"]', '"query:access_token"]'),
        "bad-source": edit('"protocol:bearer"]', '"smoke:signal"]'),
        "alg-none": edit('["HS256"]', '["none"]'),
        "mixed-algs": edit('["HS256"]', '["HS256", "RS256"]'),
        "literal-secret": edit('{ env = "JWT_SECRET" }', '"short"'),
        "no-issuers": POLICY.split("[[auth.issuers]]")[0] + "[[routes]]\npath = \"/ws\"\nauth = \"required\"\n",
        "unknown-key": POLICY + "\n[mystery]\nx = 1\n",
        "unknown-field": edit("[auth]\n", "[auth]\ncolour = \"blue\"\n"),
        "bad-duration": POLICY.replace("[server]\n", '[server]\nhandshake_timeout = "ten seconds"\n', 1),
        "zero-durations": POLICY.replace("[server]\n", '[server]\nhandshake_timeout = "0s"\ndrain_timeout = "0s"\nidle_timeout = "0s"\n', 1),
        "huge-numbers": POLICY.replace("[server]\n", "[server]\nmax_connections = 18446744073709551615\nmax_frame_bytes = -1\n", 1),
        "bad-listen": edit('listen = "127.0.0.1:0"', 'listen = "nowhere"'),
        "bad-upstream": edit('url = "ws://127.0.0.1:8000"', 'url = "gopher://x"'),
        "upstream-path": edit('url = "ws://127.0.0.1:8000"', 'url = "http://127.0.0.1:8000/base/"'),
        "routes-claims": POLICY + '\n[[routes]]\npath = "/admin"\nauth = "required"\nclaims = { scope = "admin", roles = "ops" }\n',
        "routes-all-kinds": POLICY + '\n[[routes]]\npath = "/"\nauth = "none"\n[[routes]]\npath = "/opt"\nauth = "optional"\n',
        "route-no-slash": POLICY + '\n[[routes]]\npath = "admin"\nauth = "required"\n',
        "route-bad-auth": POLICY + '\n[[routes]]\npath = "/x"\nauth = "maybe"\n',
        "identity": POLICY + '\n[identity]\nuser_header = "X-Auth-User"\nuser_claim = "sub"\nmethod_header = "X-Auth-Method"\n[identity.claim_headers]\n"X-Auth-Email" = "email"\n',
        "identity-bad-header": POLICY + '\n[identity]\nuser_header = "X Auth\\r\\nUser"\n',
        "bypass": POLICY + '\n[e2e_bypass]\nenabled = true\nheader = "X-E2E-Bypass-Key"\nkeys = [{ name = "ci", secret = { env = "E2E_KEY" } }]\nallowed_environments = ["test"]\n',
        "bypass-production": edit('environment = "test"', 'environment = "production"') + '\n[e2e_bypass]\nenabled = true\nkey = { env = "E2E_KEY" }\n',
        "bypass-no-key": POLICY + "\n[e2e_bypass]\nenabled = true\n",
        "issuer-environments": edit('secret = { env = "JWT_SECRET" }', 'secret = { env = "JWT_SECRET" }\nenvironments = ["staging"]\ntyp = "at+jwt"'),
        "two-issuers": POLICY.replace("[[routes]]", '[[auth.issuers]]\nname = "primary"\nissuer = "https://auth.example.com"\nalgorithms = ["HS512"]\nsecret = { env = "OTHER" }\n[[routes]]', 1),
        "sessions": POLICY + '\n[sessions]\nstore = "memory"\nmax_per_user = 3\n',
        "tls-section": POLICY.replace("[upstream]", "[server.tls]\n[upstream]", 1),
        "not-toml": "this is = = not toml [",
        "empty": "",
        "deep-inline": "x = " + "[" * 100 + "]" * 100 + "\n",
    }
    return {name: text.encode() for name, text in seeds.items()}


def decide_seeds():
    bearer = "Authorization: Bearer " + VALID
    bypass = "X-E2E-Bypass-Key: " + BYPASS_KEY
    origin = "Origin: https://app.example.com"
    expired = hs256(compact(HEADER), compact(claims(exp=NOW - 3600)))
    scoped_out = hs256(compact(HEADER), compact(claims(scope="chat:read")))
    crlf_email = hs256(compact(HEADER), compact(claims(email="a@b\r\nX: y")))
    seeds = {
        "bearer": ["/ws", bearer],
        "bearer-origin": ["/ws", bearer, origin],
        "bearer-bad-origin": ["/ws", bearer, "Origin: https://evil.example"],
        "origin-null": ["/ws", bearer, "Origin: null"],
        "origin-trailing-slash": ["/ws", bearer, "Origin: https://app.example.com/"],
        "missing": ["/ws"],
        "lowercase-scheme": ["/ws", "authorization: bearer " + VALID],
        "basic": ["/ws", "Authorization: Basic YWxpY2U6c2VjcmV0"],
        "two-authorization": ["/ws", bearer, "Authorization: Bearer other.token.here"],
        "same-token-twice": ["/ws", bearer, "Sec-WebSocket-Protocol: bearer, " + VALID],
        "protocol": ["/ws", "Sec-WebSocket-Protocol: bearer, " + VALID + ", chat"],
        "protocol-two-tokens": ["/ws", "Sec-WebSocket-Protocol: bearer, A, bearer, B"],
        "query": ["/ws?access_token=" + VALID],
        "query-and-header": ["/ws?access_token=" + VALID, "Authorization: Bearer x.y.z"],
        "cookie": ["/ws", "Cookie: theme=dark; access_token=" + VALID, origin],
        "cookie-no-origin": ["/ws", "Cookie: access_token=" + VALID],
        "expired": ["/ws", "Authorization: Bearer " + expired],
        "scoped-ok": ["/scoped", bearer],
        "scoped-missing": ["/scoped", "Authorization: Bearer " + scoped_out],
        "claim-header-crlf": ["/ws", "Authorization: Bearer " + crlf_email],
        "public": ["/public"],
        "public-with-bad-token": ["/public", "Authorization: Bearer garbage"],
        "optional-none": ["/optional"],
        "optional-bad": ["/optional", "Authorization: Bearer a.b.c"],
        "optional-good": ["/optional/x", bearer],
        "bypass": ["/ws", bypass],
        "bypass-user": ["/ws", bypass, "X-E2E-User: tester"],
        "bypass-wrong": ["/ws", "X-E2E-Bypass-Key: " + BYPASS_KEY[:-1]],
        "bypass-and-jwt": ["/ws", bypass, bearer],
        "bypass-twice": ["/ws", bypass, bypass],
        "test-markers": ["/ws", "X-E2E-Test: true", "X-Test-Type: e2e"],
        "catch-all": ["/elsewhere", bearer],
        "root": ["/"],
        "encoded-route": ["/%77s"],
        "encoded-public-escape": ["/public/%2e%2e/ws"],
        "route-prefix-trick": ["/wsx"],
        "route-case": ["/WS"],
        "override-headers": ["/public", "X-Original-URL: /ws", "X-Rewrite-URL: /ws"],
        "spoofed-identity": ["/ws", bearer, "X-Auth-User: admin", "X_Auth_User: admin"],
        "absolute": ["http://gate.example/ws", bearer],
    }
    return {name: "\n".join(lines).encode() for name, lines in seeds.items()}


def main():
    corpus = HERE / "corpus"
    for target, seeds in [
        ("jwt", jwt_seeds()),
        ("request_head", request_head_seeds()),
        ("frames", frames_seeds()),
        ("upstream_answer", upstream_answer_seeds()),
        ("config", config_seeds()),
        ("decide", decide_seeds()),
    ]:
        directory = corpus / target
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for index, (name, data) in enumerate(sorted(seeds.items())):
            (directory / f"seed-{index:03d}-{name}").write_bytes(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
