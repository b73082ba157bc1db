use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use javari_core::conditions::{Desired, set};
use javari_core::projects::{
    Decision, ProjectRow, choose_image, deployment, deployment_health, record_rollback,
    render_image, service, upsert_project, worst,
};
use javari_core::time::{from_k8s, to_k8s};
use javari_crds::common::Health;
use javari_crds::common::condition::{DEGRADED, PROGRESSING, READY};
use javari_crds::duration::parse_duration;
use javari_crds::monitor::MonitorState;
use javari_crds::project::{ProjectStatus, ROLLBACK_ANNOTATION, Revision, RollbackRecord};
use javari_crds::{Monitor, Project};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use tracing::{info, warn};

use super::Error;
use crate::context::{Context, MANAGER};
use crate::driver::{Failure, Steps};
use crate::secrets;

pub const FINALIZER: &str = "javari.ai/project";

/// The Project controller's steps for the driver.
pub struct Projects(pub Arc<Context>);

impl Steps for Projects {
    type Kind = Project;
    type Error = Error;
    const FINALIZER: &'static str = FINALIZER;
    const READ_LATEST: bool = true;

    fn context(&self) -> &Context {
        &self.0
    }

    async fn apply(&self, project: Arc<Project>) -> Result<Action, Error> {
        apply(&project, &self.0).await
    }

    async fn cleanup(&self, project: Arc<Project>) -> Result<Action, Error> {
        cleanup(&project, &self.0).await
    }
}

async fn apply(project: &Project, ctx: &Context) -> Result<Action, Error> {
    let ns = project.namespace().unwrap_or_default();
    let name = project.name_any();
    let spec = &project.spec;
    let generation = project.metadata.generation;
    let now = Utc::now();
    let prev = project.status.clone().unwrap_or_default();
    let mut status = prev.clone();
    status.observed_generation = generation;

    // Dereference: the commit to deploy and the Secrets of referenced Credentials.
    // GitHub is asked only when the image follows the branch, to stay inside its rate limits.
    let follows_branch = spec.image.contains("{commit}");
    let commit = match spec.github.as_ref().filter(|_| follows_branch) {
        Some(gh) => {
            let token = match &gh.credential_ref {
                Some(r) => secrets::credential_value(ctx, &ns, r).await?.ok(),
                None => None,
            };
            match javari_core::github::branch_head(
                &ctx.github_api,
                token.as_ref(),
                &gh.owner,
                &gh.repo,
                &gh.branch,
            )
            .await
            {
                Ok(sha) => Some(sha),
                Err(e) => {
                    let failure = Error::GitHub {
                        repo: format!("{}/{}", gh.owner, gh.repo),
                        branch: gh.branch.clone(),
                        message: e.to_string(),
                    };
                    match prev.deployed_commit.clone() {
                        // Keep the commit already deployed rather than fail the rollout,
                        // and say so.
                        Some(deployed) => {
                            warn!(error = %failure, "keeping the deployed commit");
                            crate::report::publish(
                                ctx,
                                project,
                                EventType::Warning,
                                failure.reason(),
                                &format!("{failure}; keeping commit {deployed}"),
                            )
                            .await;
                            Some(deployed)
                        }
                        None => return Err(failure),
                    }
                }
            }
        }
        None => None,
    };
    let rendered = match render_image(&spec.image, commit.as_deref()) {
        Ok(image) => image,
        Err(message) => {
            set(
                &mut status.conditions,
                Desired::new(DEGRADED, true, "ImageUnresolved", message),
                generation,
                now,
            );
            crate::report::write_status(ctx, project, project.status.is_some(), &prev, &status)
                .await?;
            return Ok(Action::requeue(Duration::from_secs(10)));
        }
    };
    let mut credential_secrets = BTreeMap::new();
    for c in &spec.credentials {
        let secret = secrets::secret_name(ctx, &ns, &c.credential_ref.name)
            .await?
            .ok_or_else(|| Error::CredentialNotFound {
                name: c.credential_ref.name.clone(),
            })?;
        credential_secrets.insert(c.credential_ref.name.clone(), secret);
    }

    // A rollback request marks the running image bad and returns to the last known good.
    let request = project.annotations().get(ROLLBACK_ANNOTATION).cloned();
    let mut project_row_id = None;
    if let Some(token) = request.filter(|t| prev.last_rollback_request.as_ref() != Some(t)) {
        status.last_rollback_request = Some(token.clone());
        let running = prev.deployed_image.clone();
        match (&prev.last_known_good, running) {
            (Some(good), Some(bad)) if good.image != bad => {
                if !status.known_bad_images.contains(&bad) {
                    status.known_bad_images.push(bad.clone());
                }
                let from = Revision {
                    image: bad.clone(),
                    commit: prev.deployed_commit.clone(),
                    at: None,
                };
                let reason = format!("rollback requested ({token})");
                status.rollbacks.push(RollbackRecord {
                    from,
                    to: good.clone(),
                    reason: reason.clone(),
                    at: to_k8s(now),
                });
                let excess = status
                    .rollbacks
                    .len()
                    .saturating_sub(usize::try_from(spec.rollback.history_limit).unwrap_or(10));
                status.rollbacks.drain(..excess);
                let id = upsert_row(ctx, project, &rendered, &prev).await?;
                record_rollback(ctx.vault.pool(), id, &bad, &good.image, &reason).await?;
                project_row_id = Some(id);
                info!(from = %bad, to = %good.image, "rolled back");
                crate::report::publish(
                    ctx,
                    project,
                    EventType::Warning,
                    "RolledBack",
                    &format!("{bad} -> {} ({token})", good.image),
                )
                .await;
            }
            _ => {
                crate::report::publish(
                    ctx,
                    project,
                    EventType::Warning,
                    "RollbackSkipped",
                    "no other known good revision to return to",
                )
                .await;
            }
        }
    }

    // Choose the image: the spec's, unless it is marked bad.
    let (image, image_commit, hold) = match choose_image(&rendered, &status) {
        Decision::Spec(image) => (image, commit.clone(), None),
        Decision::HoldAtKnownGood { bad, good } => {
            (good.image.clone(), good.commit.clone(), Some(bad))
        }
        Decision::HoldCurrent { bad } => match &prev.deployed_image {
            Some(current) => (current.clone(), prev.deployed_commit.clone(), Some(bad)),
            None => (bad.clone(), commit.clone(), Some(bad)),
        },
    };

    // Build and apply.
    let owner = project.controller_owner_ref(&());
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    let params = PatchParams::apply(MANAGER).force();
    let desired = deployment(project, &image, owner.clone(), &credential_secrets);
    let applied = deployments
        .patch(&name, &params, &Patch::Apply(&desired))
        .await?;
    services
        .patch(&name, &params, &Patch::Apply(&service(project, owner)))
        .await?;

    // Health, last known good, GitHub.
    let service_health = if services.get_opt(&name).await?.is_some() {
        Health::Healthy
    } else {
        Health::Missing
    };
    let health = worst([deployment_health(Some(&applied)), service_health]);
    status.health = health;
    if status.deployed_image.as_ref() != Some(&image) {
        status.rolled_out_at = Some(to_k8s(now));
    }
    status.deployed_image = Some(image.clone());
    status.deployed_commit = image_commit.clone();
    let image_is_good = !status.known_bad_images.contains(&image);
    if health == Health::Healthy
        && image_is_good
        && monitors_confirm(ctx, project, status.rolled_out_at.as_ref()).await?
        && status.last_known_good.as_ref().map(|g| &g.image) != Some(&image)
    {
        status.last_known_good = Some(Revision {
            image: image.clone(),
            commit: image_commit.clone(),
            at: Some(to_k8s(now)),
        });
        info!(%image, "recorded last known good revision");
    }
    if let (Some(gh), Some(sha), Health::Healthy) = (&spec.github, &image_commit, health)
        && status.reported_commit.as_ref() != Some(sha)
    {
        let token = match &gh.credential_ref {
            Some(r) => secrets::credential_value(ctx, &ns, r).await?.ok(),
            None => None,
        };
        match javari_core::github::report_deployment(
            &ctx.github_api,
            token.as_ref(),
            &gh.owner,
            &gh.repo,
            sha,
            &ns,
            "success",
        )
        .await
        {
            Ok(()) => status.reported_commit = Some(sha.clone()),
            Err(e) => warn!(error = %e, "cannot report the deployment to GitHub"),
        }
    }

    let ready = health == Health::Healthy && hold.is_none();
    let health_reason = health.as_str();
    let ready_msg = format!("{image} is {health:?}");
    set(
        &mut status.conditions,
        Desired::new(READY, ready, health_reason, ready_msg),
        generation,
        now,
    );
    let progressing = health == Health::Progressing;
    set(
        &mut status.conditions,
        Desired::new(PROGRESSING, progressing, health_reason, ""),
        generation,
        now,
    );
    let degraded = match &hold {
        Some(bad) => Desired::new(
            DEGRADED,
            true,
            "ImageMarkedBad",
            format!("{bad} is marked bad; running {image} until the spec names a new image"),
        ),
        None => Desired::new(DEGRADED, health == Health::Degraded, health_reason, ""),
    };
    set(&mut status.conditions, degraded, generation, now);

    if project_row_id.is_none()
        || prev.deployed_image != status.deployed_image
        || prev.health != status.health
    {
        upsert_row(ctx, project, &rendered, &status).await?;
    }
    crate::report::write_status(ctx, project, project.status.is_some(), &prev, &status).await?;
    // Health is read from the Deployment, whose every status change wakes this Project through
    // the owned-Deployment watch; no polling while a rollout progresses (a stuck rollout would
    // otherwise cost a full reconcile every few seconds per Project).
    Ok(Action::requeue(RESYNC))
}

/// How often a Project is reconciled when nothing it watches changed.
const RESYNC: Duration = Duration::from_secs(300);

/// Whether every Monitor of this Project has passed its success threshold since the rollout
/// (a Project without Monitors is confirmed by its Deployment's health alone).
async fn monitors_confirm(
    ctx: &Context,
    project: &Project,
    rolled_out_at: Option<&Time>,
) -> Result<bool, Error> {
    let name = project.name_any();
    let monitors =
        Api::<Monitor>::namespaced(ctx.client.clone(), &project.namespace().unwrap_or_default())
            .list(&Default::default())
            .await?;
    let since = rolled_out_at.map(from_k8s).unwrap_or_default();
    Ok(monitors
        .items
        .iter()
        .filter(|m| m.spec.project_ref.as_ref().is_some_and(|r| r.name == name) && !m.spec.suspend)
        .all(|m| {
            let Some(s) = &m.status else { return false };
            let interval = m
                .spec
                .interval
                .as_deref()
                .and_then(|i| parse_duration(i).ok())
                .unwrap_or(Duration::from_secs(60));
            let needed = chrono::TimeDelta::from_std(
                interval * u32::try_from(m.spec.success_threshold).unwrap_or(1),
            )
            .unwrap_or_default();
            let checked_after = s
                .last_check_at
                .as_ref()
                .map(from_k8s)
                .is_some_and(|at| at >= since + needed);
            s.state == MonitorState::Up
                && s.consecutive_successes >= m.spec.success_threshold
                && checked_after
        }))
}

async fn upsert_row(
    ctx: &Context,
    project: &Project,
    image: &str,
    status: &ProjectStatus,
) -> Result<uuid::Uuid, Error> {
    let ns = project.namespace().unwrap_or_default();
    let name = project.name_any();
    let spec = &project.spec;
    let row = ProjectRow {
        namespace: &ns,
        name: &name,
        display_name: spec.display_name.as_deref(),
        github: spec
            .github
            .as_ref()
            .map(|g| (g.owner.as_str(), g.repo.as_str(), g.branch.as_str())),
        image,
        deployed_image: status.deployed_image.as_deref(),
        deployed_commit: status.deployed_commit.as_deref(),
        last_known_good: status.last_known_good.as_ref().map(|g| g.image.as_str()),
        health: status.health.as_str(),
    };
    Ok(upsert_project(ctx.vault.pool(), &row).await?)
}

/// Deletes the children directly: owner references would let the garbage collector do it,
/// but deletion must not depend on one running.
async fn cleanup(project: &Project, ctx: &Context) -> Result<Action, Error> {
    let ns = project.namespace().unwrap_or_default();
    let name = project.name_any();
    let uid = project.uid();
    let owned = |refs: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference]| {
        refs.iter().any(|o| Some(&o.uid) == uid.as_ref())
    };
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(d) = deployments.get_opt(&name).await?
        && owned(d.owner_references())
    {
        deployments
            .delete(&name, &DeleteParams::background())
            .await?;
    }
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    if let Some(s) = services.get_opt(&name).await?
        && owned(s.owner_references())
    {
        services.delete(&name, &DeleteParams::default()).await?;
    }
    info!("project children deleted");
    Ok(Action::await_change())
}
