//! The nftables rules of intercepted mode, rendered as text.
//!
//! One `inet` table (IPv4 and IPv6 in one place) owned by mulambda, with one `nat` chain on the
//! `output` hook, which sees every connection a process in the pod opens:
//!
//! 1. connections of the proxy's UID return untouched, or its own calls to executors on 8501
//!    would come straight back to it;
//! 2. connections already addressed to a proxy port on loopback return untouched (nothing to
//!    redirect, and no conntrack NAT entry for the proxy to puzzle over);
//! 3. TCP to each TF Serving port is redirected to its proxy port; `redirect` in the output hook
//!    rewrites the destination to 127.0.0.1 or ::1, so the proxy listens on loopback.
//!
//! The table is rendered exactly as `nft list table inet mulambda` prints it (tests compare the
//! two), so what `--dry-run` shows is what an operator finds in the pod.
//!
//! Installing is one `nft -f` transaction that creates the table if absent, deletes it and
//! defines it anew: atomic (no moment without rules, never half a table), and a second run
//! changes nothing. Removing deletes the table the same way, absent or not. Nothing outside the
//! table is touched, so other tables (a CNI's, another mesh's) stay as they are.

use std::fmt::Write as _;

use crate::redirect::Redirects;

/// nftables family of the table: `inet` covers IPv4 and IPv6 with one rule set.
pub const TABLE_FAMILY: &str = "inet";
/// Name of the table mulambda owns; nothing else in the namespace is changed.
pub const TABLE_NAME: &str = "mulambda";
/// Name of the NAT chain on the output hook.
pub const CHAIN_NAME: &str = "output";
/// Priority of the chain: -100 is the destination-NAT priority (`NF_IP_PRI_NAT_DST`), written
/// as a number because nft 1.0.6 refuses the name `dstnat` in the output hook of an `inet`
/// table.
pub const CHAIN_PRIORITY: i32 = -100;
/// The proxy's default UID in intercepted mode: the proxy container must run as it, and
/// nothing else in the pod may (its traffic would bypass interception).
pub const DEFAULT_PROXY_UID: u32 = 2501;

/// Refused rule parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// UID 0 would exempt every root process in the pod, the application's included.
    #[error(
        "0 (root) cannot be the proxy's UID: the rules exempt that UID's traffic, so every root \
         process in the pod would bypass interception; run the proxy as a UID of its own"
    )]
    RootUid,
}

/// What the init step installs: the proxy's UID and the port mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    proxy_uid: u32,
    redirects: Redirects,
}

// === impl Rules ===

impl Rules {
    /// Rules for a proxy running as `proxy_uid` (not 0) with the given port mapping.
    pub fn new(proxy_uid: u32, redirects: Redirects) -> Result<Self, RulesError> {
        if proxy_uid == 0 {
            return Err(RulesError::RootUid);
        }
        Ok(Self {
            proxy_uid,
            redirects,
        })
    }

    /// The proxy's UID, whose traffic is not redirected.
    pub fn proxy_uid(&self) -> u32 {
        self.proxy_uid
    }

    /// The port mapping.
    pub fn redirects(&self) -> &Redirects {
        &self.redirects
    }

    /// The table, exactly as `nft list table inet mulambda` prints it once installed.
    pub fn table(&self) -> String {
        let proxy_ports = port_set(&self.redirects.proxy_ports());
        let mut t = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(t, "table {TABLE_FAMILY} {TABLE_NAME} {{");
        let _ = writeln!(t, "\tchain {CHAIN_NAME} {{");
        let _ = writeln!(
            t,
            "\t\ttype nat hook output priority {CHAIN_PRIORITY}; policy accept;"
        );
        let _ = writeln!(
            t,
            "\t\tmeta skuid {} return comment \"mulambda proxy's own traffic\"",
            self.proxy_uid
        );
        let _ = writeln!(
            t,
            "\t\tip daddr 127.0.0.0/8 tcp dport {proxy_ports} return comment \"already addressed to the proxy\""
        );
        let _ = writeln!(
            t,
            "\t\tip6 daddr ::1 tcp dport {proxy_ports} return comment \"already addressed to the proxy\""
        );
        for r in self.redirects.iter() {
            let _ = writeln!(
                t,
                "\t\ttcp dport {} redirect to :{} comment \"TF Serving port {} to the proxy\"",
                r.tf_port(),
                r.proxy_port(),
                r.tf_port()
            );
        }
        let _ = writeln!(t, "\t}}");
        let _ = writeln!(t, "}}");
        t
    }

    /// The `nft -f` script that installs (or replaces) the table in one transaction.
    pub fn install_script(&self) -> String {
        format!(
            "# mulambda-intercept: redirect outbound TF Serving calls to the mulambda proxy \
             (UID {uid} exempt).\n\
             # One transaction: create the table if absent, delete it, define it anew.\n\
             add table {TABLE_FAMILY} {TABLE_NAME}\n\
             delete table {TABLE_FAMILY} {TABLE_NAME}\n\
             {table}",
            uid = self.proxy_uid,
            table = self.table()
        )
    }
}

/// The `nft -f` script that removes the table, whether or not it exists.
pub fn remove_script() -> String {
    format!(
        "# mulambda-intercept: remove mulambda's table (absent or not) in one transaction.\n\
         add table {TABLE_FAMILY} {TABLE_NAME}\n\
         delete table {TABLE_FAMILY} {TABLE_NAME}\n"
    )
}

/// One port as itself, several as an anonymous set, as nft prints them.
fn port_set(ports: &[u16]) -> String {
    match ports {
        [one] => one.to_string(),
        many => {
            let list: Vec<String> = many.iter().map(u16::to_string).collect();
            format!("{{ {} }}", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_render_as_documented() {
        let rules = Rules::new(DEFAULT_PROXY_UID, Redirects::default()).unwrap();
        assert_eq!(
            rules.table(),
            "table inet mulambda {\n\
             \tchain output {\n\
             \t\ttype nat hook output priority -100; policy accept;\n\
             \t\tmeta skuid 2501 return comment \"mulambda proxy's own traffic\"\n\
             \t\tip daddr 127.0.0.0/8 tcp dport { 18500, 18501 } return comment \"already addressed to the proxy\"\n\
             \t\tip6 daddr ::1 tcp dport { 18500, 18501 } return comment \"already addressed to the proxy\"\n\
             \t\ttcp dport 8500 redirect to :18500 comment \"TF Serving port 8500 to the proxy\"\n\
             \t\ttcp dport 8501 redirect to :18501 comment \"TF Serving port 8501 to the proxy\"\n\
             \t}\n\
             }\n"
        );
    }

    #[test]
    fn the_install_script_replaces_the_table_in_one_go() {
        let rules = Rules::new(4242, Redirects::parse("8501=18501").unwrap()).unwrap();
        let script = rules.install_script();
        let commands: Vec<&str> = script.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(commands[0], "add table inet mulambda");
        assert_eq!(commands[1], "delete table inet mulambda");
        assert_eq!(commands[2], "table inet mulambda {");
        assert!(script.ends_with(&rules.table()));
        // A single proxy port is matched without a set.
        assert!(script.contains("ip daddr 127.0.0.0/8 tcp dport 18501 return"));
        assert!(script.contains("meta skuid 4242 return"));
    }

    #[test]
    fn removal_deletes_only_mulambdas_table() {
        let script = remove_script();
        let commands: Vec<&str> = script.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            commands,
            ["add table inet mulambda", "delete table inet mulambda"]
        );
    }

    #[test]
    fn root_cannot_be_the_exempt_uid() {
        assert_eq!(
            Rules::new(0, Redirects::default()),
            Err(RulesError::RootUid)
        );
    }
}
