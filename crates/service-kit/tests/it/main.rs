//! service-kit against real PostgreSQL and Redis.

mod outbox_relay;
