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

    /// `n` daemons that know each other: each is started with `extra` and a
    /// `--cluster-node` for every node's control URL, its own included, so
    /// each answers PlaceSession over the same list. The URLs must be known
    /// before any daemon starts, so the control ports are picked free first
    /// (bound, then released); one taken by another test meanwhile stops its
    /// daemon at once, and the whole cluster is started again on other
    /// ports (five tries).
    pub async fn spawn_meshed(binary: &str, n: usize, extra: &[&str]) -> TestCluster {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_meshed(binary, n, extra).await {
                Ok(cluster) => return cluster,
                Err(why) => last = why,
            }
        }
        panic!("the meshed cluster did not start in five tries: {last}");
    }

    async fn try_meshed(binary: &str, n: usize, extra: &[&str]) -> Result<TestCluster, String> {
        let controls: Vec<String> = (0..n)
            .map(|_| {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|listener| listener.local_addr())
                    .map(|addr| addr.port())
                    .map_err(|err| format!("picking a port: {err}"))?;
                Ok(format!("127.0.0.1:{port}"))
            })
            .collect::<Result<_, String>>()?;
        let starts: Vec<_> = controls
            .iter()
            .map(|control| {
                let mut command = tokio::process::Command::new(binary);
                command.args(crate::daemon::EPHEMERAL_PORTS).args([
                    "--control-listen",
                    control,
                    "--shards",
                    "1",
                ]);
                for node in &controls {
                    command.args(["--cluster-node", &format!("http://{node}")]);
                }
                command.args(extra).env("RUST_LOG", "info");
                tokio::spawn(Daemon::try_start(command))
            })
            .collect();
        let mut daemons = Vec::with_capacity(n);
        let mut failed = None;
        for start in starts {
            match start.await {
                Ok(Ok(daemon)) => daemons.push(daemon),
                Ok(Err(why)) => failed = Some(why),
                Err(err) => failed = Some(format!("the start task failed: {err}")),
            }
        }
        match failed {
            // The daemons started are killed as they drop.
            Some(why) => Err(why),
            None => Ok(TestCluster { daemons }),
        }
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
