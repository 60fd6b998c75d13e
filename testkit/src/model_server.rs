//! Real model servers for tests: [`MlServer`] (Seldon's MLServer with its scikit-learn
//! runtime) and [`KServeServer`] (KServe's Python model server), each serving an
//! [`IrisModel`] trained at test time, on free loopback ports, killed with their whole process
//! group on drop.
//!
//! Nothing here is written to imitate a server: the processes are the PyPI packages' own
//! servers, started from the [`V2Python`] environment. Start-up takes seconds (Python imports),
//! so each `start` waits for readiness with a generous deadline and reports how long it took.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt as _;

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

use crate::free_loopback_port;
use crate::python_env::V2Python;

/// How long a server may take to become ready (Python imports on a loaded 2-core machine).
const STARTUP_DEADLINE: Duration = Duration::from_secs(180);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Attempts with fresh ports when a port picked as free was taken before the server bound it.
const PORT_ATTEMPTS: usize = 3;

/// A scikit-learn logistic regression on the iris data set, trained at test time by
/// `testkit/python/train_iris.py` and saved with joblib, with the answers the model itself
/// gives for a fixed set of rows (`expected.json`).
#[derive(Debug)]
pub struct IrisModel {
    dir: tempfile::TempDir,
}

// === impl IrisModel ===

impl IrisModel {
    /// Trains and saves the model in a new temporary directory.
    ///
    /// # Errors
    /// When the training script fails.
    pub fn train(py: &V2Python) -> Result<IrisModel, String> {
        let dir = tempfile::Builder::new()
            .prefix("mulambda-iris-")
            .tempdir()
            .map_err(|e| format!("temporary directory for the model: {e}"))?;
        let out = dir.path().to_str().ok_or("non-UTF-8 temporary path")?;
        py.run_script("train_iris.py", &[out])?;
        Ok(IrisModel { dir })
    }

    /// The directory holding `model.joblib` and `expected.json`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The saved model.
    pub fn model_file(&self) -> PathBuf {
        self.dir.path().join("model.joblib")
    }

    /// The model's own answers: `{"inputs": [[f32; 4]], "predictions": [i64],
    /// "probabilities": [[f64; 3]]}`.
    pub fn expected_file(&self) -> PathBuf {
        self.dir.path().join("expected.json")
    }

    /// [`IrisModel::expected_file`], parsed.
    ///
    /// # Errors
    /// When the file is missing or not JSON.
    pub fn expected(&self) -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(self.expected_file())
            .map_err(|e| format!("reading expected.json: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("parsing expected.json: {e}"))
    }
}

/// A model server process in its own process group, with its log file.
#[derive(Debug)]
struct ServerProcess {
    child: Option<Child>,
    log: PathBuf,
}

// === impl ServerProcess ===

impl ServerProcess {
    /// Spawns `cmd` as the leader of a new process group, output to `log`.
    fn spawn(mut cmd: Command, log: PathBuf) -> Result<ServerProcess, String> {
        let file = std::fs::File::create(&log).map_err(|e| format!("creating {log:?}: {e}"))?;
        let err = file
            .try_clone()
            .map_err(|e| format!("duplicating {log:?}: {e}"))?;
        // Its own group: workers or helpers the server starts are killed with it.
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err);
        let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        Ok(ServerProcess {
            child: Some(child),
            log,
        })
    }

    /// The server's output so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `ready` holds, the process exits (an error with its log) or the deadline
    /// passes.
    fn wait_ready(&mut self, mut ready: impl FnMut() -> bool) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!("exited with {status}; log:\n{}", self.log()));
            }
            if ready() {
                return Ok(start.elapsed());
            }
            if start.elapsed() > STARTUP_DEADLINE {
                return Err(format!(
                    "not ready after {STARTUP_DEADLINE:?}; log:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the whole group: SIGTERM, then SIGKILL for whatever is left after a grace period.
    ///
    /// The group is signalled only while its id is certainly still ours: before the leader is
    /// reaped (a zombie leader keeps the id), or while other members remain.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pgid = Pid::from_child(&child);
        let _ = kill_process_group(pgid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        let mut reaped = false;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                reaped = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !reaped || test_kill_process_group(pgid).is_ok() {
            let _ = kill_process_group(pgid, Signal::KILL);
        }
        let _ = child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `addr` accepts TCP connections.
fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}

/// The status code of a plain HTTP/1.1 `GET` (connection closed after it), or `None` when the
/// server does not answer.
pub fn http_get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => return None,
            Ok(n) => len += n,
        }
    }
    let line = std::str::from_utf8(&head[..len]).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// MLServer serving one [`IrisModel`] with `mlserver_sklearn.SKLearnModel`: REST and gRPC on
/// 127.0.0.1, metrics server off, no parallel inference workers (one process).
#[derive(Debug)]
pub struct MlServer {
    process: ServerProcess,
    http: SocketAddr,
    grpc: SocketAddr,
    model: String,
    startup: Duration,
    // Dropped last: the process is stopped before its files go.
    _dir: tempfile::TempDir,
}

// === impl MlServer ===

impl MlServer {
    /// Version string MLServer is configured to report for the model.
    pub const MODEL_VERSION: &'static str = "1";

    /// Starts MLServer serving `model` under the name `name` and waits until the model is
    /// ready on REST and the gRPC port accepts connections.
    ///
    /// # Errors
    /// When the server does not become ready (its log is in the message).
    pub fn start(py: &V2Python, model: &IrisModel, name: &str) -> Result<MlServer, String> {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(py, model, name) {
                Ok(server) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(format!("MLServer did not start: {last}"))
    }

    fn try_start(py: &V2Python, model: &IrisModel, name: &str) -> Result<MlServer, String> {
        let dir = tempfile::Builder::new()
            .prefix("mulambda-mlserver-")
            .tempdir()
            .map_err(|e| format!("temporary directory for MLServer: {e}"))?;
        let (http_port, grpc_port) = (free_loopback_port(), free_loopback_port());
        let settings = serde_json::json!({
            "host": "127.0.0.1",
            "http_port": http_port,
            "grpc_port": grpc_port,
            // No metrics server (it would need a third port); no worker pool (one process,
            // quicker start, nothing left behind).
            "metrics_endpoint": null,
            "parallel_workers": 0,
            "debug": false,
            "model_repository_root": dir.path(),
            "load_models_at_startup": true,
        });
        // What a deployment declares: the signature the companion will read from metadata.
        let model_settings = serde_json::json!({
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "versions": [Self::MODEL_VERSION],
            "inputs": [{"name": "input-0", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [
                {"name": "predict", "datatype": "INT64", "shape": [-1, 1]},
                {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
            ],
            "parameters": {
                "uri": model.model_file(),
                "version": Self::MODEL_VERSION,
            },
        });
        write_json(&dir.path().join("settings.json"), &settings)?;
        let model_dir = dir.path().join("models").join("iris");
        std::fs::create_dir_all(&model_dir).map_err(|e| format!("{model_dir:?}: {e}"))?;
        write_json(&model_dir.join("model-settings.json"), &model_settings)?;

        let mut cmd = Command::new(py.bin("mlserver"));
        cmd.arg("start").arg(dir.path()).current_dir(dir.path());
        let mut process = ServerProcess::spawn(cmd, dir.path().join("mlserver.log"))?;
        let http = SocketAddr::from(([127, 0, 0, 1], http_port));
        let grpc = SocketAddr::from(([127, 0, 0, 1], grpc_port));
        let ready_path = format!("/v2/models/{name}/ready");
        let startup = process
            .wait_ready(|| http_get_status(http, &ready_path) == Some(200) && accepts(grpc))?;
        Ok(MlServer {
            process,
            http,
            grpc,
            model: name.to_owned(),
            startup,
            _dir: dir,
        })
    }

    /// REST address (`http://{addr}/v2/...`).
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// gRPC address (`inference.GRPCInferenceService`).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    /// The model's name on this server.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// From spawn to ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// KServe's Python model server (`kserve.ModelServer`) serving one [`IrisModel`] through
/// `testkit/python/kserve_server.py`: V1 REST (`/v1/models/{m}:predict`), V2 REST and V2 gRPC.
/// KServe has no host option: it binds every interface; tests talk to it on 127.0.0.1 only.
#[derive(Debug)]
pub struct KServeServer {
    process: ServerProcess,
    http: SocketAddr,
    grpc: SocketAddr,
    model: String,
    startup: Duration,
}

// === impl KServeServer ===

impl KServeServer {
    /// Starts the server and waits until the model is ready on REST and gRPC accepts.
    ///
    /// # Errors
    /// When the server does not become ready (its log is in the message).
    pub fn start(py: &V2Python, model: &IrisModel, name: &str) -> Result<KServeServer, String> {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match Self::try_start(py, model, name) {
                Ok(server) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(format!("KServe's model server did not start: {last}"))
    }

    fn try_start(py: &V2Python, model: &IrisModel, name: &str) -> Result<KServeServer, String> {
        let (http_port, grpc_port) = (free_loopback_port(), free_loopback_port());
        let mut cmd = Command::new(py.python());
        cmd.arg(crate::python_env::script_path("kserve_server.py"))
            .arg(model.dir())
            .arg(name)
            .arg(http_port.to_string())
            .arg(grpc_port.to_string())
            .current_dir(model.dir());
        let log = model.dir().join(format!("kserve-{http_port}.log"));
        let mut process = ServerProcess::spawn(cmd, log)?;
        let http = SocketAddr::from(([127, 0, 0, 1], http_port));
        let grpc = SocketAddr::from(([127, 0, 0, 1], grpc_port));
        let ready_path = format!("/v2/models/{name}/ready");
        let startup = process
            .wait_ready(|| http_get_status(http, &ready_path) == Some(200) && accepts(grpc))?;
        Ok(KServeServer {
            process,
            http,
            grpc,
            model: name.to_owned(),
            startup,
        })
    }

    /// REST address (V1 and V2).
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// gRPC address (V2).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc
    }

    /// The model's name on this server.
    pub fn model_name(&self) -> &str {
        &self.model
    }

    /// From spawn to ready.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| format!("{path:?}: {e}"))?;
    std::fs::write(path, text).map_err(|e| format!("writing {path:?}: {e}"))
}
