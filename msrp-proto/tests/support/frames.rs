//! What the sans-IO scenario tests read back from the switch: whole frames,
//! decoded with the crate's own decoder from the bytes
//! [`Endpoint::take_output`](msrp_proto::endpoint::Endpoint::take_output) hands
//! out. Shared by the scenario files (`#[path = "support/frames.rs"] mod frames;`).

#![allow(dead_code)] // each scenario file uses the part it needs

use bytes::BytesMut;
use msrp_proto::codec::{ContinuationFlag, Decoder, Head, Item, Limits};

/// One whole frame as a peer reads it.
#[derive(Debug)]
pub struct Frame {
    pub head: Head,
    pub body: Vec<u8>,
    pub flag: ContinuationFlag,
}

impl Frame {
    pub fn tid(&self) -> &str {
        self.head.transaction_id().as_str()
    }
    pub fn method(&self) -> Option<&str> {
        self.head.method_name()
    }
    pub fn status(&self) -> Option<u16> {
        self.head.response_status().map(|s| s.as_u16())
    }
    pub fn target_path(&self) -> Vec<String> {
        self.head.to_path().map(|u| u.to_string()).collect()
    }
    pub fn sender_path(&self) -> Vec<String> {
        self.head.from_path().map(|u| u.to_string()).collect()
    }
    pub fn message_id(&self) -> String {
        self.head.message_id().unwrap().as_str().to_string()
    }
    pub fn byte_range(&self) -> String {
        self.head.byte_range().unwrap().to_string()
    }
}

/// Decodes what one connection receives, across writes: a frame still streaming
/// waits in `partial` for the rest.
pub struct FrameReader {
    decoder: Decoder,
    buf: BytesMut,
    /// A frame whose end-line has not arrived yet.
    pub partial: Option<(Head, Vec<u8>)>,
}

impl FrameReader {
    pub fn new() -> Self {
        Self {
            decoder: Decoder::new(Limits::default()),
            buf: BytesMut::new(),
            partial: None,
        }
    }

    /// The frames `bytes` complete; a malformed one fails the test.
    pub fn decode(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.buf.extend_from_slice(bytes);
        let mut frames = Vec::new();
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(Item::Head(head))) => {
                    assert!(self.partial.is_none(), "a head inside a frame");
                    self.partial = Some((head, Vec::new()));
                }
                Ok(Some(Item::Body(piece))) => {
                    self.partial.as_mut().unwrap().1.extend_from_slice(&piece);
                }
                Ok(Some(Item::End(flag))) => {
                    let (head, body) = self.partial.take().unwrap();
                    frames.push(Frame { head, body, flag });
                }
                Ok(None) => return frames,
                Err(err) => panic!("the switch wrote a malformed frame: {err}"),
            }
        }
    }

    /// Body bytes received of the frame still streaming (including the few the
    /// decoder holds back until it knows they are not an end-line).
    pub fn partial_body(&self) -> usize {
        self.partial
            .as_ref()
            .map_or(0, |(_, body)| body.len() + self.buf.len())
    }
}
