//! [`Caps`]: `max_per_user` and `max_per_client_ip`, judged against the live sessions an
//! identity and a client address already hold (on this replica, or across replicas when
//! the store is shared).

use crate::config::SessionsConfig;
use crate::domain::refusal::Refusal;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub per_user: Option<u32>,
    pub per_client_ip: Option<u32>,
}

impl Caps {
    pub fn new(config: &SessionsConfig) -> Caps {
        Caps {
            per_user: config.max_per_user,
            per_client_ip: config.max_per_client_ip,
        }
    }

    /// Whether one more session is allowed, given how many the identity (`None` for an
    /// anonymous caller, who has no identity to cap) and the client address hold now.
    pub fn admit(&self, user_sessions: Option<u64>, client_sessions: u64) -> Result<(), Refusal> {
        let over = |held: u64, cap: Option<u32>| cap.is_some_and(|cap| held >= u64::from(cap));
        if user_sessions.is_some_and(|held| over(held, self.per_user))
            || over(client_sessions, self.per_client_ip)
        {
            return Err(Refusal::TooManySessions);
        }
        Ok(())
    }

    pub fn any(&self) -> bool {
        self.per_user.is_some() || self.per_client_ip.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_the_number_of_sessions_allowed() {
        let caps = Caps {
            per_user: Some(2),
            per_client_ip: Some(3),
        };
        assert_eq!(caps.admit(Some(1), 2), Ok(()));
        assert_eq!(caps.admit(Some(2), 0), Err(Refusal::TooManySessions));
        assert_eq!(caps.admit(None, 2), Ok(()));
        assert_eq!(caps.admit(None, 3), Err(Refusal::TooManySessions));
        let none = Caps {
            per_user: None,
            per_client_ip: None,
        };
        assert_eq!(none.admit(Some(u64::MAX), u64::MAX), Ok(()));
    }
}
