//! The console on a real PostgreSQL with three fake providers (OpenAI, Anthropic, Gemini wire
//! protocols) whose keys live in the vault, served on a loopback port, and one user per role
//! with an API token.

#![allow(dead_code)]

pub mod cluster;
pub mod forms;
pub mod operator;

use std::sync::Arc;
use std::time::Duration;

use javari_console::auth::{Role, User, create_token, create_user};
use javari_console::{AppState, Settings, app};
use javari_core::chat::GatewayConfig;
use javari_core::providers::{StoredModel, sync_provider};
use javari_core::vault::{Keyring, MasterKey, NewCredential, SecretValue, Vault};
use javari_testenv::FakeProvider;
use serde_json::Value;
use sqlx::PgPool;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Model {
    pub name: &'static str,
    pub input: f64,
    pub output: f64,
    pub capabilities: &'static [&'static str],
    pub context: i32,
}

/// The three providers: name, API type, path prefix on the fake, priority, models.
pub fn catalogue() -> Vec<(&'static str, &'static str, &'static str, i32, Vec<Model>)> {
    vec![
        (
            "openai",
            "openai",
            "/openai/v1",
            1,
            vec![
                Model {
                    name: "gpt-4-turbo-preview",
                    input: 0.01,
                    output: 0.03,
                    capabilities: &["chat", "code"],
                    context: 128_000,
                },
                Model {
                    name: "gpt-3.5-turbo",
                    input: 0.0005,
                    output: 0.0015,
                    capabilities: &["chat"],
                    context: 16_385,
                },
                Model {
                    name: "text-embedding-3-small",
                    input: 0.00002,
                    output: 0.0,
                    capabilities: &["embeddings"],
                    context: 8_191,
                },
            ],
        ),
        (
            "anthropic",
            "anthropic",
            "/anthropic",
            2,
            vec![Model {
                name: "claude-3-sonnet-20240229",
                input: 0.003,
                output: 0.015,
                capabilities: &["chat", "code"],
                context: 200_000,
            }],
        ),
        (
            "gemini",
            "gemini",
            "/gemini/v1beta",
            3,
            vec![Model {
                name: "gemini-1.5-flash",
                input: 0.000075,
                output: 0.0003,
                capabilities: &["chat"],
                context: 1_000_000,
            }],
        ),
    ]
}

pub struct Harness {
    /// The owner's pool (a superuser's): fixtures and assertions that look at every row.
    pub pool: PgPool,
    /// The runtime role's pool the console runs on: row-level security binds it.
    pub app_pool: PgPool,
    pub state: AppState,
    /// The vault the providers' keys are in (for a second console on the same database).
    pub vault: Vault,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub openai: FakeProvider,
    pub anthropic: FakeProvider,
    pub gemini: FakeProvider,
    pub admin: User,
    pub operator: User,
    pub viewer: User,
    pub admin_token: String,
    pub operator_token: String,
    pub viewer_token: String,
    pub http: reqwest::Client,
}

pub fn test_settings() -> Settings {
    Settings {
        providers_ttl: Duration::from_millis(0),
        trusted_namespaces: vec!["default".to_owned()],
        gateway: GatewayConfig {
            connect_timeout: Duration::from_millis(500),
            first_token_timeout: Duration::from_millis(800),
            idle_timeout: Duration::from_secs(2),
            retries: 1,
            backoff: Duration::from_millis(10),
            cooldown: Duration::from_secs(30),
            ..GatewayConfig::default()
        },
        ..Settings::default()
    }
}

impl Harness {
    pub async fn start(pool: PgPool) -> Harness {
        Self::with_settings(pool, test_settings()).await
    }

    pub async fn with_settings(pool: PgPool, settings: Settings) -> Harness {
        Self::with_kube(pool, settings, None).await
    }

    /// The console with a Kubernetes client (resource pages and actions).
    pub async fn with_kube(
        pool: PgPool,
        settings: Settings,
        kube: Option<kube::Client>,
    ) -> Harness {
        Self::start_with(pool, settings, |state| match kube {
            Some(client) => state.with_kube(client),
            None => state,
        })
        .await
    }

    /// With the state changed by `configure` before it is served (a Kubernetes client, …).
    pub async fn start_with(
        pool: PgPool,
        settings: Settings,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> Harness {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app_pool = javari_testenv::runtime_pool(&pool)
            .await
            .expect("a pool as the runtime role");
        let vault = Vault::new(
            app_pool.clone(),
            Arc::new(Keyring::new(MasterKey::generate(), vec![])),
        );
        let openai = FakeProvider::start("sk-openai-test")
            .await
            .expect("fake openai");
        let anthropic = FakeProvider::start("sk-ant-test")
            .await
            .expect("fake anthropic");
        let gemini = FakeProvider::start("gemini-test-key")
            .await
            .expect("fake gemini");
        let fakes = [
            (&openai, "sk-openai-test"),
            (&anthropic, "sk-ant-test"),
            (&gemini, "gemini-test-key"),
        ];
        for ((name, api, prefix, priority, models), (fake, key)) in
            catalogue().into_iter().zip(fakes)
        {
            let credential = format!("{name}-api-key");
            vault
                .create(
                    NewCredential {
                        namespace: "default",
                        name: &credential,
                        service: name,
                        credential_type: "api_key",
                        source: "console",
                    },
                    &SecretValue::from(key.to_owned()),
                    "test",
                    "fixture",
                )
                .await
                .expect("store key");
            let stored: Vec<StoredModel<'_>> = models
                .iter()
                .map(|m| StoredModel {
                    name: m.name,
                    input_cost_per_1k: m.input,
                    output_cost_per_1k: m.output,
                    capabilities: m.capabilities.iter().map(|c| c.to_string()).collect(),
                    context_window: Some(m.context),
                })
                .collect();
            sync_provider(
                &pool,
                "default",
                name,
                api,
                &format!("{}{prefix}", fake.url()),
                Some(&credential),
                priority,
                true,
                None,
                &stored,
            )
            .await
            .expect("sync provider");
        }
        let state = configure(AppState::with_settings(
            app_pool.clone(),
            settings,
            Some(vault.clone()),
        ));
        let base = serve(state.clone()).await;
        let admin = create_user(&app_pool, "admin@example.test", PASSWORD, Role::Admin)
            .await
            .expect("admin");
        let operator = create_user(&app_pool, "operator@example.test", PASSWORD, Role::Operator)
            .await
            .expect("operator");
        let viewer = create_user(&app_pool, "viewer@example.test", PASSWORD, Role::Viewer)
            .await
            .expect("viewer");
        let admin_token = create_token(&app_pool, &admin, "tests", Role::Admin)
            .await
            .expect("token")
            .token;
        let operator_token = create_token(&app_pool, &operator, "tests", Role::Operator)
            .await
            .expect("token")
            .token;
        let viewer_token = create_token(&app_pool, &viewer, "tests", Role::Viewer)
            .await
            .expect("token")
            .token;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Harness {
            pool,
            app_pool,
            state,
            vault,
            base,
            openai,
            anthropic,
            gemini,
            admin,
            operator,
            viewer,
            admin_token,
            operator_token,
            viewer_token,
            http,
        }
    }

    /// Another console (its own memory, its own port) on the same database: a replica.
    pub async fn replica(&self, settings: Settings) -> (AppState, String) {
        let state =
            AppState::with_settings(self.app_pool.clone(), settings, Some(self.vault.clone()));
        let base = serve(state.clone()).await;
        (state, base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `POST /api/javari/chat` as the operator; the status, headers and parsed SSE events.
    pub async fn chat(&self, body: Value) -> Chat {
        self.chat_as(&self.operator_token, body).await
    }

    pub async fn chat_as(&self, token: &str, body: Value) -> Chat {
        let response = self
            .http
            .post(self.url("/api/javari/chat"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("chat request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("chat body");
        let events = parse_sse(&text);
        Chat {
            status,
            headers,
            text,
            events,
        }
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }

    pub async fn scalar_f64(&self, sql: &str) -> f64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .bearer_auth(&self.viewer_token)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

/// Serves `state`'s console on a loopback port, with peer addresses (as `main` does);
/// returns `http://127.0.0.1:PORT`.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let router = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

pub struct Chat {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub events: Vec<Value>,
}

impl Chat {
    pub fn tokens(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["type"] == "token")
            .map(|e| e["data"]["token"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The final `complete` or `error` event.
    pub fn last(&self) -> &Value {
        self.events.last().expect("at least one event")
    }

    pub fn complete(&self) -> &Value {
        let last = self.last();
        assert_eq!(
            last["type"], "complete",
            "status {}: {}",
            self.status, self.text
        );
        &last["data"]
    }
}

pub fn parse_sse(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|block| {
            let data: Vec<&str> = block
                .lines()
                .filter_map(|l| {
                    l.strip_prefix("data:")
                        .map(|d| d.strip_prefix(' ').unwrap_or(d))
                })
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .filter_map(|d| serde_json::from_str(&d).ok())
        .collect()
}

/// Polls `check` every 100 ms until it gives a value, failing with `what` after `limit`.
pub async fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
