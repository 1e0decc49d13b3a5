//! The api against real PostgreSQL and Redis (`DATABASE_URL`, `REDIS_URL`).

mod health;
