//! 1:1 sessions through the real engine over loopback TCP (issue 4).

mod support;

use support::*;

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";

#[tokio::test]
async fn a_1k_message_is_delivered_with_its_body_and_rewritten_paths() {
    let engine = start_engine(1, |_| {});
    let (_, pa, pb) = one_to_one(&engine, A, B).await;
    let mut a = Peer::connect(engine.local_addr(), A, &pa.local_uri).await;
    let mut b = Peer::connect(engine.local_addr(), B, &pb.local_uri).await;
    a.bind().await;
    b.bind().await;

    let body: Vec<u8> = (0..1024u32).map(|i| (i * 7 % 251) as u8).collect();
    a.send_message("msg00001", &body).await;
    let got = b.read_frame().await;
    assert_eq!(got.method().as_deref(), Some("SEND"));
    assert_eq!(hash(&got.body), hash(&body));
    assert_eq!(got.body.len(), 1024);
    assert_eq!(got.target_path(), [B]);
    assert_eq!(got.sender_path(), [pb.local_uri.to_string()]);
    assert_eq!(got.head.message_id().unwrap().as_str(), "msg00001");
    assert_eq!(got.head.byte_range().unwrap().to_string(), "1-*/1024");
    assert_eq!(got.head.content_type(), Some("text/plain"));
    assert_ne!(got.tid(), "t0000002", "a fresh transaction id per hop");
    b.answer(&got, "200 OK").await;
}
