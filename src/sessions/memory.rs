//! [`LocalSessions`]: the live sessions this replica relays, each with the [`Control`]
//! that reaches its relay, and how many each identity and client address holds. With
//! `store = "memory"` this is the whole registry; with Redis it is the part of it whose
//! relays run here (revocations and refreshes for them arrive over pub/sub).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

use super::record::SessionRecord;
use super::revocation::Revocation;
use crate::domain::session_id::SessionId;
use crate::relay::Control;

#[derive(Default)]
pub(super) struct LocalSessions {
    entries: HashMap<SessionId, Local>,
    per_user: HashMap<String, u64>,
    per_client_ip: HashMap<IpAddr, u64>,
}

/// One session relayed here.
pub(super) struct Local {
    pub record: SessionRecord,
    pub control: Control,
    /// Already told to close by a revocation (counted once, however often it is named).
    pub revoked: bool,
}

impl LocalSessions {
    pub(super) fn insert(&mut self, record: SessionRecord, control: Control) {
        if let Some(user) = &record.user {
            // The name is copied only for an identity's first session.
            match self.per_user.get_mut(user.as_str()) {
                Some(count) => *count += 1,
                None => {
                    self.per_user.insert(user.clone(), 1);
                }
            }
        }
        *self.per_client_ip.entry(record.client.ip()).or_default() += 1;
        self.entries.insert(
            record.session,
            Local {
                record,
                control,
                revoked: false,
            },
        );
    }

    pub(super) fn remove(&mut self, id: SessionId) -> Option<Local> {
        let local = self.entries.remove(&id)?;
        if let Some(user) = &local.record.user {
            decrement(&mut self.per_user, user.as_str());
        }
        decrement(&mut self.per_client_ip, &local.record.client.ip());
        Some(local)
    }

    pub(super) fn user_sessions(&self, user: &str) -> u64 {
        self.per_user.get(user).copied().unwrap_or(0)
    }

    pub(super) fn client_sessions(&self, ip: IpAddr) -> u64 {
        self.per_client_ip.get(&ip).copied().unwrap_or(0)
    }

    pub(super) fn get(&self, id: SessionId) -> Option<&Local> {
        self.entries.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: SessionId) -> Option<&mut Local> {
        self.entries.get_mut(&id)
    }

    /// The sessions `revocation` names that no revocation has closed yet.
    pub(super) fn newly_revoked<'a>(
        &'a mut self,
        revocation: &'a Revocation,
    ) -> impl Iterator<Item = &'a mut Local> {
        self.entries
            .values_mut()
            .filter(move |local| !local.revoked && revocation.matches(&local.record.target()))
    }

    /// Every session, or those of `user`.
    pub(super) fn records(&self, user: Option<&str>) -> Vec<SessionRecord> {
        self.entries
            .values()
            .filter(|local| user.is_none() || local.record.user.as_deref() == user)
            .map(|local| local.record.clone())
            .collect()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One fewer for `key`; its entry goes at zero. Looked up by reference: no key is copied.
fn decrement<K, Q>(counts: &mut HashMap<K, u64>, key: &Q)
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    match counts.get_mut(key) {
        Some(count) if *count > 1 => *count -= 1,
        Some(_) => {
            counts.remove(key);
        }
        None => {}
    }
}
