//! [`LocalSessions`]: the live sessions this replica relays, each with the [`Control`]
//! that reaches its relay, and how many each identity and client address holds. With
//! `store = "memory"` this is the whole registry; with Redis it is the part of it whose
//! relays run here (revocations and refreshes for them arrive over pub/sub).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::IpAddr;

use super::record::SessionRecord;
use super::revocation::Revocation;
use crate::domain::session_id::SessionId;
use crate::relay::Control;

#[derive(Default)]
pub(super) struct LocalSessions {
    entries: HashMap<SessionId, Local, BuildHasherDefault<IdHasher>>,
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

/// The hash of a [`SessionId`]: its two 64-bit halves, folded with a rotation and an XOR.
/// An id is 128 bits from the kernel's CSPRNG (`SessionId::generate`), so its bytes are
/// already uniform and no client can choose the ids that go in (a request can only name
/// one to look up): SipHash's defence against chosen keys buys nothing here, and it was two
/// SipHash runs per session. The other maps, keyed by identity and address, which a client
/// does choose, keep it.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 16]` hashes as its length, then its bytes: fold in whatever comes.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(29) ^ u64::from_le_bytes(word);
        }
    }

    fn write_usize(&mut self, _length: usize) {}

    fn finish(&self) -> u64 {
        self.0
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

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn hash(id: SessionId) -> u64 {
        BuildHasherDefault::<IdHasher>::default().hash_one(id)
    }

    #[test]
    fn every_byte_of_a_session_id_moves_its_hash() {
        let base = "00000000000000000000000000000000";
        let zero = hash(SessionId::parse(base).unwrap());
        for digit in 0..32 {
            let mut text = base.as_bytes().to_vec();
            text[digit] = b'1';
            let id = SessionId::parse(std::str::from_utf8(&text).unwrap()).unwrap();
            assert_ne!(hash(id), zero, "digit {digit}");
        }
    }

    #[test]
    fn generated_ids_hash_apart() {
        let hashes: std::collections::HashSet<u64> = (0..10_000)
            .map(|_| hash(SessionId::generate().unwrap()))
            .collect();
        assert_eq!(hashes.len(), 10_000);
    }
}
