//! The Deployment and Service of a Project, as pure functions of its spec.

use std::collections::BTreeMap;

use javari_crds::Project;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, PodSpec, PodTemplateSpec, Probe,
    SecretKeySelector, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The label that ties a Project's pods to its Deployment and Service.
pub const SELECTOR_LABEL: &str = "javari.ai/project";

pub fn labels(project: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), project.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "javari".to_owned(),
        ),
        (SELECTOR_LABEL.to_owned(), project.to_owned()),
    ])
}

fn meta(project: &Project, owner: Option<OwnerReference>) -> ObjectMeta {
    let name = project.metadata.name.clone().unwrap_or_default();
    ObjectMeta {
        name: Some(name.clone()),
        namespace: project.metadata.namespace.clone(),
        labels: Some(labels(&name)),
        owner_references: owner.map(|o| vec![o]),
        ..Default::default()
    }
}

/// `credential_secrets` maps each referenced Credential to the Secret it materializes.
pub fn deployment(
    project: &Project,
    image: &str,
    owner: Option<OwnerReference>,
    credential_secrets: &BTreeMap<String, String>,
) -> Deployment {
    let name = project.metadata.name.clone().unwrap_or_default();
    let spec = &project.spec;
    let mut env: Vec<EnvVar> = spec
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect();
    env.extend(spec.credentials.iter().map(|c| {
        EnvVar {
            name: c.env.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: credential_secrets
                        .get(&c.credential_ref.name)
                        .cloned()
                        .unwrap_or_else(|| c.credential_ref.name.clone()),
                    key: c.credential_ref.key.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }));
    let probe = |initial: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(spec.health_path.clone()),
            port: IntOrString::String("http".to_owned()),
            ..Default::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(10),
        ..Default::default()
    };
    let container = Container {
        name: "app".to_owned(),
        image: Some(image.to_owned()),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: spec.port,
            ..Default::default()
        }]),
        env: (!env.is_empty()).then_some(env),
        readiness_probe: Some(probe(2)),
        liveness_probe: Some(probe(15)),
        resources: spec.resources.clone(),
        ..Default::default()
    };
    Deployment {
        metadata: meta(project, owner),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            revision_history_limit: Some(spec.rollback.history_limit),
            selector: LabelSelector {
                match_labels: Some(BTreeMap::from([(SELECTOR_LABEL.to_owned(), name.clone())])),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&name)),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn service(project: &Project, owner: Option<OwnerReference>) -> Service {
    let name = project.metadata.name.clone().unwrap_or_default();
    Service {
        metadata: meta(project, owner),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(SELECTOR_LABEL.to_owned(), name)])),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: 80,
                target_port: Some(IntOrString::String("http".to_owned())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use javari_crds::ProjectSpec;

    use super::*;

    fn project() -> Project {
        let spec: ProjectSpec = serde_json::from_value(serde_json::json!({
            "image": "ghcr.io/acme/web:1", "replicas": 2, "port": 3000, "env": {"NODE_ENV": "production"},
            "credentials": [{"env": "DB_PASSWORD", "credentialRef": {"name": "db"}}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
        }))
        .expect("spec");
        let mut p = Project::new("web", spec);
        p.metadata.namespace = Some("prod".into());
        p
    }

    #[test]
    fn deployment_follows_the_spec() {
        let secrets = BTreeMap::from([("db".to_owned(), "db-secret".to_owned())]);
        let d = deployment(&project(), "ghcr.io/acme/web:1", None, &secrets);
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(2));
        let pod = spec.template.spec.expect("pod");
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("ghcr.io/acme/web:1"));
        assert_eq!(c.ports.as_ref().expect("ports")[0].container_port, 3000);
        let env = c.env.as_ref().expect("env");
        assert_eq!(env[0].value.as_deref(), Some("production"));
        let secret = env[1]
            .value_from
            .as_ref()
            .and_then(|v| v.secret_key_ref.as_ref())
            .expect("secret ref");
        assert_eq!(
            (secret.name.as_str(), secret.key.as_str()),
            ("db-secret", "value")
        );
        let probe = c
            .readiness_probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .expect("probe");
        assert_eq!(probe.path.as_deref(), Some("/api/health"));
        assert_eq!(
            spec.selector.match_labels.expect("selector")[SELECTOR_LABEL],
            "web"
        );
    }

    #[test]
    fn service_targets_the_named_port() {
        let s = service(&project(), None).spec.expect("spec");
        assert_eq!(s.selector.expect("selector")[SELECTOR_LABEL], "web");
        assert_eq!(
            s.ports.expect("ports")[0].target_port,
            Some(IntOrString::String("http".into()))
        );
    }
}
