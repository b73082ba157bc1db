//! Loading the chat provider directory from PostgreSQL and the vault.

use std::sync::Arc;
use std::time::Duration;

use javari_core::chat::{ProviderDirectory, load_providers};
use javari_core::providers::{StoredModel, sync_provider};
use javari_core::vault::{Keyring, MasterKey, NewCredential, SecretValue, Vault, recent_audit};
use javari_crds::provider::ProviderApi;
use sqlx::PgPool;

fn model<'a>(name: &'a str, input: f64, output: f64, caps: &[&str]) -> StoredModel<'a> {
    StoredModel {
        name,
        input_cost_per_1k: input,
        output_cost_per_1k: output,
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        context_window: Some(128_000),
    }
}

#[sqlx::test(migrator = "javari_core::db::MIGRATOR")]
async fn providers_models_prices_and_keys_are_loaded(pool: PgPool) {
    let vault = Vault::new(
        pool.clone(),
        Arc::new(Keyring::new(MasterKey::generate(), vec![])),
    );
    vault
        .create(
            NewCredential {
                namespace: "ai",
                name: "openai-key",
                service: "openai",
                credential_type: "api_key",
                source: "manual",
            },
            &SecretValue::from("sk-live-1234".to_owned()),
            "test",
            "setup",
        )
        .await
        .expect("credential");

    let openai = sync_provider(
        &pool,
        "ai",
        "openai",
        "openai",
        "https://api.openai.com/v1",
        Some("openai-key"),
        1,
        true,
        Some(60),
        &[
            model("gpt-4-turbo-preview", 0.01, 0.03, &["chat", "code"]),
            model("gpt-4o-mini", 0.00015, 0.0006, &["chat"]),
            model("old-model", 0.1, 0.1, &["chat"]),
        ],
    )
    .await
    .expect("openai");
    sqlx::query("UPDATE javari_provider_models SET enabled = false WHERE provider_id = $1 AND model = 'old-model'")
        .bind(openai)
        .execute(&pool)
        .await
        .expect("disable model");
    // No credential in the vault: listed without a key.
    sync_provider(
        &pool,
        "ai",
        "claude",
        "anthropic",
        "https://api.anthropic.com",
        Some("missing-key"),
        2,
        true,
        None,
        &[model("claude-3-5-sonnet-20241022", 0.003, 0.015, &["chat"])],
    )
    .await
    .expect("anthropic");
    sync_provider(
        &pool,
        "ai",
        "off",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        None,
        0,
        false,
        None,
        &[model("gemini-1.5-flash", 0.000075, 0.0003, &["chat"])],
    )
    .await
    .expect("disabled");
    // A Provider in a namespace the installation does not trust, cheapest and first by
    // priority: never listed.
    sync_provider(
        &pool,
        "tenant-a",
        "cheap",
        "openai",
        "http://127.0.0.1:9/v1",
        None,
        -100,
        true,
        None,
        &[model("gpt-4o-mini", 0.0, 0.0, &["chat", "embeddings"])],
    )
    .await
    .expect("untrusted");
    let trusted = vec!["ai".to_owned()];
    sqlx::query("UPDATE javari_providers SET health = 'down' WHERE name = 'claude'")
        .execute(&pool)
        .await
        .expect("health");

    let providers = load_providers(&pool, Some(&vault), &trusted)
        .await
        .expect("load");
    let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["openai", "claude"],
        "disabled and untrusted providers excluded"
    );

    let o = &providers[0];
    assert_eq!(o.id, openai);
    assert_eq!(o.api, ProviderApi::Openai);
    assert_eq!(o.endpoint, "https://api.openai.com/v1");
    assert_eq!((o.priority, o.rate_limit_rpm), (1, Some(60)));
    let models: Vec<(&str, f64, f64)> = o
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.input_cost_per_1k, m.output_cost_per_1k))
        .collect();
    assert_eq!(
        models,
        vec![
            ("gpt-4-turbo-preview", 0.01, 0.03),
            ("gpt-4o-mini", 0.00015, 0.0006)
        ],
        "disabled model excluded, prices exact"
    );
    assert!(o.models[0].can(javari_crds::provider::Capability::Code));
    assert_eq!(o.models[0].context_window, Some(128_000));
    assert_eq!(
        o.api_key.as_ref().map(|k| k.expose().to_vec()),
        Some(b"sk-live-1234".to_vec())
    );
    assert!(!format!("{o:?}").contains("sk-live-1234"));

    let c = &providers[1];
    assert_eq!(c.api, ProviderApi::Anthropic);
    assert!(c.api_key.is_none());
    assert!(c.is_down());

    // Without a vault nobody gets a key.
    let keyless = load_providers(&pool, None, &trusted).await.expect("load");
    assert!(keyless.iter().all(|p| p.api_key.is_none()));

    // Key reads are audited as the console, for chat routing.
    let audit = recent_audit(&pool, "ai", "openai-key", 20)
        .await
        .expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "console" && a.reason.as_deref() == Some("chat routing")),
        "{audit:?}"
    );

    // The cache serves the same list until invalidated.
    let directory =
        ProviderDirectory::new(pool.clone(), Some(vault), Duration::from_secs(60), &trusted);
    let first = directory.providers().await.expect("providers");
    sqlx::query("UPDATE javari_providers SET enabled = false WHERE name = 'claude'")
        .execute(&pool)
        .await
        .expect("disable");
    let cached = directory.providers().await.expect("providers");
    assert!(Arc::ptr_eq(&first, &cached));
    assert_eq!(cached.len(), 2);
    directory.invalidate();
    assert_eq!(directory.providers().await.expect("providers").len(), 1);
}
