//! Connection models (issue 14): CEMA through an ALG played by a TCP proxy in the
//! test (RFC 6714), and IPv6 end to end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use msrp_switch::codec::MsrpUri;
use msrp_switch::transport::tls::TlsSettings;
use msrp_switch::transport::{EngineConfig, TlsListen};
use msrp_test_support::tls::{Identity, sdp_fingerprint, tls_peer};
use msrp_test_support::wire::bind_frame;
use msrp_test_support::{PATH_A as A, *};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// An ALG in the path: a TCP proxy on 127.0.0.1 that relays every connection it
/// takes to `target`; it counts them.
async fn alg(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relayed = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&relayed);
    tokio::spawn(async move {
        while let Ok((mut inside, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut outside) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
                }
            });
        }
    });
    (addr, relayed)
}

/// An offer whose `c=`/`m=` the ALG rewrote to its own `address` while the path
/// kept the party's private URI; `a=msrp-cema` if `cema`.
fn offer_through_alg(path: &str, address: SocketAddr, setup: &str, cema: bool) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nt=0 0\r\n\
         m=message {port} TCP/MSRP *\r\nc=IN IP4 {ip}\r\n\
         a=path:{path}\r\na=accept-types:*\r\na=setup:{setup}\r\n{cema}",
        ip = address.ip(),
        port = address.port(),
        cema = if cema { "a=msrp-cema\r\n" } else { "" },
    )
}

/// B is passive behind an ALG: its path names a private address nobody can
/// reach (192.0.2.10, TEST-NET-1), its `c=`/`m=` the ALG. With CEMA the switch
/// connects to the ALG, binds with the path's URI, and B gets A's message.
#[tokio::test]
async fn with_cema_the_switch_connects_to_the_media_address_not_the_path_host() {
    let engine = start_engine(1, |_| {});
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let session = create_one_to_one(&mut client).await;

    let b_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (alg_addr, relayed) = alg(b_listener.local_addr().unwrap()).await;
    let b_path = "msrp://192.0.2.10:40002/bcema001;tcp";
    let added_b = add_with_sdp(
        &mut client,
        &session,
        offer_through_alg(b_path, alg_addr, "passive", true),
    )
    .await;
    let answer = &added_b.local.as_ref().unwrap().sdp;
    assert!(answer.contains("a=msrp-cema\r\n"), "{answer}");
    assert!(answer.contains("a=setup:active\r\n"), "{answer}");

    let (stream, _) = timeout(LIMIT, b_listener.accept()).await.unwrap().unwrap();
    assert_eq!(relayed.load(Ordering::SeqCst), 1, "not through the ALG");
    let mut b = Peer::over(stream, b_path, &switch_uri(&added_b));
    let bind = b.read_frame().await;
    assert_eq!(bind.target_path(), [b_path]);
    b.answer(&bind, "200 OK").await;

    let added_a = add_with_sdp(&mut client, &session, sdp_offer(A, "*")).await;
    let uri_a = MsrpUri::parse_str(&switch_uri(&added_a)).unwrap();
    let mut a = Peer::connect(engine.local_addr(), A, &uri_a).await;
    a.bind().await;
    a.send_message("cema0001", b"through the ALG").await;
    let got = b.read_frame().await;
    assert_eq!(got.body, b"through the ALG");
}

/// A reaches the switch through an ALG that rewrote the switch's URI in A's
/// To-Path to its own address (the session-id kept). With CEMA the session-id
/// alone matches (RFC 6714 §4.3); without it the request names no session of the
/// switch (481, RFC 4975 §7.3).
#[tokio::test]
async fn with_cema_a_rewritten_authority_still_binds_by_session_id() {
    let engine = start_engine(1, |_| {});
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let (alg_addr, relayed) = alg(engine.local_addr()).await;

    for (cema, status) in [(true, 200), (false, 481)] {
        let session = create_one_to_one(&mut client).await;
        let added = add_with_sdp(
            &mut client,
            &session,
            offer_through_alg(A, alg_addr, "active", cema),
        )
        .await;
        let uri = MsrpUri::parse_str(&switch_uri(&added)).unwrap();
        let rewritten = format!(
            "msrp://{alg_addr}/{};tcp",
            uri.session_id().unwrap_or_default()
        );
        assert_ne!(rewritten, uri.as_str());
        let stream = TcpStream::connect(alg_addr).await.unwrap();
        let mut a = Peer::over(stream, A, &rewritten);
        a.write(bind_frame("cemabind", &rewritten, A).as_bytes())
            .await;
        let answer = a.read_frame().await;
        assert_eq!(answer.status(), Some(status), "cema {cema}: {answer:?}");
        assert_eq!(answer.tid(), "cemabind");
    }
    assert_eq!(relayed.load(Ordering::SeqCst), 2);
}

/// IPv6 end to end: TCP and TLS listeners on [::1], the switch's URIs and `c=`
/// lines in IPv6 form, a TCP and a TLS participant exchanging messages.
#[tokio::test]
async fn ipv6_end_to_end_over_tcp_and_tls() {
    let engine = start_engine_with(EngineConfig {
        listen: "[::1]:0".parse().unwrap(),
        shards: 1,
        pin_cores: false,
        tls: Some(TlsListen {
            listen: "[::1]:0".parse().unwrap(),
            settings: TlsSettings {
                self_signed_names: vec!["localhost".into(), "::1".into()],
                ..TlsSettings::default()
            },
        }),
        ..EngineConfig::default()
    });
    let control = ControlServer::start(&engine, None).await;
    let mut client = control.client().await;
    let session = create_one_to_one(&mut client).await;

    let a_path = "msrps://[::1]:40001/aaaa6666;tcp";
    let b_path = "msrp://[::1]:40002/bbbb6666;tcp";
    let alice = Identity::new();
    let ip6_offer = |path: &str, proto: &str, extra: String| {
        format!(
            "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\n\
             m=message 40001 {proto} *\r\nc=IN IP6 ::1\r\n\
             a=path:{path}\r\na=accept-types:*\r\na=setup:active\r\n{extra}"
        )
    };
    let added_a = add_with_sdp(
        &mut client,
        &session,
        ip6_offer(
            a_path,
            "TCP/TLS/MSRP",
            format!("a=fingerprint:{}\r\n", alice.fingerprint()),
        ),
    )
    .await;
    let added_b = add_with_sdp(
        &mut client,
        &session,
        ip6_offer(b_path, "TCP/MSRP", String::new()),
    )
    .await;
    let answer_a = &added_a.local.as_ref().unwrap().sdp;
    let tls_port = engine.tls_addr().unwrap().port();
    assert!(answer_a.contains("c=IN IP6 ::1\r\n"), "{answer_a}");
    assert!(
        switch_uri(&added_a).starts_with(&format!("msrps://[::1]:{tls_port}/")),
        "{}",
        switch_uri(&added_a)
    );
    let uri_b = MsrpUri::parse_str(&switch_uri(&added_b)).unwrap();
    assert_eq!(uri_b.port(), Some(engine.local_addr().port()));
    assert!(uri_b.as_str().starts_with("msrp://[::1]:"), "{uri_b:?}");

    let mut a = tls_peer(
        engine.tls_addr().unwrap(),
        &sdp_fingerprint(answer_a),
        &alice,
        a_path,
        &switch_uri(&added_a),
    )
    .await;
    let mut b = Peer::connect(engine.local_addr(), b_path, &uri_b).await;
    a.bind().await;
    b.bind().await;
    a.send_message("six00001", b"over IPv6 and TLS").await;
    let got = b.read_frame().await;
    assert_eq!(got.body, b"over IPv6 and TLS");
    assert_eq!(got.sender_path(), [uri_b.to_string()]);
    b.answer(&got, "200 OK").await;
    b.send_message("six00002", b"and back").await;
    let got = timeout(Duration::from_secs(5), a.read_frame())
        .await
        .unwrap();
    assert_eq!(got.body, b"and back");
}
