//! Identifier newtypes, so a worker id is never passed where a run id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Creates a fresh, time-ordered (UUIDv7) identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Returns true for the all-zero UUID, which no producer may send.
            pub fn is_nil(&self) -> bool {
                self.0.is_nil()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

uuid_id!(
    /// Identifies one message; every consumer uses it as its idempotency key.
    EventId
);
uuid_id!(
    /// Identifies one run of a project's graph; the correlation id on every span.
    RunId
);
uuid_id!(
    /// Identifies a project.
    ProjectId
);
uuid_id!(
    /// Identifies one coding-worker container run.
    WorkerId
);
uuid_id!(
    /// Identifies one review of a pull request.
    ReviewId
);
uuid_id!(
    /// Identifies one deployment.
    DeploymentId
);
