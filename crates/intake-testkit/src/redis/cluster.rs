//! A Redis Cluster of masters without replicas.
//!
//! `redis-cli --cluster create` assigns the slots and waits until every node
//! has the same configuration. Each node then logs when its own view of the
//! cluster turns ok; whether every node also counts every other node is read
//! from `CLUSTER INFO`, polled briefly because no log line reports it.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use super::{RedisServer, STARTUP_TIMEOUT, ports};

/// The line a cluster node logs when it finds every slot served.
const CLUSTER_OK_LINE: &str = "Cluster state changed: ok";

/// The number of hash slots in every Redis Cluster.
const HASH_SLOTS: usize = 16_384;

/// The pause between two rounds of `CLUSTER INFO` while the cluster settles.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Masters joined into a Redis Cluster that covers every slot, each on a
/// loopback port and killed when dropped.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes, shares the slots among them and waits until
    /// every node reports `cluster_state:ok` and knows every other node.
    /// With a `password`, every node requires it.
    ///
    /// # Panics
    ///
    /// When `masters` is below 3, which Redis refuses, or a node fails or
    /// the cluster does not settle within 10 s (with the details).
    pub fn start(masters: usize, password: Option<&str>) -> Self {
        assert!(
            masters >= 3,
            "a Redis Cluster needs at least 3 masters, not {masters}"
        );

        let nodes = (0..masters).map(|_| start_node(password)).collect();
        let cluster = Self { nodes };
        cluster.create(password);
        cluster.wait_until_settled();
        cluster
    }

    /// Every node, in the order the slots were assigned.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// `127.0.0.1:PORT` of every node.
    pub fn node_addrs(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::addr).collect()
    }

    /// The connection URL of every node, with the password when one is set.
    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    fn create(&self, password: Option<&str>) {
        let mut command = Command::new("redis-cli");
        command
            .args(["--cluster", "create"])
            .args(self.node_addrs());
        command.args(["--cluster-replicas", "0", "--cluster-yes"]);
        if let Some(password) = password {
            command.env("REDISCLI_AUTH", password);
        }

        let output = command
            .output()
            .unwrap_or_else(|error| panic!("failed to run redis-cli: {error}"));
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn wait_until_settled(&self) {
        for node in &self.nodes {
            let turned_ok = node.wait_for_log_line(CLUSTER_OK_LINE, STARTUP_TIMEOUT);
            turned_ok.unwrap_or_else(|error| panic!("a cluster node: {error}"));
        }

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let reports: Vec<String> = self
                .nodes
                .iter()
                .map(|node| node.cli(&["CLUSTER", "INFO"]))
                .collect();
            if reports.iter().all(|report| self.is_settled(report)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle within {} s; CLUSTER INFO of every node:\n{}",
                STARTUP_TIMEOUT.as_secs(),
                reports.join("\n\n")
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Whether a node's `CLUSTER INFO` shows every slot served by one of the
    /// masters and every node known.
    fn is_settled(&self, report: &str) -> bool {
        let masters = self.nodes.len().to_string();
        let slots = HASH_SLOTS.to_string();
        let expected = [
            ("cluster_state", "ok"),
            ("cluster_slots_assigned", slots.as_str()),
            ("cluster_slots_ok", slots.as_str()),
            ("cluster_known_nodes", masters.as_str()),
            ("cluster_size", masters.as_str()),
        ];
        expected
            .iter()
            .all(|&(field, value)| field_value(report, field) == Some(value))
    }
}

fn start_node(password: Option<&str>) -> RedisServer {
    let mut builder = RedisServer::builder()
        .port(ports::free_cluster_port())
        .arg("cluster-enabled", "yes")
        .arg("cluster-config-file", "nodes.conf")
        .arg("cluster-node-timeout", "2000");
    if let Some(password) = password {
        // `masterauth` lets a replica added later authenticate to its master.
        builder = builder
            .password(password)
            .single_value_arg("masterauth", password);
    }
    builder.start()
}

/// The value of `field` in `CLUSTER INFO` output (`field:value` lines).
fn field_value<'a>(report: &'a str, field: &str) -> Option<&'a str> {
    report.lines().find_map(|line| {
        let value = line.trim_end().strip_prefix(field)?.strip_prefix(':')?;
        Some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_value_reads_one_field_of_cluster_info() {
        let report = "cluster_state:ok\r\ncluster_slots_ok:16384\r\ncluster_size:3";

        assert_eq!(field_value(report, "cluster_state"), Some("ok"));
        assert_eq!(field_value(report, "cluster_slots_ok"), Some("16384"));
        assert_eq!(field_value(report, "cluster_known_nodes"), None);
    }
}
