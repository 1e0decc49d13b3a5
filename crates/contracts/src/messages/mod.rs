//! Message types, one module per conversation between services.

pub mod chat;
pub mod deploy;
pub mod review;
pub mod worker;

/// The largest text Telegram accepts in one message; longer texts are split by the gateway.
pub const TELEGRAM_TEXT_LIMIT: usize = 4096;
/// The largest callback data Telegram accepts on a button, in bytes.
pub const CALLBACK_DATA_LIMIT: usize = 64;
/// The largest free text carried by any message (a task description, a chat text before splitting).
pub const LONG_TEXT_LIMIT: usize = 64 * 1024;
