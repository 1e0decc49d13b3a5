//! Typed refusals: the platform-state reasons zavhoz gives when it cannot hand out a resource or resolve a
//! handle. They travel as a `google.rpc.ErrorInfo` detail (domain [`ERROR_DOMAIN`], reason
//! [`Refusal::reason`]) next to a RESOURCE_EXHAUSTED, FAILED_PRECONDITION or ALREADY_EXISTS status, so any
//! gRPC client can tell "wait and tell the person" apart from a broken request.

use std::fmt;

/// The `ErrorInfo.domain` of every zavhoz refusal.
pub const ERROR_DOMAIN: &str = "zavhoz.v1";

/// Why zavhoz refused; platform state, not a failure of the person's project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Every port in the range is taken on the eligible servers (RESOURCE_EXHAUSTED).
    NoPortFree,
    /// Every server of the pool is held (RESOURCE_EXHAUSTED).
    NoServerFree,
    /// The person holds as many live resources of the kind as their quota allows (RESOURCE_EXHAUSTED).
    QuotaExceeded,
    /// The domain or repository name is held by a live resource (ALREADY_EXISTS).
    NameTaken,
    /// The idempotency key was used before for a different request (ALREADY_EXISTS).
    IdempotencyConflict,
    /// The resource was released or its lease ran out (FAILED_PRECONDITION).
    LeaseExpired,
    /// A single-use handle was already redeemed; this raises an alert (FAILED_PRECONDITION).
    HandleRedeemed,
    /// The handle's TTL ran out (FAILED_PRECONDITION).
    HandleExpired,
    /// The handle was revoked when its resource was released (FAILED_PRECONDITION).
    HandleRevoked,
    /// The secret a handle or request names does not exist (FAILED_PRECONDITION).
    SecretMissing,
    /// This zavhoz is not configured for the kind (no servers, no base domain, …) (FAILED_PRECONDITION).
    NotConfigured,
}

const ALL: [Refusal; 11] = [
    Refusal::NoPortFree,
    Refusal::NoServerFree,
    Refusal::QuotaExceeded,
    Refusal::NameTaken,
    Refusal::IdempotencyConflict,
    Refusal::LeaseExpired,
    Refusal::HandleRedeemed,
    Refusal::HandleExpired,
    Refusal::HandleRevoked,
    Refusal::SecretMissing,
    Refusal::NotConfigured,
];

impl Refusal {
    /// Returns the `ErrorInfo.reason` (UPPER_SNAKE_CASE).
    pub fn reason(self) -> &'static str {
        match self {
            Self::NoPortFree => "NO_PORT_FREE",
            Self::NoServerFree => "NO_SERVER_FREE",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::NameTaken => "NAME_TAKEN",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::LeaseExpired => "LEASE_EXPIRED",
            Self::HandleRedeemed => "HANDLE_REDEEMED",
            Self::HandleExpired => "HANDLE_EXPIRED",
            Self::HandleRevoked => "HANDLE_REVOKED",
            Self::SecretMissing => "SECRET_MISSING",
            Self::NotConfigured => "NOT_CONFIGURED",
        }
    }

    /// Parses an `ErrorInfo.reason`.
    pub fn from_reason(reason: &str) -> Option<Self> {
        ALL.into_iter().find(|r| r.reason() == reason)
    }

    /// Tells whether waiting can help (capacity may free up), as opposed to changing the request.
    pub fn may_clear_later(self) -> bool {
        matches!(
            self,
            Self::NoPortFree | Self::NoServerFree | Self::QuotaExceeded | Self::NameTaken
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for refusal in ALL {
            assert!(seen.insert(refusal.reason()));
            assert_eq!(Refusal::from_reason(refusal.reason()), Some(refusal));
        }
        assert_eq!(Refusal::from_reason("SOMETHING_ELSE"), None);
    }
}
