//! Token counts and their price: cost = tokens × the row's price per million tokens.
//!
//! Prices are integers (millionths of a dollar per million tokens), so the arithmetic is exact;
//! the result is rounded **up** to a whole millionth, so a priced call never costs 0.
//! Cached prompt tokens are charged at the full input price (conservative), and reasoning tokens
//! count as completion tokens (genai already adds them for the providers that report them apart).

use genai::chat::ChatRequest;

/// A role's prices, from its `model_configs` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prices {
    /// Millionths of a dollar per million prompt tokens.
    pub input_per_mtok_micros: i64,
    /// Millionths of a dollar per million completion tokens.
    pub output_per_mtok_micros: i64,
}

impl Prices {
    /// Returns the cost of a call in millionths of a dollar (rounded up, saturating).
    pub fn cost_usd_micros(&self, prompt_tokens: i64, completion_tokens: i64) -> i64 {
        let part = |tokens: i64, price: i64| i128::from(tokens.max(0)) * i128::from(price.max(0));
        let total = part(prompt_tokens, self.input_per_mtok_micros)
            + part(completion_tokens, self.output_per_mtok_micros);
        let micros = (total + 999_999) / 1_000_000;
        i64::try_from(micros).unwrap_or(i64::MAX)
    }
}

/// Tokens of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokenUsage {
    /// Prompt (input) tokens.
    pub prompt_tokens: i64,
    /// Completion (output) tokens, reasoning included.
    pub completion_tokens: i64,
    /// False when the provider reported no usage and the counts are estimates (see [`estimate_tokens`]).
    pub reported: bool,
}

/// Totals over several calls; the sum is `reported` only when every part is.
impl std::ops::Add for TokenUsage {
    type Output = TokenUsage;

    fn add(self, other: TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens + other.prompt_tokens,
            completion_tokens: self.completion_tokens + other.completion_tokens,
            reported: self.reported && other.reported,
        }
    }
}

/// Estimates the tokens of a text: one per started group of four characters (the usual rule of
/// thumb for English and code; used for budget checks and when a provider omits usage).
pub fn estimate_tokens(text: &str) -> i64 {
    i64::try_from(text.chars().count().div_ceil(4)).unwrap_or(i64::MAX)
}

/// Estimates the prompt tokens of a request from its JSON form (messages, system, tools), which
/// over-counts slightly: right for a budget check.
pub fn estimate_prompt_tokens(request: &ChatRequest) -> i64 {
    let text = serde_json::to_string(request).unwrap_or_default();
    estimate_tokens(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use genai::chat::ChatMessage;

    #[test]
    fn cost_is_exact_and_rounds_up() {
        let prices = Prices {
            input_per_mtok_micros: 2_500_000,
            output_per_mtok_micros: 10_000_000,
        };
        assert_eq!(prices.cost_usd_micros(1_000_000, 0), 2_500_000);
        assert_eq!(prices.cost_usd_micros(40, 10), 100 + 100);
        assert_eq!(prices.cost_usd_micros(1, 0), 3, "2.5 rounds up to 3");
        assert_eq!(prices.cost_usd_micros(0, 0), 0);
        assert_eq!(Prices::default().cost_usd_micros(1000, 1000), 0);
    }

    #[test]
    fn cost_saturates_instead_of_overflowing() {
        let prices = Prices {
            input_per_mtok_micros: i64::MAX,
            output_per_mtok_micros: i64::MAX,
        };
        assert_eq!(prices.cost_usd_micros(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(prices.cost_usd_micros(-5, -5), 0);
    }

    #[test]
    fn estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        let small = ChatRequest::new(vec![ChatMessage::user("hi")]);
        let large = ChatRequest::new(vec![ChatMessage::user("hi ".repeat(400))]);
        assert!(estimate_prompt_tokens(&large) >= 300);
        assert!(estimate_prompt_tokens(&small) < estimate_prompt_tokens(&large));
    }

    #[test]
    fn usage_adds_up() {
        let a = TokenUsage {
            prompt_tokens: 1,
            completion_tokens: 2,
            reported: true,
        };
        let b = TokenUsage {
            prompt_tokens: 10,
            completion_tokens: 20,
            reported: false,
        };
        assert_eq!(
            a + b,
            TokenUsage {
                prompt_tokens: 11,
                completion_tokens: 22,
                reported: false
            }
        );
    }
}
