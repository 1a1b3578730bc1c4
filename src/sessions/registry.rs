//! [`Registry`]: the live-session registry every request path goes through. A handshake
//! is checked against the revocations in force and the caps, then registered
//! ([`Registration`], which deregisters the session when the relay drops it); the admin
//! API revokes and lists; a refresh finds its session and moves its expiry.
//!
//! With `store = "memory"` the registry is this process's. With `store = "redis"`,
//! registrations, caps and revocations are shared (`redis_store.rs`) and revocations and
//! refreshes reach the replica relaying the session over pub/sub (`sync.rs`). The
//! revocations in force are always held here too, so judging a handshake against them
//! never waits on Redis; a call that must reach Redis waits at most `store_timeout`, and
//! a failure follows `on_store_error` (handshakes) or is answered 503 (admin, refresh).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::caps::Caps;
use super::memory::LocalSessions;
use super::record::{SessionRecord, Target};
use super::redis_store::{Message, RedisStore};
use super::revocation::{Active, Revocation, Revocations};
use crate::config::{OnStoreError, SessionStore, SessionsConfig};
use crate::domain::clock::unix_now;
use crate::domain::close_reason::CloseReason;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::SessionId;
use crate::relay::Control;
use crate::telemetry::metrics::{Metrics, StoreOperation};
use crate::timer::Timer;

pub struct Registry {
    caps: Caps,
    replica: Arc<str>,
    refresh_path: String,
    on_store_error: OnStoreError,
    store_timeout: Duration,
    /// Where store calls' deadlines are kept (a handshake with Redis makes one).
    timer: Timer,
    metrics: Arc<Metrics>,
    local: Mutex<LocalSessions>,
    revocations: Mutex<Revocations>,
    pub(super) redis: Option<RedisStore>,
}

/// A registered session: its id and the handle on its relay. Dropping it removes the
/// session from the registry.
pub struct Registration {
    id: SessionId,
    control: Control,
    registry: Arc<Registry>,
}

/// What a revocation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Unix seconds when the revocation lapses.
    pub until: u64,
    /// Live sessions it closed on this replica.
    pub closed: u64,
    /// Persisted and published to every replica (always true with the memory store).
    pub shared: bool,
}

/// A refresh's new expiry, as applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extended {
    /// The session's new end (unix seconds): the token's `exp`, or the session's maximum
    /// age when that comes first.
    pub expires_at: u64,
}

/// The store could not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreUnavailable;

impl Registry {
    pub fn new(config: &SessionsConfig, metrics: Arc<Metrics>) -> Result<Arc<Registry>, String> {
        let redis = match &config.store {
            SessionStore::Memory => None,
            SessionStore::Redis(url) => Some(
                RedisStore::new(url.expose().trim(), config.store_timeout).map_err(|error| {
                    format!(
                        "sessions.redis_url (from {}): {:?}",
                        url.secret.source(),
                        error.kind()
                    )
                })?,
            ),
        };
        Ok(Arc::new(Registry {
            caps: Caps::new(config),
            replica: Arc::from(replica_id()),
            refresh_path: config.refresh_path.clone(),
            on_store_error: config.on_store_error,
            store_timeout: config.store_timeout,
            timer: Timer::coarse(),
            metrics,
            local: Mutex::new(LocalSessions::default()),
            revocations: Mutex::new(Revocations::default()),
            redis,
        }))
    }

    /// This process's name in session records.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// [`Registry::replica`], shared, for a session's record.
    pub fn replica_name(&self) -> Arc<str> {
        self.replica.clone()
    }

    pub fn refresh_path(&self) -> &str {
        &self.refresh_path
    }

    /// Whether the registry is shared through Redis.
    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// The revocation in force that names `target`, if any. Never waits on the store.
    pub fn revoked(&self, target: &Target<'_>) -> Option<Revocation> {
        lock(&self.revocations)
            .matching(target, unix_now())
            .cloned()
    }

    /// Checks the caps and registers `record`: `too_many_sessions` when one more session
    /// would break one of them; `sessions_unavailable` when the store cannot answer and
    /// `on_store_error = "deny"`.
    pub async fn admit(self: &Arc<Self>, record: SessionRecord) -> Result<Registration, Refusal> {
        let control = Control::new();
        let id = record.session;
        match &self.redis {
            None => {
                let mut local = lock(&self.local);
                let users = record.user.as_deref().map(|user| local.user_sessions(user));
                self.caps
                    .admit(users, local.client_sessions(record.client.ip()))?;
                local.insert(record, control.clone());
            }
            Some(redis) => {
                let registered = self
                    .bounded(StoreOperation::Register, redis.register(&record, self.caps))
                    .await;
                match registered {
                    Ok(true) => {}
                    Ok(false) => return Err(Refusal::TooManySessions),
                    Err(StoreUnavailable) => match self.on_store_error {
                        OnStoreError::Deny => return Err(Refusal::SessionsUnavailable),
                        OnStoreError::Allow => tracing::warn!(
                            session = %id,
                            user = record.user.as_deref().unwrap_or(""),
                            client = %record.client,
                            "session store unavailable: admitted without its caps \
                             (on_store_error = \"allow\"); registered at the next heartbeat"
                        ),
                    },
                }
                lock(&self.local).insert(record, control.clone());
            }
        }
        Ok(Registration {
            id,
            control,
            registry: self.clone(),
        })
    }

    /// Puts `revocation` in force for `ttl` here and, through the store, on every replica;
    /// every live session it names closes with 1008 `token_revoked`.
    pub async fn revoke(&self, revocation: Revocation, ttl: Duration) -> Revoked {
        let until = unix_now().saturating_add(ttl.as_secs().max(1));
        let active = Active { revocation, until };
        self.metrics.revocation(active.revocation.scope());
        let closed = self.apply_revocation(&active);
        let shared = match &self.redis {
            None => true,
            Some(redis) => self
                .bounded(StoreOperation::Revoke, redis.revoke(&active))
                .await
                .is_ok(),
        };
        Revoked {
            until,
            closed,
            shared,
        }
    }

    /// Holds `active` and closes this replica's sessions it names; returns how many.
    pub(super) fn apply_revocation(&self, active: &Active) -> u64 {
        lock(&self.revocations).insert(active.clone());
        let mut closed = 0;
        {
            let mut local = lock(&self.local);
            for session in local.newly_revoked(&active.revocation) {
                session.revoked = true;
                session.control.close(CloseReason::TokenRevoked);
                closed += 1;
            }
        }
        if closed > 0 {
            self.metrics
                .sessions_revoked(active.revocation.scope(), closed);
            tracing::info!(
                revoked = %active.revocation.describe(),
                closed,
                "live sessions closed by a revocation"
            );
        }
        closed
    }

    /// Live sessions on every replica, all of them or those of `user`.
    pub async fn list(&self, user: Option<&str>) -> Result<Vec<SessionRecord>, StoreUnavailable> {
        match &self.redis {
            None => Ok(lock(&self.local).records(user)),
            Some(redis) => self.bounded(StoreOperation::List, redis.list(user)).await,
        }
    }

    /// The live session `id`, wherever it runs.
    pub async fn find(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreUnavailable> {
        if let Some(local) = lock(&self.local).get(id) {
            return Ok(Some(local.record.clone()));
        }
        match &self.redis {
            None => Ok(None),
            Some(redis) => self.bounded(StoreOperation::Refresh, redis.find(id)).await,
        }
    }

    /// Moves `record`'s session to the new token's `exp` (`expires_at`, unix seconds) and
    /// its relay's deadline to `deadline` (`exp` plus leeway; `None` when sessions outlive
    /// their tokens), on whichever replica relays it. `max_session_duration` keeps its
    /// own deadline in the relay; `max_age` reports it.
    /// `spent`: how long the request already waited on the store (its `find`), so the
    /// two calls together stay within one `store_timeout`.
    pub async fn extend(
        &self,
        record: &SessionRecord,
        expires_at: u64,
        deadline: Option<u64>,
        max_age: Option<Duration>,
        spent: Duration,
    ) -> Result<Extended, StoreUnavailable> {
        let ends_at = max_age
            .map(|age| record.started_at.saturating_add(age.as_secs()))
            .map_or(expires_at, |end| end.min(expires_at));
        let extended = Extended {
            expires_at: ends_at,
        };
        if self.apply_refresh(record.session, expires_at, deadline) {
            return Ok(extended);
        }
        match &self.redis {
            // Ended meanwhile.
            None => Err(StoreUnavailable),
            Some(redis) => {
                let message = Message::Refresh {
                    session: record.session,
                    expires_at,
                    deadline,
                };
                let budget = self.store_timeout.saturating_sub(spent);
                self.bounded_within(StoreOperation::Refresh, budget, redis.publish(&message))
                    .await
                    .map(|()| extended)
            }
        }
    }

    /// Applies a refresh to a session relayed here; false when it is not.
    pub(super) fn apply_refresh(
        &self,
        id: SessionId,
        expires_at: u64,
        deadline: Option<u64>,
    ) -> bool {
        let mut local = lock(&self.local);
        let Some(session) = local.get_mut(id) else {
            return false;
        };
        session.record.expires_at = Some(expires_at);
        session.control.set_expiry(deadline.and_then(instant_at));
        true
    }

    /// The revocations this replica holds, for the heartbeat.
    pub(super) fn revocations_in_force(&self) -> Vec<Active> {
        lock(&self.revocations).in_force(unix_now())
    }

    /// Whether session `id` is relayed here.
    pub(super) fn is_local(&self, id: SessionId) -> bool {
        lock(&self.local).get(id).is_some()
    }

    /// This replica's sessions, for the heartbeat.
    pub(super) fn local_records(&self) -> Vec<SessionRecord> {
        lock(&self.local).records(None)
    }

    /// Runs one store call under `store_timeout`; a failure is logged and counted.
    pub(super) async fn bounded<T, E: std::fmt::Display>(
        &self,
        operation: StoreOperation,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreUnavailable> {
        self.bounded_within(operation, self.store_timeout, call)
            .await
    }

    /// [`Registry::bounded`] under what is left of a request's `store_timeout` (`budget`).
    async fn bounded_within<T, E: std::fmt::Display>(
        &self,
        operation: StoreOperation,
        budget: Duration,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, StoreUnavailable> {
        let error = match self.timer.timeout(budget, call).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {:?}", self.store_timeout),
        };
        self.metrics.session_store_error(operation);
        tracing::warn!(
            operation = operation.as_str(),
            error = %error,
            "session store call failed"
        );
        Err(StoreUnavailable)
    }

    /// Counts and logs a store failure seen outside [`Registry::bounded`].
    pub(super) fn metrics_store_error(&self, operation: StoreOperation, error: &str) {
        self.metrics.session_store_error(operation);
        tracing::warn!(
            operation = operation.as_str(),
            error,
            "session store call failed"
        );
    }

    fn deregister(self: &Arc<Self>, id: SessionId) {
        let Some(local) = lock(&self.local).remove(id) else {
            return;
        };
        // Outside a runtime (the process is tearing down) the entry lapses with its TTL.
        if let (Some(_), Ok(runtime)) = (&self.redis, tokio::runtime::Handle::try_current()) {
            let registry = self.clone();
            runtime.spawn(async move {
                if let Some(redis) = &registry.redis {
                    let _ = registry
                        .bounded(StoreOperation::Deregister, redis.deregister(&local.record))
                        .await;
                }
            });
        }
    }

    /// Live sessions on this replica.
    pub fn len(&self) -> usize {
        lock(&self.local).len()
    }

    pub fn is_empty(&self) -> bool {
        lock(&self.local).is_empty()
    }
}

impl Registration {
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The handle the relay watches.
    pub fn control(&self) -> &Control {
        &self.control
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.deregister(self.id);
    }
}

/// The relay's clock for a wall-clock deadline (unix seconds).
fn instant_at(unix: u64) -> Option<tokio::time::Instant> {
    let remaining = unix.saturating_sub(unix_now());
    // An absurdly distant deadline is as good as none.
    tokio::time::Instant::now().checked_add(Duration::from_secs(remaining))
}

/// `HOSTNAME` (a pod's name) when set, with a random suffix so two processes on one host
/// never share a name.
fn replica_id() -> String {
    let suffix = SessionId::generate()
        .map(|id| id.to_string()[..8].to_owned())
        .unwrap_or_else(|| std::process::id().to_string());
    match std::env::var("HOSTNAME") {
        Ok(host) if !host.is_empty() && host.len() <= 64 => format!("{host}-{suffix}"),
        _ => suffix,
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
