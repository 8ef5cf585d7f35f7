//! Where the nodes are: a static list, DNS SRV records `_msrp._tcp.<domain>`
//! (RFC 2782), or a Kubernetes headless service, whose name has one A (or
//! AAAA) record per ready pod (deploy/kubernetes/service.yaml: one pod per
//! node, hostNetwork, so the pod's address is the node's).
//!
//! DNS gives where MSRP is; the control API listens on a port of its own, the
//! same on every node ([`ControlPort`], 50051 in deploy/). The mapping from
//! records to nodes ([`srv_nodes`], [`address_nodes`]) is pure; [`Discovery`]
//! asks a resolver (hickory) and maps what it answers. Re-read the records
//! now and then and hand them to [`Cluster::update`](super::Cluster::update).

use std::net::IpAddr;

use hickory_resolver::TokioResolver;

use super::Node;

/// The control API's port and scheme on every discovered node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPort {
    /// Its TCP port.
    pub port: u16,
    /// `https` (the daemons have `--control-tls-cert`) or `http`.
    pub tls: bool,
}

impl Default for ControlPort {
    /// `http` on 50051, the daemon's and deploy/'s control port.
    fn default() -> Self {
        Self {
            port: 50051,
            tls: false,
        }
    }
}

impl ControlPort {
    /// The control URL on `host` (a name, or an address: IPv6 in brackets).
    pub fn url(&self, host: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("{scheme}://[{v6}]:{}", self.port),
            _ => format!("{scheme}://{host}:{}", self.port),
        }
    }
}

/// One SRV record's data (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is preferred.
    pub priority: u16,
    /// The relative share among records of the same priority.
    pub weight: u16,
    /// Where MSRP listens on the target (not the control port).
    pub port: u16,
    /// The node's host name, with or without its final dot.
    pub target: String,
}

/// Where the nodes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// Control URLs, one per node, each named by its URL.
    Static(Vec<String>),
    /// The SRV records of `_msrp._tcp.<domain>`.
    Srv {
        /// The domain the records are under (`example.net`).
        domain: String,
        /// The control API on each target.
        control: ControlPort,
    },
    /// The A/AAAA records of a headless service's name,
    /// `<service>.<namespace>.svc` (see [`Discovery::kubernetes`]).
    Addresses {
        /// The name to resolve.
        name: String,
        /// The control API on each address.
        control: ControlPort,
    },
}

/// Why the nodes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The lookup failed (no such name, no records of that type, no
    /// resolver answer).
    #[error("looking up {name}: {source}")]
    Lookup {
        /// The name asked for.
        name: String,
        /// What the resolver said.
        #[source]
        source: hickory_resolver::ResolveError,
    },
    /// The records name no node (the SRV target `.`: "decidedly not
    /// available", RFC 2782). An error rather than an empty list, so that a
    /// DNS hiccup does not empty the cluster.
    #[error("{0}: no node in the records")]
    NoNodes(String),
}

impl Discovery {
    /// A Kubernetes headless service: the A/AAAA records of
    /// `<service>.<namespace>.svc` (the pod's search list completes it with
    /// the cluster domain), the control API on `control` of each.
    pub fn kubernetes(service: &str, namespace: &str, control: ControlPort) -> Self {
        Self::Addresses {
            name: format!("{service}.{namespace}.svc"),
            control,
        }
    }

    /// The nodes now: the static list as it is, or what the resolver answers.
    /// For addresses the resolver's strategy decides the family (its default,
    /// IPv4 then IPv6, gives one address per pod of a dual-stack service).
    ///
    /// # Errors
    ///
    /// The lookup failed, or the records name no node.
    pub async fn nodes(&self, resolver: &TokioResolver) -> Result<Vec<Node>, DiscoveryError> {
        let nodes = match self {
            Self::Static(controls) => controls.iter().map(Node::new).collect(),
            Self::Srv { domain, control } => {
                let name = srv_name(domain);
                let lookup = resolver.srv_lookup(name.as_str()).await.map_err(|source| {
                    DiscoveryError::Lookup {
                        name: name.clone(),
                        source,
                    }
                })?;
                let records: Vec<SrvRecord> = lookup
                    .iter()
                    .map(|srv| SrvRecord {
                        priority: srv.priority(),
                        weight: srv.weight(),
                        port: srv.port(),
                        target: srv.target().to_ascii(),
                    })
                    .collect();
                srv_nodes(&records, *control)
            }
            Self::Addresses { name, control } => {
                let lookup = resolver.lookup_ip(name.as_str()).await.map_err(|source| {
                    DiscoveryError::Lookup {
                        name: name.clone(),
                        source,
                    }
                })?;
                let addresses: Vec<IpAddr> = lookup.iter().collect();
                address_nodes(&addresses, *control)
            }
        };
        if nodes.is_empty() {
            return Err(DiscoveryError::NoNodes(self.name()));
        }
        Ok(nodes)
    }

    /// What is looked up, for messages.
    fn name(&self) -> String {
        match self {
            Self::Static(_) => "the static list".to_owned(),
            Self::Srv { domain, .. } => srv_name(domain),
            Self::Addresses { name, .. } => name.clone(),
        }
    }
}

/// `_msrp._tcp.<domain>`: the SRV name of MSRP over TCP (RFC 4975 §15.3
/// registers the service name `msrp`).
pub fn srv_name(domain: &str) -> String {
    format!("_msrp._tcp.{domain}")
}

/// The nodes SRV records name: one per target host (named by it, without
/// the final dot), its SRV priority kept, its share the SRV weight. Weight 0
/// next to positive weights is "a very small chance" (RFC 2782), a share of
/// 0.01; when every record of a priority has weight 0 they share equally. A
/// target listed twice keeps its best priority. The target `.` names no node.
pub fn srv_nodes(records: &[SrvRecord], control: ControlPort) -> Vec<Node> {
    let mut sorted: Vec<&SrvRecord> = records
        .iter()
        .filter(|record| !record.target.trim_end_matches('.').is_empty())
        .collect();
    sorted.sort_by_key(|record| record.priority);
    let all_zero = |priority: u16| {
        sorted
            .iter()
            .filter(|record| record.priority == priority)
            .all(|record| record.weight == 0)
    };
    let mut nodes: Vec<Node> = Vec::with_capacity(sorted.len());
    for record in &sorted {
        let host = record.target.trim_end_matches('.').to_ascii_lowercase();
        if nodes.iter().any(|node| node.name == host) {
            continue;
        }
        let share = match record.weight {
            0 if all_zero(record.priority) => 1.0,
            0 => 0.01,
            weight => f64::from(weight),
        };
        nodes.push(
            Node::named(host.clone(), control.url(&host))
                .with_share(share)
                .with_priority(record.priority),
        );
    }
    nodes
}

/// The nodes a headless service's addresses name: one per address, named by
/// it, of share 1.
pub fn address_nodes(addresses: &[IpAddr], control: ControlPort) -> Vec<Node> {
    let mut nodes: Vec<Node> = Vec::with_capacity(addresses.len());
    for address in addresses {
        let name = address.to_string();
        if nodes.iter().all(|node| node.name != name) {
            nodes.push(Node::named(name.clone(), control.url(&name)));
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

    use hickory_resolver::Resolver;
    use hickory_resolver::config::{NameServerConfig, ResolverConfig};
    use hickory_resolver::name_server::TokioConnectionProvider;
    use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
    use hickory_resolver::proto::rr::rdata::{A, SRV};
    use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
    use hickory_resolver::proto::xfer::Protocol;
    use tokio::net::UdpSocket;

    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            port: 2855,
            target: target.into(),
        }
    }

    #[test]
    fn srv_records_become_nodes_with_their_priority_and_weight() {
        let nodes = srv_nodes(
            &[
                srv(10, 0, "standby.example.net."),
                srv(0, 60, "Big.example.net."),
                srv(0, 20, "small.example.net"),
                srv(0, 0, "tiny.example.net."),
                srv(5, 10, "big.example.net."),
                srv(0, 5, "."),
            ],
            ControlPort::default(),
        );
        let got: Vec<(&str, &str, u16, f64)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.control.as_str(), n.priority, n.share))
            .collect();
        assert_eq!(
            got,
            [
                ("big.example.net", "http://big.example.net:50051", 0, 60.0),
                (
                    "small.example.net",
                    "http://small.example.net:50051",
                    0,
                    20.0
                ),
                ("tiny.example.net", "http://tiny.example.net:50051", 0, 0.01),
                // Alone in its priority with weight 0: an equal share.
                (
                    "standby.example.net",
                    "http://standby.example.net:50051",
                    10,
                    1.0
                ),
            ]
        );
        assert!(srv_nodes(&[srv(0, 0, ".")], ControlPort::default()).is_empty());
    }

    #[test]
    fn addresses_become_nodes_on_the_control_port() {
        let control = ControlPort {
            port: 50443,
            tls: true,
        };
        let nodes = address_nodes(
            &[
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 8)),
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            ],
            control,
        );
        let got: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.control.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.7", "https://10.0.0.7:50443"),
                ("fd00::8", "https://[fd00::8]:50443"),
            ]
        );
        assert_eq!(
            Discovery::kubernetes("msrp-switch", "msrp-switch", ControlPort::default()),
            Discovery::Addresses {
                name: "msrp-switch.msrp-switch.svc".into(),
                control: ControlPort::default(),
            }
        );
    }

    /// A DNS server on a loopback UDP port that answers every SRV question
    /// with two targets and every A question with two addresses (others: no
    /// records),
    /// so the resolver call runs with no real DNS.
    async fn fake_dns() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                let query = Message::from_vec(&buf[..len]).unwrap();
                let mut answer = Message::new();
                answer
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(query.op_code())
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .set_response_code(ResponseCode::NoError);
                for question in query.queries() {
                    answer.add_query(question.clone());
                    let name = question.name().clone();
                    let records: Vec<RData> = match question.query_type() {
                        RecordType::SRV => vec![
                            RData::SRV(SRV::new(
                                0,
                                2,
                                2855,
                                Name::from_ascii("a.example.test.").unwrap(),
                            )),
                            RData::SRV(SRV::new(
                                0,
                                1,
                                2855,
                                Name::from_ascii("b.example.test.").unwrap(),
                            )),
                        ],
                        RecordType::A => vec![
                            RData::A(A(Ipv4Addr::new(127, 0, 0, 11))),
                            RData::A(A(Ipv4Addr::new(127, 0, 0, 12))),
                        ],
                        _ => vec![],
                    };
                    for rdata in records {
                        answer.add_answer(Record::from_rdata(name.clone(), 60, rdata));
                    }
                }
                let _ = socket.send_to(&answer.to_vec().unwrap(), from).await;
            }
        });
        addr
    }

    fn resolver(dns: SocketAddr) -> TokioResolver {
        let mut config = ResolverConfig::new();
        config.add_name_server(NameServerConfig::new(dns, Protocol::Udp));
        Resolver::builder_with_config(config, TokioConnectionProvider::default()).build()
    }

    #[tokio::test]
    async fn srv_and_headless_service_lookups_go_through_the_resolver() {
        let resolver = resolver(fake_dns().await);
        let srv = Discovery::Srv {
            domain: "example.test.".into(),
            control: ControlPort::default(),
        };
        let nodes = srv.nodes(&resolver).await.unwrap();
        let got: Vec<(&str, &str, f64)> = nodes
            .iter()
            .map(|n| (n.name.as_str(), n.control.as_str(), n.share))
            .collect();
        assert_eq!(
            got,
            [
                ("a.example.test", "http://a.example.test:50051", 2.0),
                ("b.example.test", "http://b.example.test:50051", 1.0),
            ]
        );

        let headless = Discovery::kubernetes("msrp-switch", "msrp-switch", ControlPort::default());
        let nodes = headless.nodes(&resolver).await.unwrap();
        let got: Vec<&str> = nodes.iter().map(|n| n.control.as_str()).collect();
        assert_eq!(got, ["http://127.0.0.11:50051", "http://127.0.0.12:50051"]);

        let listed = Discovery::Static(vec!["http://127.0.0.1:1".into()]);
        assert_eq!(
            listed.nodes(&resolver).await.unwrap()[0].name,
            "http://127.0.0.1:1"
        );
        let empty = Discovery::Static(Vec::new());
        assert!(matches!(
            empty.nodes(&resolver).await,
            Err(DiscoveryError::NoNodes(_))
        ));
    }
}
