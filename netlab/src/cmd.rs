//! Running `ip` (iproute2): the lab configures namespaces, links, addresses and routes with the
//! same commands an operator would type, so every step can be read, reproduced and debugged by
//! hand; a failure names the exact command line and what it printed.

use std::ffi::OsStr;
use std::process::{Command, Stdio};

use crate::error::Error;

/// Runs a command to completion; its stdout on success.
pub fn run<I, S>(program: &str, args: I) -> Result<String, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let line = || {
        let mut s = program.to_string();
        for a in &args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    tracing::debug!(command = %line(), "run");
    let out = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("cannot run `{}`", line()), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: line(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `ip ARGS…`.
pub fn ip<I, S>(args: I) -> Result<String, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run("ip", args)
}

/// Runs `ip -n NS ARGS…` (the command acts inside namespace `ns`).
pub fn ip_in(ns: &str, args: &[&str]) -> Result<String, Error> {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(all)
}

/// The named network namespaces (`ip netns list`).
pub fn netns_list() -> Result<Vec<String>, Error> {
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
    }
    let out = ip(["-j", "netns", "list"])?;
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<Entry> = serde_json::from_str(&out).map_err(|e| Error::Command {
        command: "ip -j netns list".into(),
        status: "unreadable output".into(),
        stderr: e.to_string(),
    })?;
    Ok(entries.into_iter().map(|e| e.name).collect())
}

/// The processes inside a named namespace (`ip netns pids`).
pub fn netns_pids(ns: &str) -> Result<Vec<i32>, Error> {
    let out = ip(["netns", "pids", ns])?;
    Ok(out
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect())
}

/// Destinations of the IPv6 routes in every table of the current namespace, optionally only
/// those of one routing protocol number.
pub fn ipv6_route_destinations(proto: Option<u8>) -> Result<Vec<String>, Error> {
    #[derive(serde::Deserialize)]
    struct Route {
        dst: String,
    }
    let proto = proto.map(|p| p.to_string());
    let mut args = vec!["-6", "-j", "route", "show", "table", "all"];
    if let Some(p) = &proto {
        args.extend(["proto", p.as_str()]);
    }
    let out = ip(&args)?;
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    let routes: Vec<Route> = serde_json::from_str(&out).map_err(|e| Error::Command {
        command: format!("ip {}", args.join(" ")),
        status: "unreadable output".into(),
        stderr: e.to_string(),
    })?;
    Ok(routes.into_iter().map(|r| r.dst).collect())
}
