//! What a call cost, in US dollars, and a token estimate for providers that report no usage.

use super::types::{ModelInfo, Usage};

/// prompt/1000 × input price + completion/1000 × output price, rounded to 6 decimal places
/// (the precision of the `numeric(12,6)` cost columns).
pub fn cost_usd(model: &ModelInfo, usage: Usage) -> f64 {
    let raw = f64::from(usage.prompt_tokens) / 1000.0 * model.input_cost_per_1k
        + f64::from(usage.completion_tokens) / 1000.0 * model.output_cost_per_1k;
    (raw * 1_000_000.0).round() / 1_000_000.0
}

/// About four characters per token; at least 1 for non-empty text.
pub fn estimate_tokens(text: &str) -> u32 {
    let chars = text.chars().count();
    if chars == 0 {
        return 0;
    }
    u32::try_from(chars.div_ceil(4)).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(input: f64, output: f64) -> ModelInfo {
        ModelInfo {
            name: "m".into(),
            input_cost_per_1k: input,
            output_cost_per_1k: output,
            capabilities: vec![javari_crds::provider::Capability::Chat],
            context_window: None,
        }
    }

    #[test]
    fn cost_is_per_thousand_and_rounded() {
        let usage = |p, c| Usage {
            prompt_tokens: p,
            completion_tokens: c,
        };
        assert_eq!(cost_usd(&model(0.01, 0.03), usage(1000, 500)), 0.025);
        assert_eq!(cost_usd(&model(0.00015, 0.0006), usage(7, 6)), 0.000005);
        assert_eq!(cost_usd(&model(0.003, 0.015), usage(1, 1)), 0.000018);
        assert_eq!(cost_usd(&model(0.0, 0.0), usage(5000, 5000)), 0.0);
    }

    #[test]
    fn token_estimates() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcd"), 1);
        assert_eq!(estimate_tokens("abcde"), 2);
        assert_eq!(estimate_tokens("héllo wörld!"), 3);
    }
}
