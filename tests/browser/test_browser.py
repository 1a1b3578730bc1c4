"""What a browser's JavaScript sees of wsgate (issue 14, deliverable 4).

Browsers cannot read the status of a refused upgrade (a failed handshake is a bare 1006),
which is why `deny = "close"` exists: wsgate completes the handshake itself and closes
with 1008 and the reason code, so the page can tell `token_expired` from
`signature_invalid`. Each test opens a real `WebSocket` in Chromium and waits for its
events (open, message, close) under an upper bound.
"""

import pytest

import tokens
from conftest import PATIENCE_S

# Opens a WebSocket and resolves with what the page saw: open, the negotiated protocol
# and extensions, messages, and the CloseEvent. With `send`, sends it once open; with
# `close_after_echo`, closes 1000 after the first message.
SESSION_JS = """
([url, protocols, send, closeAfterEcho, timeoutMs]) => new Promise((resolve) => {
  const seen = {opened: false, protocol: null, extensions: null, messages: [],
                code: null, reason: null, wasClean: null, timedOut: false};
  const ws = protocols === null ? new WebSocket(url) : new WebSocket(url, protocols);
  const timer = setTimeout(() => { seen.timedOut = true; ws.close(); resolve(seen); }, timeoutMs);
  ws.onopen = () => {
    seen.opened = true;
    seen.protocol = ws.protocol;
    seen.extensions = ws.extensions;
    if (send !== null) ws.send(send);
  };
  ws.onmessage = (event) => {
    seen.messages.push(event.data);
    if (closeAfterEcho) ws.close(1000, "done");
  };
  ws.onclose = (event) => {
    clearTimeout(timer);
    Object.assign(seen, {code: event.code, reason: event.reason, wasClean: event.wasClean});
    resolve(seen);
  };
})
"""


def session(tab, url, protocols=None, send=None, close_after_echo=True):
    seen = tab.evaluate(SESSION_JS, [url, protocols, send, close_after_echo, PATIENCE_S * 1000])
    assert not seen["timedOut"], f"no close within {PATIENCE_S}s: {seen}"
    return seen


def assert_refused(seen, reason, code=1008):
    assert (seen["code"], seen["reason"]) == (code, reason), seen
    assert seen["messages"] == [], seen


def test_bearer_subprotocol_session_is_admitted_and_echoes(page, gate):
    seen = session(page, gate.url + "/ws", ["bearer", tokens.token()], send="hello")
    assert seen["opened"], seen
    # The browser only accepts the 101 because wsgate answers the marker it offered.
    assert seen["protocol"] == "bearer", seen
    assert seen["messages"] == ["hello"], seen
    assert (seen["code"], seen["reason"]) == (1000, "done"), seen


def test_cookie_session_from_an_allowed_origin_is_admitted(page, gate, browser_context):
    browser_context.add_cookies(
        [{"name": "access_token", "value": tokens.token("carol"), "url": gate.url.replace("ws", "http", 1)}]
    )
    seen = session(page, gate.url + "/ws", send="from a cookie")
    assert seen["opened"], seen
    assert seen["protocol"] == "", seen
    assert seen["messages"] == ["from a cookie"], seen
    assert seen["code"] == 1000, seen


REFUSALS = [
    ("token_missing", None),
    ("token_malformed", ["bearer", "not-a-jwt"]),
    ("token_expired", ["bearer", tokens.token(ttl=-60)]),
    ("token_not_yet_valid", ["bearer", tokens.token(nbf=3_000_000_000)]),
    ("signature_invalid", ["bearer", tokens.token(secret=tokens.OTHER_SECRET)]),
    ("audience_mismatch", ["bearer", tokens.token(aud="billing")]),
    ("issuer_unknown", ["bearer", tokens.token(iss="https://evil.example")]),
    ("algorithm_not_allowed", ["bearer", tokens.token(alg="HS512")]),
    ("algorithm_not_allowed", ["bearer", tokens.forge({"alg": "none"}, tokens.claims())[:-43]]),
    ("key_unknown", ["bearer", tokens.forge({"alg": "HS256", "kid": "../../etc/passwd"}, tokens.claims())]),
    ("claim_missing", ["bearer", tokens.token(sub=None)]),
    ("claim_invalid", ["bearer", tokens.token(sub=42)]),
    ("token_too_large", ["bearer", tokens.token(pad="p" * 9000)]),
]


@pytest.mark.parametrize(
    "reason,protocols", REFUSALS, ids=[f"{r}-{i}" for i, (r, _) in enumerate(REFUSALS)]
)
def test_every_refusal_reaches_javascript_as_close_1008_with_the_reason(page, gate, reason, protocols):
    seen = session(page, gate.url + "/ws", protocols, send="never relayed")
    assert_refused(seen, reason)
    if protocols is not None:
        # wsgate's own 101 answers the marker too, or the browser would drop it (1006).
        assert seen["protocol"] == "bearer", seen


def test_route_claim_requirement_refusal_is_claim_mismatch(page, gate):
    seen = session(page, gate.url + "/scoped", ["bearer", tokens.token()])
    assert_refused(seen, "claim_mismatch")


def test_refused_cookie_token_is_seen_with_its_reason(page, gate, browser_context):
    browser_context.add_cookies(
        [{"name": "access_token", "value": tokens.token(ttl=-60), "url": gate.url.replace("ws", "http", 1)}]
    )
    assert_refused(session(page, gate.url + "/ws"), "token_expired")


def test_cookie_and_subprotocol_carrying_different_tokens_is_multiple_credentials(
    page, gate, browser_context
):
    browser_context.add_cookies(
        [{"name": "access_token", "value": tokens.token("carol"), "url": gate.url.replace("ws", "http", 1)}]
    )
    seen = session(page, gate.url + "/ws", ["bearer", tokens.token("dave")])
    assert_refused(seen, "multiple_credentials")


def test_origin_outside_the_allow_list_is_origin_not_allowed(foreign_tab, gate, browser_context):
    # Cross-site WebSocket hijacking: another site's page, the user's cookie attached.
    browser_context.add_cookies(
        [{"name": "access_token", "value": tokens.token("carol"), "url": gate.url.replace("ws", "http", 1)}]
    )
    try:
        assert_refused(session(foreign_tab, gate.url + "/ws"), "origin_not_allowed")
        seen = session(foreign_tab, gate.url + "/ws", ["bearer", tokens.token()])
        assert_refused(seen, "origin_not_allowed")
    finally:
        browser_context.clear_cookies()


def test_unreachable_upstream_reaches_javascript_as_1014(page, dead_upstream_gate):
    seen = session(page, dead_upstream_gate.url + "/ws", ["bearer", tokens.token()])
    assert_refused(seen, "upstream_unavailable", code=1014)


def test_token_expiring_mid_session_closes_1008_token_expired(page, gate):
    # leeway 0s: the session ends when exp passes (5 s: room for a slow handshake on a
    # loaded machine), while the page just waits.
    seen = session(page, gate.url + "/ws", ["bearer", tokens.token(ttl=5)], send="still here", close_after_echo=False)
    assert seen["messages"] == ["still here"], seen
    assert (seen["code"], seen["reason"]) == (1008, "token_expired"), seen


def test_permessage_deflate_is_negotiated_end_to_end(page, gate):
    before = gate.metric("wsgate_relayed_bytes_total", direction="to_upstream")
    message = "compressible browser payload " * 4000
    seen = session(page, gate.url + "/ws", ["bearer", tokens.token()], send=message)
    assert "permessage-deflate" in seen["extensions"], seen["extensions"]
    assert seen["messages"] == [message], "the echo came back intact"
    assert seen["code"] == 1000, {k: v for k, v in seen.items() if k != "messages"}
    # wsgate relayed the compressed frames as they were: far fewer payload bytes than
    # the message's length went upstream.
    relayed = gate.metric("wsgate_relayed_bytes_total", direction="to_upstream") - before
    assert 0 < relayed < len(message) / 10, relayed
