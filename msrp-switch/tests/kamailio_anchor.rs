//! Kamailio anchors MSRP in the switch, as it would RTP in rtpengine: Debian's
//! Kamailio runs `deploy/kamailio/kamailio.cfg` as it ships (the switch's HTTP
//! address given by a define), SIP user agents (`msrp_test_support::sip`) call
//! each other through it with `m=message` SDP, and MSRP peers use only the
//! paths of the SDP their agent received. Messages go both ways through the
//! switch; a re-INVITE's new accept-types take effect at its 200 OK; BYE
//! releases the session (a later SEND gets 481). Three agents INVITE a chat
//! room and talk in it.
//!
//! `.ci/run` installs `kamailio` and `kamailio-utils-modules` (http_client);
//! without them the test says it was skipped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use control_api::auth::Auth;
use control_api::sdp::parse_media_section;
use msrp_switch::codec::MsrpUri;
use msrp_test_support::http::HttpFront;
use msrp_test_support::sip::{SipMessage, SipUa};
use msrp_test_support::{Peer, TempDir, hash, start_engine};
use serde_json::json;
use tokio::net::UdpSocket;

const KAMAILIO: &str = "/usr/sbin/kamailio";
const HTTP_CLIENT: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/http_client.so";
const A: &str = "msrp://127.0.0.1:41301/alice001;tcp";
const B: &str = "msrp://127.0.0.1:41302/bob00002;tcp";

/// Kamailio, stopped with its children (SIGTERM by its pid) when dropped.
struct Kamailio {
    child: Child,
    addr: SocketAddr,
    _run: TempDir,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        msrp_test_support::process::stop(&mut self.child);
    }
}

fn installed() -> bool {
    let ok = Path::new(KAMAILIO).exists() && Path::new(HTTP_CLIENT).exists();
    if !ok {
        eprintln!(
            "SKIPPED: needs kamailio and kamailio-utils-modules \
             (apt-get install -y kamailio kamailio-utils-modules; .ci/run does)"
        );
    }
    ok
}

/// Kamailio with the shipped config on a free UDP port, the switch's HTTP
/// front at `switch`; returns once it answers SIP.
async fn start_kamailio(switch: SocketAddr) -> Kamailio {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let run = TempDir::new("kamailio-anchor");
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kamailio/kamailio.cfg");
    let log = std::fs::File::create(run.path().join("kamailio.log")).unwrap();
    // KAMAILIO_DEBUG=1: its log, with each anchoring step, on the test's stderr.
    let debug = std::env::var_os("KAMAILIO_DEBUG").is_some();
    let mut command = Command::new(KAMAILIO);
    if debug {
        command.args(["-A", "WITH_DEBUG"]);
    }
    let child = command
        .arg("-f")
        .arg(&config)
        .args(["-DD", "-E", "-l"])
        .arg(format!("udp:127.0.0.1:{port}"))
        .arg("-A")
        .arg(format!("MSRP_SWITCH=\"http://{switch}\""))
        .args(["-n", "2", "-m", "64", "-M", "8", "-Y"])
        .arg(run.path())
        .stdout(Stdio::null())
        .stderr(if debug { Stdio::inherit() } else { log.into() })
        .spawn()
        .unwrap();
    let kamailio = Kamailio {
        child,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        _run: run,
    };
    // An OPTIONS with Max-Forwards 0 gets a 483 once it runs.
    let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = probe.local_addr().unwrap();
    let started = Instant::now();
    loop {
        let options = format!(
            "OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKprobe\r\n\
             Max-Forwards: 0\r\nFrom: <sip:probe@example.com>;tag=p\r\nTo: <sip:ping@example.com>\r\n\
             Call-ID: probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        probe
            .send_to(options.as_bytes(), kamailio.addr)
            .await
            .unwrap();
        let mut buf = [0u8; 2048];
        let answered =
            tokio::time::timeout(Duration::from_millis(200), probe.recv_from(&mut buf)).await;
        if answered.is_ok() {
            return kamailio;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "kamailio did not answer on {port}: {}",
            std::fs::read_to_string(kamailio._run.path().join("kamailio.log")).unwrap_or_default()
        );
    }
}

/// A UA's SDP: an audio section, then MSRP at `path`.
fn sdp(path: &str, accept_types: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
         m=message 41300 TCP/MSRP *\r\na=path:{path}\r\na=accept-types:{accept_types}\r\n\
         a=accept-wrapped-types:*\r\na=setup:active\r\n"
    )
}

/// The MSRP URI the SDP a UA received tells it to talk to; it must be the
/// switch's (never `not`, the other side's own path), with the audio intact.
fn path_in(message: &SipMessage, switch: SocketAddr, not: &str) -> MsrpUri {
    assert!(
        message
            .body
            .contains("m=audio 49170 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"),
        "{message:?}"
    );
    assert!(
        !message.body.contains(not),
        "the other side's path leaked: {message:?}"
    );
    let media = parse_media_section(&message.body).unwrap();
    let uri = MsrpUri::parse_str(&media.path[0]).unwrap();
    assert_eq!(uri.port(), Some(switch.port()), "{uri}");
    uri
}

/// `from` sends `body`; `to` receives it whole, answers 200, and its hash is
/// checked.
async fn carry(from: &mut Peer, to: &mut Peer, message_id: &str, content_type: &str, body: &[u8]) {
    assert_eq!(from.send_as(message_id, content_type, body).await, 200);
    let got = to.read_frame().await;
    assert_eq!(hash(&got.body), hash(body), "{message_id}");
    to.answer(&got, "200 OK").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_kamailio_is_anchored_modified_and_released() {
    if !installed() {
        return;
    }
    let engine = start_engine(1, |_| {});
    let http = HttpFront::start(&engine, Auth::none(), "127.0.0.1:0").await;
    let kamailio = start_kamailio(http.addr()).await;
    let switch = engine.local_addr();
    let alice = SipUa::new("alice", kamailio.addr).await;
    let bob = SipUa::new("bob", kamailio.addr).await;

    // INVITE alice -> bob through Kamailio; bob answers 200.
    let (bob_contact, offer) = (bob.contact(), sdp(A, "text/plain"));
    let (invited, answered) = tokio::join!(alice.invite(&bob_contact, &bob.aor, &offer), async {
        let invite = bob.request().await;
        assert_eq!(invite.method(), Some("INVITE"));
        let dialog = bob
            .answer(&invite, "200 OK", &sdp(B, "text/plain"))
            .await
            .unwrap();
        (invite, dialog)
    });
    let (ok, alice_dialog) = invited;
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let mut alice_dialog = alice_dialog.unwrap();
    let (invite, mut bob_dialog) = answered;
    assert_eq!(bob.request().await.method(), Some("ACK"));
    let to_switch_b = path_in(&invite, switch, "alice001");
    let to_switch_a = path_in(&ok, switch, "bob00002");

    let mut a = Peer::connect(switch, A, &to_switch_a).await;
    let mut b = Peer::connect(switch, B, &to_switch_b).await;
    a.bind().await;
    b.bind().await;
    let big: Vec<u8> = (0..200_000).map(|i| (i % 251) as u8).collect();
    carry(
        &mut a,
        &mut b,
        "kam00001",
        "text/plain",
        b"hello bob, via the switch",
    )
    .await;
    carry(&mut b, &mut a, "kam00002", "text/plain", &big).await;
    assert_eq!(a.send_as("kam00003", "text/html", b"<b>no</b>").await, 415);

    // Bob re-INVITEs with text/html too; it holds only once alice's 200 is in.
    let reoffer = sdp(B, "text/plain text/html");
    let (reinvite_answer, ()) =
        tokio::join!(bob.in_dialog(&mut bob_dialog, "INVITE", &reoffer), async {
            let reinvite = alice.request().await;
            assert_eq!(reinvite.method(), Some("INVITE"));
            assert_eq!(path_in(&reinvite, switch, "bob00002"), to_switch_a);
            // Staged, not in force: HTML is still refused.
            assert_eq!(a.send_as("kam00004", "text/html", b"<b>no</b>").await, 415);
            alice
                .answer(&reinvite, "200 OK", &sdp(A, "text/plain text/html"))
                .await;
        });
    assert_eq!(reinvite_answer.status(), Some(200), "{reinvite_answer:?}");
    assert_eq!(path_in(&reinvite_answer, switch, "alice001"), to_switch_b);
    assert_eq!(alice.request().await.method(), Some("ACK"));
    carry(
        &mut a,
        &mut b,
        "kam00005",
        "text/html",
        b"<b>now it goes</b>",
    )
    .await;

    // BYE from alice: the session goes; a later SEND gets 481.
    let (bye_answer, ()) = tokio::join!(alice.in_dialog(&mut alice_dialog, "BYE", ""), async {
        let bye = bob.request().await;
        assert_eq!(bye.method(), Some("BYE"));
        bob.answer(&bye, "200 OK", "").await;
    });
    assert_eq!(bye_answer.status(), Some(200));
    assert!(a.closed_within(Duration::from_secs(5)).await);
    let mut late = Peer::connect(switch, A, &to_switch_a).await;
    assert_eq!(
        late.send_as("kam00006", "text/plain", b"anyone?").await,
        481
    );
    let stats = http.ok("Stats", json!({})).await;
    assert_eq!(stats["sessions"], serde_json::Value::Null, "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_invite_a_chat_room_through_kamailio() {
    if !installed() {
        return;
    }
    const ROOM: &str = "sip:team@conf.example.com";
    let engine = start_engine(1, |_| {});
    let http = HttpFront::start(&engine, Auth::none(), "127.0.0.1:0").await;
    let kamailio = start_kamailio(http.addr()).await;
    let switch = engine.local_addr();
    let mut members = Vec::new();
    for (n, name) in ["alice", "bob", "carol"].into_iter().enumerate() {
        let ua = SipUa::new(name, kamailio.addr).await;
        let path = format!("msrp://127.0.0.1:4131{n}/{name}00;tcp");
        let (ok, dialog) = ua.invite(ROOM, ROOM, &sdp(&path, "message/cpim")).await;
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        assert!(
            ok.body.contains("m=audio 0 RTP/AVP 0\r\n"),
            "audio refused: {ok:?}"
        );
        let media = parse_media_section(&ok.body).unwrap();
        let uri = MsrpUri::parse_str(&media.path[0]).unwrap();
        assert_eq!(uri.port(), Some(switch.port()));
        let mut peer = Peer::connect(switch, &path, &uri).await;
        peer.bind().await;
        members.push((ua, dialog.unwrap(), peer));
    }
    let cpim = format!(
        "From: <sip:alice@example.com>\r\nTo: <{ROOM}>\r\n\r\nContent-Type: text/plain\r\n\r\nhi all"
    );
    assert_eq!(
        members[0]
            .2
            .send_as("room0001", "message/cpim", cpim.as_bytes())
            .await,
        200
    );
    for (_, _, peer) in &mut members[1..] {
        let got = peer.read_frame().await;
        assert_eq!(got.body, cpim.as_bytes());
        peer.answer(&got, "200 OK").await;
    }
    let sessions = http
        .ok("ListSessions", json!({ "kind": "SESSION_KIND_GROUP" }))
        .await;
    let session = sessions["sessions"][0]["sessionId"].clone();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);

    // Carol hangs up: she leaves the room, the others stay.
    let (carol, mut carol_dialog, _) = members.pop().unwrap();
    let bye = carol.in_dialog(&mut carol_dialog, "BYE", "").await;
    assert_eq!(bye.status(), Some(200));
    let left = http.ok("GetSession", json!({ "sessionId": session })).await;
    assert_eq!(left["participants"].as_array().unwrap().len(), 2, "{left}");
}
