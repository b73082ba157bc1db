//! Deployment health with Argo CD's rules; a Project is the worst of its children.

use javari_crds::common::Health;
use k8s_openapi::api::apps::v1::Deployment;

/// How bad a health is, for `worst`.
fn rank(h: Health) -> u8 {
    match h {
        Health::Healthy => 0,
        Health::Suspended => 1,
        Health::Progressing => 2,
        Health::Missing => 3,
        Health::Degraded => 4,
        Health::Unknown => 5,
    }
}

pub fn worst(healths: impl IntoIterator<Item = Health>) -> Health {
    healths
        .into_iter()
        .max_by_key(|h| rank(*h))
        .unwrap_or(Health::Healthy)
}

/// Healthy once the controller has observed the current generation and every replica is
/// updated and available; Degraded when the rollout exceeded its progress deadline.
pub fn deployment_health(d: Option<&Deployment>) -> Health {
    let Some(d) = d else { return Health::Missing };
    let spec = d.spec.as_ref();
    if spec.and_then(|s| s.paused) == Some(true) {
        return Health::Suspended;
    }
    let Some(status) = d.status.as_ref() else {
        return Health::Progressing;
    };
    if status.observed_generation.unwrap_or(0) < d.metadata.generation.unwrap_or(0) {
        return Health::Progressing;
    }
    let deadline_exceeded = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return Health::Degraded;
    }
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    if updated < desired || total > updated || available < updated {
        return Health::Progressing;
    }
    Health::Healthy
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};

    use super::*;

    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        updated: i32,
        available: i32,
    ) -> Deployment {
        let mut d = Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        };
        d.metadata.generation = Some(generation);
        d.status = Some(DeploymentStatus {
            observed_generation: Some(observed),
            replicas: Some(updated),
            updated_replicas: Some(updated),
            available_replicas: Some(available),
            ..Default::default()
        });
        d
    }

    #[test]
    fn argo_rules() {
        assert_eq!(deployment_health(None), Health::Missing);
        assert_eq!(
            deployment_health(Some(&deployment(2, 1, 2, 2, 2))),
            Health::Progressing,
            "generation not observed"
        );
        assert_eq!(
            deployment_health(Some(&deployment(2, 2, 2, 1, 1))),
            Health::Progressing,
            "rollout under way"
        );
        assert_eq!(
            deployment_health(Some(&deployment(2, 2, 2, 2, 1))),
            Health::Progressing,
            "not yet available"
        );
        assert_eq!(
            deployment_health(Some(&deployment(2, 2, 2, 2, 2))),
            Health::Healthy
        );
        let mut stuck = deployment(2, 2, 2, 1, 1);
        if let Some(s) = stuck.status.as_mut() {
            s.conditions = Some(vec![DeploymentCondition {
                type_: "Progressing".into(),
                status: "False".into(),
                reason: Some("ProgressDeadlineExceeded".into()),
                ..Default::default()
            }]);
        }
        assert_eq!(deployment_health(Some(&stuck)), Health::Degraded);
    }

    #[test]
    fn worst_of_children() {
        assert_eq!(
            worst([Health::Healthy, Health::Progressing]),
            Health::Progressing
        );
        assert_eq!(
            worst([Health::Missing, Health::Degraded, Health::Healthy]),
            Health::Degraded
        );
        assert_eq!(worst([]), Health::Healthy);
    }
}
