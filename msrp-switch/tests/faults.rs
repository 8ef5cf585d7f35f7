//! Faults on real sockets: a receiver killed in the middle of a 50 MiB message,
//! and a sender that closes in the middle of a chunk. The promise under test: a
//! 200 from the switch means the chunk reached its receiver (acknowledged) or its
//! sender gets a REPORT for it; a chunk cut off is ended with `#`, never passed
//! off as whole.

use std::collections::BTreeMap;

use msrp_switch::codec::ContinuationFlag;
use msrp_test_support::wire::SendChunk;
use msrp_test_support::{FrameReader, LIMIT, bound_one_to_one, start_engine};
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

const A: &str = "msrp://127.0.0.1:40001/aaaa1111;tcp";
const B: &str = "msrp://127.0.0.1:40002/bbbb2222;tcp";
const CHUNK: usize = 1024 * 1024;
const CHUNKS: usize = 50;

/// A sends B a 50 MiB message in 1 MiB chunks. B answers the first ten chunks
/// 200 and then its connection dies. Every chunk A got a 200 for was either
/// acknowledged by B or is covered by a REPORT (408: no response can come any
/// more), at once rather than after the transaction timeout; the rest of the
/// message is refused 481.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_killed_mid_50_mib_message_leaves_no_200_unaccounted() {
    let engine = start_engine(1, |_| {});
    let (pa, _, a, mut b) = bound_one_to_one(&engine, A, B).await;
    let to_a = pa.local_uri.to_string();
    let (read_a, mut write_a) = a.into_stream().into_split();

    let writer = tokio::spawn(async move {
        let body = vec![b'z'; CHUNK];
        for n in 0..CHUNKS {
            let tid = format!("c{n:07}");
            let frame = SendChunk {
                to_path: &to_a,
                from_path: A,
                tid: &tid,
                message_id: "big50mib",
                start: 1 + n * CHUNK,
                total: CHUNKS * CHUNK,
                extra_headers: "",
                content_type: "application/octet-stream",
                flag: if n + 1 == CHUNKS { '$' } else { '+' },
            }
            .encode(&body);
            if write_a.write_all(&frame).await.is_err() {
                return;
            }
        }
    });
    // A's answers and REPORTs, until every chunk is answered.
    let reader = tokio::spawn(async move {
        let mut reader = FrameReader::new(read_a);
        let mut answers = BTreeMap::new();
        let mut reports = Vec::new();
        while answers.len() < CHUNKS {
            let Some(frame) = reader.try_read_frame().await else {
                panic!(
                    "A's connection closed after {} answers and {} REPORTs: {answers:?}",
                    answers.len(),
                    reports.len()
                );
            };
            match frame.method().as_deref() {
                Some("REPORT") => {
                    let range = frame.head.byte_range().unwrap();
                    let status = frame.head.status().unwrap().code.as_u16();
                    reports.push((range.start, range.end.unwrap(), status));
                }
                None => {
                    answers.insert(frame.tid(), frame.status().unwrap());
                }
                Some(other) => panic!("A got a {other}"),
            }
        }
        // REPORTs may trail the last answer a little; A closed its side, so the
        // switch closes the connection after what it owes.
        while let Ok(Some(frame)) = timeout(LIMIT, reader.try_read_frame()).await {
            let range = frame.head.byte_range().unwrap();
            reports.push((
                range.start,
                range.end.unwrap(),
                frame.head.status().unwrap().code.as_u16(),
            ));
        }
        (answers, reports)
    });

    // B acknowledges ten chunks (the switch's own transactions), then dies.
    let mut acknowledged = Vec::new();
    let mut got = 0usize;
    while acknowledged.len() < 10 {
        let frame = b.read_frame().await;
        assert_eq!(frame.method().as_deref(), Some("SEND"));
        got += frame.body.len();
        let range = frame.head.byte_range().unwrap();
        acknowledged.push((range.start, range.start + frame.body.len() as u64 - 1));
        b.answer(&frame, "200 OK").await;
    }
    drop(b);

    let (answers, reports) = timeout(LIMIT, reader).await.unwrap().unwrap();
    timeout(LIMIT, writer).await.unwrap().unwrap();
    assert!(got >= 10 * CHUNK);
    let ok: Vec<usize> = (0..CHUNKS)
        .filter(|n| answers.get(&format!("c{n:07}")) == Some(&200))
        .collect();
    assert!(ok.len() >= 10, "{answers:?}");
    assert!(
        answers.values().all(|s| *s == 200 || *s == 481),
        "{answers:?}"
    );
    assert!(ok.len() < CHUNKS, "the kill refused nothing: {answers:?}");
    assert!(reports.iter().all(|r| r.2 == 408), "{reports:?}");
    // Every byte of every chunk A has a 200 for: acknowledged by B, or reported.
    let covered = |byte: u64| {
        acknowledged.iter().any(|(s, e)| (*s..=*e).contains(&byte))
            || reports.iter().any(|(s, e, _)| (*s..=*e).contains(&byte))
    };
    for n in ok {
        let (first, last) = ((n * CHUNK + 1) as u64, ((n + 1) * CHUNK) as u64);
        assert!(
            covered(first) && covered(last),
            "chunk {n} answered 200 but neither delivered nor reported: {acknowledged:?} {reports:?}"
        );
    }
}

/// A closes its connection in the middle of a chunk's body: B gets what was
/// forwarded of it, ended with `#` (RFC 4975 §7.1, an interrupted chunk), and A
/// was never answered 200 for it.
#[tokio::test]
async fn a_sender_closing_mid_chunk_ends_the_chunk_with_abort() {
    let engine = start_engine(1, |_| {});
    let (pa, _, mut a, mut b) = bound_one_to_one(&engine, A, B).await;
    let frame = SendChunk {
        to_path: &pa.local_uri.to_string(),
        from_path: A,
        tid: "half0001",
        message_id: "halfmsg1",
        start: 1,
        total: 100_000,
        extra_headers: "",
        content_type: "text/plain",
        flag: '$',
    }
    .encode(&vec![b'h'; 100_000]);
    // The head and 40,000 body bytes, then the connection closes.
    let body_at = frame.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let cut = body_at + 40_000;
    a.write(&frame[..cut]).await;
    drop(a);
    let got = b.read_frame().await;
    assert_eq!(got.flag, ContinuationFlag::Abort);
    assert!(
        !got.body.is_empty() && got.body.len() <= 40_000 && got.body.len() + 16 >= 40_000,
        "{}",
        got.body.len()
    );
    assert!(got.body.iter().all(|&byte| byte == b'h'));
}
