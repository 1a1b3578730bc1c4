//! The replica's link to the shared store (`store = "redis"`): a task that subscribes to
//! the control channel and applies what arrives (revocations; refreshes of sessions
//! relayed here), renews this replica's registrations every heartbeat, and re-reads the
//! persisted revocations on every (re)connection and heartbeat, so a revocation published
//! while this replica was cut off still closes its sessions once it is back.
//!
//! The replica is not ready (`/readyz` 503 `sessions_unavailable`) until Redis has
//! answered once; a later outage is handled per call (`on_store_error`), not by readiness,
//! which would take every replica out of its load balancer at once.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::redis_store::{CHANNEL, HEARTBEAT, Message, RedisStore};
use super::registry::Registry;
use crate::domain::clock::unix_now;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::StoreOperation;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Registry {
    /// Starts the link to the shared store, if there is one.
    pub fn start(self: &Arc<Self>, health: Arc<Health>) -> Option<tokio::task::JoinHandle<()>> {
        let redis = self.redis.clone()?;
        health.set_sessions_waiting(true);
        Some(tokio::spawn(link(self.clone(), redis, health)))
    }

    /// Reads the persisted revocations and applies any this replica does not hold yet.
    async fn sync_revocations(&self, redis: &RedisStore) -> bool {
        match self
            .bounded(StoreOperation::Sync, redis.revocations(unix_now()))
            .await
        {
            Ok(revocations) => {
                for active in &revocations {
                    self.apply_revocation(active);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Renews this replica's registrations and writes back the revocations it holds.
    async fn heartbeat(&self, redis: &RedisStore) {
        let records = self.local_records();
        let _ = self
            .bounded(StoreOperation::Heartbeat, redis.heartbeat(&records))
            .await;
        // A session that ended while the heartbeat was on its way may have been written
        // back after its deregistration: remove it again, or it would hold a place under
        // the caps until its TTL.
        for record in records.iter().filter(|r| !self.is_local(r.session)) {
            let _ = self
                .bounded(StoreOperation::Deregister, redis.deregister(record))
                .await;
        }
        let revocations = self.revocations_in_force();
        let _ = self
            .bounded(StoreOperation::Heartbeat, redis.restore(&revocations))
            .await;
    }

    fn receive(&self, payload: &[u8]) {
        match serde_json::from_slice::<Message>(payload) {
            Ok(Message::Revoke(active)) => {
                self.apply_revocation(&active);
            }
            Ok(Message::Refresh {
                session,
                expires_at,
                deadline,
            }) => {
                if self.apply_refresh(session, expires_at, deadline) {
                    tracing::info!(session = %session, expires_at, "session refreshed through another replica");
                }
            }
            Err(error) => {
                tracing::warn!(%error, "unreadable message on the session control channel")
            }
        }
    }
}

async fn link(registry: Arc<Registry>, redis: RedisStore, health: Arc<Health>) {
    let mut backoff = FIRST_BACKOFF;
    let mut connected_once = false;
    loop {
        let subscribed = tokio::time::timeout(MAX_BACKOFF, async {
            let mut pubsub = redis.client().get_async_pubsub().await?;
            pubsub.subscribe(CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(pubsub)) => {
                // Subscribed first, then read: nothing published in between is missed.
                if registry.sync_revocations(&redis).await {
                    health.set_sessions_waiting(false);
                    backoff = FIRST_BACKOFF;
                    if connected_once {
                        tracing::info!("session store reconnected; revocations re-read");
                    }
                    connected_once = true;
                }
                registry.heartbeat(&redis).await;
                let mut messages = pubsub.into_on_message();
                let mut ticker = tokio::time::interval(HEARTBEAT);
                ticker.tick().await;
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => registry.receive(message.get_payload_bytes()),
                            None => break,
                        },
                        _ = ticker.tick() => {
                            registry.heartbeat(&redis).await;
                            if registry.sync_revocations(&redis).await {
                                health.set_sessions_waiting(false);
                            }
                        }
                    }
                }
                registry.metrics_store_error(
                    StoreOperation::Sync,
                    "subscription to the session control channel lost",
                );
            }
            Ok(Err(error)) => {
                registry.metrics_store_error(StoreOperation::Sync, &error.to_string());
            }
            Err(_) => registry.metrics_store_error(StoreOperation::Sync, "no answer"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
