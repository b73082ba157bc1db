//! Actions on resources, each through what the operator already honours: the rollback and
//! rotate-now and check-now annotations, `spec.suspend` of a Monitor, `spec.enabled` of a Provider. Every
//! action also writes who asked on the resource (the `javari.ai/requested-by` annotation
//! and an Event naming them) and a row in the audit log.

use chrono::Utc;
use javari_crds::credential::ROTATE_NOW_ANNOTATION;
use javari_crds::monitor::CHECK_NOW_ANNOTATION;
use javari_crds::project::ROLLBACK_ANNOTATION;
use javari_crds::{Credential, Monitor, Project, Provider};
use k8s_openapi::NamespaceResourceScope;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use sqlx::PgPool;

/// Who asked for the last action on a resource, and what: `alice@example.com: rollback at …`.
pub const REQUESTED_BY_ANNOTATION: &str = "javari.ai/requested-by";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Rollback,
    RotateNow,
    Suspend,
    Resume,
    CheckNow,
    Disable,
    Enable,
}

impl Action {
    /// `(kind path, action path)` as in `/projects/{ns}/{name}/rollback`.
    pub fn parse(kind: &str, action: &str) -> Option<Action> {
        match (kind, action) {
            ("projects", "rollback") => Some(Action::Rollback),
            ("credentials", "rotate") => Some(Action::RotateNow),
            ("monitors", "suspend") => Some(Action::Suspend),
            ("monitors", "resume") => Some(Action::Resume),
            ("monitors", "check-now") => Some(Action::CheckNow),
            ("providers", "disable") => Some(Action::Disable),
            ("providers", "enable") => Some(Action::Enable),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Rollback => "rollback",
            Action::RotateNow => "rotate-now",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::CheckNow => "check-now",
            Action::Disable => "disable",
            Action::Enable => "enable",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Action::Rollback => "Project",
            Action::RotateNow => "Credential",
            Action::Suspend | Action::Resume | Action::CheckNow => "Monitor",
            Action::Disable | Action::Enable => "Provider",
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Action::Rollback => "RollbackRequested",
            Action::RotateNow => "RotationRequested",
            Action::Suspend => "SuspendRequested",
            Action::Resume => "ResumeRequested",
            Action::CheckNow => "CheckRequested",
            Action::Disable => "DisableRequested",
            Action::Enable => "EnableRequested",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Action::Rollback => "Roll back",
            Action::RotateNow => "Rotation",
            Action::Suspend => "Suspending checks",
            Action::Resume => "Resuming checks",
            Action::CheckNow => "A check now",
            Action::Disable => "Disabling",
            Action::Enable => "Enabling",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("the Kubernetes API refused the change: {0}")]
    Kube(#[from] kube::Error),
    #[error("could not write the audit log: {0}")]
    Audit(#[from] sqlx::Error),
}

async fn patch<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    body: serde_json::Value,
) -> Result<K, ActionError>
where
    K: Resource<Scope = NamespaceResourceScope> + Clone + DeserializeOwned + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(k) => Ok(k),
        Err(kube::Error::Api(e)) if e.code == 404 => {
            Err(ActionError::NotFound(format!("{namespace}/{name}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Performs `action` on `namespace/name` for `actor` (the signed-in user's email); returns
/// the request token written to the annotation (rollback, rotate-now).
pub async fn perform(
    client: &Client,
    db: &PgPool,
    action: Action,
    namespace: &str,
    name: &str,
    actor: &str,
) -> Result<String, ActionError> {
    let token = format!("console-{}", uuid::Uuid::new_v4().simple());
    let asked = format!("{actor}: {} at {}", action.name(), Utc::now().to_rfc3339());
    let annotations = |extra: Option<(&str, &str)>| {
        let mut a = serde_json::Map::new();
        a.insert(REQUESTED_BY_ANNOTATION.to_owned(), json!(asked));
        if let Some((k, v)) = extra {
            a.insert(k.to_owned(), json!(v));
        }
        json!({ "metadata": { "annotations": a } })
    };
    let reference = match action {
        Action::Rollback => patch::<Project>(
            client,
            namespace,
            name,
            annotations(Some((ROLLBACK_ANNOTATION, &token))),
        )
        .await?
        .object_ref(&()),
        Action::RotateNow => patch::<Credential>(
            client,
            namespace,
            name,
            annotations(Some((ROTATE_NOW_ANNOTATION, &token))),
        )
        .await?
        .object_ref(&()),
        Action::Suspend | Action::Resume => {
            let mut body = annotations(None);
            body["spec"] = json!({ "suspend": action == Action::Suspend });
            patch::<Monitor>(client, namespace, name, body)
                .await?
                .object_ref(&())
        }
        Action::CheckNow => patch::<Monitor>(
            client,
            namespace,
            name,
            annotations(Some((CHECK_NOW_ANNOTATION, &token))),
        )
        .await?
        .object_ref(&()),
        Action::Disable | Action::Enable => {
            let mut body = annotations(None);
            body["spec"] = json!({ "enabled": action == Action::Enable });
            patch::<Provider>(client, namespace, name, body)
                .await?
                .object_ref(&())
        }
    };
    sqlx::query(
        "INSERT INTO javari_audit_log (actor, action, resource_type, resource_id, details) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(actor)
    .bind(format!(
        "{}.{}",
        action.kind().to_lowercase(),
        action.name()
    ))
    .bind(action.kind())
    .bind(format!("{namespace}/{name}"))
    .bind(json!({ "token": token, "via": "console" }))
    .execute(db)
    .await?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "javari-console".into(),
            instance: None,
        },
    );
    let event = Event {
        type_: EventType::Normal,
        reason: action.reason().to_owned(),
        note: Some(format!(
            "{} requested by {actor} from the console",
            action.words()
        )),
        action: "Console".to_owned(),
        secondary: None,
    };
    // The annotation already says who asked; a lost Event is logged, not fatal.
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, "could not publish the action's event");
    }
    Ok(token)
}
