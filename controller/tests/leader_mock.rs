//! The reconciler's leader election against a mocked API server (kube's `tower_test::mock::pair`
//! pattern, as `reconcile_mock.rs`): every request is checked (method, path, body) and answered
//! as the API server would, including 404, 409 and a Lease that another replica renews.

use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use mulambda_controller::leader::{LeaseConfig, LeaseLock, run_while_leader};
use mulambda_controller::metrics::Metrics;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower_test::mock::{self, Handle, SendResponse};

type ApiHandle = Handle<Request<Body>, Response<Body>>;

const TIMEOUT: Duration = Duration::from_secs(10);
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/mulambda-system/leases";
const LEASE: &str =
    "/apis/coordination.k8s.io/v1/namespaces/mulambda-system/leases/mulambda-controller";

fn config(lease: Duration) -> LeaseConfig {
    LeaseConfig::new(
        "mulambda-controller".into(),
        "mulambda-system".into(),
        "me".into(),
        lease,
    )
}

fn mock_client() -> (Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), handle)
}

struct Seen {
    method: Method,
    path: String,
    body: Value,
}

async fn next(handle: &mut Pin<&mut ApiHandle>) -> (Seen, SendResponse<Response<Body>>) {
    let (request, send) = tokio::time::timeout(TIMEOUT, handle.next_request())
        .await
        .expect("a request in time")
        .expect("a request");
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (Seen { method, path, body }, send)
}

fn answer(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Body::from(serde_json::to_vec(body).unwrap()));
    *r.status_mut() = status;
    r
}

fn status(code: u16, reason: &str) -> Response<Body> {
    answer(
        StatusCode::from_u16(code).unwrap(),
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                "message": format!("leases.coordination.k8s.io \"mulambda-controller\": {reason}"),
                "reason": reason, "code": code}),
    )
}

/// A Lease as the API server returns it.
fn lease(holder: Option<&str>, resource_version: &str, transitions: i32) -> Value {
    let mut spec = json!({
        "leaseDurationSeconds": 15,
        "acquireTime": "2025-01-01T00:00:00.000000Z",
        "renewTime": "2025-01-01T00:00:00.000000Z",
        "leaseTransitions": transitions
    });
    if let Some(h) = holder {
        spec["holderIdentity"] = json!(h);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "mulambda-controller", "namespace": "mulambda-system",
                     "resourceVersion": resource_version},
        "spec": spec
    })
}

/// The written object, as the API server would store it (a new resourceVersion).
fn stored(body: &Value, resource_version: &str) -> Value {
    let mut v = body.clone();
    v["metadata"]["resourceVersion"] = json!(resource_version);
    v
}

/// Runs one `try_acquire_or_renew` in a task; the lock comes back with the result.
fn try_once(
    mut lock: LeaseLock,
) -> tokio::task::JoinHandle<(LeaseLock, Result<bool, kube::Error>)> {
    tokio::spawn(async move {
        let r = lock.try_acquire_or_renew().await;
        (lock, r)
    })
}

#[tokio::test]
async fn a_missing_lease_is_created_then_renewed_keeping_its_acquire_time() {
    let (client, handle) = mock_client();
    let mut handle = pin!(handle);
    let lock = LeaseLock::new(client, config(Duration::from_secs(15)));

    let task = try_once(lock);
    let (seen, send) = next(&mut handle).await;
    assert_eq!((seen.method, seen.path.as_str()), (Method::GET, LEASE));
    send.send_response(status(404, "NotFound"));
    let (seen, send) = next(&mut handle).await;
    assert_eq!(
        (seen.method.clone(), seen.path.as_str()),
        (Method::POST, LEASES)
    );
    let spec = &seen.body["spec"];
    assert_eq!(spec["holderIdentity"], "me");
    assert_eq!(spec["leaseDurationSeconds"], 15);
    assert_eq!(spec["leaseTransitions"], 0);
    assert_eq!(spec["acquireTime"], spec["renewTime"]);
    let created = stored(&seen.body, "1");
    send.send_response(answer(StatusCode::CREATED, &created));
    let (lock, result) = task.await.unwrap();
    assert!(result.unwrap(), "created, so held");

    // Renewal: the same holder, acquire time and transitions; a new renew time; the
    // resourceVersion that was read (optimistic concurrency).
    let task = try_once(lock);
    let (seen, send) = next(&mut handle).await;
    assert_eq!(seen.method, Method::GET);
    send.send_response(answer(StatusCode::OK, &created));
    let (seen, send) = next(&mut handle).await;
    assert_eq!(
        (seen.method.clone(), seen.path.as_str()),
        (Method::PUT, LEASE)
    );
    assert_eq!(seen.body["metadata"]["resourceVersion"], "1");
    let spec = &seen.body["spec"];
    assert_eq!(spec["holderIdentity"], "me");
    assert_eq!(spec["acquireTime"], created["spec"]["acquireTime"]);
    assert_eq!(spec["leaseTransitions"], 0);
    assert!(spec["renewTime"].as_str() >= created["spec"]["renewTime"].as_str());
    send.send_response(answer(StatusCode::OK, &stored(&seen.body, "2")));
    assert!(task.await.unwrap().1.unwrap());
}

#[tokio::test]
async fn a_lease_renewed_by_another_replica_is_left_alone_and_taken_over_once_it_stops() {
    let (client, handle) = mock_client();
    let mut handle = pin!(handle);
    // A short lease so that the test waits little; expiry is judged on our own clock.
    let lease_duration = Duration::from_millis(300);
    let lock = LeaseLock::new(client, config(lease_duration));

    // Held by another replica: not taken, nothing written.
    let task = try_once(lock);
    let (_, send) = next(&mut handle).await;
    send.send_response(answer(StatusCode::OK, &lease(Some("other"), "5", 3)));
    let (lock, result) = task.await.unwrap();
    assert!(!result.unwrap());

    // Longer than the lease, but the holder renewed it meanwhile (a new resourceVersion): still
    // not ours.
    tokio::time::sleep(lease_duration * 2).await;
    let task = try_once(lock);
    let (_, send) = next(&mut handle).await;
    send.send_response(answer(StatusCode::OK, &lease(Some("other"), "6", 3)));
    let (lock, result) = task.await.unwrap();
    assert!(!result.unwrap());

    // Then it stops renewing: after the lease duration without a change, it is taken over.
    tokio::time::sleep(lease_duration * 2).await;
    let task = try_once(lock);
    let (_, send) = next(&mut handle).await;
    send.send_response(answer(StatusCode::OK, &lease(Some("other"), "6", 3)));
    let (seen, send) = next(&mut handle).await;
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.body["metadata"]["resourceVersion"], "6");
    assert_eq!(seen.body["spec"]["holderIdentity"], "me");
    assert_eq!(seen.body["spec"]["leaseTransitions"], 4);
    assert_eq!(
        seen.body["spec"]["acquireTime"], seen.body["spec"]["renewTime"],
        "a new term starts"
    );
    send.send_response(answer(StatusCode::OK, &stored(&seen.body, "7")));
    assert!(task.await.unwrap().1.unwrap());
}

#[tokio::test]
async fn losing_a_race_is_a_409_and_not_an_error() {
    let (client, handle) = mock_client();
    let mut handle = pin!(handle);
    let lock = LeaseLock::new(client, config(Duration::from_secs(15)));

    // Two replicas create the Lease at once; the other one won.
    let task = try_once(lock);
    let (_, send) = next(&mut handle).await;
    send.send_response(status(404, "NotFound"));
    let (seen, send) = next(&mut handle).await;
    assert_eq!(seen.method, Method::POST);
    send.send_response(status(409, "AlreadyExists"));
    let (lock, result) = task.await.unwrap();
    assert!(!result.unwrap());

    // A released Lease (no holder) is free at once; another replica writes it first.
    let task = try_once(lock);
    let (_, send) = next(&mut handle).await;
    send.send_response(answer(StatusCode::OK, &lease(None, "9", 4)));
    let (seen, send) = next(&mut handle).await;
    assert_eq!(seen.method, Method::PUT);
    assert_eq!(seen.body["spec"]["leaseTransitions"], 5);
    send.send_response(status(409, "Conflict"));
    let (_, result) = task.await.unwrap();
    assert!(!result.unwrap());

    // Any other answer is an error for the caller to log and retry.
    let (client, handle) = mock_client();
    let mut handle = pin!(handle);
    let task = try_once(LeaseLock::new(client, config(Duration::from_secs(15))));
    let (_, send) = next(&mut handle).await;
    send.send_response(status(403, "Forbidden"));
    assert!(task.await.unwrap().1.is_err());
}

/// Waits (yielding to the elector) until `cond` holds, or panics naming `what`.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Answers the elector's requests from a script, in order, until the test says stop.
async fn serve(handle: &mut Pin<&mut ApiHandle>, steps: Vec<Step>) {
    for step in steps {
        let (seen, send) = next(handle).await;
        match step {
            Step::NotFound => {
                assert_eq!(seen.method, Method::GET);
                send.send_response(status(404, "NotFound"));
            }
            Step::Lease(value) => {
                assert_eq!(seen.method, Method::GET);
                send.send_response(answer(StatusCode::OK, &value));
            }
            Step::Write(rv, check) => {
                assert!(
                    matches!(seen.method, Method::POST | Method::PUT),
                    "{}",
                    seen.method
                );
                check(&seen.body);
                let code = if seen.method == Method::POST {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                send.send_response(answer(code, &stored(&seen.body, rv)));
            }
        }
    }
}

enum Step {
    NotFound,
    Lease(Value),
    Write(&'static str, fn(&Value)),
}

fn held_by_me(body: &Value) {
    assert_eq!(body["spec"]["holderIdentity"], "me");
}

fn released(body: &Value) {
    assert!(body["spec"].get("holderIdentity").is_none(), "{body}");
    assert_eq!(body["spec"]["leaseDurationSeconds"], 1);
}

#[tokio::test]
async fn the_reconciler_runs_only_while_the_lease_is_held_and_the_lease_is_released_at_shutdown() {
    let (client, handle) = mock_client();
    let mut handle = pin!(handle);
    let metrics = Metrics::new();
    let cancel = CancellationToken::new();
    let running = Arc::new(AtomicBool::new(false));
    let terms = Arc::new(AtomicU32::new(0));
    let lock = LeaseLock::new(client, config(Duration::from_millis(600)));
    let elector = tokio::spawn(run_while_leader(lock, metrics.clone(), cancel.clone(), {
        let (running, terms) = (Arc::clone(&running), Arc::clone(&terms));
        move |term: CancellationToken| {
            let (running, terms) = (Arc::clone(&running), Arc::clone(&terms));
            async move {
                terms.fetch_add(1, Ordering::SeqCst);
                running.store(true, Ordering::SeqCst);
                term.cancelled().await;
                running.store(false, Ordering::SeqCst);
            }
        }
    }));

    // Candidate: creates the Lease and leads; then renews it once.
    serve(
        &mut handle,
        vec![Step::NotFound, Step::Write("1", held_by_me)],
    )
    .await;
    let mine = {
        let mut l = lease(Some("me"), "1", 0);
        l["spec"]["leaseDurationSeconds"] = json!(1);
        l
    };
    serve(
        &mut handle,
        vec![Step::Lease(mine.clone()), Step::Write("2", held_by_me)],
    )
    .await;
    assert!(
        running.load(Ordering::SeqCst),
        "leading: the reconciler runs"
    );
    assert!(metrics.is_leader());

    // Another replica holds it now (it took it over while we could not reach the API): the
    // reconciler stops, and this replica is a candidate again.
    serve(&mut handle, vec![Step::Lease(lease(Some("other"), "3", 1))]).await;
    serve(&mut handle, vec![Step::Lease(lease(Some("other"), "3", 1))]).await;
    assert!(!running.load(Ordering::SeqCst), "stood down");
    assert!(!metrics.is_leader());

    // The other replica released it: this one leads again (a second term).
    serve(
        &mut handle,
        vec![
            Step::Lease(lease(None, "4", 1)),
            Step::Write("5", held_by_me),
        ],
    )
    .await;
    serve(
        &mut handle,
        vec![Step::Lease(mine.clone()), Step::Write("6", held_by_me)],
    )
    .await;
    assert!(running.load(Ordering::SeqCst));
    assert_eq!(terms.load(Ordering::SeqCst), 2);

    // Shutdown: the reconciler stops, then the Lease is released for the next replica.
    cancel.cancel();
    let mut mine_now = mine;
    mine_now["metadata"]["resourceVersion"] = json!("6");
    serve(
        &mut handle,
        vec![Step::Lease(mine_now), Step::Write("7", released)],
    )
    .await;
    tokio::time::timeout(TIMEOUT, elector)
        .await
        .expect("the elector stops")
        .unwrap();
    assert!(!running.load(Ordering::SeqCst));
    assert!(!metrics.is_leader());
}

#[tokio::test]
async fn a_leader_that_cannot_renew_stands_down_within_the_renew_deadline() {
    let (client, handle) = mock_client();
    let mut handle = pin!(handle);
    let metrics = Metrics::new();
    let cancel = CancellationToken::new();
    let running = Arc::new(AtomicBool::new(false));
    let lock = LeaseLock::new(client, config(Duration::from_millis(600)));
    let elector = tokio::spawn(run_while_leader(lock, metrics.clone(), cancel.clone(), {
        let running = Arc::clone(&running);
        move |term: CancellationToken| {
            let running = Arc::clone(&running);
            async move {
                running.store(true, Ordering::SeqCst);
                term.cancelled().await;
                running.store(false, Ordering::SeqCst);
            }
        }
    }));
    serve(
        &mut handle,
        vec![Step::NotFound, Step::Write("1", held_by_me)],
    )
    .await;
    eventually("leading", || running.load(Ordering::SeqCst)).await;
    // The API server fails every renewal from now on.
    let started = std::time::Instant::now();
    while running.load(Ordering::SeqCst) {
        let (_, send) = next(&mut handle).await;
        send.send_response(status(500, "InternalError"));
        assert!(started.elapsed() < TIMEOUT, "never stood down");
    }
    assert!(!metrics.is_leader());
    cancel.cancel();
    tokio::time::timeout(TIMEOUT, elector)
        .await
        .expect("the elector stops")
        .unwrap();
}
