//! Which image a Project runs: the spec's (with `{{commit}}` filled in), unless that image is
//! marked bad, in which case the last known good one. A rollback never picks a bad image.

use javari_crds::project::{ProjectStatus, Revision};

/// Replaces `{{commit}}` (or `{commit}`) with the commit sha.
pub fn render_image(template: &str, commit: Option<&str>) -> Result<String, String> {
    let needs = template.contains("{commit}");
    match (needs, commit) {
        (false, _) => Ok(template.to_owned()),
        (true, Some(sha)) => Ok(template.replace("{{commit}}", sha).replace("{commit}", sha)),
        (true, None) => Err(
            "the image is templated with {{commit}} but no commit could be resolved (spec.github)"
                .to_owned(),
        ),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Run the spec's image.
    Spec(String),
    /// The spec's image is marked bad: keep running this known good revision.
    HoldAtKnownGood { bad: String, good: Revision },
    /// The spec's image is marked bad and nothing better is known: keep what runs.
    HoldCurrent { bad: String },
}

pub fn choose_image(rendered: &str, status: &ProjectStatus) -> Decision {
    if !status.known_bad_images.iter().any(|b| b == rendered) {
        return Decision::Spec(rendered.to_owned());
    }
    match &status.last_known_good {
        Some(good) if !status.known_bad_images.contains(&good.image) => Decision::HoldAtKnownGood {
            bad: rendered.to_owned(),
            good: good.clone(),
        },
        _ => Decision::HoldCurrent {
            bad: rendered.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_commit() {
        assert_eq!(
            render_image("r/web:{{commit}}", Some("abc123")),
            Ok("r/web:abc123".into())
        );
        assert_eq!(
            render_image("r/web:{commit}", Some("abc123")),
            Ok("r/web:abc123".into())
        );
        assert_eq!(render_image("r/web:1.2", None), Ok("r/web:1.2".into()));
        assert!(render_image("r/web:{{commit}}", None).is_err());
    }

    #[test]
    fn never_runs_a_bad_image() {
        let good = Revision {
            image: "web:1".into(),
            commit: None,
            at: None,
        };
        let mut status = ProjectStatus {
            last_known_good: Some(good.clone()),
            ..Default::default()
        };
        assert_eq!(
            choose_image("web:2", &status),
            Decision::Spec("web:2".into())
        );
        status.known_bad_images.push("web:2".into());
        assert_eq!(
            choose_image("web:2", &status),
            Decision::HoldAtKnownGood {
                bad: "web:2".into(),
                good
            }
        );
        status.known_bad_images.push("web:1".into());
        assert_eq!(
            choose_image("web:2", &status),
            Decision::HoldCurrent {
                bad: "web:2".into()
            }
        );
        assert_eq!(
            choose_image("web:3", &status),
            Decision::Spec("web:3".into()),
            "a new image is tried"
        );
    }
}
