//! One Credential reconcile, in the order that makes a crash at any point harmless:
//!
//! 1. **vault**: a new version is committed (with its audit row and the rotate-now request it
//!    answers) before anything else sees it;
//! 2. **Secret**: rewritten from the vault in one apply (`value`, and `previous` during the
//!    grace period), so it never names a version the vault lacks;
//! 3. **consumers**: pod templates get the new version's hash;
//! 4. **status** records it all.
//!
//! Each step compares with what is already there, so re-running after a crash finishes the
//! interrupted rotation instead of starting another, and a resync writes nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use javari_core::credentials::{backoff, generate, grace_period_end, next_rotation, version_hash};
use javari_core::time::from_k8s;
use javari_core::vault::{NewCredential, SecretValue, StoredCredential};
use javari_crds::Credential;
use javari_crds::credential::{CredentialStatus, ROTATE_NOW_ANNOTATION};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use tracing::{info, warn};

use super::status::{self, DEFAULT_EXPIRY_WINDOW, Observed};
use super::{Error, consumers, secret};
use crate::context::{Context, MANAGER};
use crate::driver::{Failure, Steps};
use crate::faults::Step;

pub const FINALIZER: &str = "javari.ai/credential";
/// Longest sleep between reconciles of a healthy Credential.
const RESYNC: Duration = Duration::from_secs(3600);
/// How often a Credential waiting for its external value looks for it in the vault.
const WAITING_POLL: Duration = Duration::from_secs(15);

/// The Credential controller's steps for the driver.
pub struct Credentials(pub Arc<Context>);

impl Steps for Credentials {
    type Kind = Credential;
    type Error = Error;
    const FINALIZER: &'static str = FINALIZER;
    const READ_LATEST: bool = true;

    fn context(&self) -> &Context {
        &self.0
    }

    async fn apply(&self, cred: Arc<Credential>) -> Result<Action, Error> {
        apply(&cred, &self.0).await
    }

    async fn cleanup(&self, cred: Arc<Credential>) -> Result<Action, Error> {
        cleanup(&cred, &self.0).await
    }
}

/// One reconcile of `cred` outside a controller (tests drive rotations step by step).
pub async fn reconcile(
    cred: Arc<Credential>,
    ctx: Arc<Context>,
) -> Result<Action, crate::driver::Error<Error>> {
    crate::driver::reconcile(cred, Arc::new(Credentials(ctx))).await
}

/// What the vault step ended with.
enum Vaulted {
    Current {
        stored: StoredCredential,
        waiting: Option<String>,
    },
    WaitingForValue(String),
}

async fn apply(cred: &Credential, ctx: &Context) -> Result<Action, Error> {
    let now = Utc::now();
    let prev = cred.status.clone().unwrap_or_default();
    let generation = cred.metadata.generation;
    let (new_status, wake) = match converge(cred, ctx, &prev, now).await {
        Ok((status, wake)) => (status, wake),
        Err(e @ Error::Injected(_)) => return Err(e),
        Err(e) => {
            ctx.metrics.failure("Credential", e.reason());
            warn!(error = %e, "credential reconcile failed");
            crate::report::publish(ctx, cred, EventType::Warning, e.reason(), &e.to_string()).await;
            let failed = status::failed(&prev, generation, e.reason(), e.to_string(), now);
            let retry = backoff(failed.failed_attempts);
            crate::report::write_status(ctx, cred, cred.status.is_some(), &prev, &failed).await?;
            return Ok(Action::requeue(retry));
        }
    };
    crate::report::write_status(ctx, cred, cred.status.is_some(), &prev, &new_status).await?;
    ctx.metrics.set_credential_expiry(
        &cred.namespace().unwrap_or_default(),
        &cred.name_any(),
        cred.spec
            .expires_at
            .as_ref()
            .map(|t| from_k8s(t).timestamp()),
    );
    let wake = wake.map(|w| w.min(now + chrono::TimeDelta::from_std(RESYNC).unwrap_or_default()));
    if let Some(at) = wake {
        let _ = ctx
            .credential_timer
            .wake_at(ObjectRef::from_obj(cred), at)
            .await;
    }
    let after = wake.and_then(|w| (w - now).to_std().ok()).unwrap_or(RESYNC);
    Ok(Action::requeue(after.max(Duration::from_secs(1))))
}

/// Steps 1–3; returns the new status and when to look again.
async fn converge(
    cred: &Credential,
    ctx: &Context,
    prev: &CredentialStatus,
    now: DateTime<Utc>,
) -> Result<(CredentialStatus, Option<DateTime<Utc>>), Error> {
    let generation = cred.metadata.generation;
    let spec = &cred.spec;
    let name = cred.name_any();
    let uid = cred.uid().unwrap_or_default();
    let expires_at = spec.expires_at.as_ref().map(from_k8s);
    // A `secretName` naming someone else's Secret: stop before anything reads or writes it.
    let secret_name = spec.secret_name.clone().unwrap_or_else(|| name.clone());
    secret::ensure_not_foreign(ctx, cred, &secret_name).await?;

    // 1. vault
    let (stored, rotation_waiting) = match vault_step(cred, ctx, now, expires_at).await? {
        Vaulted::WaitingForValue(message) => {
            let poll = now + chrono::TimeDelta::from_std(WAITING_POLL).unwrap_or_default();
            return Ok((status::waiting(prev, generation, message, now), Some(poll)));
        }
        Vaulted::Current { stored, waiting } => (stored, waiting),
    };
    ctx.faults
        .check(Step::VaultWritten)
        .map_err(Error::Injected)?;

    // 2. Secret
    let rotated_at = stored.last_rotated_at.unwrap_or(stored.created_at);
    let policy = spec.rotation.as_ref();
    let grace_end = grace_period_end(policy, rotated_at)?;
    let serve_previous = stored.version > 1
        && now < grace_end
        && ctx.vault.has_version(&stored, stored.version - 1).await?;
    if secret::materialize(ctx, cred, &stored, &secret_name, serve_previous).await? {
        info!(version = stored.version, secret = %secret_name, previous = serve_previous, "Secret updated");
        for orphan in secret::delete_orphans(ctx, cred, &secret_name).await? {
            info!(secret = %orphan, "deleted the Secret of an earlier secretName");
        }
    }
    ctx.faults
        .check(Step::SecretWritten)
        .map_err(Error::Injected)?;

    // 3. consumers
    let hash = version_hash(&uid, stored.version);
    let restarts = consumers::restart(ctx, cred, &hash).await?;
    for r in restarts.iter().filter(|r| r.result == "restarted") {
        let note = format!(
            "{:?} {} restarted for version {}",
            r.kind, r.name, stored.version
        );
        crate::report::publish(ctx, cred, EventType::Normal, "ConsumerRestarted", &note).await;
    }
    ctx.faults
        .check(Step::ConsumersRestarted)
        .map_err(Error::Injected)?;

    if prev.version != Some(i64::from(stored.version)) {
        ctx.vault
            .prune(&stored, spec.revision_history_limit)
            .await?;
    }
    let next = policy
        .map(|p| next_rotation(p, rotated_at, expires_at))
        .transpose()?;
    let expiry_window = policy
        .and_then(|p| p.renew_before.as_deref())
        .and_then(|d| javari_crds::duration::parse_duration(d).ok())
        .and_then(|d| chrono::TimeDelta::from_std(d).ok())
        .unwrap_or(DEFAULT_EXPIRY_WINDOW);
    let observed = Observed {
        version: stored.version,
        content_hash: hash,
        secret_name,
        last_rotated_at: rotated_at,
        next_rotation_at: next,
        grace_period_ends_at: serve_previous.then_some(grace_end),
        expires_at,
        expiry_window,
        rotate_request: stored.rotate_request.clone(),
        restarts,
        rotation_waiting,
    };
    let wake = [next, serve_previous.then_some(grace_end)]
        .into_iter()
        .flatten()
        .min();
    Ok((status::ready(prev, generation, observed, now), wake))
}

/// Ensures the vault holds a current version, rotating when asked or due.
async fn vault_step(
    cred: &Credential,
    ctx: &Context,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Vaulted, Error> {
    let ns = cred.namespace().unwrap_or_default();
    let name = cred.name_any();
    let request = cred.annotations().get(ROTATE_NOW_ANNOTATION).cloned();
    let Some(stored) = ctx.vault.get(&ns, &name).await? else {
        let Some(value) = source_value(cred, ctx).await? else {
            return Ok(Vaulted::WaitingForValue(waiting_message(cred)));
        };
        let source = source_kind(cred);
        let new = NewCredential {
            namespace: &ns,
            name: &name,
            service: &cred.spec.service,
            credential_type: credential_type(cred),
            source,
        };
        let stored = ctx
            .vault
            .create(new, &value, MANAGER, "Credential created")
            .await?;
        // A rotate-now annotation present at creation is answered by the creation itself.
        let stored = match request {
            Some(r) => ctx.vault.mark_rotate_request(&stored, &r).await?,
            None => stored,
        };
        crate::report::publish(
            ctx,
            cred,
            EventType::Normal,
            "Created",
            "version 1 stored in the vault",
        )
        .await;
        return Ok(Vaulted::Current {
            stored,
            waiting: None,
        });
    };
    let rotated_at = stored.last_rotated_at.unwrap_or(stored.created_at);
    let reason = match (&request, &cred.spec.rotation) {
        (Some(r), _) if stored.rotate_request.as_ref() != Some(r) => {
            Some("rotate-now requested".to_owned())
        }
        (_, Some(policy)) if next_rotation(policy, rotated_at, expires_at)? <= now => {
            Some("scheduled rotation".to_owned())
        }
        _ => None,
    };
    let Some(reason) = reason else {
        return Ok(Vaulted::Current {
            stored,
            waiting: None,
        });
    };
    let Some(value) = source_value(cred, ctx).await? else {
        let waiting = format!("rotation due ({reason}): {}", waiting_message(cred));
        return Ok(Vaulted::Current {
            stored,
            waiting: Some(waiting),
        });
    };
    let rotated = ctx
        .vault
        .rotate(&stored, &value, request.as_deref(), MANAGER, &reason)
        .await?;
    ctx.metrics.rotations.inc();
    info!(version = rotated.version, %reason, "rotated");
    crate::report::publish(
        ctx,
        cred,
        EventType::Normal,
        "Rotated",
        &format!("version {} ({reason})", rotated.version),
    )
    .await;
    Ok(Vaulted::Current {
        stored: rotated,
        waiting: None,
    })
}

/// A fresh value from the Credential's source; `None` for values set from outside.
async fn source_value(cred: &Credential, ctx: &Context) -> Result<Option<SecretValue>, Error> {
    let source = &cred.spec.source;
    if let Some(policy) = &source.generate {
        return Ok(Some(generate(policy)?));
    }
    if let Some(selector) = &source.secret_ref {
        let ns = cred.namespace().unwrap_or_default();
        let name = cred.name_any();
        let secrets = Api::<Secret>::namespaced(ctx.client.clone(), &ns);
        // Only a Secret that names this Credential in its annotation is read: creating a
        // Credential must not be a way to read any Secret of the namespace.
        let meta = secrets
            .get_metadata_opt(&selector.name)
            .await?
            .ok_or_else(|| Error::SourceSecretMissing {
                secret: selector.name.clone(),
            })?;
        if !secret::opts_in(&meta.metadata, &ns, &name) {
            return Err(Error::SourceNotOptedIn {
                secret: selector.name.clone(),
                credential: name,
            });
        }
        let secret = secrets
            .get_opt(&selector.name)
            .await?
            .filter(|s| secret::opts_in(&s.metadata, &ns, &name))
            .ok_or_else(|| Error::SourceSecretMissing {
                secret: selector.name.clone(),
            })?;
        let value = secret
            .data
            .and_then(|mut d| d.remove(&selector.key))
            .ok_or_else(|| Error::SourceKeyMissing {
                secret: selector.name.clone(),
                key: selector.key.clone(),
            })?;
        return Ok(Some(SecretValue::new(value.0)));
    }
    Ok(None)
}

fn source_kind(cred: &Credential) -> &'static str {
    let s = &cred.spec.source;
    match (&s.generate, &s.secret_ref) {
        (Some(_), _) => "generate",
        (_, Some(_)) => "secretRef",
        _ => "external",
    }
}

fn credential_type(cred: &Credential) -> &'static str {
    use javari_crds::credential::CredentialType::*;
    match cred.spec.credential_type {
        ApiKey => "apiKey",
        Token => "token",
        Password => "password",
        DatabasePassword => "databasePassword",
        Other => "other",
    }
}

fn waiting_message(cred: &Credential) -> String {
    let owner = cred
        .spec
        .source
        .external
        .as_ref()
        .and_then(|e| e.owner.clone());
    match owner {
        Some(owner) => format!("waiting for {owner} to set the value through the console API"),
        None => "waiting for the value to be set through the console API".to_owned(),
    }
}

async fn cleanup(cred: &Credential, ctx: &Context) -> Result<Action, Error> {
    let ns = cred.namespace().unwrap_or_default();
    let name = cred.name_any();
    ctx.vault
        .delete(&ns, &name, MANAGER, "Credential deleted")
        .await?;
    // Owner references would let the garbage collector do this; do it directly so deletion
    // does not depend on one running.
    let secret_name = cred
        .spec
        .secret_name
        .clone()
        .unwrap_or_else(|| name.clone());
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(s) = secrets.get_metadata_opt(&secret_name).await?
        && secret::owns(&s.metadata, &name, &cred.uid().unwrap_or_default())
    {
        secrets.delete(&secret_name, &Default::default()).await?;
    }
    ctx.credential_timer
        .cancel(&ObjectRef::from_obj(cred))
        .await;
    ctx.metrics.set_credential_expiry(&ns, &name, None);
    info!("credential deleted from the vault");
    Ok(Action::await_change())
}
