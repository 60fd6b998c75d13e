//! The topology file: which hosts a lab has and the delay of every (client, node) pair.
//!
//! A topology is written in TOML ([`TopologySpec`], the file's shape) and validated into a
//! [`Topology`] (every pair resolved to one [`Link`] with its delay, jitter and timed steps).
//! Validation errors name the field by its path in the file (`node[1].delay`, `link[0].client`)
//! and the refused value.
//!
//! ```toml
//! [[infra]]              # undelayed hosts (the metadata store)
//! name = "infra"
//!
//! [[node]]               # executor hosts; `delay` is the default for every client
//! name = "node0"
//! delay = "10ms"
//!
//! [[client]]
//! name = "client0"
//!
//! [[link]]               # optional: one (client, node) pair differs from the node's default
//! client = "client0"
//! node = "node0"
//! delay = "300ms"
//! jitter = "1ms"
//! steps = [{ after = "30s", delay = "100ms" }]
//! ```
//!
//! What is delayed: only traffic between a client and a node, in both directions, each
//! direction by the pair's one-way delay. Everything else (client ↔ client, node ↔ node, and all
//! traffic to or from infra hosts) crosses the lab's bridge with no added delay.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest one-way delay or jitter a link accepts. Longer is a typo, and the emulator
/// holds every packet for that long (memory grows with delay × packet rate).
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// The most hosts a lab may have: each is a namespace with two interfaces and a share of the
/// emulator; a few hundred is already far beyond what two cores carry.
pub const MAX_HOSTS: usize = 1000;

/// Longest host name: namespace names are `PREFIX-LABID-NAME` and should stay readable.
pub const MAX_NAME_LEN: usize = 24;

// === Span ===

/// A duration written as text with a unit (`250ms`, `1.5s`), as everywhere in mulambda
/// ([`mulambda_catalog::parse_duration`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span(pub Duration);

impl From<Duration> for Span {
    fn from(d: Duration) -> Span {
        Span(d)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", ns / 1_000_000_000)
        } else if ns.is_multiple_of(1_000_000) {
            write!(f, "{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1_000) {
            write!(f, "{}us", ns / 1_000)
        } else {
            write!(f, "{}us", ns as f64 / 1e3)
        }
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        mulambda_catalog::parse_duration(&text)
            .map(Span)
            .map_err(|reason| serde::de::Error::custom(format!("{text:?}: {reason}")))
    }
}

// === the file's shape ===

/// A topology as written in its TOML file. Build one in code and call
/// [`TopologySpec::validate`], or read a file with [`Topology::from_toml`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySpec {
    /// Seed of the jitter's random numbers (each run differs when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Undelayed hosts, e.g. the metadata store (the prototype's fifth node).
    #[serde(default)]
    pub infra: Vec<HostSpec>,
    /// Executor hosts.
    #[serde(default, rename = "node")]
    pub nodes: Vec<NodeSpec>,
    /// Client hosts (where applications and their proxies run).
    #[serde(default, rename = "client")]
    pub clients: Vec<HostSpec>,
    /// Per-pair overrides of the nodes' defaults.
    #[serde(default, rename = "link")]
    pub links: Vec<LinkSpec>,
}

/// An infra or client host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Unique among all hosts: lowercase letters, digits and `-`, starting with a letter.
    pub name: String,
}

/// A node (executor host) and the defaults of its links to every client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique among all hosts.
    pub name: String,
    /// Default one-way delay between this node and every client (each direction).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Span>,
    /// Default jitter: each packet's delay is drawn uniformly from `delay ± jitter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    /// Default timed changes of the delay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepSpec>,
}

/// One (client, node) pair whose link differs from the node's defaults. Fields left out are
/// the node's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// A client's name.
    pub client: String,
    /// A node's name.
    pub node: String,
    /// One-way delay, each direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Span>,
    /// Jitter (uniform, `delay ± jitter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
    /// Timed changes; when given, they replace the node's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepSpec>>,
}

/// A timed change of a link's delay, `after` the lab is up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Time after the lab came up.
    pub after: Span,
    /// The new one-way delay.
    pub delay: Span,
    /// The new jitter (unchanged when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Span>,
}

// === the validated topology ===

/// What a host is for; decides which of its traffic is delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Undelayed to everyone (store).
    Infra,
    /// Executor host: delayed to clients.
    Node,
    /// Client host: delayed to nodes.
    Client,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so tables can align roles with `{:<7}`.
        f.pad(match self {
            Role::Infra => "infra",
            Role::Node => "node",
            Role::Client => "client",
        })
    }
}

/// One host of a validated topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its unique name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// A link's delay at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delay {
    /// One-way delay, each direction.
    pub delay: Duration,
    /// Jitter: each packet's delay is uniform in `delay ± jitter`.
    pub jitter: Duration,
}

/// A timed change of a link's delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Time after the lab came up.
    pub after: Duration,
    /// The delay from then on.
    pub to: Delay,
}

/// The delayed link between one client and one node (both directions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Index of the client in [`Topology::hosts`].
    pub client: usize,
    /// Index of the node in [`Topology::hosts`].
    pub node: usize,
    /// The delay when the lab comes up.
    pub initial: Delay,
    /// Timed changes, in time order.
    pub steps: Vec<Step>,
}

/// A validated topology: hosts in address order (infra, nodes, clients, each in file order)
/// and one [`Link`] for every (client, node) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Seed for the jitter.
    pub seed: Option<u64>,
    /// Every host.
    pub hosts: Vec<Host>,
    /// Every (client, node) pair, clients outer, nodes inner.
    pub links: Vec<Link>,
}

/// A topology that was refused, naming the field and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// The text is not TOML of the topology's shape.
    #[error("topology: {path}: {message}")]
    Syntax {
        /// Where in the file, e.g. `node[1].delay` (`.` for the whole file).
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value the lab refuses.
    #[error("topology: {field} = {value:?}: {reason}")]
    Invalid {
        /// The field's path, e.g. `link[0].client`.
        field: String,
        /// The refused value.
        value: String,
        /// Why.
        reason: String,
    },
}

fn invalid(
    field: impl Into<String>,
    value: impl fmt::Display,
    reason: impl Into<String>,
) -> TopologyError {
    let value: String = value.to_string().chars().take(64).collect();
    TopologyError::Invalid {
        field: field.into(),
        value,
        reason: reason.into(),
    }
}

// === impl TopologySpec ===

impl TopologySpec {
    /// Parses a topology file's text (without validating what it says).
    pub fn from_toml(text: &str) -> Result<TopologySpec, TopologyError> {
        let de = toml::Deserializer::parse(text).map_err(|e| TopologyError::Syntax {
            path: ".".into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| TopologyError::Syntax {
            path: e.path().to_string(),
            message: e.inner().to_string().trim_end().to_string(),
        })
    }

    /// Renders the spec as TOML (e.g. to record what a run used).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a topology spec always serialises")
    }

    /// Checks everything the lab relies on and resolves every (client, node) pair.
    pub fn validate(&self) -> Result<Topology, TopologyError> {
        let mut hosts = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |field: String, name: &str, role: Role| -> Result<(), TopologyError> {
            check_name(&field, name)?;
            if !seen.insert(name.to_string()) {
                return Err(invalid(field, name, "another host has this name"));
            }
            hosts.push(Host {
                name: name.to_string(),
                role,
            });
            Ok(())
        };
        for (i, h) in self.infra.iter().enumerate() {
            add(format!("infra[{i}].name"), &h.name, Role::Infra)?;
        }
        for (i, n) in self.nodes.iter().enumerate() {
            add(format!("node[{i}].name"), &n.name, Role::Node)?;
        }
        for (i, c) in self.clients.iter().enumerate() {
            add(format!("client[{i}].name"), &c.name, Role::Client)?;
        }
        if hosts.is_empty() {
            return Err(invalid("node", "[]", "a lab needs at least one host"));
        }
        if hosts.len() > MAX_HOSTS {
            return Err(invalid(
                "node",
                format!("{} hosts", hosts.len()),
                format!("at most {MAX_HOSTS} hosts"),
            ));
        }
        let index = |name: &str| hosts.iter().position(|h| h.name == name);
        let infra = self.infra.len();
        let node_index = |i: usize| infra + i;
        let client_index = |i: usize| infra + self.nodes.len() + i;

        // Node defaults, checked once so an error names the node's own field.
        for (i, n) in self.nodes.iter().enumerate() {
            let field = format!("node[{i}]");
            if let Some(d) = n.delay {
                check_delay(&format!("{field}.delay"), d)?;
            }
            if let Some(j) = n.jitter {
                check_delay(&format!("{field}.jitter"), j)?;
                if let Some(d) = n.delay {
                    check_jitter(&format!("{field}.jitter"), j, d)?;
                }
            }
            check_steps(
                &format!("{field}.steps"),
                &n.steps,
                n.jitter.unwrap_or_default(),
            )?;
        }

        // Overrides: each names a real client and node, at most once per pair.
        let mut overrides: Vec<Option<usize>> = vec![None; self.clients.len() * self.nodes.len()];
        for (i, l) in self.links.iter().enumerate() {
            let field = format!("link[{i}]");
            let c = match index(&l.client) {
                Some(h) if hosts[h].role == Role::Client => h - client_index(0),
                _ => {
                    return Err(invalid(
                        format!("{field}.client"),
                        &l.client,
                        format!("no client of that name (clients: {})", names(&self.clients)),
                    ));
                }
            };
            let n = match index(&l.node) {
                Some(h) if hosts[h].role == Role::Node => h - node_index(0),
                _ => {
                    let nodes: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
                    return Err(invalid(
                        format!("{field}.node"),
                        &l.node,
                        format!("no node of that name (nodes: {})", list(&nodes)),
                    ));
                }
            };
            let slot = &mut overrides[c * self.nodes.len() + n];
            if let Some(other) = slot {
                return Err(invalid(
                    format!("{field}.node"),
                    &l.node,
                    format!("link[{other}] already sets {} ↔ {}", l.client, l.node),
                ));
            }
            *slot = Some(i);
        }

        let mut links = Vec::with_capacity(overrides.len());
        for (c, client) in self.clients.iter().enumerate() {
            for (n, node) in self.nodes.iter().enumerate() {
                let over = overrides[c * self.nodes.len() + n].map(|i| (i, &self.links[i]));
                let (field, delay) = match over.and_then(|(i, l)| l.delay.map(|d| (i, d))) {
                    Some((i, d)) => (format!("link[{i}]"), Some(d)),
                    None => (format!("node[{n}]"), node.delay),
                };
                let Some(delay) = delay else {
                    return Err(invalid(
                        format!("node[{n}].delay"),
                        "(missing)",
                        format!(
                            "no delay for {} ↔ {}: set node[{n}].delay or add a [[link]] for the pair",
                            client.name, node.name
                        ),
                    ));
                };
                check_delay(&format!("{field}.delay"), delay)?;
                let (jfield, jitter) = match over.and_then(|(i, l)| l.jitter.map(|j| (i, j))) {
                    Some((i, j)) => (format!("link[{i}].jitter"), j),
                    None => (format!("node[{n}].jitter"), node.jitter.unwrap_or_default()),
                };
                check_delay(&jfield, jitter)?;
                check_jitter(&jfield, jitter, delay)?;
                let (sfield, steps) = match over.and_then(|(i, l)| l.steps.as_ref().map(|s| (i, s)))
                {
                    Some((i, s)) => (format!("link[{i}].steps"), s.as_slice()),
                    None => (format!("node[{n}].steps"), node.steps.as_slice()),
                };
                let steps = check_steps(&sfield, steps, jitter)?;
                links.push(Link {
                    client: client_index(c),
                    node: node_index(n),
                    initial: Delay {
                        delay: delay.0,
                        jitter: jitter.0,
                    },
                    steps,
                });
            }
        }
        Ok(Topology {
            seed: self.seed,
            hosts,
            links,
        })
    }
}

fn names(hosts: &[HostSpec]) -> String {
    let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
    list(&names)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn check_name(field: &str, name: &str) -> Result<(), TopologyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            name,
            format!(
                "a host name is 1 to {MAX_NAME_LEN} lowercase letters, digits and '-', starting with a letter and not ending with '-'"
            ),
        ))
    }
}

fn check_delay(field: &str, d: Span) -> Result<(), TopologyError> {
    if d.0 > MAX_DELAY {
        return Err(invalid(field, d, format!("at most {}", Span(MAX_DELAY))));
    }
    Ok(())
}

fn check_jitter(field: &str, jitter: Span, delay: Span) -> Result<(), TopologyError> {
    if jitter > delay {
        return Err(invalid(
            field,
            jitter,
            format!("jitter larger than the delay ({delay}) would need negative delays"),
        ));
    }
    Ok(())
}

fn check_steps(
    field: &str,
    steps: &[StepSpec],
    mut jitter: Span,
) -> Result<Vec<Step>, TopologyError> {
    let mut out = Vec::with_capacity(steps.len());
    let mut last: Option<Span> = None;
    for (i, s) in steps.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if let Some(prev) = last
            && s.after <= prev
        {
            return Err(invalid(
                format!("{f}.after"),
                s.after,
                format!("steps must be in time order (the previous one is at {prev})"),
            ));
        }
        last = Some(s.after);
        check_delay(&format!("{f}.delay"), s.delay)?;
        if let Some(j) = s.jitter {
            check_delay(&format!("{f}.jitter"), j)?;
            jitter = j;
        }
        check_jitter(&format!("{f}.jitter"), jitter, s.delay)?;
        out.push(Step {
            after: s.after.0,
            to: Delay {
                delay: s.delay.0,
                jitter: jitter.0,
            },
        });
    }
    Ok(out)
}

// === impl Topology ===

impl Topology {
    /// Reads and validates a topology file's text.
    pub fn from_toml(text: &str) -> Result<Topology, TopologyError> {
        TopologySpec::from_toml(text)?.validate()
    }

    /// The index of the host with this name.
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// The link between a client and a node, by name.
    pub fn link(&self, client: &str, node: &str) -> Option<&Link> {
        let (c, n) = (self.host_index(client)?, self.host_index(node)?);
        self.links.iter().find(|l| l.client == c && l.node == n)
    }

    /// Names of the hosts with a role, in address order.
    pub fn names_of(&self, role: Role) -> Vec<&str> {
        self.hosts
            .iter()
            .filter(|h| h.role == role)
            .map(|h| h.name.as_str())
            .collect()
    }

    /// Time compression: every delay, jitter and step time divided by `k` (≥ 1), so an
    /// evaluation runs `k` times faster; the caller multiplies measured times back by `k`.
    pub fn compressed(&self, k: f64) -> Topology {
        assert!(k.is_finite() && k >= 1.0, "compression factor must be ≥ 1");
        let div = |d: Duration| Duration::from_secs_f64(d.as_secs_f64() / k);
        let delay = |d: Delay| Delay {
            delay: div(d.delay),
            jitter: div(d.jitter),
        };
        let mut t = self.clone();
        for l in &mut t.links {
            l.initial = delay(l.initial);
            for s in &mut l.steps {
                s.after = div(s.after);
                s.to = delay(s.to);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
        seed = 7
        [[infra]]
        name = "infra"
        [[node]]
        name = "node0"
        delay = "10ms"
        [[node]]
        name = "node1"
        delay = "30ms"
        jitter = "1ms"
        steps = [{ after = "5s", delay = "60ms" }]
        [[client]]
        name = "client0"
        [[client]]
        name = "client1"
        [[link]]
        client = "client1"
        node = "node0"
        delay = "300ms"
    "#;

    fn err(text: &str) -> String {
        Topology::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn hosts_are_in_address_order_and_every_pair_has_a_link() {
        let t = Topology::from_toml(EXAMPLE).unwrap();
        let names: Vec<&str> = t.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["infra", "node0", "node1", "client0", "client1"]);
        assert_eq!(t.links.len(), 4);
        let l = t.link("client0", "node1").unwrap();
        assert_eq!(l.initial.delay, Duration::from_millis(30));
        assert_eq!(l.initial.jitter, Duration::from_millis(1));
        assert_eq!(l.steps.len(), 1);
        assert_eq!(l.steps[0].to.delay, Duration::from_millis(60));
        assert_eq!(
            l.steps[0].to.jitter,
            Duration::from_millis(1),
            "jitter carries over"
        );
        assert_eq!(
            t.link("client0", "node0").unwrap().initial.delay,
            Duration::from_millis(10)
        );
        assert_eq!(
            t.link("client1", "node0").unwrap().initial.delay,
            Duration::from_millis(300)
        );
        assert!(t.link("client0", "infra").is_none());
        assert_eq!(t.seed, Some(7));
    }

    #[test]
    fn spec_round_trips_through_toml() {
        let spec = TopologySpec::from_toml(EXAMPLE).unwrap();
        let again = TopologySpec::from_toml(&spec.to_toml()).unwrap();
        assert_eq!(spec, again);
    }

    #[test]
    fn bad_duration_names_the_field_and_value() {
        let e = err("[[node]]\nname = \"n\"\ndelay = \"10\"\n");
        assert!(e.contains("node[0].delay"), "{e}");
        assert!(e.contains("\"10\""), "{e}");
    }

    #[test]
    fn unknown_field_is_refused_with_its_path() {
        let e = err("[[node]]\nname = \"n\"\ndelya = \"10ms\"\n");
        assert!(e.contains("delya"), "{e}");
    }

    #[test]
    fn link_to_an_unknown_client_names_the_known_ones() {
        let e = err(
            "[[node]]\nname = \"n\"\ndelay = \"1ms\"\n[[client]]\nname = \"c\"\n[[link]]\nclient = \"x\"\nnode = \"n\"\n",
        );
        assert!(e.contains("link[0].client = \"x\""), "{e}");
        assert!(e.contains("clients: c"), "{e}");
    }

    #[test]
    fn link_naming_a_client_as_node_is_refused() {
        let e = err(
            "[[node]]\nname = \"n\"\ndelay = \"1ms\"\n[[client]]\nname = \"c\"\n[[link]]\nclient = \"c\"\nnode = \"c\"\n",
        );
        assert!(e.contains("link[0].node = \"c\""), "{e}");
    }

    #[test]
    fn missing_delay_says_how_to_give_one() {
        let e = err("[[node]]\nname = \"n\"\n[[client]]\nname = \"c\"\n");
        assert!(e.contains("node[0].delay"), "{e}");
        assert!(e.contains("c ↔ n"), "{e}");
    }

    #[test]
    fn node_without_delay_is_fine_when_every_pair_has_a_link() {
        let t = Topology::from_toml(
            "[[node]]\nname = \"n\"\n[[client]]\nname = \"c\"\n[[link]]\nclient = \"c\"\nnode = \"n\"\ndelay = \"5ms\"\n",
        )
        .unwrap();
        assert_eq!(t.links[0].initial.delay, Duration::from_millis(5));
    }

    #[test]
    fn duplicate_names_are_refused_across_roles() {
        let e = err("[[infra]]\nname = \"a\"\n[[client]]\nname = \"a\"\n");
        assert!(e.contains("client[0].name = \"a\""), "{e}");
    }

    #[test]
    fn invalid_names_are_refused() {
        for bad in [
            "",
            "Node",
            "1node",
            "node_0",
            "node-",
            "a-very-long-name-for-a-node-x",
        ] {
            let e = err(&format!("[[infra]]\nname = \"{bad}\"\n"));
            assert!(e.contains("infra[0].name"), "{bad}: {e}");
        }
    }

    #[test]
    fn jitter_above_delay_and_huge_delays_are_refused() {
        let e = err(
            "[[node]]\nname = \"n\"\ndelay = \"1ms\"\njitter = \"2ms\"\n[[client]]\nname = \"c\"\n",
        );
        assert!(e.contains("node[0].jitter = \"2ms\""), "{e}");
        let e = err("[[node]]\nname = \"n\"\ndelay = \"11s\"\n");
        assert!(e.contains("node[0].delay = \"11s\""), "{e}");
    }

    #[test]
    fn steps_out_of_order_are_refused() {
        let e = err(
            "[[node]]\nname = \"n\"\ndelay = \"1ms\"\nsteps = [{ after = \"2s\", delay = \"5ms\" }, { after = \"1s\", delay = \"6ms\" }]\n",
        );
        assert!(e.contains("node[0].steps[1].after = \"1s\""), "{e}");
    }

    #[test]
    fn duplicate_link_is_refused() {
        let e = err(
            "[[node]]\nname = \"n\"\ndelay = \"1ms\"\n[[client]]\nname = \"c\"\n[[link]]\nclient = \"c\"\nnode = \"n\"\n[[link]]\nclient = \"c\"\nnode = \"n\"\n",
        );
        assert!(e.contains("link[1].node"), "{e}");
        assert!(e.contains("link[0] already"), "{e}");
    }

    #[test]
    fn empty_topology_is_refused() {
        assert!(err("").contains("at least one host"));
    }

    #[test]
    fn compression_divides_delays_and_step_times() {
        let t = Topology::from_toml(EXAMPLE).unwrap().compressed(10.0);
        let l = t.link("client0", "node1").unwrap();
        assert_eq!(l.initial.delay, Duration::from_millis(3));
        assert_eq!(l.steps[0].after, Duration::from_millis(500));
        assert_eq!(l.steps[0].to.delay, Duration::from_millis(6));
    }

    #[test]
    fn span_displays_in_its_largest_whole_unit() {
        assert_eq!(Span(Duration::from_millis(10)).to_string(), "10ms");
        assert_eq!(Span(Duration::from_secs(3)).to_string(), "3s");
        assert_eq!(Span(Duration::from_micros(1500)).to_string(), "1500us");
    }
}
