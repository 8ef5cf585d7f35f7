//! The control API of every node: one lazily connected channel per node
//! (tonic reconnects it when the node comes back), the bearer token and TLS
//! settings every call carries, and the refresh that asks each node for its
//! health and Stats and puts the answers into the [`Cluster`].

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::auth::BearerToken;
use crate::pb;
use crate::pb::switch_control_client::SwitchControlClient;

use super::load::{Report, Weighting, apply};
use super::{Cluster, Node};

/// A control API client for one node, carrying the cluster's token.
pub type NodeClient = SwitchControlClient<InterceptedService<Channel, BearerToken>>;

/// How the nodes are reached and weighed.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The longest a connection attempt or one call may take; a node that
    /// does not answer a refresh within it is down.
    pub timeout: Duration,
    /// `Bearer <token>` on every call (the daemons' `--control-token`).
    pub token: BearerToken,
    /// TLS for `https://` nodes (the CA, and a client certificate for mTLS;
    /// see [`ClientTlsFiles`](crate::tls::ClientTlsFiles)).
    pub tls: Option<ClientTlsConfig>,
    /// How load lowers a node's weight.
    pub weighting: Weighting,
}

impl Default for ClientOptions {
    /// 2 s per call, no token, no TLS, the default headroom weighting.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            token: BearerToken::default(),
            tls: None,
            weighting: Weighting::default(),
        }
    }
}

/// Why no client could be made for a node.
#[derive(Debug, thiserror::Error)]
#[error("node {node}: control API URL {control}: {reason}")]
pub struct EndpointError {
    /// The node's name.
    pub node: String,
    /// Its control URL.
    pub control: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The channels to a cluster's nodes, made on first use and kept (keyed by
/// control URL, so a node that moves gets a new one) until a refresh finds
/// their node gone.
#[derive(Debug)]
pub struct Clients {
    options: ClientOptions,
    channels: HashMap<String, Channel>,
}

impl Clients {
    /// No channel yet; each is made when a node is first asked.
    pub fn new(options: ClientOptions) -> Self {
        Self {
            options,
            channels: HashMap::new(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// A client for `node`'s control API (the node [`Cluster::place`] chose,
    /// to create the session on). It connects on its first call.
    ///
    /// # Errors
    ///
    /// The node's control URL is not one, or the TLS settings do not apply.
    pub fn client(&mut self, node: &Node) -> Result<NodeClient, EndpointError> {
        let channel = self.channel(node)?;
        Ok(SwitchControlClient::with_interceptor(
            channel,
            self.options.token.clone(),
        ))
    }

    /// Asks every node of `cluster` at once for its health and Stats, and
    /// sets each node's state, load and weight from the answers: SERVING and
    /// Stats is serving, NOT_SERVING draining, no answer within the timeout
    /// down. Returns when every node answered or timed out.
    pub async fn refresh(&mut self, cluster: &mut Cluster) {
        // Channels of nodes gone from the cluster (a pod replaced under a new
        // address) are dropped, so the map does not grow with churn.
        self.channels
            .retain(|control, _| cluster.nodes().iter().any(|node| node.control == *control));
        let mut probes = JoinSet::new();
        for (at, node) in cluster.nodes().iter().enumerate() {
            match self.channel(node) {
                Ok(channel) => {
                    // The health service takes no token (the daemon checks it
                    // on SwitchControl only): the bare channel.
                    let health = HealthClient::new(channel.clone());
                    let client =
                        SwitchControlClient::with_interceptor(channel, self.options.token.clone());
                    let timeout = self.options.timeout;
                    probes.spawn(async move { (at, probe(client, health, timeout).await) });
                }
                Err(err) => tracing::warn!(%err, "placement: node not asked"),
            }
        }
        let mut reports = vec![Report::unreachable(); cluster.nodes().len()];
        while let Some(joined) = probes.join_next().await {
            // A probe that panicked leaves its node unreachable: down.
            if let Ok((at, report)) = joined {
                if let Some(slot) = reports.get_mut(at) {
                    *slot = report;
                }
            }
        }
        for (node, report) in cluster.nodes.iter_mut().zip(&reports) {
            let before = node.state;
            apply(node, report, &self.options.weighting);
            if node.state != before {
                tracing::info!(
                    node = %node.name,
                    from = before.as_str(),
                    to = node.state.as_str(),
                    "placement: node state changed"
                );
            }
        }
    }

    fn channel(&mut self, node: &Node) -> Result<Channel, EndpointError> {
        if let Some(channel) = self.channels.get(&node.control) {
            return Ok(channel.clone());
        }
        let invalid = |reason: String| EndpointError {
            node: node.name.clone(),
            control: node.control.clone(),
            reason,
        };
        let mut endpoint = Endpoint::from_shared(node.control.clone())
            .map_err(|err| invalid(err.to_string()))?
            .connect_timeout(self.options.timeout)
            .timeout(self.options.timeout)
            .tcp_nodelay(true);
        if let Some(tls) = &self.options.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|err| invalid(err.to_string()))?;
        }
        let channel = endpoint.connect_lazy();
        self.channels.insert(node.control.clone(), channel.clone());
        Ok(channel)
    }
}

/// One node's answers: health for the SwitchControl service, then Stats.
async fn probe(
    mut client: NodeClient,
    mut health: HealthClient<Channel>,
    timeout: Duration,
) -> Report {
    let checked = tokio::time::timeout(
        timeout,
        health.check(HealthCheckRequest {
            service: format!("{}.SwitchControl", crate::PACKAGE),
        }),
    )
    .await;
    let serving = match checked {
        Ok(Ok(response)) => Some(response.into_inner().status == ServingStatus::Serving as i32),
        Ok(Err(status)) => {
            tracing::debug!(%status, "placement: health check failed");
            None
        }
        Err(_) => None,
    };
    if serving.is_none() {
        return Report::unreachable();
    }
    let stats = match tokio::time::timeout(timeout, client.stats(pb::StatsRequest {})).await {
        Ok(Ok(response)) => Some(response.into_inner()),
        Ok(Err(status)) => {
            tracing::debug!(%status, "placement: Stats failed");
            None
        }
        Err(_) => None,
    };
    Report { serving, stats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::NodeState;

    #[tokio::test]
    async fn a_node_that_does_not_answer_is_down_and_a_bad_url_is_refused() {
        // A port nothing listens on: bound, then released.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut cluster = Cluster::new([Node::new(format!("http://{closed}"))]);
        let mut clients = Clients::new(ClientOptions {
            timeout: Duration::from_millis(500),
            ..ClientOptions::default()
        });
        clients.refresh(&mut cluster).await;
        assert_eq!(cluster.nodes()[0].state, NodeState::Down);
        assert!(cluster.place("call-1").is_none());

        let err = clients.client(&Node::new("not a url")).unwrap_err();
        assert!(err.to_string().contains("not a url"), "{err}");
    }
}
