//! Which provider and model answer a message: classify the task, then order the candidates.
//! Pure functions; the gateway supplies availability (cooldowns, rate limits).

use std::cmp::Ordering;

use javari_crds::provider::{Capability, ProviderApi};

use super::error::RouteError;
use super::types::{ModelInfo, ProviderEntry};

/// What a message asks for, as far as routing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    Code,
    LongContext,
    Creative,
    Analysis,
    Simple,
    General,
}

impl TaskKind {
    /// As stored in `task_type` columns.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Code => "code",
            TaskKind::LongContext => "long_context",
            TaskKind::Creative => "creative",
            TaskKind::Analysis => "analysis",
            TaskKind::Simple => "simple",
            TaskKind::General => "general",
        }
    }
}

/// Context above this many tokens needs a long-context model.
pub const LONG_CONTEXT_TOKENS: usize = 8_000;
/// Messages shorter than this (in characters) with no other signal are simple.
pub const SIMPLE_CHARS: usize = 120;

const CODE_PHRASES: &[&str] = &[
    "```",
    "fn ",
    "def ",
    "class ",
    "function",
    "stack trace",
    "stacktrace",
    "traceback (most recent call last)",
    "panicked at",
    "exception in thread",
    "segmentation fault",
    "#include",
    "npm ",
    "cargo ",
    "pip install",
    "kubectl ",
    "=> {",
    "();",
];
const CODE_WORDS: &[&str] = &[
    "bug",
    "bugs",
    "compile",
    "compiler",
    "compiling",
    "debug",
    "refactor",
    "regex",
    "sql",
    "python",
    "javascript",
    "typescript",
    "rust",
    "golang",
    "java",
    "nullpointerexception",
];
const CREATIVE_PHRASES: &[&str] = &[
    "write a story",
    "short story",
    "brainstorm",
    "creative",
    "slogan",
    "tagline",
    "poem",
    "haiku",
    "lyrics",
    "limerick",
    "fiction",
];
const ANALYSIS_PHRASES: &[&str] = &[
    "analyze",
    "analyse",
    "analysis",
    "compare",
    "comparison",
    "evaluate",
    "pros and cons",
    "trade-off",
    "tradeoff",
    "trade off",
    "assess",
];
const ANALYSIS_WORDS: &[&str] = &["why", "versus", "vs"];

fn has_word(lower: &str, words: &[&str]) -> bool {
    lower
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| words.contains(&w))
}

fn looks_like_code(message: &str, lower: &str) -> bool {
    CODE_PHRASES.iter().any(|p| lower.contains(p))
        || message.contains("SELECT ")
        || has_word(lower, CODE_WORDS)
        // JavaScript/Java stack frames: "    at foo (file.js:1:2)".
        || message
            .lines()
            .any(|l| l.trim_start().starts_with("at ") && l.contains(':') && l.ends_with(')'))
}

/// The task a message is, given the size of the context it comes with. Long context is
/// checked first: it is a hard constraint on the model, the others are preferences.
pub fn classify(message: &str, context_tokens: usize) -> TaskKind {
    let lower = message.to_lowercase();
    if context_tokens > LONG_CONTEXT_TOKENS {
        TaskKind::LongContext
    } else if looks_like_code(message, &lower) {
        TaskKind::Code
    } else if CREATIVE_PHRASES.iter().any(|p| lower.contains(p)) {
        TaskKind::Creative
    } else if ANALYSIS_PHRASES.iter().any(|p| lower.contains(p)) || has_word(&lower, ANALYSIS_WORDS)
    {
        TaskKind::Analysis
    } else if message.trim().chars().count() < SIMPLE_CHARS {
        TaskKind::Simple
    } else {
        TaskKind::General
    }
}

/// One (provider, model) to try, with why it is in this place.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub provider: ProviderEntry,
    pub model: ModelInfo,
    pub reason: &'static str,
}

impl Candidate {
    /// `namespace/name` of the provider.
    pub fn provider_label(&self) -> String {
        format!("{}/{}", self.provider.namespace, self.provider.name)
    }
}

fn chat_capable(model: &ModelInfo) -> bool {
    model.can(Capability::Chat) || model.can(Capability::Code)
}

fn price(model: &ModelInfo) -> f64 {
    model.input_cost_per_1k + model.output_cost_per_1k
}

fn claude_class(provider: &ProviderEntry, model: &ModelInfo) -> bool {
    provider.api == ProviderApi::Anthropic || model.name.to_lowercase().starts_with("claude")
}

fn window(model: &ModelInfo) -> i64 {
    model.context_window.map_or(0, i64::from)
}

fn fits(model: &ModelInfo, context_tokens: usize) -> bool {
    window(model) >= i64::try_from(context_tokens).unwrap_or(i64::MAX)
}

/// Strongest first: code capability, then highest output price.
fn by_strength(a: &ModelInfo, b: &ModelInfo) -> Ordering {
    b.can(Capability::Code)
        .cmp(&a.can(Capability::Code))
        .then(b.output_cost_per_1k.total_cmp(&a.output_cost_per_1k))
}

/// Models that fit first, the largest window among them.
fn by_context(a: &ModelInfo, b: &ModelInfo, context_tokens: usize) -> Ordering {
    fits(b, context_tokens)
        .cmp(&fits(a, context_tokens))
        .then(window(b).cmp(&window(a)))
        .then(price(a).total_cmp(&price(b)))
}

fn by_price(a: &ModelInfo, b: &ModelInfo) -> Ordering {
    price(a).total_cmp(&price(b))
}

/// A provider's best model for the task (its models are all chat-capable here).
fn best_model<'a>(
    provider: &ProviderEntry,
    models: &[&'a ModelInfo],
    task: TaskKind,
    context_tokens: usize,
) -> Option<&'a ModelInfo> {
    let mut sorted = models.to_vec();
    match task {
        TaskKind::Code => sorted.sort_by(|a, b| by_strength(a, b)),
        TaskKind::LongContext => sorted.sort_by(|a, b| by_context(a, b, context_tokens)),
        TaskKind::Creative | TaskKind::Analysis => sorted.sort_by(|a, b| {
            claude_class(provider, b)
                .cmp(&claude_class(provider, a))
                .then_with(|| by_price(a, b))
        }),
        TaskKind::Simple => sorted.sort_by(|a, b| by_price(a, b)),
        // The provider's own order: its first listed chat model is its default.
        TaskKind::General => {}
    }
    sorted.first().copied()
}

/// Which pick leads for the task; `Less` means `a` goes first.
fn preference(
    a: &(&ProviderEntry, &ModelInfo),
    b: &(&ProviderEntry, &ModelInfo),
    task: TaskKind,
    context_tokens: usize,
) -> Ordering {
    let priority = a.0.priority.cmp(&b.0.priority);
    let order = match task {
        TaskKind::Code => by_strength(a.1, b.1),
        TaskKind::LongContext => by_context(a.1, b.1, context_tokens),
        TaskKind::Creative | TaskKind::Analysis => {
            claude_class(b.0, b.1).cmp(&claude_class(a.0, a.1))
        }
        TaskKind::Simple => by_price(a.1, b.1),
        TaskKind::General => Ordering::Equal,
    };
    order.then(priority).then(by_price(a.1, b.1))
}

fn reason(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Code => "code: strongest code model",
        TaskKind::LongContext => "long context: largest context window",
        TaskKind::Creative => "creative: Claude-class model",
        TaskKind::Analysis => "analysis: Claude-class model",
        TaskKind::Simple => "simple: cheapest model",
        TaskKind::General => "general: provider priority",
    }
}

/// Availability tier: usable, cooling down or rate limited, probed down.
fn tier(provider: &ProviderEntry, unavailable: &dyn Fn(&ProviderEntry) -> bool) -> u8 {
    if provider.is_down() {
        2
    } else if unavailable(provider) {
        1
    } else {
        0
    }
}

/// The candidates to try, in order. An explicit model wins: every provider serving it, by
/// priority then price (usable ones first). Otherwise the task's preferred (provider, model)
/// leads, followed by one model per other usable provider (its best for the task) by
/// priority then price. When no provider is usable, all are tried anyway: cooling-down ones
/// first, probed-down ones last.
pub fn plan(
    providers: &[ProviderEntry],
    explicit_model: Option<&str>,
    task: TaskKind,
    context_tokens: usize,
    unavailable: &dyn Fn(&ProviderEntry) -> bool,
) -> Result<Vec<Candidate>, RouteError> {
    let by_tier_priority_price =
        |a: &(u8, &ProviderEntry, &ModelInfo), b: &(u8, &ProviderEntry, &ModelInfo)| {
            a.0.cmp(&b.0)
                .then(a.1.priority.cmp(&b.1.priority))
                .then(by_price(a.2, b.2))
        };
    if let Some(name) = explicit_model.filter(|n| !n.is_empty()) {
        let mut serving: Vec<(u8, &ProviderEntry, &ModelInfo)> = providers
            .iter()
            .filter_map(|p| p.model(name).map(|m| (tier(p, unavailable), p, m)))
            .collect();
        if serving.is_empty() {
            return Err(RouteError::UnknownModel(name.to_owned()));
        }
        serving.sort_by(by_tier_priority_price);
        return Ok(serving
            .into_iter()
            .map(|(_, p, m)| Candidate {
                provider: p.clone(),
                model: m.clone(),
                reason: "explicit model",
            })
            .collect());
    }

    let mut picks: Vec<(u8, &ProviderEntry, &ModelInfo)> = providers
        .iter()
        .filter_map(|p| {
            let models: Vec<&ModelInfo> = p.models.iter().filter(|m| chat_capable(m)).collect();
            best_model(p, &models, task, context_tokens).map(|m| (tier(p, unavailable), p, m))
        })
        .collect();
    if picks.is_empty() {
        return Err(RouteError::NoProviders);
    }
    let any_usable = picks.iter().any(|(t, _, _)| *t == 0);
    if !any_usable {
        picks.sort_by(by_tier_priority_price);
        return Ok(picks
            .into_iter()
            .map(|(_, p, m)| Candidate {
                provider: p.clone(),
                model: m.clone(),
                reason: "fallback: no provider available, trying anyway",
            })
            .collect());
    }
    picks.retain(|(t, _, _)| *t == 0);
    let lead = picks
        .iter()
        .enumerate()
        .min_by(|(_, a), (_, b)| preference(&(a.1, a.2), &(b.1, b.2), task, context_tokens))
        .map(|(i, _)| i)
        .unwrap_or(0);
    let first = picks.remove(lead);
    picks.sort_by(by_tier_priority_price);
    let mut candidates = vec![Candidate {
        provider: first.1.clone(),
        model: first.2.clone(),
        reason: reason(task),
    }];
    candidates.extend(picks.into_iter().map(|(_, p, m)| Candidate {
        provider: p.clone(),
        model: m.clone(),
        reason: "fallback",
    }));
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use javari_crds::provider::ProviderHealth;

    fn model(name: &str, input: f64, output: f64, caps: &[&str], window: i32) -> ModelInfo {
        ModelInfo {
            name: name.into(),
            input_cost_per_1k: input,
            output_cost_per_1k: output,
            capabilities: caps
                .iter()
                .map(|c| c.parse().expect("a capability"))
                .collect(),
            context_window: Some(window),
        }
    }

    fn provider(
        name: &str,
        api: ProviderApi,
        priority: i32,
        models: Vec<ModelInfo>,
    ) -> ProviderEntry {
        ProviderEntry {
            id: uuid::Uuid::new_v4(),
            namespace: "ai".into(),
            name: name.into(),
            api,
            endpoint: format!("http://{name}"),
            api_key: None,
            priority,
            health: ProviderHealth::Operational,
            rate_limit_rpm: None,
            models,
        }
    }

    /// openai (priority 1): gpt-4-turbo strong code model + gpt-4o-mini;
    /// anthropic (2): claude-3-5-sonnet; gemini (3): cheap flash with a huge window.
    fn fleet() -> Vec<ProviderEntry> {
        vec![
            provider(
                "openai",
                ProviderApi::Openai,
                1,
                vec![
                    model("gpt-4o-mini", 0.00015, 0.0006, &["chat"], 128_000),
                    model("gpt-4-turbo", 0.01, 0.03, &["chat", "code"], 128_000),
                    model(
                        "text-embedding-3-small",
                        0.00002,
                        0.0,
                        &["embeddings"],
                        8191,
                    ),
                ],
            ),
            provider(
                "anthropic",
                ProviderApi::Anthropic,
                2,
                vec![model(
                    "claude-3-5-sonnet",
                    0.003,
                    0.015,
                    &["chat", "code"],
                    200_000,
                )],
            ),
            provider(
                "gemini",
                ProviderApi::Gemini,
                3,
                vec![model(
                    "gemini-1.5-flash",
                    0.000075,
                    0.0003,
                    &["chat"],
                    1_000_000,
                )],
            ),
        ]
    }

    fn none(_: &ProviderEntry) -> bool {
        false
    }

    fn names(c: &[Candidate]) -> Vec<(String, String)> {
        c.iter()
            .map(|c| (c.provider.name.clone(), c.model.name.clone()))
            .collect()
    }

    fn pair(p: &str, m: &str) -> (String, String) {
        (p.to_owned(), m.to_owned())
    }

    #[test]
    fn classification() {
        assert_eq!(classify("```rust\nfn main() {}\n```", 0), TaskKind::Code);
        assert_eq!(
            classify("why does my build fail to compile?", 0),
            TaskKind::Code
        );
        assert_eq!(classify("SELECT * FROM users is slow", 0), TaskKind::Code);
        assert_eq!(
            classify("TypeError: x is undefined\n    at main (app.js:3:7)", 0),
            TaskKind::Code
        );
        assert_eq!(classify("summarise this", 9_000), TaskKind::LongContext);
        assert_eq!(classify("write a poem about autumn", 0), TaskKind::Creative);
        assert_eq!(
            classify("Brainstorm names for a cafe", 0),
            TaskKind::Creative
        );
        assert_eq!(
            classify("compare PostgreSQL and MySQL for our workload", 0),
            TaskKind::Analysis
        );
        assert_eq!(classify("Why is the sky blue?", 0), TaskKind::Analysis);
        assert_eq!(classify("hi there", 0), TaskKind::Simple);
        assert_eq!(classify("what time zone is Lisbon in", 0), TaskKind::Simple);
        let long = "tell me about the history of the town where I grew up, ".repeat(4);
        assert_eq!(classify(&long, 0), TaskKind::General);
        assert_eq!(
            classify("let me select a debugger-free plan", 0),
            TaskKind::Simple
        );
    }

    #[test]
    fn explicit_model_wins_and_unknown_is_an_error() {
        let mut fleet = fleet();
        let mut second = fleet[1].clone();
        second.name = "anthropic-eu".into();
        second.priority = 1;
        fleet.push(second);
        let c = plan(&fleet, Some("claude-3-5-sonnet"), TaskKind::Code, 0, &none).expect("plan");
        assert_eq!(
            names(&c),
            vec![
                pair("anthropic-eu", "claude-3-5-sonnet"),
                pair("anthropic", "claude-3-5-sonnet")
            ]
        );
        assert_eq!(c[0].reason, "explicit model");
        assert_eq!(
            plan(&fleet, Some("gpt-9"), TaskKind::Simple, 0, &none).map(|c| c.len()),
            Err(RouteError::UnknownModel("gpt-9".into()))
        );
    }

    #[test]
    fn code_goes_to_the_strongest_code_model() {
        let c = plan(&fleet(), None, TaskKind::Code, 0, &none).expect("plan");
        assert_eq!(
            names(&c),
            vec![
                pair("openai", "gpt-4-turbo"),
                pair("anthropic", "claude-3-5-sonnet"),
                pair("gemini", "gemini-1.5-flash")
            ]
        );
    }

    #[test]
    fn long_context_goes_to_the_largest_window_that_fits() {
        let c = plan(&fleet(), None, TaskKind::LongContext, 150_000, &none).expect("plan");
        assert_eq!(c[0].model.name, "gemini-1.5-flash");
        assert_eq!(c[1].provider.name, "openai");
    }

    #[test]
    fn creative_and_analysis_go_to_claude() {
        for task in [TaskKind::Creative, TaskKind::Analysis] {
            let c = plan(&fleet(), None, task, 0, &none).expect("plan");
            assert_eq!(c[0].model.name, "claude-3-5-sonnet", "{task:?}");
            assert_eq!(c[1].provider.name, "openai");
        }
    }

    #[test]
    fn simple_goes_to_the_cheapest_and_general_by_priority() {
        let c = plan(&fleet(), None, TaskKind::Simple, 0, &none).expect("plan");
        assert_eq!(
            names(&c),
            vec![
                pair("gemini", "gemini-1.5-flash"),
                pair("openai", "gpt-4o-mini"),
                pair("anthropic", "claude-3-5-sonnet")
            ]
        );
        let c = plan(&fleet(), None, TaskKind::General, 0, &none).expect("plan");
        assert_eq!(
            names(&c),
            vec![
                pair("openai", "gpt-4o-mini"),
                pair("anthropic", "claude-3-5-sonnet"),
                pair("gemini", "gemini-1.5-flash")
            ]
        );
    }

    #[test]
    fn unavailable_and_down_providers_are_skipped() {
        let mut fleet = fleet();
        fleet[0].health = ProviderHealth::Down;
        let cooling = |p: &ProviderEntry| p.name == "anthropic";
        let c = plan(&fleet, None, TaskKind::Code, 0, &cooling).expect("plan");
        assert_eq!(names(&c), vec![pair("gemini", "gemini-1.5-flash")]);
    }

    #[test]
    fn all_unavailable_still_tries_everyone_down_last() {
        let mut fleet = fleet();
        fleet[0].health = ProviderHealth::Down;
        let all = |_: &ProviderEntry| true;
        let c = plan(&fleet, None, TaskKind::General, 0, &all).expect("plan");
        assert_eq!(
            c.iter()
                .map(|c| c.provider.name.as_str())
                .collect::<Vec<_>>(),
            vec!["anthropic", "gemini", "openai"]
        );
    }

    #[test]
    fn nothing_chat_capable_is_no_providers() {
        let only_embeddings = vec![provider(
            "emb",
            ProviderApi::Openai,
            1,
            vec![model(
                "text-embedding-3-small",
                0.00002,
                0.0,
                &["embeddings"],
                8191,
            )],
        )];
        assert!(matches!(
            plan(&only_embeddings, None, TaskKind::Simple, 0, &none),
            Err(RouteError::NoProviders)
        ));
        assert!(matches!(
            plan(&[], None, TaskKind::General, 0, &none),
            Err(RouteError::NoProviders)
        ));
    }
}
