//! OpenAI-compatible chat-completions simulator.
