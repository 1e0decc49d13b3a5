//! LLM clients on genai built from model_configs, with usage and cost recording.
