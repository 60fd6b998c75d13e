//! The `ModelExecutor` status the reconciler writes: observed generation, replica counts, and
//! the `Ready` and `Progressing` conditions.
//!
//! A condition keeps its `lastTransitionTime` while its `status` stays the same, so a
//! reconciliation that observes nothing new computes a status equal to the stored one, and the
//! reconciler writes nothing.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::crd::ModelExecutorStatus;
use crate::executor::validate::SpecError;

/// `Ready`: all desired executor pods are ready.
pub const READY: &str = "Ready";
/// `Progressing`: a rollout is under way.
pub const PROGRESSING: &str = "Progressing";

/// Condition reasons.
pub mod reason {
    /// Ready: every desired pod is ready.
    pub const AVAILABLE: &str = "Available";
    /// Ready=False: fewer pods ready than desired.
    pub const REPLICAS_NOT_READY: &str = "ReplicasNotReady";
    /// Ready=False: `spec.replicas` is 0.
    pub const SCALED_TO_ZERO: &str = "ScaledToZero";
    /// Both False: the spec was refused; the message names the field.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// Progressing=True: pods are being created or replaced.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Progressing=False: the Deployment is rolled out.
    pub const ROLLOUT_COMPLETE: &str = "RolloutComplete";
    /// Progressing=False: the Deployment exceeded its progress deadline.
    pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
}

/// A condition, keeping the old `lastTransitionTime` when `status` did not change.
pub fn condition(
    old: Option<&ModelExecutorStatus>,
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = old
        .and_then(|o| o.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time,
    }
}

/// The status for a Deployment as the API server returned it after the apply.
pub fn from_deployment(
    old: Option<&ModelExecutorStatus>,
    generation: Option<i64>,
    desired: i32,
    deployment: &Deployment,
    now: &Time,
) -> ModelExecutorStatus {
    let ds = deployment.status.clone().unwrap_or_default();
    let ready = ds.ready_replicas.unwrap_or(0);
    let replicas = ds.replicas.unwrap_or(0);
    let updated = ds.updated_replicas.unwrap_or(0);
    let observed = ds.observed_generation.unwrap_or(0)
        >= deployment.metadata.generation.unwrap_or(0)
        && ds.observed_generation.is_some();

    let (is_ready, ready_reason, ready_message) = if desired == 0 {
        (
            false,
            reason::SCALED_TO_ZERO,
            "spec.replicas is 0".to_string(),
        )
    } else if ready >= desired {
        (
            true,
            reason::AVAILABLE,
            format!("{ready}/{desired} replicas ready"),
        )
    } else {
        (
            false,
            reason::REPLICAS_NOT_READY,
            format!("{ready}/{desired} replicas ready"),
        )
    };

    let deadline = ds.conditions.iter().flatten().find(|c| {
        c.type_.as_deref() == Some("Progressing")
            && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    let rolled_out = observed && updated == desired && replicas == desired && ready >= desired;
    let (progressing, progress_reason, progress_message) = if let Some(c) = deadline {
        (
            false,
            reason::PROGRESS_DEADLINE_EXCEEDED,
            c.message.clone().unwrap_or_default(),
        )
    } else if rolled_out {
        (
            false,
            reason::ROLLOUT_COMPLETE,
            format!("{desired} replicas up to date"),
        )
    } else {
        (
            true,
            reason::ROLLING_OUT,
            format!("{updated}/{desired} replicas updated, {ready} ready, {replicas} in total"),
        )
    };

    ModelExecutorStatus {
        observed_generation: generation,
        replicas,
        ready_replicas: ready,
        conditions: vec![
            condition(
                old,
                READY,
                is_ready,
                ready_reason,
                ready_message,
                generation,
                now,
            ),
            condition(
                old,
                PROGRESSING,
                progressing,
                progress_reason,
                progress_message,
                generation,
                now,
            ),
        ],
    }
}

/// The status of a refused spec: both conditions False with reason `InvalidSpec`; replica
/// counts stay as last observed (the previous Deployment, if any, keeps running).
pub fn invalid(
    old: Option<&ModelExecutorStatus>,
    generation: Option<i64>,
    error: &SpecError,
    now: &Time,
) -> ModelExecutorStatus {
    let message = error.to_string();
    ModelExecutorStatus {
        observed_generation: generation,
        replicas: old.map_or(0, |o| o.replicas),
        ready_replicas: old.map_or(0, |o| o.ready_replicas),
        conditions: vec![
            condition(
                old,
                READY,
                false,
                reason::INVALID_SPEC,
                message.clone(),
                generation,
                now,
            ),
            condition(
                old,
                PROGRESSING,
                false,
                reason::INVALID_SPEC,
                message,
                generation,
                now,
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use k8s_openapi::jiff::Timestamp;

    fn deployment(
        generation: i64,
        observed: i64,
        replicas: i32,
        updated: i32,
        ready: i32,
    ) -> Deployment {
        let mut d = Deployment::default();
        d.metadata.generation = Some(generation);
        d.status = Some(DeploymentStatus {
            observed_generation: Some(observed),
            replicas: Some(replicas),
            updated_replicas: Some(updated),
            ready_replicas: Some(ready),
            ..DeploymentStatus::default()
        });
        d
    }

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn ready_and_rolled_out() {
        let s = from_deployment(None, Some(3), 2, &deployment(1, 1, 2, 2, 2), &at(10));
        assert_eq!(s.ready_replicas, 2);
        assert_eq!(s.conditions[0].status, "True");
        assert_eq!(s.conditions[0].reason, reason::AVAILABLE);
        assert_eq!(s.conditions[1].status, "False");
        assert_eq!(s.conditions[1].reason, reason::ROLLOUT_COMPLETE);
        assert_eq!(s.observed_generation, Some(3));
    }

    #[test]
    fn rolling_out_and_transition_times() {
        let first = from_deployment(None, Some(1), 2, &deployment(1, 1, 1, 1, 0), &at(10));
        assert_eq!(first.conditions[0].reason, reason::REPLICAS_NOT_READY);
        assert_eq!(first.conditions[1].reason, reason::ROLLING_OUT);
        // Same observation later: equal status (times kept).
        let again = from_deployment(
            Some(&first),
            Some(1),
            2,
            &deployment(1, 1, 1, 1, 0),
            &at(20),
        );
        assert_eq!(again, first);
        // Now ready: Ready flips and gets the new time; Progressing flips too.
        let done = from_deployment(
            Some(&again),
            Some(1),
            2,
            &deployment(1, 1, 2, 2, 2),
            &at(30),
        );
        assert_eq!(done.conditions[0].last_transition_time, at(30));
        assert_eq!(done.conditions[0].status, "True");
    }

    #[test]
    fn deadline_and_zero() {
        let mut d = deployment(1, 1, 1, 1, 0);
        d.status.as_mut().unwrap().conditions =
            Some(vec![k8s_openapi::api::apps::v1::DeploymentCondition {
                type_: Some("Progressing".into()),
                status: Some("False".into()),
                reason: Some("ProgressDeadlineExceeded".into()),
                message: Some("ReplicaSet x has timed out progressing.".into()),
                ..Default::default()
            }]);
        let s = from_deployment(None, Some(1), 1, &d, &at(1));
        assert_eq!(s.conditions[1].reason, reason::PROGRESS_DEADLINE_EXCEEDED);
        let s = from_deployment(None, Some(1), 0, &deployment(1, 1, 0, 0, 0), &at(1));
        assert_eq!(s.conditions[0].reason, reason::SCALED_TO_ZERO);
        assert_eq!(s.conditions[1].reason, reason::ROLLOUT_COMPLETE);
    }
}
