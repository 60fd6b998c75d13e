//! The reconciler: for each `ModelExecutor`, server-side apply the Deployment and the Service
//! (field manager `mulambda-controller`, owner reference for garbage collection), then write
//! the status when it changed.
//!
//! Idempotence: applying the same object twice is a no-op in the API server (no new
//! `resourceVersion`, no new generation, no rollout), so every reconciliation applies both
//! objects; the status is only patched when the computed status differs from the stored one.
//! Errors are retried with per-object exponential backoff (5 s doubling to 5 min); a spec that
//! fails validation is not an error: its status says why and the reconciler waits for a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use mulambda_runtime::parse;

use crate::crd::{ModelExecutor, ModelExecutorStatus};
use crate::executor::resources::{ExecutorTemplate, deployment, service};
use crate::executor::{status, validate};
use crate::metrics::{Metrics, ReconcileResult};
use crate::well_known::{FIELD_MANAGER, labels};

/// The reconciler's options on the command line.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ReconcilerArgs {
    /// Do not run the reconciler (webhook only; needs no Kubernetes API access).
    #[arg(long, env = "MULAMBDA_NO_RECONCILER")]
    pub no_reconciler: bool,

    /// Periodic re-check of every ModelExecutor (changes to it and to its Deployment or
    /// Service are seen at once anyway).
    #[arg(long = "resync-interval", env = "MULAMBDA_RESYNC_INTERVAL", default_value = "5m",
          value_name = "DURATION", value_parser = parse::positive_duration)]
    pub resync: Duration,
}

/// Shared state of all reconciliations.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Images and store settings for the executors.
    pub template: ExecutorTemplate,
    /// Metrics.
    pub metrics: Metrics,
    /// Periodic re-check of a healthy executor.
    pub resync: Duration,
    /// Consecutive failures per object (`namespace/name`), for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

/// Why a reconciliation failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The API server refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The object lacks a field the API server always sets.
    #[error("ModelExecutor has no {0}")]
    Missing(&'static str),
}

/// First retry delay after a failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(5);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

// === impl Context ===

impl Context {
    /// A context for reconciliations.
    pub fn new(
        client: Client,
        template: ExecutorTemplate,
        metrics: Metrics,
        resync: Duration,
    ) -> Context {
        Context {
            client,
            template,
            metrics,
            resync,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn key(mex: &ModelExecutor) -> String {
    format!("{}/{}", mex.namespace().unwrap_or_default(), mex.name_any())
}

/// Reconciles one `ModelExecutor`.
pub async fn reconcile(
    mex: Arc<ModelExecutor>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let result = reconcile_inner(&mex, &ctx).await;
    match &result {
        Ok(_) => {
            ctx.metrics.reconciled(ReconcileResult::Ok);
            ctx.failures().remove(&key(&mex));
        }
        Err(_) => ctx.metrics.reconciled(ReconcileResult::Error),
    }
    result
}

async fn reconcile_inner(mex: &ModelExecutor, ctx: &Context) -> Result<Action, ReconcileError> {
    let namespace = mex
        .namespace()
        .ok_or(ReconcileError::Missing("metadata.namespace"))?;
    let name = mex.name_any();
    let generation = mex.metadata.generation;
    let old = mex.status.as_ref();
    let now = Time(Timestamp::now());
    let executors: Api<ModelExecutor> = Api::namespaced(ctx.client.clone(), &namespace);

    let spec = match validate::validate(mex) {
        Ok(spec) => spec,
        Err(e) => {
            tracing::warn!(executor = %key(mex), error = %e, "ModelExecutor spec refused");
            let new = status::invalid(old, generation, &e, &now);
            write_status(&executors, &name, old, new).await?;
            return Ok(Action::await_change());
        }
    };
    let owner = mex
        .controller_owner_ref(&())
        .ok_or(ReconcileError::Missing("metadata.uid"))?;
    let apply = PatchParams::apply(FIELD_MANAGER).force();

    let wanted = deployment(
        &spec,
        mex.spec.serving_image.as_deref(),
        mex.spec.resources.as_ref(),
        &namespace,
        &owner,
        &ctx.template,
    );
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &namespace);
    let applied = deployments
        .patch(&name, &apply, &Patch::Apply(&wanted))
        .await?;

    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    services
        .patch(
            &name,
            &apply,
            &Patch::Apply(&service(&spec, &namespace, &owner)),
        )
        .await?;

    let new = status::from_deployment(old, generation, spec.replicas, &applied, &now);
    write_status(&executors, &name, old, new).await?;
    Ok(Action::requeue(ctx.resync))
}

/// Patches the status subresource when it changed (a JSON merge patch of `status`).
async fn write_status(
    api: &Api<ModelExecutor>,
    name: &str,
    old: Option<&ModelExecutorStatus>,
    new: ModelExecutorStatus,
) -> Result<(), ReconcileError> {
    if old == Some(&new) {
        return Ok(());
    }
    let patch = serde_json::json!({ "status": new });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The retry delay after the `failures`-th consecutive failure (1-based).
pub fn backoff(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
}

/// What to do after a failed reconciliation: retry with exponential backoff.
pub fn error_policy(mex: Arc<ModelExecutor>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let failures = {
        let mut map = ctx.failures();
        let n = map.entry(key(&mex)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(failures);
    tracing::warn!(
        executor = %key(&mex),
        error = %error,
        failures,
        retry_in = ?delay,
        "reconciliation failed"
    );
    Action::requeue(delay)
}

/// Runs the controller until `cancel`: watches `ModelExecutor`s in all namespaces and the
/// Deployments and Services it manages.
pub async fn run(ctx: Arc<Context>, cancel: CancellationToken) {
    let client = ctx.client.clone();
    let managed = watcher::Config::default().labels(&format!(
        "{}={}",
        labels::MANAGED_BY,
        labels::MANAGED_BY_VALUE
    ));
    Controller::new(
        Api::<ModelExecutor>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Deployment>::all(client.clone()), managed.clone())
    .owns(Api::<Service>::all(client), managed)
    .graceful_shutdown_on(cancel.cancelled_owned())
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        match result {
            Ok((object, _)) => tracing::debug!(executor = %object, "reconciled"),
            Err(e) => tracing::debug!(error = %e, "controller event"),
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(10), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }
}
