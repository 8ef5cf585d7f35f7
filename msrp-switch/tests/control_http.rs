//! The control API over HTTP/JSON on the HTTP port (`control_api::http`), as a
//! SIP server's script calls it: every RPC of the proto has its route, a whole
//! 1:1 session is set up, used over real MSRP and released through it, errors
//! carry the field and the reason the gRPC front gives, the token is required
//! when set (and without one only loopback gets in), and WatchEvents streams
//! NDJSON.

use std::collections::BTreeSet;

use control_api::auth::Auth;
use msrp_switch::codec::MsrpUri;
use msrp_test_support::http::{HttpFront, post};
use msrp_test_support::{PATH_A, PATH_B, Peer, TestEngine, sdp_offer, start_engine};
use prost::Message;
use serde_json::{Value, json};

/// The methods of `msrpswitch.v1.SwitchControl` in the proto's descriptor.
fn proto_methods() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(control_api::pb::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    set.file
        .iter()
        .flat_map(|file| &file.service)
        .filter(|service| service.name() == "SwitchControl")
        .flat_map(|service| &service.method)
        .map(|method| method.name().to_owned())
        .collect()
}

async fn front(engine: &TestEngine) -> HttpFront {
    HttpFront::start(engine, Auth::none(), "127.0.0.1:0").await
}

/// A new 1:1 session, created over HTTP; its id.
async fn one_to_one(http: &HttpFront) -> String {
    let created = http
        .ok(
            "CreateSession",
            json!({ "kind": "SESSION_KIND_ONE_TO_ONE" }),
        )
        .await;
    created["sessionId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_of_the_proto_has_its_route() {
    let methods = proto_methods();
    assert!(methods.len() >= 15, "{methods:?}");
    let routed: BTreeSet<String> = control_api::http::METHODS
        .iter()
        .map(|m| (*m).to_owned())
        .collect();
    assert_eq!(
        routed, methods,
        "control_api::http::METHODS and the proto's RPCs"
    );
    // Each is really served: a body that is not JSON gets the route's 400
    // naming `body`, where a path without a route gets the port's plain 404.
    let engine = start_engine(1, |_| {});
    let http = front(&engine).await;
    for method in &methods {
        let answer = http.call(method, "[", None).await;
        assert_eq!(answer.status, 400, "{method}: {answer:?}");
        assert_eq!(
            answer.json["details"][0]["fieldViolations"][0]["field"], "body",
            "{method}: {answer:?}"
        );
    }
    let missing = http.call("NoSuchMethod", "{}", None).await;
    assert_eq!(missing.status, 404);
}

/// The switch's URI for a participant, from AddParticipant's JSON answer.
fn switch_uri(added: &Value) -> MsrpUri {
    let uri = added["local"]["structured"]["path"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no path in {added}"));
    MsrpUri::parse_str(uri).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_to_one_session_is_set_up_used_and_released_over_http() {
    let engine = start_engine(1, |_| {});
    let http = front(&engine).await;
    let session = one_to_one(&http).await;
    let mut added = Vec::new();
    for path in [PATH_A, PATH_B] {
        let answer = http
            .ok(
                "AddParticipant",
                json!({
                    "sessionId": session,
                    "remote": { "sdp": sdp_offer(path, "text/plain") },
                    "correlationTag": "call-7@example.net",
                }),
            )
            .await;
        assert!(
            answer["local"]["sdp"]
                .as_str()
                .unwrap()
                .starts_with("m=message "),
            "{answer}"
        );
        added.push(answer);
    }
    let mut a = Peer::connect(engine.local_addr(), PATH_A, &switch_uri(&added[0])).await;
    let mut b = Peer::connect(engine.local_addr(), PATH_B, &switch_uri(&added[1])).await;
    a.bind().await;
    b.bind().await;
    a.send_message("httpmsg1", b"set up over HTTP").await;
    let got = b.read_frame().await;
    assert_eq!(got.body, b"set up over HTTP");
    b.answer(&got, "200 OK").await;

    let shown = http.ok("GetSession", json!({ "sessionId": session })).await;
    let participants = shown["participants"].as_array().unwrap();
    assert_eq!(participants.len(), 2);
    assert!(participants.iter().all(|p| p["bound"] == true), "{shown}");
    assert_eq!(
        shown["correlationTag"],
        Value::Null,
        "not set on the session"
    );

    let released = http
        .ok("ReleaseSession", json!({ "sessionId": session }))
        .await;
    assert_eq!(released["participants"].as_array().unwrap().len(), 2);
    let gone = http
        .call(
            "GetSession",
            &json!({ "sessionId": session }).to_string(),
            None,
        )
        .await;
    assert_eq!(gone.status, 404, "{gone:?}");
    assert_eq!(
        gone.json["details"][0]["@type"],
        "type.googleapis.com/google.rpc.ResourceInfo"
    );
}

#[tokio::test]
async fn errors_carry_the_field_and_the_reason() {
    let engine = start_engine(1, |_| {});
    let http = front(&engine).await;
    let session = one_to_one(&http).await;

    let malformed = http
        .call(
            "AddParticipant",
            &json!({ "sessionId": session, "remote": { "sdp": "v=0\r\n" } }).to_string(),
            None,
        )
        .await;
    assert_eq!(malformed.status, 400, "{malformed:?}");
    assert_eq!(malformed.json["code"], 3);
    assert_eq!(
        malformed.json["details"][0]["fieldViolations"][0]["field"],
        "remote.sdp"
    );

    // TLS media on a switch without TLS: SIP 488, said as the reason.
    let tls = sdp_offer("msrps://127.0.0.1:40001/tls00001;tcp", "text/plain")
        .replace("TCP/MSRP", "TCP/TLS/MSRP");
    let refused = http
        .call(
            "AddParticipant",
            &json!({ "sessionId": session, "remote": { "sdp": tls } }).to_string(),
            None,
        )
        .await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert_eq!(refused.json["code"], 9, "FAILED_PRECONDITION");
    assert_eq!(
        refused.json["details"][0]["reason"], "not_acceptable_here",
        "{refused:?}"
    );

    let unknown = http
        .call(
            "RemoveParticipant",
            r#"{"participantId": "p-0000000000000001"}"#,
            None,
        )
        .await;
    assert!(
        matches!(unknown.status, 400 | 404),
        "{unknown:?}: an unknown or malformed id, never a 200"
    );
    assert!(
        unknown.json["details"][0]["@type"].is_string(),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn the_token_is_required_when_set_and_without_one_only_loopback_gets_in() {
    let engine = start_engine(1, |_| {});
    let http = HttpFront::start(&engine, Auth::bearer("s3cret"), "127.0.0.1:0").await;
    let none = http.call("Stats", "{}", None).await;
    assert_eq!(none.status, 401, "{none:?}");
    assert_eq!(none.json["code"], 16, "UNAUTHENTICATED");
    let wrong = http.call("Stats", "{}", Some("guess")).await;
    assert_eq!(wrong.status, 401);
    let right = http.call("Stats", "{}", Some("s3cret")).await;
    assert_eq!(right.status, 200, "{right:?}");
    assert_eq!(right.json["shards"], 1);
    // The metrics stay open to the scraper.
    let scrape = msrp_test_support::daemon::scrape(&http.addr().to_string()).await;
    assert!(scrape.starts_with("HTTP/1.1 200"), "{scrape}");

    // Without a token, a caller that is not on loopback is refused. The port
    // listens on every address; the test reaches it through this machine's
    // own non-loopback address, when it has one.
    let Some(own) = own_address() else {
        eprintln!("no non-loopback address: the off-loopback half is not run");
        return;
    };
    let open = HttpFront::start(&engine, Auth::none(), "0.0.0.0:0").await;
    let url = format!(
        "http://{own}:{}{}Stats",
        open.addr().port(),
        control_api::http::SERVICE_PATH
    );
    let refused = post(url, "{}".to_owned(), None).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.json["message"]
            .as_str()
            .unwrap()
            .contains("not on loopback"),
        "{refused:?}"
    );
    let here = post(open.url("Stats"), "{}".to_owned(), None).await;
    assert_eq!(here.status, 200);
}

/// This machine's address on its default route (no packet is sent).
fn own_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_events_streams_one_event_per_line() {
    let engine = start_engine(1, |_| {});
    let http = front(&engine).await;
    let session = one_to_one(&http).await;
    let mut events = http.watch(&json!({ "sessionId": session }).to_string());
    // The stream is open once the server answered; give it a moment to be
    // registered before the event it must see.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let added = http
        .ok(
            "AddParticipant",
            json!({ "sessionId": session, "remote": { "sdp": sdp_offer(PATH_A, "text/plain") } }),
        )
        .await;
    let mut a = Peer::connect(engine.local_addr(), PATH_A, &switch_uri(&added)).await;
    a.bind().await;
    let event = tokio::time::timeout(msrp_test_support::LIMIT, events.recv())
        .await
        .expect("an event line in time")
        .expect("the stream is open");
    assert_eq!(event["sessionId"], session.as_str(), "{event}");
    assert_eq!(event["participantId"], added["participantId"], "{event}");
    assert!(
        event["participantBound"].is_object(),
        "the bind, as a participantBound event: {event}"
    );
}

/// `--http-tls` with a client CA: the HTTP port is TLS with the control
/// API's certificate, a client certificate from the CA lets a call in (and
/// the scrape), and a client without one gets no HTTP at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_client_certificate_from_the_ca_is_required() {
    use msrp_test_support::http::https;
    let pki = msrp_test_support::Pki::new("http-tls");
    let tls = pki.server_files(true).load().unwrap();
    let engine = start_engine(1, |_| {});
    let auth = Auth::none().with_tls(tls.clone());
    let http = HttpFront::start_with_tls(&engine, auth, "127.0.0.1:0", Some(tls)).await;
    let stats = https(
        http.addr(),
        &pki,
        true,
        "POST /msrpswitch.v1.SwitchControl/Stats",
        "{}",
    )
    .await
    .unwrap();
    assert!(stats.starts_with("HTTP/1.1 200 OK\r\n"), "{stats}");
    assert!(stats.ends_with("{\"shards\":1}"), "{stats}");
    let scrape = https(http.addr(), &pki, true, "GET /metrics", "")
        .await
        .unwrap();
    assert!(scrape.contains("msrp_switch_sessions"), "{scrape}");
    // No client certificate: the handshake (or the first read, in TLS 1.3)
    // fails, and no HTTP answer ever comes.
    let refused = https(
        http.addr(),
        &pki,
        false,
        "POST /msrpswitch.v1.SwitchControl/Stats",
        "{}",
    )
    .await;
    assert!(
        !refused.as_ref().is_ok_and(|text| text.starts_with("HTTP/")),
        "{refused:?}"
    );
}
