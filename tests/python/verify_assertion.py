#!/usr/bin/env python3
"""Verifies a wsgate identity assertion the way an upstream app would, with PyJWT and
`cryptography` (an implementation independent of wsgate's), against the JWKS fetched over
HTTP from wsgate's admin listener. Used by tests/integration/assertion.rs.

    verify_assertion.py JWKS_URL ISSUER AUDIENCE TOKEN [CLOCK_AHEAD_SECONDS]

CLOCK_AHEAD_SECONDS simulates a verifier whose clock is that far ahead (an assertion
checked after its `exp`): PyJWT's clock (`jwt.api_jwt.datetime.now`) is shifted.

Exit 0 and the verified claims as JSON on stdout, or exit 1 and
`refused: <PyJWT exception class>: <message>` on stdout.
"""

import json
import sys
from datetime import datetime, timedelta

import jwt
import jwt.api_jwt


def shift_clock(seconds: int) -> None:
    class Shifted(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(seconds=seconds)

    jwt.api_jwt.datetime = Shifted


def main() -> int:
    jwks_url, issuer, audience, token = sys.argv[1:5]
    ahead = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    if ahead:
        shift_clock(ahead)
    # Fresh client per run: no cache, the JWKS is fetched over HTTP now.
    keys = jwt.PyJWKClient(jwks_url, cache_jwk_set=False, cache_keys=False)
    try:
        key = keys.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["ES256", "EdDSA"],
            audience=audience,
            issuer=issuer,
            options={"require": ["iss", "aud", "iat", "exp", "jti", "auth_method"]},
        )
    except jwt.PyJWTError as error:
        print(f"refused: {type(error).__name__}: {error}")
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
