//! Many nodes (design §5, scale-out): three switch processes on loopback, and
//! the signalling plane's side of them, `control_api::placement`. Sessions are
//! placed by correlation tag with rendezvous hashing; the spread over 10,000
//! tags is checked, a sample is created for real on the node chosen, a
//! drained node takes no new session while the session it carries keeps
//! forwarding, and a group past its cap continues on a second node through a
//! chained member. Any node started with the cluster's URLs answers
//! PlaceSession over HTTP/JSON, the same as its peers and the library, and
//! says what is wrong when it cannot. Placing is computation only: its time is printed
//! (`cargo test -p msrp-switch --test cluster -- --nocapture`), never asserted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use clap::Parser;
use control_api::pb;
use control_api::placement::chain::{Joined, Member, join_group};
use control_api::placement::clients::{ClientOptions, Clients, NodeClient};
use control_api::placement::load::Weighting;
use control_api::placement::{Cluster, Node, NodeState};
use msrp_switch::codec::FailureReport;
use msrp_test_support::cluster::TestCluster;
use msrp_test_support::daemon::Daemon;
use msrp_test_support::http::{post, post_each};
use msrp_test_support::{LIMIT, Peer, sdp_media, sdp_offer, switch_uri};
use serde_json::json;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_stream::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_msrp-switch");

/// Tags placed per round (placing is computation only).
const TAGS: usize = 10_000;
/// Of those, sessions created for real on the node chosen.
const SAMPLE: usize = 300;
/// A node's share of the tags may be this far (relative) from its expected one.
const TOLERANCE: f64 = 0.15;
/// The sessions a node is sized for: the headroom weighting's capacity.
const CAPACITY: u64 = 1000;
/// Longer than the test: the drained node must not reach its deadline.
const DRAIN_SECONDS: &str = "120";

fn tags(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix}-{i}@ims.example.net"))
        .collect()
}

/// Places every tag; the node each went to, the count per node, and the time
/// taken (printed).
fn place_all(
    cluster: &Cluster,
    tags: &[String],
    what: &str,
) -> (Vec<String>, BTreeMap<String, usize>) {
    let start = Instant::now();
    let placed: Vec<String> = tags
        .iter()
        .map(|tag| {
            cluster
                .place(tag)
                .expect("a node takes sessions")
                .name
                .clone()
        })
        .collect();
    let took = start.elapsed();
    let mut counts = BTreeMap::new();
    for name in &placed {
        *counts.entry(name.clone()).or_insert(0) += 1;
    }
    println!(
        "placing {} tags over {} nodes ({what}): {took:?}, {:.2} µs per tag; spread {counts:?}",
        tags.len(),
        cluster
            .nodes()
            .iter()
            .filter(|n| n.takes_sessions())
            .count(),
        took.as_secs_f64() * 1e6 / tags.len() as f64,
    );
    (placed, counts)
}

/// `count` of `total` is within [`TOLERANCE`] of the share `expected`.
fn assert_share(name: &str, count: usize, total: usize, expected: f64) {
    let share = count as f64 / total as f64;
    assert!(
        (share - expected).abs() <= expected * TOLERANCE,
        "{name} took {count} of {total} ({share:.3}), expected {expected:.3} ± {:.0} %",
        TOLERANCE * 100.0
    );
}

fn node<'a>(cluster: &'a Cluster, name: &str) -> &'a Node {
    cluster
        .node(name)
        .unwrap_or_else(|| panic!("no node {name}"))
}

async fn create_one_to_one(client: &mut NodeClient, tag: &str) -> String {
    timeout(
        LIMIT,
        client.create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            correlation_tag: tag.to_owned(),
            ..Default::default()
        }),
    )
    .await
    .unwrap()
    .unwrap()
    .into_inner()
    .session_id
}

/// The sessions with `tag` on the node `client` talks to.
async fn sessions_tagged(client: &mut NodeClient, tag: &str) -> Vec<pb::Session> {
    client
        .list_sessions(pb::ListSessionsRequest {
            correlation_tag: tag.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sessions
}

/// A participant whose offer is `sdp_offer(path)`: the switch's URI for it.
async fn add(client: &mut NodeClient, session_id: &str, path: &str) -> String {
    let added = client
        .add_participant(pb::AddParticipantRequest {
            session_id: session_id.to_owned(),
            remote: Some(sdp_media(sdp_offer(path, "text/plain"))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    switch_uri(&added)
}

/// A peer `me` on a new connection to `msrp`, bound to the switch's URI `to`.
async fn bound_peer(msrp: SocketAddr, me: &str, to: &str) -> Peer {
    let stream = timeout(LIMIT, TcpStream::connect(msrp))
        .await
        .unwrap()
        .unwrap();
    let mut peer = Peer::over(stream, me, to);
    peer.bind().await;
    peer
}

/// The next frame is a SEND carrying `body`; answered 200 unless it asks for
/// no answer (RFC 4975 §7.1.2: group copies say `Failure-Report: partial`).
async fn receives(peer: &mut Peer, body: &[u8]) -> msrp_test_support::Frame {
    let frame = peer.read_frame().await;
    assert_eq!(frame.method().as_deref(), Some("SEND"), "{:?}", frame.head);
    assert_eq!(
        String::from_utf8_lossy(&frame.body),
        String::from_utf8_lossy(body)
    );
    if matches!(frame.head.failure_report(), None | Some(FailureReport::Yes)) {
        peer.answer(&frame, "200 OK").await;
    }
    frame
}

/// Three nodes: 10,000 tags spread evenly, 2:1:1 weights give half to the
/// heavy node, removing a node moves only its own third; 300 sessions
/// created where placed exist there and nowhere else, and the refresh reads
/// their load back. Then node C, carrying a live 1:1 session, is drained:
/// the refresh sees NOT_SERVING, 10,000 new tags avoid it, and the session
/// on it still forwards a message sent after the drain began. When C has
/// finished and exited, the refresh marks it down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_sessions_and_a_drained_node_takes_no_new_one() {
    let mut nodes = TestCluster::spawn(BIN, 3, &["--drain-seconds", DRAIN_SECONDS]).await;
    let [a, b, c] = ["node-a", "node-b", "node-c"];
    let mut cluster = nodes.cluster();
    let mut clients = Clients::new(ClientOptions {
        weighting: Weighting::Headroom {
            capacity_sessions: CAPACITY,
        },
        ..ClientOptions::default()
    });
    clients.refresh(&mut cluster).await;
    for node in cluster.nodes() {
        assert_eq!(node.state, NodeState::Serving, "{node:?}");
        assert_eq!(node.load.unwrap().sessions, 0, "{node:?}");
        assert_eq!(node.weight, 1.0, "{node:?}");
    }

    // The spread: a third each, within 15 %.
    let first = tags("call", TAGS);
    let (placed, counts) = place_all(&cluster, &first, "equal weights");
    for name in [a, b, c] {
        assert_share(name, counts[name], TAGS, 1.0 / 3.0);
    }

    // Weights 2:1:1: about half on the heavy node, a quarter on each other.
    let mut weighted = cluster.clone();
    let heavy = node(&weighted, a).clone().with_share(2.0);
    *weighted.node_mut(a).unwrap() = heavy;
    let (_, weighted_counts) = place_all(&weighted, &first, "weights 2:1:1");
    assert_share(a, weighted_counts[a], TAGS, 0.5);
    assert_share(b, weighted_counts[b], TAGS, 0.25);
    assert_share(c, weighted_counts[c], TAGS, 0.25);

    // A node removed moves only its own tags, about a third of them.
    let mut without_b = cluster.clone();
    without_b.remove(b).unwrap();
    let (replaced, _) = place_all(&without_b, &first, "node-b removed");
    let moved = placed
        .iter()
        .zip(&replaced)
        .filter(|(before, after)| before != after)
        .inspect(|(before, _)| assert_eq!(before.as_str(), b, "a tag moved off a node that stayed"))
        .count();
    assert_eq!(
        moved, counts[b],
        "every tag of node-b moved, and only those"
    );
    assert_share("the tags moved", moved, TAGS, 1.0 / 3.0);

    // A sample created for real: each session exists on the node it was
    // placed on, with its tag, and on no other.
    let mut created: BTreeMap<String, u64> = BTreeMap::new();
    for (tag, name) in first.iter().zip(&placed).take(SAMPLE) {
        let mut client = clients.client(node(&cluster, name)).unwrap();
        let session_id = create_one_to_one(&mut client, tag).await;
        let session = client
            .get_session(pb::GetSessionRequest {
                session_id: session_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(session.correlation_tag, *tag);
        *created.entry(name.clone()).or_insert(0) += 1;
        for other in [a, b, c].into_iter().filter(|other| other != name) {
            let mut elsewhere = clients.client(node(&cluster, other)).unwrap();
            let found = sessions_tagged(&mut elsewhere, tag).await;
            assert!(found.is_empty(), "{tag} is on {other} too: {found:?}");
        }
    }
    assert_eq!(created.values().sum::<u64>(), SAMPLE as u64);
    // The refresh reads their load back, and the headroom weight follows it.
    clients.refresh(&mut cluster).await;
    for name in [a, b, c] {
        let node = node(&cluster, name);
        let sessions = created.get(name).copied().unwrap_or(0);
        assert_eq!(node.load.unwrap().sessions, sessions, "{node:?}");
        let expected = 1.0 / (1.0 + sessions as f64 / CAPACITY as f64);
        assert!((node.weight - expected).abs() < 1e-12, "{node:?}");
    }

    // A live 1:1 session on node C: a message crosses it.
    let tag = (0..)
        .map(|i| format!("live-{i}@ims.example.net"))
        .find(|tag| cluster.place(tag).unwrap().name == c)
        .unwrap();
    let msrp_c = nodes.daemon(c).msrp;
    let mut control_c = clients.client(node(&cluster, c)).unwrap();
    let live = create_one_to_one(&mut control_c, &tag).await;
    let (path_a, path_b) = (
        "msrp://127.0.0.1:40001/alice0001;tcp",
        "msrp://127.0.0.1:40002/bob00001;tcp",
    );
    let to_a = add(&mut control_c, &live, path_a).await;
    let to_b = add(&mut control_c, &live, path_b).await;
    let mut alice = bound_peer(msrp_c, path_a, &to_a).await;
    let mut bob = bound_peer(msrp_c, path_b, &to_b).await;
    alice.send_message("msg00001", b"before the drain").await;
    receives(&mut bob, b"before the drain").await;
    // m2 reaches bob, who holds his 200: node C has a message in flight, so
    // its drain goes on (a drain ends as soon as nothing is in flight).
    alice
        .send_message("msg00002", b"in flight as the drain begins")
        .await;
    let held = bob.read_frame().await;
    assert_eq!(held.body, b"in flight as the drain begins");

    // Drain C: health turns NOT_SERVING, which the refresh reads as draining.
    let drained = control_c
        .drain(pb::DrainRequest {
            deadline_seconds: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(drained.deadline_seconds.to_string(), DRAIN_SECONDS);
    clients.refresh(&mut cluster).await;
    assert_eq!(node(&cluster, c).state, NodeState::Draining);
    assert_eq!(node(&cluster, a).state, NodeState::Serving);
    assert_eq!(node(&cluster, b).state, NodeState::Serving);

    // 10,000 new sessions: none on C, half each on A and B.
    let second = tags("after-drain", TAGS);
    let (_, counts) = place_all(&cluster, &second, "node-c draining");
    assert_eq!(counts.get(c), None, "a tag placed on the draining node");
    assert_share(a, counts[a], TAGS, 0.5);
    assert_share(b, counts[b], TAGS, 0.5);
    // Had it been asked anyway, C would refuse.
    let refused = control_c
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");

    // C's session still works: a message sent after the drain began arrives.
    alice
        .send_message("msg00003", b"after the drain began")
        .await;
    receives(&mut bob, b"after the drain began").await;
    bob.answer(&held, "200 OK").await;

    // Nothing left in flight: C finishes, closes and exits well before its
    // deadline; the next refresh finds it down.
    let exited = timeout(LIMIT, nodes.daemon_mut(c).child.wait())
        .await
        .expect("the drained node did not exit")
        .unwrap();
    assert!(exited.success(), "{exited:?}");
    assert!(bob.closed_within(LIMIT).await);
    clients.refresh(&mut cluster).await;
    assert_eq!(node(&cluster, c).state, NodeState::Down);
    assert_eq!(node(&cluster, c).load, None);
    let (_, counts) = place_all(&cluster, &second, "node-c down");
    assert_eq!(counts.get(c), None);
}

const ROOM: &str = "sip:overflow-room@chat.example.net";

/// A group member's structured offer: it connects (`a=setup:active`).
fn member_offer(path: &str) -> pb::RemoteMedia {
    pb::RemoteMedia {
        media: Some(pb::remote_media::Media::Structured(pb::Media {
            path: vec![path.to_owned()],
            accept_types: vec!["message/cpim".into()],
            accept_wrapped_types: vec!["*".into()],
            setup: pb::Setup::Active as i32,
            transport: pb::Transport::Tcp as i32,
            ..pb::Media::default()
        })),
    }
}

fn member(name: &str, path: &str) -> Member {
    Member {
        identity: pb::Identity {
            im_address: format!("sip:{name}@example.com"),
            ..Default::default()
        },
        remote: member_offer(path),
        correlation_tag: format!("{name}-call@ims.example.net"),
    }
}

/// A Message/CPIM body (RFC 3862) from `name` to the room.
fn cpim(name: &str, payload: &str) -> Vec<u8> {
    format!(
        "From: <sip:{name}@example.com>\r\nTo: <{ROOM}>\r\n\r\n\
         Content-Type: text/plain\r\n\r\n{payload}"
    )
    .into_bytes()
}

/// A group of cap 2 on the node its identity places on: alice and bob join
/// there; carol, the third, joins on the other node, chained into the group
/// (a 1:1 session there whose uplink is the group's participant for carol, A
/// connecting to B). Messages cross both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_past_its_cap_continues_on_another_node_through_a_chained_member() {
    let nodes = TestCluster::spawn(BIN, 2, &[]).await;
    let mut cluster = nodes.cluster();
    let mut clients = Clients::new(ClientOptions::default());
    clients.refresh(&mut cluster).await;
    let home = cluster.place(ROOM).unwrap().clone();
    let overflow = cluster.place_except(ROOM, &home.name).unwrap().clone();
    assert_ne!(home.name, overflow.name);
    let (msrp_home, msrp_overflow) = (
        nodes.daemon(&home.name).msrp,
        nodes.daemon(&overflow.name).msrp,
    );
    let mut group_node = clients.client(&home).unwrap();
    let mut overflow_node = clients.client(&overflow).unwrap();
    let mut events = group_node
        .watch_events(pb::WatchEventsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let room = group_node
        .create_session(pb::CreateSessionRequest {
            kind: pb::SessionKind::Group as i32,
            group_identity: ROOM.into(),
            correlation_tag: ROOM.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .session_id;

    const CAP: usize = 2;
    let mut peers = Vec::new();
    for (name, n) in [("alice", 1), ("bob", 2), ("carol", 3)] {
        let path = format!("msrp://127.0.0.1:4100{n}/{name}0001;tcp");
        let joined = join_group(
            &mut group_node,
            &room,
            CAP,
            &mut overflow_node,
            member(name, &path),
        )
        .await
        .unwrap();
        let to = switch_uri(joined.answer());
        let msrp = match &joined {
            Joined::Local(_) => {
                assert_ne!(name, "carol", "the third member joined past the cap");
                msrp_home
            }
            Joined::Chained(chained) => {
                assert_eq!(name, "carol", "{name} was chained below the cap");
                // B: carol and the uplink; A: the group, carol's leg included.
                let overflow_session = overflow_node
                    .get_session(pb::GetSessionRequest {
                        session_id: chained.session_id.clone(),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(overflow_session.participants.len(), 2);
                let uplink = overflow_session
                    .participants
                    .iter()
                    .find(|p| p.participant_id == chained.uplink_id)
                    .unwrap();
                let group_leg = group_node
                    .get_participant(pb::GetParticipantRequest {
                        key: Some(pb::get_participant_request::Key::ParticipantId(
                            chained.group_participant_id.clone(),
                        )),
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(group_leg.session_id, room);
                assert_eq!(
                    group_leg.identity.unwrap().im_address,
                    "sip:carol@example.com"
                );
                assert!(!group_leg.pending, "the group's offer was answered");
                assert!(
                    uplink.local_uri.contains(&msrp_overflow.to_string()),
                    "{uplink:?}"
                );
                // A connects to B and binds its leg for carol.
                timeout(LIMIT, async {
                    loop {
                        let event = events.next().await.unwrap().unwrap();
                        if event.participant_id == chained.group_participant_id
                            && matches!(event.kind, Some(pb::event::Kind::ParticipantBound(_)))
                        {
                            return;
                        }
                    }
                })
                .await
                .expect("the group's node never bound its leg to the overflow node");
                msrp_overflow
            }
        };
        assert!(to.contains(&msrp.to_string()), "{name}'s switch URI {to}");
        peers.push(bound_peer(msrp, &path, &to).await);
    }
    let room_size = group_node
        .get_session(pb::GetSessionRequest {
            session_id: room.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .participants
        .len();
    assert_eq!(room_size, 3);
    let [alice, bob, carol] = &mut peers[..] else {
        unreachable!()
    };

    // carol, on the overflow node, speaks to the room on the group's node.
    let hello = cpim("carol", "hello from the overflow node");
    assert_eq!(carol.send_as("carol001", "message/cpim", &hello).await, 200);
    receives(alice, &hello).await;
    receives(bob, &hello).await;

    // And bob's answer reaches her through both nodes.
    let reply = cpim("bob", "hello, carol");
    assert_eq!(bob.send_as("bob00001", "message/cpim", &reply).await, 200);
    receives(alice, &reply).await;
    receives(carol, &reply).await;
}

/// Tags placed over HTTP/JSON per round.
const HTTP_TAGS: usize = 3_000;
/// The cluster refresh of the daemons that place: short, so a drain shows
/// in their answers within a fraction of a second.
const REFRESH_SECONDS: &str = "0.3";

/// The URL of `PlaceSession` on a daemon's HTTP port.
fn place_url(daemon: &Daemon) -> String {
    format!(
        "http://{}{}PlaceSession",
        daemon.metrics,
        control_api::http::SERVICE_PATH
    )
}

/// Asks `daemon` over HTTP/JSON where each tag goes: the chosen node's
/// control URL per tag, each answer checked for its shape.
async fn place_over_http(daemon: &Daemon, tags: &[String]) -> Vec<String> {
    let bodies = tags
        .iter()
        .map(|tag| json!({ "correlationTag": tag }).to_string())
        .collect();
    post_each(place_url(daemon), bodies)
        .await
        .into_iter()
        .map(|answer| {
            assert_eq!(answer.status, 200, "{answer:?}");
            let chosen = &answer.json["chosen"];
            assert_eq!(answer.json["ranking"][0], *chosen, "{answer:?}");
            assert_eq!(chosen["state"], "NODE_STATE_SERVING", "{answer:?}");
            assert_eq!(chosen["host"], "127.0.0.1", "{answer:?}");
            chosen["controlUrl"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The control URL -> state of every node in `daemon`'s answer for a tag
/// (empty while it answers an error: before its first refresh).
async fn states(daemon: &Daemon) -> BTreeMap<String, String> {
    let answer = post(
        place_url(daemon),
        json!({ "correlationTag": "probe" }).to_string(),
        None,
    )
    .await;
    answer.json["ranking"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|node| {
            (
                node["controlUrl"].as_str().unwrap_or_default().to_owned(),
                node["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Waits until `daemon`'s refresh has found every node in the state
/// `expected` gives it.
async fn until_states(daemon: &Daemon, expected: &BTreeMap<String, String>) {
    timeout(LIMIT, async {
        loop {
            if states(daemon).await == *expected {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} never saw {expected:?}", daemon.control));
}

/// How many of `placed` went to each node.
fn count(placed: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in placed {
        *counts.entry(node.clone()).or_insert(0) += 1;
    }
    counts
}

/// PlaceSession over HTTP/JSON, as a SIP server's script asks it: three
/// daemons, each started with all three nodes' URLs. Node A places 3,000
/// tags about a third on each node, B and C give the same answer for every
/// tag (as does the library and `msrpctl place --ask`), and the calls are
/// counted in the control-call metrics. Node C then drains (held open by a
/// message in flight): within a refresh its state is draining in every
/// node's answer and no new tag goes to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_places_sessions_over_http_and_a_drained_node_gets_none() {
    let nodes = TestCluster::spawn_meshed(
        BIN,
        3,
        &[
            "--cluster-refresh-seconds",
            REFRESH_SECONDS,
            "--drain-seconds",
            DRAIN_SECONDS,
        ],
    )
    .await;
    let [a, b, c] = [&nodes.daemons[0], &nodes.daemons[1], &nodes.daemons[2]];
    let serving: BTreeMap<String, String> = nodes
        .daemons
        .iter()
        .map(|d| (d.control.clone(), "NODE_STATE_SERVING".to_owned()))
        .collect();
    for daemon in [a, b, c] {
        until_states(daemon, &serving).await;
    }

    // A third each, within 15 %.
    let first = tags("http", HTTP_TAGS);
    let placed = place_over_http(a, &first).await;
    let counts = count(&placed);
    for daemon in [a, b, c] {
        assert_share(
            &daemon.control,
            counts[&daemon.control],
            HTTP_TAGS,
            1.0 / 3.0,
        );
    }
    println!("PlaceSession over HTTP on node A, {HTTP_TAGS} tags: {counts:?}");
    // Every front, the same answer: B's, C's, and the library's over the
    // same list.
    assert_eq!(place_over_http(b, &first).await, placed, "node B differs");
    assert_eq!(place_over_http(c, &first).await, placed, "node C differs");
    let library = Cluster::new(nodes.daemons.iter().map(|d| Node::new(d.control.clone())));
    for (tag, node) in first.iter().zip(&placed) {
        assert_eq!(library.place(tag).unwrap().control, *node, "{tag}");
    }
    // msrpctl asks a node over gRPC: the same again.
    let cli = msrpctl::Cli::try_parse_from([
        "msrpctl", "--server", &b.control, "--json", "place", "--tag", &first[0], "--ask",
    ])
    .unwrap();
    let mut out = Vec::new();
    timeout(LIMIT, msrpctl::run(&cli, &mut out))
        .await
        .unwrap()
        .unwrap();
    let asked: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(asked["chosen"]["controlUrl"], placed[0].as_str(), "{asked}");
    assert_eq!(asked["ranking"].as_array().unwrap().len(), 3, "{asked}");
    // Counted as every control call is.
    let ok = a
        .metric(r#"msrp_switch_control_calls_total{method="PlaceSession",code="OK"}"#)
        .await;
    assert!(ok >= HTTP_TAGS as i64, "{ok}");

    // A live 1:1 session on C whose second message bob holds unanswered: C
    // has something in flight, so its drain goes on.
    let mut control_c = Clients::new(ClientOptions::default())
        .client(&Node::new(c.control.clone()))
        .unwrap();
    let live = create_one_to_one(&mut control_c, "held@ims.example.net").await;
    let (path_a, path_b) = (
        "msrp://127.0.0.1:40011/alice0011;tcp",
        "msrp://127.0.0.1:40012/bob00011;tcp",
    );
    let to_a = add(&mut control_c, &live, path_a).await;
    let to_b = add(&mut control_c, &live, path_b).await;
    let mut alice = bound_peer(c.msrp, path_a, &to_a).await;
    let mut bob = bound_peer(c.msrp, path_b, &to_b).await;
    alice.send_message("msg00011", b"in flight").await;
    let held = bob.read_frame().await;
    assert_eq!(held.body, b"in flight");
    control_c
        .drain(pb::DrainRequest {
            deadline_seconds: 0,
        })
        .await
        .unwrap();

    // Within a refresh every node sees C draining; no new tag goes to it.
    let mut draining = serving.clone();
    draining.insert(c.control.clone(), "NODE_STATE_DRAINING".to_owned());
    for daemon in [a, b] {
        until_states(daemon, &draining).await;
    }
    let second = tags("http-after-drain", HTTP_TAGS);
    let placed = place_over_http(a, &second).await;
    let counts = count(&placed);
    assert_eq!(
        counts.get(&c.control),
        None,
        "a tag placed on the draining node"
    );
    assert_share(&a.control, counts[&a.control], HTTP_TAGS, 0.5);
    assert_share(&b.control, counts[&b.control], HTTP_TAGS, 0.5);
    assert_eq!(place_over_http(b, &second).await, placed, "node B differs");
    bob.answer(&held, "200 OK").await;
}

/// PlaceSession's errors over HTTP/JSON: a switch started without a cluster
/// answers FAILED_PRECONDITION naming the flags; a missing or oversized tag
/// is INVALID_ARGUMENT naming `correlation_tag`; with no node taking
/// sessions (the only one listed does not answer) UNAVAILABLE saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn place_session_says_what_is_wrong() {
    let alone = Daemon::spawn(BIN, &[]).await;
    let refused = post(
        place_url(&alone),
        json!({ "correlationTag": "call-1@example.net" }).to_string(),
        None,
    )
    .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.json["code"], 9, "FAILED_PRECONDITION: {refused:?}");
    assert_eq!(
        refused.json["details"][0]["reason"], "no_cluster",
        "{refused:?}"
    );
    let message = refused.json["message"].as_str().unwrap();
    for flag in ["--cluster-node", "--cluster-srv", "--cluster-kubernetes"] {
        assert!(message.contains(flag), "{message}");
    }

    // A cluster of one node that is not there.
    let silent = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let lonely = Daemon::spawn(
        BIN,
        &[
            "--cluster-node",
            &format!("http://{silent}"),
            "--cluster-refresh-seconds",
            REFRESH_SECONDS,
        ],
    )
    .await;
    for body in [
        json!({}),
        json!({ "correlationTag": "" }),
        json!({ "correlationTag": "x".repeat(257) }),
    ] {
        let bad = post(place_url(&lonely), body.to_string(), None).await;
        assert_eq!(bad.status, 400, "{body}: {bad:?}");
        assert_eq!(bad.json["code"], 3, "INVALID_ARGUMENT: {bad:?}");
        assert_eq!(
            bad.json["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert_eq!(
            bad.json["details"][0]["fieldViolations"][0]["field"], "correlation_tag",
            "{bad:?}"
        );
    }
    let unavailable = timeout(LIMIT, async {
        loop {
            let answer = post(
                place_url(&lonely),
                json!({ "correlationTag": "call-1@example.net" }).to_string(),
                None,
            )
            .await;
            assert_eq!(answer.status, 503, "{answer:?}");
            assert_eq!(answer.json["code"], 14, "UNAVAILABLE: {answer:?}");
            // Before the first refresh ends, it says so; then why.
            if !answer.json["message"]
                .as_str()
                .unwrap()
                .contains("not been refreshed yet")
            {
                return answer;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the first refresh never ended");
    assert_eq!(
        unavailable.json["message"],
        format!("no node takes sessions: http://{silent} down"),
        "{unavailable:?}"
    );
}
