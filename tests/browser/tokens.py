"""HS256 test tokens minted with the standard library (no JWT package needed).

The secret is the one the browser suite's gate trusts (conftest.SECRET); `forge` signs any
header and claims, so refusals can be provoked on purpose.
"""

import base64
import hashlib
import hmac
import json
import time

SECRET = "wsgate-browser-suite-secret-5d1f8b2c9e7a4063"
OTHER_SECRET = "another-service-secret-never-shared-3c7e9a1f"
ISSUER = "https://auth.browser.wsgate.test"
AUDIENCE = "chat"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict, claims: dict, secret: str = SECRET) -> str:
    """A compact JWS over `header` and `claims`, HMAC-SHA-256 (or -512 when the header's
    alg says HS512) with `secret`."""
    digest = hashlib.sha512 if header.get("alg") == "HS512" else hashlib.sha256
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(signature)


def claims(sub: str = "alice", ttl: int = 600, **changes) -> dict:
    """Claims the gate accepts, valid `ttl` seconds; `changes` set (or, with None, remove)
    members; `sub=None` leaves `sub` out."""
    now = int(time.time())
    result = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + ttl,
        "scope": "chat:read",
    }
    if sub is None:
        del result["sub"]
    for name, value in changes.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def token(sub: str = "alice", ttl: int = 600, secret: str = SECRET, alg: str = "HS256", **changes) -> str:
    return forge({"alg": alg, "typ": "JWT"}, claims(sub, ttl, **changes), secret)
