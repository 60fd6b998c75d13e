//! What each [`Runtime`] of a `ModelExecutor` means in its pod: the server container's name,
//! command, ports and probes, and the protocols the companion registers.
//!
//! | runtime | default image | REST | gRPC | start | readiness | protocols |
//! |---|---|---|---|---|---|---|
//! | `tfserving` | `--serving-image` | 8501 | 8500 | `tensorflow_model_server --model_base_path=/models/<m>` | TCP on REST (the companion watches the model) | `tfserving` |
//! | `triton` | `--triton-image` | 8000 | 8001 | `tritonserver --model-repository=/models` | `GET /v2/health/ready` | `v2` |
//! | `mlserver` | `--mlserver-image` | 8080 | 8081 | `mlserver start /models/<m>` | `GET /v2/health/ready` | `v2` |
//! | `kserve` | `--kserve-image` | 8080 | 8081 | the image's entrypoint with `--model_dir=/models/<m>` | `GET /v2/health/ready` | `kserve-v1`, `v2` |
//!
//! Every runtime reads the model from the same local copy the `model-fetch` init container
//! makes (`/models/<modelName>`, the folder `storageUri` names): TF Serving's numbered version
//! folders; Triton's model folder (`config.pbtxt` and version folders; the folder's name is the
//! model's); MLServer's model folder (`model-settings.json`, whose `name` must be `modelName`);
//! KServe's model directory (e.g. `model.joblib` for the sklearn server).

use k8s_openapi::api::core::v1::{EnvVar, HTTPGetAction, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mulambda_catalog::names::ports;

use crate::crd::Runtime;
use crate::executor::resources::MODELS_ROOT;
use crate::podspec::env_value;
use crate::well_known::{REST_PORT_NAME, TFSERVING_CONTAINER};

// === impl Runtime ===

impl Runtime {
    /// The name in the CRD and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::TfServing => "tfserving",
            Runtime::Triton => "triton",
            Runtime::MlServer => "mlserver",
            Runtime::KServe => "kserve",
        }
    }

    /// The server container's name.
    pub fn container_name(self) -> &'static str {
        match self {
            Runtime::TfServing => TFSERVING_CONTAINER,
            other => other.as_str(),
        }
    }

    /// The server's REST port (each server's own default, so its documentation applies).
    pub fn rest_port(self) -> u16 {
        match self {
            Runtime::TfServing => ports::TFSERVING_REST,
            Runtime::Triton => 8000,
            Runtime::MlServer | Runtime::KServe => 8080,
        }
    }

    /// The server's gRPC port.
    pub fn grpc_port(self) -> u16 {
        match self {
            Runtime::TfServing => ports::TFSERVING_GRPC,
            Runtime::Triton => 8001,
            Runtime::MlServer | Runtime::KServe => 8081,
        }
    }

    /// The protocols the executor speaks, in the catalog's names (schema 2), comma-separated:
    /// what the companion registers.
    pub fn protocols(self) -> &'static str {
        match self {
            Runtime::TfServing => "tfserving",
            Runtime::Triton | Runtime::MlServer => "v2",
            Runtime::KServe => "kserve-v1,v2",
        }
    }

    /// Command (`None`: the image's entrypoint) and arguments of the server for `model`.
    pub fn command_and_args(self, model: &str) -> (Option<Vec<String>>, Vec<String>) {
        let dir = format!("{MODELS_ROOT}/{model}");
        let (rest, grpc) = (self.rest_port(), self.grpc_port());
        match self {
            // The image's entrypoint script adds its own --model_name/--model_base_path flags.
            Runtime::TfServing => (
                Some(vec!["tensorflow_model_server".to_string()]),
                vec![
                    format!("--model_name={model}"),
                    // The local copy (TF Serving 2.7 and later have no S3 file system,
                    // tensorflow/serving#1963).
                    format!("--model_base_path={dir}"),
                    format!("--rest_api_port={rest}"),
                    format!("--port={grpc}"),
                ],
            ),
            Runtime::Triton => (
                Some(vec!["tritonserver".to_string()]),
                vec![
                    // The repository holds exactly the copied model folder.
                    format!("--model-repository={MODELS_ROOT}"),
                    format!("--http-port={rest}"),
                    format!("--grpc-port={grpc}"),
                ],
            ),
            Runtime::MlServer => (
                Some(vec!["mlserver".to_string()]),
                vec!["start".to_string(), dir],
            ),
            // KServe's server images start their framework server as the entrypoint
            // (e.g. `python -m sklearnserver`); only its flags are given.
            Runtime::KServe => (
                None,
                vec![
                    format!("--model_name={model}"),
                    format!("--model_dir={dir}"),
                    format!("--http_port={rest}"),
                    format!("--grpc_port={grpc}"),
                ],
            ),
        }
    }

    /// Extra environment of the server container.
    pub fn env(self) -> Option<Vec<EnvVar>> {
        match self {
            Runtime::TfServing => None,
            // A writable home (the root filesystem is writable, but the home of an arbitrary
            // UID may not exist) and, for MLServer, its ports.
            Runtime::Triton | Runtime::KServe => Some(vec![env_value("HOME", "/tmp")]),
            Runtime::MlServer => Some(vec![
                env_value("HOME", "/tmp"),
                env_value("MLSERVER_HTTP_PORT", self.rest_port().to_string()),
                env_value("MLSERVER_GRPC_PORT", self.grpc_port().to_string()),
            ]),
        }
    }

    /// Readiness of the server. TF Serving opens its ports once it is up; whether the model is
    /// `AVAILABLE` is the companion's readiness. V2 servers answer `GET /v2/health/ready`
    /// (ready once their models are loaded).
    pub fn readiness_probe(self) -> Probe {
        match self {
            Runtime::TfServing => Probe {
                tcp_socket: Some(TCPSocketAction {
                    port: IntOrString::String(REST_PORT_NAME.to_string()),
                    host: None,
                }),
                period_seconds: Some(5),
                ..Probe::default()
            },
            _ => http("/v2/health/ready", 5, 2),
        }
    }

    /// Liveness of the server. None for TF Serving (loading a large model must not be
    /// mistaken for a hang); V2 servers' `GET /v2/health/live` answers while models load.
    pub fn liveness_probe(self) -> Option<Probe> {
        match self {
            Runtime::TfServing => None,
            _ => Some(http("/v2/health/live", 10, 6)),
        }
    }
}

fn http(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(REST_PORT_NAME.to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_runtime_has_its_servers_ports_and_protocols() {
        let table: Vec<_> = [
            Runtime::TfServing,
            Runtime::Triton,
            Runtime::MlServer,
            Runtime::KServe,
        ]
        .into_iter()
        .map(|r| (r.as_str(), r.rest_port(), r.grpc_port(), r.protocols()))
        .collect();
        assert_eq!(
            table,
            [
                ("tfserving", 8501, 8500, "tfserving"),
                ("triton", 8000, 8001, "v2"),
                ("mlserver", 8080, 8081, "v2"),
                ("kserve", 8080, 8081, "kserve-v1,v2"),
            ]
        );
    }

    #[test]
    fn servers_read_the_local_copy() {
        let (cmd, args) = Runtime::Triton.command_and_args("resnet");
        assert_eq!(cmd, Some(vec!["tritonserver".to_string()]));
        assert!(args.contains(&"--model-repository=/models".to_string()));
        let (cmd, args) = Runtime::MlServer.command_and_args("iris");
        assert_eq!(cmd, Some(vec!["mlserver".to_string()]));
        assert_eq!(args, ["start", "/models/iris"]);
        let (cmd, args) = Runtime::KServe.command_and_args("iris");
        assert_eq!(cmd, None);
        assert!(args.contains(&"--model_dir=/models/iris".to_string()));
        assert!(args.contains(&"--http_port=8080".to_string()));
    }

    #[test]
    fn v2_servers_are_probed_on_their_health_endpoints() {
        assert!(Runtime::TfServing.readiness_probe().tcp_socket.is_some());
        assert!(Runtime::TfServing.liveness_probe().is_none());
        let p = Runtime::Triton.readiness_probe().http_get.unwrap();
        assert_eq!(p.path.as_deref(), Some("/v2/health/ready"));
        let l = Runtime::KServe.liveness_probe().unwrap().http_get.unwrap();
        assert_eq!(l.path.as_deref(), Some("/v2/health/live"));
    }
}
