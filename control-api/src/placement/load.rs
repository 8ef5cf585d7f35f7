//! A node's state and weight from what it reports: its gRPC health
//! (`grpc.health.v1`, NOT_SERVING from the moment a drain begins) and its
//! `Stats`. Pure computation; [`clients`](super::clients) does the asking.

use crate::pb;

use super::{Load, Node, NodeState};

/// How a node's load lowers its weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Weighting {
    /// The weight is the node's share, whatever its load: a stable placement
    /// (a tag keeps its node for as long as the node set is unchanged).
    Fixed,
    /// The weight is the node's share times its headroom,
    /// `1 / (1 + sessions / (share × capacity_sessions))`: an empty node
    /// weighs its share, one holding its capacity half of that. New sessions
    /// lean towards the emptier nodes (a node back from a restart fills up
    /// first), at the price that a tag's node can change between refreshes:
    /// keep each session's node with the session.
    Headroom {
        /// The sessions a node of share 1 is sized for; must be above 0.
        capacity_sessions: u64,
    },
}

impl Default for Weighting {
    /// Headroom with 100,000 sessions per share: about 1.4 GB of idle legs at
    /// ~7 KB each (README, Performance), well inside one node's memory.
    fn default() -> Self {
        Self::Headroom {
            capacity_sessions: 100_000,
        }
    }
}

impl Weighting {
    /// The weight of a node of `share` carrying `load`.
    pub fn weight(&self, share: f64, load: &Load) -> f64 {
        let share = if share.is_finite() {
            share.max(0.0)
        } else {
            0.0
        };
        match *self {
            Self::Fixed => share,
            Self::Headroom { capacity_sessions } => {
                let capacity = share * capacity_sessions as f64;
                if capacity <= 0.0 {
                    return share;
                }
                share / (1.0 + load.sessions as f64 / capacity)
            }
        }
    }
}

/// What one node answered when asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Its health service: `Some(true)` SERVING, `Some(false)` anything else
    /// (NOT_SERVING while it drains); `None`: no answer.
    pub serving: Option<bool>,
    /// Its Stats; `None`: no answer (down, or the token refused).
    pub stats: Option<pb::StatsResponse>,
}

impl Report {
    /// A node that answered nothing.
    pub fn unreachable() -> Self {
        Self::default()
    }

    /// The state this report puts a node in: serving only if it says so and
    /// its Stats answer (a node that refuses our token cannot take our
    /// sessions either); draining if health says anything but SERVING; down
    /// if health does not answer.
    pub fn state(&self) -> NodeState {
        match (self.serving, &self.stats) {
            (Some(true), Some(_)) => NodeState::Serving,
            (Some(true), None) | (None, _) => NodeState::Down,
            (Some(false), _) => NodeState::Draining,
        }
    }

    /// The load its Stats give.
    pub fn load(&self) -> Option<Load> {
        self.stats.as_ref().map(|stats| Load {
            sessions: stats.sessions,
            participants: stats.participants,
            connections: stats.connections,
        })
    }
}

/// Puts `report` into `node`: its state, its load and the weight `weighting`
/// gives it (the share, when the report has no load).
pub fn apply(node: &mut Node, report: &Report, weighting: &Weighting) {
    node.state = report.state();
    node.load = report.load();
    node.weight = match &node.load {
        Some(load) => weighting.weight(node.share, load),
        None => weighting.weight(node.share, &Load::default()),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(sessions: u64) -> pb::StatsResponse {
        pb::StatsResponse {
            sessions,
            participants: 2 * sessions,
            connections: 2 * sessions,
            ..Default::default()
        }
    }

    #[test]
    fn headroom_halves_the_weight_at_capacity() {
        let weighting = Weighting::Headroom {
            capacity_sessions: 1000,
        };
        let at = |sessions| {
            weighting.weight(
                1.0,
                &Load {
                    sessions,
                    ..Load::default()
                },
            )
        };
        assert_eq!(at(0), 1.0);
        assert_eq!(at(1000), 0.5);
        assert!(at(100) > at(200));
        // A node twice the size is sized for twice the sessions.
        let big = weighting.weight(
            2.0,
            &Load {
                sessions: 2000,
                ..Load::default()
            },
        );
        assert_eq!(big, 1.0);
        assert_eq!(Weighting::Fixed.weight(2.0, &Load::default()), 2.0);
        assert_eq!(Weighting::Fixed.weight(f64::NAN, &Load::default()), 0.0);
    }

    #[test]
    fn a_report_sets_state_load_and_weight() {
        let weighting = Weighting::Headroom {
            capacity_sessions: 10,
        };
        let mut node = Node::new("http://127.0.0.1:1");
        let serving = Report {
            serving: Some(true),
            stats: Some(stats(10)),
        };
        apply(&mut node, &serving, &weighting);
        assert_eq!(node.state, NodeState::Serving);
        assert_eq!(node.load.unwrap().participants, 20);
        assert_eq!(node.weight, 0.5);

        let draining = Report {
            serving: Some(false),
            stats: Some(stats(3)),
        };
        apply(&mut node, &draining, &weighting);
        assert_eq!(node.state, NodeState::Draining);
        assert_eq!(node.load.unwrap().sessions, 3);
        assert!(!node.takes_sessions());

        apply(&mut node, &Report::unreachable(), &weighting);
        assert_eq!((node.state, node.load), (NodeState::Down, None));

        let refused_token = Report {
            serving: Some(true),
            stats: None,
        };
        assert_eq!(refused_token.state(), NodeState::Down);
    }
}
