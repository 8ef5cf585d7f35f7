//! Placement: which of several switches takes a new session (design §5,
//! scale-out). Each node is an independent switch, MSRP connections are per
//! node, and nodes know nothing of each other; the signalling plane (IM
//! Server, B2BUA, a SIP proxy's script) calls this library before
//! CreateSession to choose the node, then drives that node's control API as
//! it would drive a single switch.
//!
//! The choice is weighted rendezvous hashing (highest random weight, Thaler
//! and Ravishankar 1998; weighted as in Schindelhauer and Schomaker 2005): for
//! a session's correlation tag (the SIP Call-ID, a group's identity) each node
//! scores `weight / -ln(u)`, `u` a uniform draw in (0, 1) from SHA-256 of the
//! node's name and the tag, and the highest score wins. So:
//! - the same tag goes to the same node for as long as the set of nodes and
//!   their weights stay as they are, in every process that holds the same
//!   list (no coordination between signalling servers);
//! - a node leaving (down, draining, removed) moves only the tags it held,
//!   each to the node that was second for it; a node joining takes about
//!   `1/n` of new tags, from every node alike;
//! - a node of weight 2 takes twice the share of a node of weight 1.
//!
//! A session is placed once, when it is created. Later calls for it (the
//! second leg, a re-INVITE, BYE) go to the node it was created on: keep that
//! node's name with the dialog. Placing the tag again gives the same node
//! only while nothing changed, and weights follow load.
//!
//! Module map:
//! - this file: [`Node`], [`Cluster`] and the hashing, pure computation;
//! - [`discovery`]: the nodes from a static list, DNS SRV (`_msrp._tcp`) or a
//!   Kubernetes headless service's A/AAAA records;
//! - [`load`]: a node's state and weight from what it reports ([`load::Report`],
//!   [`load::Weighting`]), pure computation;
//! - [`clients`]: a control API client per node, and the refresh that asks each
//!   node for its health and Stats;
//! - [`chain`]: a group that outgrows its node, continued on another node by a
//!   chained member (as two chained switches carry a member today);
//! - [`refresh`]: a node's own view of its cluster, refreshed in the
//!   background, from which it answers the `PlaceSession` RPC (so a SIP
//!   server's script can ask any node over HTTP/JSON).

pub mod chain;
pub mod clients;
pub mod discovery;
pub mod load;
pub mod refresh;

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

/// Whether a node takes new sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Healthy: its health service says SERVING and it answers Stats.
    Serving,
    /// Draining (health NOT_SERVING, after SIGTERM or the Drain call): it
    /// takes no new session, participant or MSRP connection, and finishes
    /// what it carries before it exits.
    Draining,
    /// Not answering: no new session goes there.
    Down,
}

impl NodeState {
    /// A fixed name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::Draining => "draining",
            Self::Down => "down",
        }
    }
}

/// The load a node last reported (its Stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Load {
    /// Sessions it holds.
    pub sessions: u64,
    /// Participants (legs) it holds.
    pub participants: u64,
    /// MSRP connections open.
    pub connections: u64,
}

/// One switch of the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its identity in the hash: stable for as long as the node holds
    /// sessions (a static list's URL, an SRV target, a pod's address). A new
    /// name is a new node as far as placement is concerned.
    pub name: String,
    /// Its control API URL (`http://10.0.0.7:50051`, `https://…` over TLS).
    pub control: String,
    /// Lower is preferred (DNS SRV priority, RFC 2782): only the best
    /// priority with a node taking sessions is placed on. 0 unless discovered
    /// by SRV.
    pub priority: u16,
    /// Its size relative to the others, set by the operator (SRV weight): a
    /// node of share 2 takes twice the sessions of one of share 1 when both
    /// are equally loaded. 1 unless discovered by SRV.
    pub share: f64,
    /// The weight placement uses: `share`, lowered by load at each refresh
    /// (see [`load::Weighting`]). 0 takes nothing.
    pub weight: f64,
    /// Whether it takes new sessions.
    pub state: NodeState,
    /// What it last reported; `None` before the first refresh or while down.
    pub load: Option<Load>,
}

impl Node {
    /// A serving node at `control`, named by its URL, of share and weight 1.
    pub fn new(control: impl Into<String>) -> Self {
        let control = control.into();
        Self::named(control.clone(), control)
    }

    /// A serving node called `name`, reached at `control`, of share and
    /// weight 1.
    pub fn named(name: impl Into<String>, control: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            control: control.into(),
            priority: 0,
            share: 1.0,
            weight: 1.0,
            state: NodeState::Serving,
            load: None,
        }
    }

    /// This node with `share` (and, until a refresh, weight) `share`.
    #[must_use]
    pub fn with_share(mut self, share: f64) -> Self {
        self.share = share;
        self.weight = share;
        self
    }

    /// This node with SRV priority `priority`.
    #[must_use]
    pub fn with_priority(mut self, priority: u16) -> Self {
        self.priority = priority;
        self
    }

    /// Serving with a positive, finite weight: a candidate for new sessions.
    pub fn takes_sessions(&self) -> bool {
        self.state == NodeState::Serving && self.weight > 0.0 && self.weight.is_finite()
    }
}

/// The nodes a signalling server places sessions on. Cheap to copy around
/// between refreshes: placement reads it only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    /// A cluster of `nodes`; of two with the same name the first stays.
    pub fn new(nodes: impl IntoIterator<Item = Node>) -> Self {
        let mut cluster = Self::default();
        for node in nodes {
            if cluster.node(&node.name).is_none() {
                cluster.nodes.push(node);
            }
        }
        cluster
    }

    /// Its nodes, in the order given.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|node| node.name == name)
    }

    /// The node called `name`, to change (an operator setting a share, a test
    /// marking one down).
    pub fn node_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|node| node.name == name)
    }

    /// Takes the node called `name` out; its sessions' tags now place
    /// elsewhere (only theirs).
    pub fn remove(&mut self, name: &str) -> Option<Node> {
        let at = self.nodes.iter().position(|node| node.name == name)?;
        Some(self.nodes.remove(at))
    }

    /// Replaces the node list with a new discovery's: a node still present
    /// keeps its state, weight and load until the next refresh (so a DNS
    /// re-read does not undo what the last refresh learnt), and takes the new
    /// address, priority and share; new nodes start serving at their share.
    pub fn update(&mut self, discovered: impl IntoIterator<Item = Node>) {
        let discovered = Cluster::new(discovered);
        let mut nodes = Vec::with_capacity(discovered.nodes.len());
        for mut node in discovered.nodes {
            if let Some(known) = self.node(&node.name) {
                node.state = known.state;
                node.load = known.load;
                // The weight follows the share: rescale what load made of it.
                node.weight = if known.share > 0.0 {
                    known.weight / known.share * node.share
                } else {
                    node.share
                };
            }
            nodes.push(node);
        }
        self.nodes = nodes;
    }

    /// The node a new session with `correlation_tag` goes to: of the nodes
    /// that take sessions, in the best priority, the one with the highest
    /// score. `None` if no node takes sessions.
    pub fn place(&self, correlation_tag: &str) -> Option<&Node> {
        let mut best: Option<(&Node, f64)> = None;
        for node in self.nodes.iter().filter(|node| node.takes_sessions()) {
            if best.is_some_and(|(best, _)| best.priority < node.priority) {
                // A worse priority cannot win: skip its hash.
                continue;
            }
            let candidate = (node, score(correlation_tag, node));
            if best.is_none_or(|best| ahead(candidate, best) == Ordering::Less) {
                best = Some(candidate);
            }
        }
        best.map(|(node, _)| node)
    }

    /// The node a new session with `correlation_tag` goes to if it may not go
    /// to `except` (a group's overflow member, which must land on another
    /// node than its group's): the best of the others, as [`Cluster::place`]
    /// ranks them.
    pub fn place_except(&self, correlation_tag: &str, except: &str) -> Option<&Node> {
        self.ranked(correlation_tag)
            .into_iter()
            .find(|node| node.name != except)
    }

    /// Every node that takes sessions, best first for `correlation_tag`: the
    /// order in which they would take it as nodes before them leave.
    pub fn ranked(&self, correlation_tag: &str) -> Vec<&Node> {
        let mut scored: Vec<(&Node, f64)> = self
            .nodes
            .iter()
            .filter(|node| node.takes_sessions())
            .map(|node| (node, score(correlation_tag, node)))
            .collect();
        scored.sort_by(|a, b| ahead(*a, *b));
        scored.into_iter().map(|(node, _)| node).collect()
    }
}

/// The weighted rendezvous score of `node` for `correlation_tag`:
/// `weight / -ln(u)`, with `u` uniform in (0, 1) from the hash. For weights
/// `w_i` node `i` has the highest score with probability `w_i / Σ w`: `-ln(u)
/// / w` is exponentially distributed with rate `w`, and the smallest of
/// independent exponentials is the one of rate `w_i` with that probability.
pub fn score(correlation_tag: &str, node: &Node) -> f64 {
    node.weight / -hash_unit(correlation_tag, &node.name).ln()
}

/// A uniform draw in the open interval (0, 1) from SHA-256 over the node's
/// name (length-prefixed, so `("ab", "c")` and `("a", "bc")` differ) and the
/// tag. SHA-256 rather than std's `DefaultHasher`, whose keys are random per
/// process: every signalling server must compute the same draw. 52 bits:
/// `(k + 0.5) / 2^52` is exact in an f64 and never 0 or 1, so `ln` is finite
/// and negative.
fn hash_unit(correlation_tag: &str, name: &str) -> f64 {
    let mut sha = Sha256::new();
    sha.update((name.len() as u64).to_be_bytes());
    sha.update(name.as_bytes());
    sha.update(correlation_tag.as_bytes());
    let digest: [u8; 32] = sha.finalize().into();
    let [a, b, c, d, e, f, g, h, ..] = digest;
    let bits = u64::from_be_bytes([a, b, c, d, e, f, g, h]) >> 12;
    (bits as f64 + 0.5) / (1u64 << 52) as f64
}

/// Placement order: better priority first, then the higher score, then the
/// name (a tie of two 52-bit draws is all but impossible; the order stays
/// total anyway).
fn ahead(a: (&Node, f64), b: (&Node, f64)) -> Ordering {
    a.0.priority
        .cmp(&b.0.priority)
        .then_with(|| b.1.total_cmp(&a.1))
        .then_with(|| a.0.name.cmp(&b.0.name))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn three() -> Cluster {
        Cluster::new(["a", "b", "c"].map(|name| Node::named(name, format!("http://{name}:50051"))))
    }

    fn tags(n: usize) -> impl Iterator<Item = String> {
        (0..n).map(|i| format!("call-{i}@example.net"))
    }

    fn spread(cluster: &Cluster, n: usize) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for tag in tags(n) {
            let node = cluster.place(&tag).unwrap();
            *counts.entry(node.name.clone()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn the_hash_is_fixed_across_processes_and_releases() {
        // Pinned values (computed apart, with Python's hashlib): a change of
        // hash function or byte layout would move every session of a running
        // cluster, so it must show here.
        assert_eq!(
            hash_unit("call-1@example.net", "node-a"),
            (1_048_538_246_906_120.0 + 0.5) / 4_503_599_627_370_496.0
        );
        assert_ne!(hash_unit("c", "ab"), hash_unit("bc", "a"));
        let cluster = three();
        let placed: Vec<&str> = [
            "call-1@example.net",
            "call-2@example.net",
            "call-3@example.net",
        ]
        .iter()
        .map(|tag| cluster.place(tag).unwrap().name.as_str())
        .collect();
        assert_eq!(placed, ["b", "b", "a"]);
    }

    #[test]
    fn the_draw_stays_inside_the_open_interval_at_its_ends() {
        let lowest = 0.5 / (1u64 << 52) as f64;
        let highest = ((1u64 << 52) - 1) as f64 + 0.5;
        assert!(lowest > 0.0 && (-lowest.ln()).is_finite());
        assert!(highest / ((1u64 << 52) as f64) < 1.0);
    }

    #[test]
    fn the_same_tag_goes_to_the_same_node_whatever_the_list_order() {
        let cluster = three();
        let mut reversed: Vec<Node> = cluster.nodes().to_vec();
        reversed.reverse();
        let reversed = Cluster::new(reversed);
        for tag in tags(1000) {
            let first = cluster.place(&tag).unwrap();
            assert_eq!(cluster.place(&tag).unwrap().name, first.name);
            assert_eq!(reversed.place(&tag).unwrap().name, first.name);
            assert_eq!(cluster.ranked(&tag)[0].name, first.name);
        }
    }

    #[test]
    fn equal_nodes_take_a_third_each() {
        let counts = spread(&three(), 30_000);
        for name in ["a", "b", "c"] {
            let share = counts[name] as f64 / 30_000.0;
            assert!((share - 1.0 / 3.0).abs() < 0.02, "{counts:?}");
        }
    }

    #[test]
    fn weights_two_one_one_give_half_a_quarter_and_a_quarter() {
        let mut cluster = three();
        *cluster.node_mut("a").unwrap() = cluster.node("a").unwrap().clone().with_share(2.0);
        let counts = spread(&cluster, 40_000);
        let share = |name: &str| counts[name] as f64 / 40_000.0;
        assert!((share("a") - 0.5).abs() < 0.02, "{counts:?}");
        assert!((share("b") - 0.25).abs() < 0.02, "{counts:?}");
        assert!((share("c") - 0.25).abs() < 0.02, "{counts:?}");
    }

    #[test]
    fn a_node_leaving_moves_only_its_own_tags_to_the_one_second_for_them() {
        let before = three();
        let mut after = before.clone();
        after.node_mut("b").unwrap().state = NodeState::Draining;
        let mut removed = before.clone();
        removed.remove("b");
        for tag in tags(5000) {
            let ranked = before.ranked(&tag);
            let now = after.place(&tag).unwrap();
            assert_eq!(removed.place(&tag).unwrap().name, now.name);
            if ranked[0].name == "b" {
                assert_eq!(now.name, ranked[1].name);
            } else {
                assert_eq!(now.name, ranked[0].name);
            }
        }
    }

    #[test]
    fn down_draining_and_weightless_nodes_take_nothing() {
        let mut cluster = three();
        cluster.node_mut("a").unwrap().state = NodeState::Down;
        cluster.node_mut("b").unwrap().weight = 0.0;
        for tag in tags(500) {
            assert_eq!(cluster.place(&tag).unwrap().name, "c");
        }
        cluster.node_mut("c").unwrap().state = NodeState::Draining;
        assert!(cluster.place("x").is_none());
        assert!(cluster.ranked("x").is_empty());
    }

    #[test]
    fn a_worse_priority_takes_sessions_only_when_the_better_one_cannot() {
        let mut cluster = Cluster::new([
            Node::named("a", "http://a:50051"),
            Node::named("standby", "http://s:50051").with_priority(10),
        ]);
        for tag in tags(200) {
            assert_eq!(cluster.place(&tag).unwrap().name, "a");
        }
        cluster.node_mut("a").unwrap().state = NodeState::Down;
        assert_eq!(cluster.place("x").unwrap().name, "standby");
    }

    #[test]
    fn place_except_gives_the_next_node_in_rank() {
        let cluster = three();
        for tag in tags(300) {
            let ranked = cluster.ranked(&tag);
            let first = &ranked[0].name;
            assert_eq!(
                cluster.place_except(&tag, first).unwrap().name,
                ranked[1].name
            );
            assert_eq!(&cluster.place_except(&tag, "zz").unwrap().name, first);
        }
    }

    #[test]
    fn a_rediscovery_keeps_what_the_last_refresh_learnt() {
        let mut cluster = three();
        {
            let b = cluster.node_mut("b").unwrap();
            b.state = NodeState::Draining;
            b.weight = 0.5;
            b.load = Some(Load {
                sessions: 7,
                ..Load::default()
            });
        }
        cluster.update([
            Node::named("b", "http://b2:50051").with_share(2.0),
            Node::named("d", "http://d:50051"),
        ]);
        let names: Vec<&str> = cluster.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["b", "d"]);
        let b = cluster.node("b").unwrap();
        assert_eq!(b.control, "http://b2:50051");
        assert_eq!((b.state, b.weight), (NodeState::Draining, 1.0));
        assert_eq!(b.load.unwrap().sessions, 7);
        assert_eq!(cluster.node("d").unwrap().state, NodeState::Serving);
    }

    #[test]
    fn duplicate_names_keep_the_first() {
        let cluster = Cluster::new([
            Node::named("a", "http://first:1"),
            Node::named("a", "http://second:1"),
        ]);
        assert_eq!(cluster.nodes().len(), 1);
        assert_eq!(cluster.nodes()[0].control, "http://first:1");
    }
}
