//! A node's own view of its cluster, for the `PlaceSession` RPC: a
//! [`Refresher`] re-reads the nodes ([`Discovery`]) and asks each for its
//! health and Stats ([`Clients::refresh`]) every interval, and publishes what
//! it found as an immutable [`Snapshot`]; the [`Placement`] handles that the
//! service holds read the latest one. So the RPC makes no network call: it
//! hashes the tag over a snapshot, which is cheap and bounded, and a slow or
//! silent node costs the background task its timeout, never a caller.
//!
//! Every node of a cluster runs its own refresher over the same node list,
//! so each answers the same for a tag as long as the nodes and their load
//! are the same in their snapshots (weights follow load, so two nodes may
//! differ for the moment between their refreshes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::ResolverConfig;
use hickory_resolver::name_server::TokioConnectionProvider;
use tokio::sync::watch;

use crate::pb;

use super::clients::{ClientOptions, Clients};
use super::discovery::Discovery;
use super::{Cluster, Node, NodeState};

/// What one refresh found: the nodes with their state, weight and load.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The nodes as the refresh left them.
    pub cluster: Cluster,
    /// When the refresh ended; `None` before the first has ended (nothing
    /// is known yet of any node's state).
    pub refreshed: Option<Instant>,
    /// Why the last discovery failed, if it did (the nodes of the discovery
    /// before it are kept, so a DNS hiccup does not empty the cluster).
    pub discovery_error: Option<String>,
}

impl Snapshot {
    /// The answer to `PlaceSession` for `correlation_tag`: the node it goes
    /// to and every node, those that take sessions in the order of the
    /// tag's ranking first. `None` when no node takes sessions.
    pub fn place(&self, correlation_tag: &str) -> Option<pb::PlaceSessionResponse> {
        let ranked = self.cluster.ranked(correlation_tag);
        let chosen = cluster_node(ranked.first()?);
        let mut ranking: Vec<pb::ClusterNode> =
            ranked.iter().map(|node| cluster_node(node)).collect();
        ranking.extend(
            self.cluster
                .nodes()
                .iter()
                .filter(|node| !node.takes_sessions())
                .map(cluster_node),
        );
        let age = self.refreshed.map(|at| at.elapsed()).unwrap_or_default();
        Some(pb::PlaceSessionResponse {
            chosen: Some(chosen),
            ranking,
            refresh_age_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Why no node takes sessions, for the caller's UNAVAILABLE: each node's
    /// state, and the discovery's failure if there was one.
    pub fn why_none(&self) -> String {
        if self.refreshed.is_none() {
            return "the cluster has not been refreshed yet (the first refresh asks every \
                    node for its health and Stats)"
                .to_owned();
        }
        let nodes: Vec<String> = self
            .cluster
            .nodes()
            .iter()
            .map(|node| format!("{} {}", node.name, node.state.as_str()))
            .collect();
        let mut why = if nodes.is_empty() {
            "no node takes sessions: the cluster has no node".to_owned()
        } else {
            format!("no node takes sessions: {}", nodes.join(", "))
        };
        if let Some(err) = &self.discovery_error {
            why.push_str(&format!("; discovery failed: {err}"));
        }
        why
    }
}

/// A node as the API shows it.
fn cluster_node(node: &Node) -> pb::ClusterNode {
    pb::ClusterNode {
        name: node.name.clone(),
        control_url: node.control.clone(),
        host: host(&node.control),
        state: match node.state {
            NodeState::Serving => pb::NodeState::Serving,
            NodeState::Draining => pb::NodeState::Draining,
            NodeState::Down => pb::NodeState::Down,
        } as i32,
        weight: node.weight,
        sessions: node.load.map_or(0, |load| load.sessions),
    }
}

/// The host of a control URL: a name, or an address (IPv6 without its
/// brackets); empty if the URL has none.
fn host(control: &str) -> String {
    control
        .parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| {
            uri.host()
                .map(|host| host.trim_matches(['[', ']']).to_owned())
        })
        .unwrap_or_default()
}

/// The service's handle on the latest snapshot: cheap to clone, and reading
/// it takes no network call and waits for no refresh.
#[derive(Debug, Clone)]
pub struct Placement {
    latest: watch::Receiver<Arc<Snapshot>>,
}

impl Placement {
    /// The snapshot of the last refresh (an empty one before the first has
    /// ended).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.latest.borrow())
    }
}

/// The background task that keeps a [`Placement`] current.
#[derive(Debug)]
pub struct Refresher {
    discovery: Discovery,
    resolver: Option<TokioResolver>,
    clients: Clients,
    interval: Duration,
    cluster: Cluster,
    discovery_error: Option<String>,
    latest: watch::Sender<Arc<Snapshot>>,
}

impl Refresher {
    /// A refresher of the nodes `discovery` finds, asked with `options`
    /// every `interval`, and the handle that reads what it finds. Nothing is
    /// asked before [`Refresher::run`]. DNS discovery uses the system's
    /// resolver configuration (`/etc/resolv.conf`, the pod's search list in
    /// Kubernetes).
    pub fn new(
        discovery: Discovery,
        options: ClientOptions,
        interval: Duration,
    ) -> (Self, Placement) {
        let (latest, reader) = watch::channel(Arc::new(Snapshot::default()));
        let refresher = Self {
            discovery,
            resolver: None,
            clients: Clients::new(options),
            interval,
            cluster: Cluster::default(),
            discovery_error: None,
            latest,
        };
        (refresher, Placement { latest: reader })
    }

    /// This refresher with `resolver` for DNS discovery instead of the
    /// system's (tests, a resolver of the caller's choice).
    #[must_use]
    pub fn with_resolver(mut self, resolver: TokioResolver) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Refreshes now, then every interval after the end of the last refresh
    /// (a slow node delays the next one rather than piling refreshes up),
    /// for as long as a [`Placement`] handle is held.
    pub async fn run(mut self) {
        loop {
            self.refresh().await;
            if self.latest.is_closed() {
                return;
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// One refresh: the nodes re-read (a failed discovery keeps the last
    /// ones), every node asked at once, the snapshot published.
    pub async fn refresh(&mut self) {
        let listed = matches!(self.discovery, Discovery::Static(_));
        let resolver = self.resolver.get_or_insert_with(|| {
            if listed {
                // A static list asks no resolver: no need to read the system's.
                default_resolver()
            } else {
                system_resolver()
            }
        });
        match self.discovery.nodes(resolver).await {
            Ok(nodes) => {
                if self.discovery_error.take().is_some() {
                    tracing::info!("placement: discovery works again");
                }
                self.cluster.update(nodes);
            }
            Err(err) => {
                let err = err.to_string();
                // Said once per new failure, not at every refresh.
                if self.discovery_error.as_deref() != Some(err.as_str()) {
                    tracing::warn!(%err, "placement: discovery failed; the last nodes are kept");
                }
                self.discovery_error = Some(err);
            }
        }
        self.clients.refresh(&mut self.cluster).await;
        self.latest.send_replace(Arc::new(Snapshot {
            cluster: self.cluster.clone(),
            refreshed: Some(Instant::now()),
            discovery_error: self.discovery_error.clone(),
        }));
    }
}

/// The system's resolver; if its configuration cannot be read, one with
/// hickory's defaults (the failure is in the log, and a DNS discovery's
/// errors then say what the lookups found).
fn system_resolver() -> TokioResolver {
    match TokioResolver::builder_tokio() {
        Ok(builder) => builder.build(),
        Err(err) => {
            tracing::warn!(%err, "placement: cannot read the system's resolver configuration");
            default_resolver()
        }
    }
}

/// A resolver with hickory's default configuration (no file read).
fn default_resolver() -> TokioResolver {
    TokioResolver::builder_with_config(
        ResolverConfig::default(),
        TokioConnectionProvider::default(),
    )
    .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Load;

    fn snapshot(cluster: Cluster) -> Snapshot {
        Snapshot {
            cluster,
            refreshed: Some(Instant::now()),
            discovery_error: None,
        }
    }

    #[test]
    fn the_answer_is_the_ranking_then_the_nodes_that_take_nothing() {
        let mut cluster = Cluster::new([
            Node::named("a", "http://10.0.0.1:50051"),
            Node::named("b", "http://[fd00::2]:50051"),
            Node::named("c", "http://c.example.net:50051"),
        ]);
        cluster.node_mut("a").unwrap().state = NodeState::Draining;
        cluster.node_mut("c").unwrap().load = Some(Load {
            sessions: 7,
            ..Load::default()
        });
        let snapshot = snapshot(cluster.clone());
        for tag in ["call-1", "call-2", "call-3"] {
            let answer = snapshot.place(tag).unwrap();
            let chosen = answer.chosen.unwrap();
            assert_eq!(chosen.name, cluster.place(tag).unwrap().name);
            assert_eq!(answer.ranking[0], chosen);
            let names: Vec<&str> = answer.ranking.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(names.len(), 3);
            assert_eq!(names[2], "a", "the draining node last");
            assert_eq!(answer.ranking[2].state, pb::NodeState::Draining as i32);
        }
        let answer = snapshot.place("call-1").unwrap();
        let by_name = |name: &str| answer.ranking.iter().find(|n| n.name == name).unwrap();
        assert_eq!(by_name("b").host, "fd00::2");
        assert_eq!(by_name("c").host, "c.example.net");
        assert_eq!(by_name("c").sessions, 7);
        assert_eq!(by_name("a").host, "10.0.0.1");
        assert_eq!(by_name("c").weight, 1.0);
    }

    #[test]
    fn with_no_node_taking_sessions_the_reason_names_each_state() {
        assert!(
            Snapshot::default()
                .why_none()
                .contains("not been refreshed yet")
        );
        let mut cluster = Cluster::new([Node::named("a", "http://a:1")]);
        cluster.node_mut("a").unwrap().state = NodeState::Down;
        let mut snapshot = snapshot(cluster);
        snapshot.discovery_error = Some("looking up x: no records".into());
        assert!(snapshot.place("t").is_none());
        assert_eq!(
            snapshot.why_none(),
            "no node takes sessions: a down; discovery failed: looking up x: no records"
        );
    }

    #[tokio::test]
    async fn a_refresh_publishes_what_it_found() {
        // A port nothing listens on: the node is down after the refresh.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let (mut refresher, placement) = Refresher::new(
            Discovery::Static(vec![format!("http://{closed}")]),
            ClientOptions {
                timeout: Duration::from_millis(500),
                ..ClientOptions::default()
            },
            Duration::from_secs(60),
        );
        assert!(placement.snapshot().refreshed.is_none());
        refresher.refresh().await;
        let snapshot = placement.snapshot();
        assert!(snapshot.refreshed.is_some());
        assert_eq!(snapshot.cluster.nodes()[0].state, NodeState::Down);
        assert!(snapshot.place("t").is_none());
    }
}
