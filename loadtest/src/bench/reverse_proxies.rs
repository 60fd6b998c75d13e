//! Baselines: nginx and haproxy as reverse proxies in front of the same simulator, with
//! configurations generated here so the comparison is reproducible (keep-alive to the upstream
//! on both, worker count = cores, logging off).

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

use super::procs::{ChildProcess, find_program, free_port, wait_http_ok};

/// A started baseline proxy.
pub struct Baseline {
    /// Its URL.
    pub url: String,
    /// Its process.
    pub process: ChildProcess,
}

/// The nginx configuration used as a baseline.
pub fn nginx_config(listen_port: u16, upstream: SocketAddr, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "worker_processes auto;
error_log {d}/nginx-error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream executor {{ server {upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{listen_port};
        location / {{
            proxy_pass http://executor;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
        }}
    }}
}}
"
    )
}

/// The haproxy configuration used as a baseline.
pub fn haproxy_config(listen_port: u16, upstream: SocketAddr) -> String {
    format!(
        "global
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend app
    bind 127.0.0.1:{listen_port}
    default_backend executor
backend executor
    server sim {upstream}
"
    )
}

/// Starts nginx in front of `upstream`, or `Ok(None)` when nginx is not installed.
pub async fn start_nginx(upstream: SocketAddr, dir: &Path) -> anyhow::Result<Option<Baseline>> {
    let Some(bin) = find_program("nginx") else {
        return Ok(None);
    };
    let port = free_port()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_config(port, upstream, dir)).context("writing nginx.conf")?;
    let mut cmd = Command::new(bin);
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .arg("-g")
        .arg("daemon off;");
    let process = ChildProcess::spawn("nginx", cmd, Some(&dir.join("nginx.stderr")), false)?;
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(
        &format!("{url}/v1/models/half_plus_two"),
        Duration::from_secs(10),
    )
    .await?;
    Ok(Some(Baseline { url, process }))
}

/// Starts haproxy in front of `upstream`, or `Ok(None)` when haproxy is not installed.
pub async fn start_haproxy(upstream: SocketAddr, dir: &Path) -> anyhow::Result<Option<Baseline>> {
    let Some(bin) = find_program("haproxy") else {
        return Ok(None);
    };
    let port = free_port()?;
    let conf = dir.join("haproxy.cfg");
    std::fs::write(&conf, haproxy_config(port, upstream)).context("writing haproxy.cfg")?;
    let mut cmd = Command::new(bin);
    cmd.arg("-f").arg(&conf).arg("-db");
    let process = ChildProcess::spawn("haproxy", cmd, Some(&dir.join("haproxy.stderr")), false)?;
    let url = format!("http://127.0.0.1:{port}");
    wait_http_ok(
        &format!("{url}/v1/models/half_plus_two"),
        Duration::from_secs(10),
    )
    .await?;
    Ok(Some(Baseline { url, process }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_name_the_ports() {
        let up: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let n = nginx_config(8080, up, Path::new("/tmp/x"));
        assert!(n.contains("listen 127.0.0.1:8080;") && n.contains("server 127.0.0.1:9000;"));
        assert!(n.contains("keepalive 64"));
        let h = haproxy_config(8081, up);
        assert!(h.contains("bind 127.0.0.1:8081") && h.contains("server sim 127.0.0.1:9000"));
    }
}
