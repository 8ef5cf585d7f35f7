//! Requests whose paths cannot be used (RFC 4975 §7.3): a missing or unreadable
//! To-Path is answered 400 from the switch's own URI when the From-Path can be
//! read; with no readable From-Path no answer can be addressed, so an unbound
//! connection is closed at once instead of waiting for its bind timeout.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::WireIds;
use msrp_proto::stats::Stats;

const CLIENT: &str = "msrp://10.0.0.1:7001/aaaa;tcp";

/// Feeds `frame` to a fresh connection; returns what the switch wrote and
/// whether it is closing the connection.
fn feed(frame: &str) -> (String, bool) {
    let t0 = Instant::now();
    let mut switch = Endpoint::new(
        EndpointConfig::default(),
        0,
        WireIds::seeded(3),
        Arc::new(Stats::default()),
        t0,
    );
    let conn = switch.open_connection(t0);
    switch.handle_input(conn, &mut BytesMut::from(frame), t0);
    let mut out: Vec<Bytes> = Vec::new();
    switch.take_output(conn, &mut out, usize::MAX);
    (
        String::from_utf8_lossy(&out.concat()).into_owned(),
        switch.is_closing(conn),
    )
}

fn send(tid: &str, paths: &str) -> String {
    format!("MSRP {tid} SEND\r\n{paths}Message-ID: m0001\r\nByte-Range: 1-0/0\r\n-------{tid}$\r\n")
}

#[test]
fn an_unreadable_or_missing_to_path_is_answered_400_from_the_switch() {
    for (tid, paths) in [
        (
            "t0002",
            format!("To-Path: not-a-uri\r\nFrom-Path: {CLIENT}\r\n"),
        ),
        ("t0003", format!("From-Path: {CLIENT}\r\n")),
    ] {
        let (written, closing) = feed(&send(tid, &paths));
        assert_eq!(
            written,
            format!(
                "MSRP {tid} 400 Unintelligible\r\nTo-Path: {CLIENT}\r\n\
                 From-Path: msrp://127.0.0.1:2855;tcp\r\n-------{tid}$\r\n"
            ),
            "{paths:?}"
        );
        assert!(!closing, "the connection goes on: {paths:?}");
    }
}

#[test]
fn with_no_readable_from_path_an_unbound_connection_is_closed() {
    for paths in [
        "To-Path: msrp://127.0.0.1:2855/ssss;tcp\r\n".to_owned(),
        "To-Path: msrp://127.0.0.1:2855/ssss;tcp\r\nFrom-Path: garbage\r\n".to_owned(),
    ] {
        let (written, closing) = feed(&send("t0001", &paths));
        assert_eq!(written, "", "{paths:?}");
        assert!(closing, "closed at once: {paths:?}");
    }
}

/// RFC 4975 §7.3: a request reaching its final hop has exactly one URI in its
/// To-Path, which must map to a session; the switch is every participant's
/// final hop, so a second URI (a path through the switch to somewhere else) is
/// refused 481, answered from the first URI, and the connection stays unbound.
#[test]
fn a_to_path_with_more_than_one_uri_is_refused_481() {
    use msrp_proto::codec::MsrpUri;
    use msrp_proto::media::{RemoteMedia, SetupRole};
    use msrp_proto::session::SessionKind;

    let t0 = Instant::now();
    let mut switch = Endpoint::new(
        EndpointConfig::default(),
        0,
        WireIds::seeded(5),
        Arc::new(Stats::default()),
        t0,
    );
    let session = switch.create_session(SessionKind::OneToOne);
    let remote = RemoteMedia {
        path: vec![MsrpUri::parse_str(CLIENT).unwrap()],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup: SetupRole::Passive,
        cema: false,
        ..Default::default()
    };
    let ours = switch
        .add_participant(session, remote, t0)
        .unwrap()
        .local_uri
        .to_string();
    let conn = switch.open_connection(t0);
    let paths =
        format!("To-Path: {ours} msrp://10.9.9.9:2855/beyond;tcp\r\nFrom-Path: {CLIENT}\r\n");
    switch.handle_input(
        conn,
        &mut BytesMut::from(send("t0009", &paths).as_str()),
        t0,
    );
    let mut out: Vec<Bytes> = Vec::new();
    switch.take_output(conn, &mut out, usize::MAX);
    assert_eq!(
        String::from_utf8_lossy(&out.concat()),
        format!(
            "MSRP t0009 481 Session does not exist\r\nTo-Path: {CLIENT}\r\n\
             From-Path: {ours}\r\n-------t0009$\r\n"
        )
    );
    assert!(switch.is_unbound(conn), "a refused request binds nothing");

    // The same request with the one URI binds and is answered 200.
    let paths = format!("To-Path: {ours}\r\nFrom-Path: {CLIENT}\r\n");
    switch.handle_input(
        conn,
        &mut BytesMut::from(send("t0010", &paths).as_str()),
        t0,
    );
    let mut out: Vec<Bytes> = Vec::new();
    switch.take_output(conn, &mut out, usize::MAX);
    assert!(
        String::from_utf8_lossy(&out.concat()).starts_with("MSRP t0010 200 OK\r\n"),
        "{out:?}"
    );
}
