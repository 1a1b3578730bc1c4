//! Session control acting on a running relay: a revocation closes it like a token expiry,
//! a refresh moves (or removes) the token deadline.

use super::*;

#[tokio::test(start_paused = true)]
async fn a_revocation_closes_1008_to_the_client_and_1001_to_the_upstream() {
    let mut h = Harness::start(settings());
    h.client_sends(&client_frame(true, TEXT, b"before")).await;
    read_frame(&mut h.upstream).await;
    h.control.close(CloseReason::TokenRevoked);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "token_revoked".into())
    );
    assert_eq!(
        read_frame(&mut h.upstream).await.close(),
        (1001, "token_revoked".into())
    );
    let end = h.reply_to_closes().await;
    assert_eq!(
        outcome(&end),
        (
            Initiator::Proxy,
            Some(1008),
            Some(CloseReason::TokenRevoked)
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_revocation_waits_for_the_frame_in_flight() {
    let mut h = Harness::start(settings());
    let frame = upstream_frame(true, BINARY, &[7u8; 1000]);
    let (head, rest) = frame.split_at(400);
    h.upstream_sends(head).await;
    assert_eq!(read_exactly(&mut h.client, 400).await, head);
    h.control.close(CloseReason::TokenRevoked);
    h.upstream_sends(rest).await;
    assert_eq!(read_exactly(&mut h.client, rest.len()).await, rest);
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "token_revoked".into())
    );
}

#[tokio::test(start_paused = true)]
async fn a_refresh_moves_the_token_deadline() {
    let mut h = Harness::start(RelaySettings {
        expires_at: Some(Instant::now() + Duration::from_secs(300)),
        ..settings()
    });
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(100)).await;
    h.control
        .set_expiry(Some(Instant::now() + Duration::from_secs(900)));
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "token_expired".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(1000));
}

#[tokio::test(start_paused = true)]
async fn a_refresh_to_an_earlier_deadline_takes_effect_too() {
    let mut h = Harness::start(RelaySettings {
        expires_at: Some(Instant::now() + Duration::from_secs(3000)),
        ..settings()
    });
    let started = Instant::now();
    h.control
        .set_expiry(Some(Instant::now() + Duration::from_secs(60)));
    assert_eq!(
        read_frame(&mut h.client).await.close(),
        (1008, "token_expired".into())
    );
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}
