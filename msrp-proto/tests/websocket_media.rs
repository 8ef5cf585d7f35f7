//! RFC 7977 in the sans-IO core: a participant whose own URI has transport `ws`
//! is a WebSocket client. The switch answers it with a `;ws` URI on its
//! WebSocket port (refusing it when it has none), never connects to it, binds
//! it only on a WebSocket connection, and carries its messages to and from a
//! TCP participant like any other.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use msrp_proto::codec::MsrpUri;
use msrp_proto::control::{ControlError, Event};
use msrp_proto::endpoint::{Endpoint, EndpointConfig};
use msrp_proto::ids::{ConnId, WireIds};
use msrp_proto::media::{
    ConnectionReuse, Offered, OfferedSetup, OfferedTransport, Transport, remote_media,
};
use msrp_proto::security::{BindRefusal, Security};
use msrp_proto::session::SessionKind;
use msrp_proto::stats::Stats;

#[path = "support/frames.rs"]
mod frames;

use frames::{Frame, FrameReader};

/// The browser's path, as RFC 7977 §9's examples give it.
const BROWSER: &str = "msrps://df7jal23ls0d.invalid:2855/98cjs;ws";
const DESK: &str = "msrp://127.0.0.1:41002/desk0001;tcp";

fn offered(path: &str, setup: OfferedSetup, transport: OfferedTransport) -> Offered {
    Offered {
        path: vec![MsrpUri::parse_str(path).unwrap()],
        accept_types: vec!["*".into()],
        accept_wrapped_types: Vec::new(),
        max_size: None,
        setup,
        transport,
        cema: false,
        fingerprints: Vec::new(),
        media_address: None,
        connection: ConnectionReuse::New,
    }
}

fn switch(wss_port: Option<u16>) -> (Endpoint, Instant) {
    let now = Instant::now();
    let config = EndpointConfig {
        tls_port: Some(2856),
        wss_port,
        ..EndpointConfig::default()
    };
    let switch = Endpoint::new(
        config,
        0,
        WireIds::seeded(9),
        Arc::new(Stats::default()),
        now,
    );
    (switch, now)
}

fn read(switch: &mut Endpoint, conn: ConnId, reader: &mut FrameReader) -> Vec<Frame> {
    let mut pieces = Vec::new();
    switch.take_output(conn, &mut pieces, usize::MAX);
    reader.decode(&pieces.concat())
}

fn send(to: &MsrpUri, from: &str, tid: &str, body: &str) -> BytesMut {
    BytesMut::from(
        format!(
            "MSRP {tid} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: m{tid}\r\n\
             Byte-Range: 1-{}/{}\r\nContent-Type: text/plain\r\n\r\n{body}\r\n-------{tid}$\r\n",
            body.len(),
            body.len()
        )
        .as_bytes(),
    )
}

#[test]
fn a_websocket_client_is_answered_on_the_websocket_port_or_refused_without_one() {
    let media = remote_media(offered(
        BROWSER,
        OfferedSetup::Active,
        OfferedTransport::Tls,
    ))
    .unwrap();
    assert!(media.websocket);
    assert_eq!(media.transport, Transport::Tls);

    let (mut without, now) = switch(None);
    let session = without.create_session(SessionKind::OneToOne);
    let refused = without.add_participant(session, media.clone(), now);
    assert!(
        matches!(&refused, Err(ControlError::NotAcceptable(why)) if why.contains("WebSocket")),
        "{refused:?}"
    );

    let (mut with, now) = switch(Some(4443));
    let session = with.create_session(SessionKind::OneToOne);
    let info = with.add_participant(session, media, now).unwrap();
    let uri = info.local_uri.to_string();
    assert!(uri.starts_with("msrps://127.0.0.1:4443/"), "{uri}");
    assert!(uri.ends_with(";ws"), "{uri}");
}

#[test]
fn the_switch_never_connects_to_a_websocket_client() {
    let passive = remote_media(offered(
        BROWSER,
        OfferedSetup::Passive,
        OfferedTransport::Tls,
    ));
    let err = passive.unwrap_err();
    assert_eq!(err.field, "remote.setup");
    assert!(err.not_acceptable, "{err}");
    // actpass (or nothing said): the switch answers passive; the client connects.
    for setup in [OfferedSetup::Actpass, OfferedSetup::Unspecified] {
        assert!(remote_media(offered(BROWSER, setup, OfferedTransport::Tls)).is_ok());
    }
}

/// The browser binds only on a WebSocket connection (403 and a `bind_refused`
/// event on another), then exchanges a message each way with a TCP participant.
#[test]
fn a_websocket_participant_binds_on_a_websocket_connection_and_talks_to_tcp() {
    let (mut switch, now) = switch(Some(4443));
    let session = switch.create_session(SessionKind::OneToOne);
    let browser = switch
        .add_participant(
            session,
            remote_media(offered(
                BROWSER,
                OfferedSetup::Active,
                OfferedTransport::Tls,
            ))
            .unwrap(),
            now,
        )
        .unwrap();
    let desk = switch
        .add_participant(
            session,
            remote_media(offered(DESK, OfferedSetup::Active, OfferedTransport::Tcp)).unwrap(),
            now,
        )
        .unwrap();

    // Over TLS, but not WebSocket: refused.
    let wrong = switch.open_connection_with(Security::Tls(None), now);
    let mut wrong_reader = FrameReader::new();
    switch.handle_input(
        wrong,
        &mut send(&browser.local_uri, BROWSER, "bind0001", ""),
        now,
    );
    let refused = read(&mut switch, wrong, &mut wrong_reader);
    assert_eq!(refused[0].status(), Some(403));
    let mut saw = false;
    while let Some(event) = switch.poll_event() {
        saw |= matches!(
            event,
            Event::BindRefused {
                reason: BindRefusal::NotWebSocket,
                ..
            }
        );
    }
    assert!(saw, "a bind_refused event says why");

    let ws = switch.open_websocket_connection(Security::Tls(None), now);
    let tcp = switch.open_connection(now);
    let (mut ws_reader, mut tcp_reader) = (FrameReader::new(), FrameReader::new());
    switch.handle_input(
        ws,
        &mut send(&browser.local_uri, BROWSER, "bind0002", ""),
        now,
    );
    switch.handle_input(tcp, &mut send(&desk.local_uri, DESK, "bind0003", ""), now);
    assert_eq!(read(&mut switch, ws, &mut ws_reader)[0].status(), Some(200));
    assert_eq!(
        read(&mut switch, tcp, &mut tcp_reader)[0].status(),
        Some(200)
    );

    switch.handle_input(
        ws,
        &mut send(&browser.local_uri, BROWSER, "tx000001", "hi desk"),
        now,
    );
    assert_eq!(read(&mut switch, ws, &mut ws_reader)[0].status(), Some(200));
    let at_desk = read(&mut switch, tcp, &mut tcp_reader);
    assert_eq!(at_desk[0].body, b"hi desk");
    assert_eq!(at_desk[0].target_path(), [DESK]);

    switch.handle_input(
        tcp,
        &mut send(&desk.local_uri, DESK, "tx000002", "hi browser"),
        now,
    );
    let at_browser = read(&mut switch, ws, &mut ws_reader);
    assert_eq!(at_browser[0].body, b"hi browser");
    assert_eq!(at_browser[0].target_path(), [BROWSER]);
    assert_eq!(at_browser[0].sender_path(), [browser.local_uri.to_string()]);
}
