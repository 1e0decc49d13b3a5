//! Store tests against a real PostgreSQL (`DATABASE_URL`): each test gets a fresh, migrated database.

mod audit;
mod budget_alerts;
mod chat_refs;
mod inbox;
mod model_configs;
mod outbox;
mod projects;
mod usage;
