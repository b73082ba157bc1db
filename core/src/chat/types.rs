//! The vocabulary shared by the chat clients, the router and the gateway.

use std::sync::Arc;

use javari_crds::provider::{Capability, ProviderApi, ProviderHealth};
use serde::Serialize;
use uuid::Uuid;

use crate::vault::SecretValue;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// Tokens a call consumed, as the provider reported them (or estimated when it did not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Usage {
    pub fn total(&self) -> u32 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// One model a provider serves, with its price in US dollars per 1,000 tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    pub input_cost_per_1k: f64,
    pub output_cost_per_1k: f64,
    pub capabilities: Vec<Capability>,
    pub context_window: Option<i32>,
}

impl ModelInfo {
    pub fn can(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }
}

/// A provider the console may route to: a row of `javari_providers` with its models and key.
#[derive(Clone, Debug)]
pub struct ProviderEntry {
    pub id: Uuid,
    pub namespace: String,
    pub name: String,
    pub api: ProviderApi,
    /// Base URL as in the Provider's spec (`https://api.openai.com/v1`, ...).
    pub endpoint: String,
    pub api_key: Option<Arc<SecretValue>>,
    /// 1 is tried first.
    pub priority: i32,
    /// Last probe result; `Unknown` before the first.
    pub health: ProviderHealth,
    pub rate_limit_rpm: Option<i32>,
    pub models: Vec<ModelInfo>,
}

impl ProviderEntry {
    pub fn is_down(&self) -> bool {
        self.health == ProviderHealth::Down
    }

    pub fn model(&self, name: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.name == name)
    }
}
