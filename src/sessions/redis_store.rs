//! [`RedisStore`]: the registry shared by every replica through Redis.
//!
//! What lives there (prefix `wsgate:`):
//! - `session:{id}`: the session's record (JSON), with a TTL its replica renews every
//!   [`HEARTBEAT`]; a replica that dies leaves nothing behind beyond [`SESSION_TTL`];
//! - `user:{user}`, `ip:{address}`, `sessions`: sorted sets of live session ids, scored
//!   by when their registration lapses, so the caps count across replicas and entries of
//!   a dead replica drop out by themselves;
//! - `revocations`: a sorted set of revocations (JSON) scored by when each lapses: what a
//!   replica reads at start, on every reconnect and with each heartbeat, so a revocation
//!   published while it was cut off still reaches it;
//! - the channel `control`: revocations and refreshes, fanned out to every replica at once.
//!
//! Every call is bounded by the caller (`sessions.store_timeout`); the connection
//! reconnects by itself (`ConnectionManager`), and the subscriber task reconnects with a
//! backoff (`sync.rs`).

use std::future::Future;
use std::net::IpAddr;
use std::thread::ThreadId;
use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use super::caps::Caps;
use super::record::SessionRecord;
use super::revocation::Active;
use crate::domain::session_id::SessionId;

/// How long a registration outlives its replica's last heartbeat.
pub(super) const SESSION_TTL: Duration = Duration::from_secs(30);
/// How often a replica renews its sessions and re-reads the revocations.
pub(super) const HEARTBEAT: Duration = Duration::from_secs(10);

const PREFIX: &str = "wsgate:";
pub(super) const CHANNEL: &str = "wsgate:control";

/// Registers a session if the caps allow it, atomically across replicas.
/// KEYS: user set (or the all-sessions set again when anonymous), ip set, all-sessions
/// set, session key. ARGV: now (ms), lapse (ms), id, max per user, max per ip, has user
/// (1/0), record, ttl (ms).
const REGISTER: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
if ARGV[6] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
  if tonumber(ARGV[4]) > 0 and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
    return 0
  end
end
if tonumber(ARGV[5]) > 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return 0
end
if ARGV[6] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[8])
return 1
";

/// One message on [`CHANNEL`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Message {
    /// A revocation now in force.
    Revoke(Active),
    /// Session `session`'s token was replaced: its replica moves the relay's deadline.
    Refresh {
        session: SessionId,
        expires_at: u64,
        deadline: Option<u64>,
    },
}

#[derive(Clone)]
pub(super) struct RedisStore {
    client: redis::Client,
    connection: ConnectionManager,
    /// The runtime the store was made on (the main thread's, in `server::serve`) and its
    /// thread: every query runs there (see [`RedisStore::on_control`]).
    control: Option<(tokio::runtime::Handle, ThreadId)>,
}

impl RedisStore {
    /// A store on `url`; nothing is dialled until the first call.
    pub(super) fn new(url: &str, timeout: Duration) -> redis::RedisResult<RedisStore> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let control = tokio::runtime::Handle::try_current()
            .ok()
            .map(|handle| (handle, std::thread::current().id()));
        Ok(RedisStore {
            client,
            connection,
            control,
        })
    }

    /// Runs `query` on the runtime the store was made on. The connection spawns its driver
    /// task, its reconnects and their timers on the runtime that first needs them; a
    /// handshake on a serving thread (`server/threads.rs`) would put them on that thread's
    /// runtime, which ends before the main one, after the drain. Queries made on the main
    /// thread (the heartbeat, the subscriber's, `/admin/*`) run as they are.
    async fn on_control<T: Send + 'static>(
        &self,
        query: impl Future<Output = redis::RedisResult<T>> + Send + 'static,
    ) -> redis::RedisResult<T> {
        match &self.control {
            Some((handle, thread)) if *thread != std::thread::current().id() => {
                handle.spawn(query).await.unwrap_or_else(|error| {
                    Err(redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "the main runtime's query task",
                        error.to_string(),
                    )))
                })
            }
            _ => query.await,
        }
    }

    pub(super) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Registers `record` unless a cap is reached (`Ok(false)`).
    pub(super) async fn register(
        &self,
        record: &SessionRecord,
        caps: Caps,
    ) -> redis::RedisResult<bool> {
        let now = now_ms();
        let json = serde_json::to_string(record).map_err(json_error)?;
        let all = format!("{PREFIX}sessions");
        let user_key = record.user.as_deref().map_or_else(|| all.clone(), user_key);
        let mut connection = self.connection.clone();
        let mut eval = redis::cmd("EVAL");
        eval.arg(REGISTER)
            .arg(4)
            .arg(user_key)
            .arg(ip_key(record.client.ip()))
            .arg(&all)
            .arg(session_key(record.session))
            .arg(now)
            .arg(now + ttl_ms())
            .arg(record.session.to_string())
            .arg(caps.per_user.unwrap_or(0))
            .arg(caps.per_client_ip.unwrap_or(0))
            .arg(if record.user.is_some() { "1" } else { "0" })
            .arg(json)
            .arg(ttl_ms());
        let admitted: i64 = self
            .on_control(async move { eval.query_async(&mut connection).await })
            .await?;
        Ok(admitted == 1)
    }

    /// Renews (or restores, after Redis lost them) the registrations of `records`.
    pub(super) async fn heartbeat(&self, records: &[SessionRecord]) -> redis::RedisResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let lapse = now_ms() + ttl_ms();
        let mut pipe = redis::pipe();
        for record in records {
            let id = record.session.to_string();
            let json = serde_json::to_string(record).map_err(json_error)?;
            pipe.cmd("SET")
                .arg(session_key(record.session))
                .arg(json)
                .arg("PX")
                .arg(ttl_ms())
                .ignore();
            let mut sets = vec![format!("{PREFIX}sessions"), ip_key(record.client.ip())];
            sets.extend(record.user.as_deref().map(user_key));
            for set in sets {
                pipe.cmd("ZADD").arg(&set).arg(lapse).arg(&id).ignore();
                pipe.cmd("PEXPIRE").arg(&set).arg(ttl_ms()).ignore();
            }
        }
        let mut connection = self.connection.clone();
        self.on_control(async move { pipe.query_async::<()>(&mut connection).await })
            .await
    }

    pub(super) async fn deregister(&self, record: &SessionRecord) -> redis::RedisResult<()> {
        let id = record.session.to_string();
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(session_key(record.session)).ignore();
        pipe.cmd("ZREM")
            .arg(format!("{PREFIX}sessions"))
            .arg(&id)
            .ignore();
        pipe.cmd("ZREM")
            .arg(ip_key(record.client.ip()))
            .arg(&id)
            .ignore();
        if let Some(user) = record.user.as_deref() {
            pipe.cmd("ZREM").arg(user_key(user)).arg(&id).ignore();
        }
        let mut connection = self.connection.clone();
        self.on_control(async move { pipe.query_async::<()>(&mut connection).await })
            .await
    }

    /// Persists `active` and tells every replica.
    pub(super) async fn revoke(&self, active: &Active) -> redis::RedisResult<()> {
        let message =
            serde_json::to_string(&Message::Revoke(active.clone())).map_err(json_error)?;
        let mut pipe = redis::pipe();
        persist(&mut pipe, active)?;
        pipe.cmd("PUBLISH").arg(CHANNEL).arg(message).ignore();
        let mut connection = self.connection.clone();
        self.on_control(async move { pipe.query_async::<()>(&mut connection).await })
            .await
    }

    /// Writes back the revocations this replica holds (after Redis restarted empty, they
    /// would otherwise be lost to replicas started since).
    pub(super) async fn restore(&self, revocations: &[Active]) -> redis::RedisResult<()> {
        if revocations.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for active in revocations {
            persist(&mut pipe, active)?;
        }
        let mut connection = self.connection.clone();
        self.on_control(async move { pipe.query_async::<()>(&mut connection).await })
            .await
    }

    /// Every revocation in force at `now` (unix seconds); lapsed ones are dropped.
    pub(super) async fn revocations(&self, now: u64) -> redis::RedisResult<Vec<Active>> {
        let key = format!("{PREFIX}revocations");
        let mut connection = self.connection.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now)
            .cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES");
        let (_, members): ((), Vec<(String, f64)>) = self
            .on_control(async move { pipe.query_async(&mut connection).await })
            .await?;
        Ok(members
            .into_iter()
            .filter_map(|(member, until)| {
                Some(Active {
                    revocation: serde_json::from_str(&member).ok()?,
                    until: until as u64,
                })
            })
            .collect())
    }

    /// Live sessions on every replica, all or `user`'s.
    pub(super) async fn list(&self, user: Option<&str>) -> redis::RedisResult<Vec<SessionRecord>> {
        let set = user.map_or_else(|| format!("{PREFIX}sessions"), user_key);
        let mut connection = self.connection.clone();
        let since = now_ms();
        let records: Vec<Option<String>> = self
            .on_control(async move {
                let ids: Vec<String> = redis::cmd("ZRANGE")
                    .arg(&set)
                    .arg(since)
                    .arg("+inf")
                    .arg("BYSCORE")
                    .query_async(&mut connection)
                    .await?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let keys: Vec<String> = ids
                    .iter()
                    .map(|id| format!("{PREFIX}session:{id}"))
                    .collect();
                redis::cmd("MGET")
                    .arg(keys)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(records
            .into_iter()
            .flatten()
            .filter_map(|json| serde_json::from_str(&json).ok())
            .collect())
    }

    /// The session `id`, wherever it lives.
    pub(super) async fn find(&self, id: SessionId) -> redis::RedisResult<Option<SessionRecord>> {
        let mut connection = self.connection.clone();
        let mut get = redis::cmd("GET");
        get.arg(session_key(id));
        let json: Option<String> = self
            .on_control(async move { get.query_async(&mut connection).await })
            .await?;
        Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
    }

    pub(super) async fn publish(&self, message: &Message) -> redis::RedisResult<()> {
        let text = serde_json::to_string(message).map_err(json_error)?;
        let mut connection = self.connection.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(CHANNEL).arg(text);
        self.on_control(async move { publish.query_async::<i64>(&mut connection).await })
            .await
            .map(drop)
    }
}

/// Adds `active` to the persisted revocations, never shortening one already there.
fn persist(pipe: &mut redis::Pipeline, active: &Active) -> redis::RedisResult<()> {
    let member = serde_json::to_string(&active.revocation).map_err(json_error)?;
    let key = format!("{PREFIX}revocations");
    // GT updates only to a later end; NX adds a new one.
    pipe.cmd("ZADD")
        .arg(&key)
        .arg("GT")
        .arg(active.until)
        .arg(&member)
        .ignore();
    pipe.cmd("ZADD")
        .arg(&key)
        .arg("NX")
        .arg(active.until)
        .arg(&member)
        .ignore();
    Ok(())
}

fn session_key(id: SessionId) -> String {
    format!("{PREFIX}session:{id}")
}

fn user_key(user: &str) -> String {
    format!("{PREFIX}user:{user}")
}

fn ip_key(ip: IpAddr) -> String {
    format!("{PREFIX}ip:{ip}")
}

fn ttl_ms() -> u64 {
    SESSION_TTL.as_millis() as u64
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn json_error(error: serde_json::Error) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Client, "JSON encoding", error.to_string()))
}
