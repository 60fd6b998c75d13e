//! Leader election for the reconciler, with a `coordination.k8s.io/v1` Lease.
//!
//! The webhook is stateless and runs in every replica; the reconciler must run in one at a time
//! (two would not corrupt anything — applies are idempotent and the status is recomputed — but
//! would double the API traffic and fight over status writes). kube-runtime 5 has no elector,
//! so this is a small one with the semantics of client-go's `leaderelection` package:
//!
//! - **acquire**: a replica creates the Lease, or takes it over when its holder is empty or has
//!   not renewed it for `leaseDurationSeconds` — measured on this replica's own monotonic clock
//!   from the moment it last saw the record change, never by comparing the holder's wall clock
//!   with ours (clock skew between nodes cannot make a live leader look expired);
//! - **renew**: the leader rewrites `renewTime` every retry period; every write carries the
//!   `resourceVersion` it read, so of two replicas racing for the same Lease exactly one wins
//!   (the other gets 409 Conflict and stays a candidate);
//! - **lose**: a leader that cannot renew within the renew deadline (shorter than the lease
//!   duration) stops its reconciler *before* anyone else may take over, then becomes a
//!   candidate again;
//! - **release**: on shutdown the leader empties the holder (and sets a 1 s duration), so another
//!   replica takes over at its next try instead of waiting for the lease to run out.
//!
//! [`LeaseLock`] is one step at a time (tested against a mocked API server);
//! [`run_while_leader`] loops over it and runs the reconciler only while leading.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::{Client, Error};
use mulambda_catalog::names::env;
use mulambda_runtime::parse::{self, Blankable};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// The leader election's options on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ElectionArgs {
    /// Run the reconciler without a Lease (only correct with a single controller replica).
    #[arg(long, env = "MULAMBDA_NO_LEADER_ELECTION")]
    pub no_leader_election: bool,

    /// Name of the Lease the replicas elect the reconciler's leader with.
    #[arg(long, env = "MULAMBDA_LEADER_LEASE", default_value = "mulambda-controller",
          value_name = "NAME", value_parser = lease_name)]
    pub leader_lease: String,

    /// Namespace of the Lease [default: the controller's own namespace (MULAMBDA_POD_NAMESPACE),
    /// else mulambda-system].
    #[arg(long, env = "MULAMBDA_LEADER_LEASE_NAMESPACE", default_value = "", value_name = "NS",
          hide_default_value = true, value_parser = parse::blank_or(lease_name))]
    pub leader_lease_namespace: Blankable<String>,

    /// How long a Lease that is no longer renewed keeps others from taking over (its holder
    /// renews every 2/15 of it and gives up after 2/3 of it without a successful renewal).
    #[arg(long, env = "MULAMBDA_LEADER_LEASE_DURATION", default_value = "15s",
          value_name = "DURATION", value_parser = parse::positive_duration)]
    pub leader_lease_duration: Duration,

    /// This replica's identity in the Lease [default: the pod name (MULAMBDA_POD_NAME)].
    #[arg(long, env = env::POD_NAME, default_value = "", value_name = "NAME",
          hide_default_value = true, value_parser = parse::blank_or(lease_name))]
    pub pod_name: Blankable<String>,

    /// The controller's namespace (downward API), the Lease's default namespace.
    #[arg(long, env = env::POD_NAMESPACE, default_value = "", value_name = "NS",
          hide_default_value = true, value_parser = parse::blank_or(lease_name))]
    pub pod_namespace: Blankable<String>,
}

fn lease_name(text: &str) -> Result<String, String> {
    let t = text.trim();
    let ok = !t.is_empty()
        && t.len() <= 253
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && t.starts_with(|c: char| c.is_ascii_alphanumeric())
        && t.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(t.to_string())
    } else {
        Err("must be a DNS subdomain (a-z 0-9 - .)".into())
    }
}

// === impl ElectionArgs ===

impl ElectionArgs {
    /// The election's settings; `None` with `--no-leader-election`.
    pub fn config(self) -> Option<LeaseConfig> {
        if self.no_leader_election {
            return None;
        }
        let namespace = self
            .leader_lease_namespace
            .or(self.pod_namespace)
            .unwrap_or_else(|| "mulambda-system".to_string());
        // Without a pod name (outside a cluster) an identity that is still unique per process.
        let identity = self.pod_name.unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
            format!("{}-{}", host.trim(), std::process::id())
        });
        Some(LeaseConfig::new(
            self.leader_lease,
            namespace,
            identity,
            self.leader_lease_duration,
        ))
    }
}

/// Which Lease, who we are, and the timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's `holderIdentity`.
    pub identity: String,
    /// `leaseDurationSeconds` (whole seconds on the wire, at least 1).
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it stops leading (< lease duration).
    pub renew_deadline: Duration,
    /// Pause between tries, as candidate and as leader.
    pub retry_period: Duration,
}

// === impl LeaseConfig ===

impl LeaseConfig {
    /// client-go's proportions: renew deadline 2/3 of the lease duration, a try every 2/15 of it
    /// (15 s, 10 s, 2 s by default).
    pub fn new(name: String, namespace: String, identity: String, lease: Duration) -> Self {
        LeaseConfig {
            name,
            namespace,
            identity,
            lease_duration: lease,
            renew_deadline: lease * 2 / 3,
            retry_period: (lease * 2 / 15).max(Duration::from_millis(10)),
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// The Lease as last observed, and when (on this replica's clock) it last changed.
#[derive(Debug, Clone)]
struct Observed {
    resource_version: Option<String>,
    holder: Option<String>,
    changed_at: Instant,
}

/// One replica's handle on the Lease: try to acquire or renew, release.
pub struct LeaseLock {
    api: Api<Lease>,
    config: LeaseConfig,
    observed: Option<Observed>,
}

// === impl LeaseLock ===

impl LeaseLock {
    /// A handle on the configured Lease.
    pub fn new(client: Client, config: LeaseConfig) -> LeaseLock {
        LeaseLock {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &LeaseConfig {
        &self.config
    }

    /// One try: creates the Lease if it does not exist, renews it if we hold it, takes it over
    /// if its holder let it expire. `Ok(true)`: we hold it now. `Ok(false)`: someone else does
    /// (or won a race with us). Errors are the API server's.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, Error> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                // Another replica created it first.
                Err(Error::Api(s)) if s.is_already_exists() || s.is_conflict() => Ok(false),
                Err(e) => Err(e),
            };
        };
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.config.identity.as_str());
        if !mine && holder.is_some() && !self.expired(&spec) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        lease.spec = Some(if mine {
            let acquired = spec.acquire_time.map_or(now, |t| t.0);
            self.spec(acquired, now, transitions)
        } else {
            self.spec(now, now, transitions.saturating_add(1))
        });
        // `replace` sends the resourceVersion read above: a concurrent writer makes it fail.
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observe(&written);
                Ok(true)
            }
            Err(Error::Api(s)) if s.is_conflict() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up if we hold it: empty holder, 1 s duration.
    pub async fn release(&mut self) -> Result<(), Error> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        lease.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            lease_transitions: spec.lease_transitions,
            ..LeaseSpec::default()
        });
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            // Someone else wrote it meanwhile: it is no longer ours to release.
            Err(Error::Api(s)) if s.is_conflict() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.duration_seconds()),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// Notes the record; its change time moves only when it changed.
    fn observe(&mut self, lease: &Lease) {
        let resource_version = lease.metadata.resource_version.clone();
        let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
        let unchanged = self
            .observed
            .as_ref()
            .is_some_and(|o| o.resource_version == resource_version && o.holder == holder);
        if !unchanged {
            self.observed = Some(Observed {
                resource_version,
                holder,
                changed_at: Instant::now(),
            });
        }
    }

    /// Whether the holder has let the lease run out, by our own clock since we saw it change.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        // The holder's duration as it wrote it; sub-second durations (tests) cannot be written
        // in whole seconds, so ours applies then.
        let written = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok());
        let duration = match written {
            Some(s) if self.config.lease_duration >= Duration::from_secs(1) => {
                Duration::from_secs(s)
            }
            _ => self.config.lease_duration,
        };
        self.observed
            .as_ref()
            .is_some_and(|o| o.changed_at.elapsed() > duration)
    }
}

/// Runs `lead` while this replica holds the Lease, until `cancel`: a candidate tries every
/// retry period; once leader, `lead` runs with a token that is cancelled when leadership is
/// lost (renewals failing for the renew deadline, or another holder) or at shutdown; then the
/// Lease is released (shutdown) or candidacy resumes (lost). The `mulambda_controller_leader`
/// gauge follows.
pub async fn run_while_leader<F, Fut>(
    mut lock: LeaseLock,
    metrics: Metrics,
    cancel: CancellationToken,
    mut lead: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let retry = lock.config().retry_period;
    let renew_deadline = lock.config().renew_deadline;
    loop {
        // Candidate.
        loop {
            match lock.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election: cannot read the Lease"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(retry) => {}
            }
        }
        tracing::info!(
            identity = %lock.config().identity,
            lease = %lock.config().name,
            "leading: the reconciler runs in this replica"
        );
        metrics.set_leader(true);
        let term = cancel.child_token();
        let mut leading = tokio::spawn(lead(term.clone()));
        let mut renewed = Instant::now();
        let shutdown = loop {
            tokio::select! {
                _ = cancel.cancelled() => break true,
                _ = &mut leading => {
                    // The reconciler ended by itself: lead again from the start.
                    tracing::warn!("the reconciler stopped while leading; standing down");
                    break false;
                }
                _ = tokio::time::sleep(retry) => {}
            }
            let left = renew_deadline.saturating_sub(renewed.elapsed());
            match tokio::time::timeout(left, lock.try_acquire_or_renew()).await {
                Ok(Ok(true)) => renewed = Instant::now(),
                Ok(Ok(false)) => {
                    tracing::warn!("leader election: another replica holds the Lease now");
                    break false;
                }
                Ok(Err(e)) if renewed.elapsed() < renew_deadline => {
                    tracing::warn!(error = %e, "leader election: renewal failed; retrying");
                }
                _ => {
                    tracing::warn!(deadline = ?renew_deadline,
                        "leader election: no renewal within the deadline; standing down");
                    break false;
                }
            }
        };
        term.cancel();
        let _ = leading.await;
        metrics.set_leader(false);
        if shutdown {
            if let Err(e) = lock.release().await {
                tracing::warn!(error = %e, "leader election: could not release the Lease");
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_client_go_proportions() {
        let c = LeaseConfig::new("l".into(), "n".into(), "me".into(), Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        assert_eq!(c.duration_seconds(), 15);
    }

    #[test]
    fn lease_names_are_dns_subdomains() {
        assert!(lease_name("mulambda-controller").is_ok());
        assert!(lease_name("Mulambda").is_err());
        assert!(lease_name("-x").is_err());
    }
}
