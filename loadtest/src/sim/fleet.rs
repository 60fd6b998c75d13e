//! Several simulated executors started and stopped together.

use serde::Serialize;

use super::config::SimConfig;
use super::server::{SimError, SimServer};

/// Several running executors.
#[derive(Debug, Default)]
pub struct SimFleet {
    servers: Vec<SimServer>,
}

/// The line printed for each executor once it listens.
#[derive(Debug, Clone, Serialize)]
pub struct ListeningLine {
    /// Always `"listening"`.
    pub event: &'static str,
    /// Executor name.
    pub name: String,
    /// Model name.
    pub model: String,
    /// Bound address.
    pub addr: String,
    /// `http://{addr}`.
    pub url: String,
    /// The gRPC listener's address, when the executor serves gRPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_addr: Option<String>,
    /// The Unix socket serving the REST API for control, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_socket: Option<String>,
}

// === impl SimFleet ===

impl SimFleet {
    /// Starts every executor; on a failure, stops those already started.
    ///
    /// # Errors
    /// The first executor's error, prefixed by nothing: names are in the configuration.
    pub async fn start(configs: Vec<SimConfig>) -> Result<Self, SimError> {
        let mut fleet = Self::default();
        for config in configs {
            match SimServer::start(config).await {
                Ok(server) => fleet.servers.push(server),
                Err(e) => {
                    fleet.shutdown().await;
                    return Err(e);
                }
            }
        }
        Ok(fleet)
    }

    /// The running executors, in configuration order.
    pub fn servers(&self) -> &[SimServer] {
        &self.servers
    }

    /// The executor with this name.
    pub fn get(&self, name: &str) -> Option<&SimServer> {
        self.servers.iter().find(|s| s.config().name == name)
    }

    /// One JSON line per executor, for scripts to read the bound ports.
    pub fn listening_lines(&self) -> Vec<ListeningLine> {
        self.servers
            .iter()
            .map(|s| ListeningLine {
                event: "listening",
                name: s.config().name.clone(),
                model: s.config().model.clone(),
                addr: s.local_addr().to_string(),
                url: s.url(),
                grpc_addr: s.grpc_addr().map(|a| a.to_string()),
                control_socket: s.control_socket().map(|p| p.display().to_string()),
            })
            .collect()
    }

    /// Shuts every executor down gracefully.
    pub async fn shutdown(self) {
        for server in self.servers {
            server.shutdown().await;
        }
    }
}
