//! The resolver against real sockets on 127.0.0.1 and the system's own `localhost`.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;

use tokio::net::{TcpListener, TcpSocket};

use super::*;

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// An address on 127.0.0.1 that refuses connections: a socket bound to it, never
/// listening, which keeps the port from anyone else while it is held.
fn refusing() -> (TcpSocket, SocketAddr) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind");
    let addr = socket.local_addr().expect("local addr");
    (socket, addr)
}

fn named(resolver: &Resolver) -> &Arc<Named> {
    match &resolver.target {
        Target::Name(named) => named,
        Target::Literal(address) => panic!("{address} is a literal"),
    }
}

fn answer(resolver: &Resolver) -> std::sync::MutexGuard<'_, Answer> {
    named(resolver).answer.lock().expect("answer lock")
}

/// A lookup has started since `before` was the answer (it may have ended already).
fn looked_up_since(resolver: &Resolver, before: &Arc<[SocketAddr]>) -> bool {
    let answer = answer(resolver);
    answer.looking_up || !Arc::ptr_eq(&answer.addresses, before)
}

/// Waits (bounded) for the background lookup a dial started to store its answer.
async fn background_lookup_done(resolver: &Resolver) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while answer(resolver).looking_up {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the background lookup ended");
}

#[test]
fn address_literals_are_never_looked_up() {
    for (host, expected) in [
        ("127.0.0.1", SocketAddr::from((Ipv4Addr::LOCALHOST, 8000))),
        ("[::1]", SocketAddr::from((Ipv6Addr::LOCALHOST, 8000))),
        ("::1", SocketAddr::from((Ipv6Addr::LOCALHOST, 8000))),
    ] {
        match Resolver::new(host, 8000).target {
            Target::Literal(address) => assert_eq!(address, expected, "{host}"),
            Target::Name(named) => panic!("{host} taken for a name: {:?}", named.name),
        }
    }
    assert!(matches!(
        Resolver::new("localhost", 8000).target,
        Target::Name(_)
    ));
    assert!(matches!(
        Resolver::new("[not-an-address]", 8000).target,
        Target::Name(_)
    ));
}

/// A listener on 127.0.0.1, a resolver for `localhost` on its port after its first dial
/// (begun at `start`), and the answer that dial looked up.
struct Dialled {
    _listener: TcpListener,
    addr: SocketAddr,
    resolver: Resolver,
    start: Instant,
    first: Arc<[SocketAddr]>,
}

async fn dialled_localhost() -> Dialled {
    let (_listener, addr) = listener().await;
    let resolver = Resolver::new("localhost", addr.port());
    let start = Instant::now();
    resolver.connect(start, &[]).await.expect("first dial");
    let first = answer(&resolver).addresses.clone();
    assert!(first.contains(&addr), "localhost resolves to {first:?}");
    Dialled {
        _listener,
        addr,
        resolver,
        start,
        first,
    }
}

#[tokio::test]
async fn a_name_is_looked_up_once_and_kept_until_it_is_due() {
    let dialled = dialled_localhost().await;
    let (resolver, start, first) = (&dialled.resolver, dialled.start, &dialled.first);
    let due = answer(resolver).due.expect("due");
    assert!(
        due >= start + REFRESH,
        "due {REFRESH:?} after the answer came"
    );

    for _ in 0..3 {
        resolver.connect(start, &[]).await.expect("dial");
        let answer = answer(resolver);
        assert!(
            Arc::ptr_eq(&answer.addresses, first),
            "the kept answer is dialled"
        );
        assert!(!answer.looking_up, "no lookup before the answer is due");
    }
    assert_eq!(named(resolver).lookups.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_due_answer_is_refreshed_in_the_background_while_it_is_dialled() {
    let dialled = dialled_localhost().await;
    let (resolver, addr, first) = (&dialled.resolver, dialled.addr, &dialled.first);

    let later = answer(resolver).due.expect("due");
    resolver
        .connect(later, &[])
        .await
        .expect("a due answer still dials");
    assert!(
        looked_up_since(resolver, first),
        "a dial of a due answer starts a lookup"
    );
    background_lookup_done(resolver).await;
    let answer = answer(resolver);
    assert!(
        !Arc::ptr_eq(&answer.addresses, first),
        "the lookup stored a new answer"
    );
    assert!(answer.addresses.contains(&addr));
    assert!(answer.due.is_some_and(|due| due > later));
}

#[tokio::test]
async fn the_address_that_answered_is_dialled_first_next_time() {
    let (listener, open) = listener().await;
    let (_held, closed) = refusing();
    let resolver = Resolver::new("localhost", open.port());
    let start = Instant::now();
    let addresses: Arc<[SocketAddr]> = Arc::from([closed, open]);
    {
        let mut answer = answer(&resolver);
        answer.addresses = addresses.clone();
        answer.due = Some(start + REFRESH);
    }

    resolver
        .connect(start, &[])
        .await
        .expect("the second address answers");
    assert_eq!(answer(&resolver).first, 1, "the answering address is kept");
    let (accepted, _) = listener.accept().await.expect("accepted");
    drop(accepted);

    resolver.connect(start, &[]).await.expect("dialled again");
    assert_eq!(answer(&resolver).first, 1);

    // A fresh answer that still holds the address keeps starting there.
    let reordered: Arc<[SocketAddr]> = Arc::from([open, closed]);
    {
        let mut answer = answer(&resolver);
        named(&resolver).store(&mut answer, reordered, start);
        assert_eq!(answer.first, 0, "found at its new place");
    }
}

#[tokio::test]
async fn when_every_address_refuses_a_dial_a_second_later_looks_the_name_up_again() {
    let (_held, closed) = refusing();
    let resolver = Resolver::new("localhost", closed.port());
    let start = Instant::now();
    let addresses: Arc<[SocketAddr]> = Arc::from([closed]);
    {
        let mut answer = answer(&resolver);
        answer.addresses = addresses.clone();
        answer.due = Some(start + REFRESH);
    }

    let error = resolver
        .connect(start, &[])
        .await
        .expect_err("nothing listens");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(answer(&resolver).due, Some(start + AFTER_REFUSAL));

    let _ = resolver.connect(start, &[]).await;
    assert!(
        !looked_up_since(&resolver, &addresses),
        "not a lookup per dial"
    );
    let _ = resolver.connect(start + AFTER_REFUSAL, &[]).await;
    assert!(
        looked_up_since(&resolver, &addresses),
        "a second on, a lookup"
    );
    background_lookup_done(&resolver).await;
}

#[tokio::test]
async fn a_literal_is_dialled_as_it_is() {
    let (listener, addr) = listener().await;
    let resolver = Resolver::new("127.0.0.1", addr.port());
    let (tcp, _) = resolver
        .connect(Instant::now(), &[])
        .await
        .expect("dial the literal");
    assert_eq!(tcp.peer_addr().expect("peer"), addr);
    drop(listener);
}

#[test]
fn a_dial_that_ends_unconnected_starts_the_next_one_after_it_and_soon_looks_again() {
    let one = SocketAddr::from((Ipv4Addr::LOCALHOST, 1));
    let two = SocketAddr::from((Ipv4Addr::LOCALHOST, 2));
    let resolver = Resolver::new("localhost", 1);
    let start = Instant::now();
    let addresses: Arc<[SocketAddr]> = Arc::from([one, two]);
    {
        let mut answer = answer(&resolver);
        answer.addresses = addresses.clone();
        answer.due = Some(start + REFRESH);
    }

    // What `connect` holds while it dials `one`, dropped by the dial's timeout.
    drop(Dial {
        named: named(&resolver),
        addresses: &addresses,
        now: start,
        trying: 0,
        connected: false,
    });
    assert_eq!(answer(&resolver).first, 1, "the next dial starts after it");
    assert_eq!(answer(&resolver).due, Some(start + AFTER_REFUSAL));

    // A dial that connected changes nothing.
    drop(Dial {
        named: named(&resolver),
        addresses: &addresses,
        now: start + REFRESH,
        trying: 1,
        connected: true,
    });
    assert_eq!(answer(&resolver).first, 1);
    assert_eq!(answer(&resolver).due, Some(start + AFTER_REFUSAL));
}

#[tokio::test]
async fn dials_that_arrive_together_share_the_first_lookup() {
    let (_listener, addr) = listener().await;
    let resolver = Resolver::new("localhost", addr.port());
    let start = Instant::now();
    let dials: Vec<_> = (0..8).map(|_| resolver.connect(start, &[])).collect();
    for result in futures_util::future::join_all(dials).await {
        result.expect("dial");
    }
    assert_eq!(named(&resolver).lookups.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_failed_first_lookup_answers_the_dials_of_the_next_second() {
    let resolver = Resolver::new("localhost", 9);
    answer(&resolver).failure = Some(Failure {
        until: Instant::now() + AFTER_REFUSAL,
        kind: io::ErrorKind::NotFound,
        message: "no such name".to_owned(),
    });
    let error = resolver
        .connect(Instant::now(), &[])
        .await
        .expect_err("the failure stands");
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert_eq!(error.to_string(), "no such name");
    assert_eq!(named(&resolver).lookups.load(Ordering::Relaxed), 0);

    answer(&resolver).failure.as_mut().expect("failure").until = Instant::now();
    let (_listener, addr) = listener().await;
    let resolver_now = Resolver::new("localhost", addr.port());
    resolver_now
        .connect(Instant::now(), &[])
        .await
        .expect("a name that resolves dials");
    let _ = resolver.connect(Instant::now(), &[]).await;
    assert_eq!(
        named(&resolver).lookups.load(Ordering::Relaxed),
        1,
        "once the failure is a second old, the next dial looks again"
    );
}
