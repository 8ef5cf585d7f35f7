//! Several daemon processes on loopback, each on its own ephemeral ports: the
//! nodes of a cluster, for placement tests (`control_api::placement`). Each
//! node is an independent switch, as in production; the test places sessions
//! over them from the outside, as the signalling plane does.

use control_api::placement::{Cluster, Node};

use crate::daemon::Daemon;

/// `n` running daemons, named `node-a`, `node-b`, … in start order; each is
/// killed when dropped.
pub struct TestCluster {
    /// The daemons, in start order.
    pub daemons: Vec<Daemon>,
}

impl TestCluster {
    /// Starts `n` daemons of `binary` (`env!("CARGO_BIN_EXE_msrp-switch")`), each
    /// as [`Daemon::spawn`] does (one shard, ephemeral loopback ports) with
    /// `extra` flags, all at once; returns when every one has logged its
    /// addresses.
    pub async fn spawn(binary: &str, n: usize, extra: &[&str]) -> TestCluster {
        let starts: Vec<_> = (0..n)
            .map(|_| {
                let binary = binary.to_owned();
                let extra: Vec<String> = extra.iter().map(|flag| (*flag).to_owned()).collect();
                tokio::spawn(async move {
                    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                    Daemon::spawn(&binary, &extra).await
                })
            })
            .collect();
        let mut daemons = Vec::with_capacity(n);
        for start in starts {
            daemons.push(start.await.expect("a daemon failed to start"));
        }
        TestCluster { daemons }
    }

    /// The name of the `i`th node: `node-a`, `node-b`, …
    pub fn name(i: usize) -> String {
        let letter = char::from(b'a' + u8::try_from(i % 26).unwrap_or(0));
        format!("node-{letter}")
    }

    /// The daemon of the node called `name`.
    pub fn daemon(&self, name: &str) -> &Daemon {
        let at = (0..self.daemons.len())
            .find(|&i| Self::name(i) == name)
            .unwrap_or_else(|| panic!("no node {name}"));
        &self.daemons[at]
    }

    /// The daemon of the node called `name`, to wait for its exit.
    pub fn daemon_mut(&mut self, name: &str) -> &mut Daemon {
        let at = (0..self.daemons.len())
            .find(|&i| Self::name(i) == name)
            .unwrap_or_else(|| panic!("no node {name}"));
        &mut self.daemons[at]
    }

    /// One serving placement node per daemon, named as [`TestCluster::name`]
    /// says, at its control URL.
    pub fn nodes(&self) -> Vec<Node> {
        self.daemons
            .iter()
            .enumerate()
            .map(|(i, daemon)| Node::named(Self::name(i), daemon.control.clone()))
            .collect()
    }

    /// A placement cluster of these nodes (before any refresh: all serving,
    /// weight 1).
    pub fn cluster(&self) -> Cluster {
        Cluster::new(self.nodes())
    }
}
