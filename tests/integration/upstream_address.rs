//! The upstream named by its address or by a name: `ws://localhost:PORT` (a name the system
//! resolves, as a sidecar's upstream is usually written) and `ws://[::1]:PORT` (an IPv6
//! literal, dialled without a lookup, which never worked before the addresses were parsed
//! once) both carry sessions, and the upstream sees its own authority in `Host`. That a
//! name is looked up once and not per handshake is `upstream::resolve`'s unit tests.

use std::net::{IpAddr, Ipv6Addr};

use crate::support::tokens::alice;
use crate::support::{EchoUpstream, TestProxy, Upgrade, expect_echo};

#[tokio::test]
async fn an_upstream_named_localhost_carries_every_session() {
    let upstream = EchoUpstream::start().await;
    let url = format!("ws://localhost:{}", upstream.addr().port());
    let proxy = TestProxy::builder().upstream(&url).start().await;

    for index in 0..3 {
        let (mut session, response) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
        assert_eq!(response.status(), 101, "session {index}");
        expect_echo(&mut session, &format!("through localhost {index}")).await;
        let seen = upstream.request(index).await;
        assert_eq!(
            seen.one("Host"),
            format!("localhost:{}", upstream.addr().port())
        );
    }
    assert_eq!(upstream.connections(), 3);
}

#[tokio::test]
async fn an_ipv6_literal_upstream_is_dialled_as_written() {
    let upstream = EchoUpstream::start_on(IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
    let url = upstream.url();
    assert!(url.starts_with("ws://[::1]:"), "{url}");
    let proxy = TestProxy::builder().upstream(&url).start().await;

    let (mut session, response) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    assert_eq!(response.status(), 101);
    expect_echo(&mut session, "through [::1]").await;
    let seen = upstream.request(0).await;
    assert_eq!(
        seen.one("Host"),
        format!("[::1]:{}", upstream.addr().port())
    );
}
