//! HEPv3 (the Homer / heplify encapsulation, sipcapture.org "HEP3 Network
//! Protocol Specification"): a captured frame as one packet of chunks.
//!
//! ```text
//!  "HEP3" | total length (u16) | chunk | chunk | …
//!  chunk:  vendor id (u16, 0 = generic) | type id (u16) | chunk length (u16, header included) | payload
//! ```
//! Every integer is in network byte order. The generic chunks written here:
//! 1 IP family, 2 IP protocol (TCP), 3/4 IPv4 or 5/6 IPv6 source and
//! destination, 7/8 ports, 9/10 time (seconds, microseconds), 11 protocol type,
//! 12 capture agent id, 14 authentication key (when configured), 15 payload,
//! 17 correlation id (the SIP Call-ID, so Homer links the MSRP to its call).

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

/// Generic chunk type ids (vendor 0).
pub mod chunk {
    /// IP protocol family: 2 IPv4, 10 IPv6.
    pub const IP_FAMILY: u16 = 1;
    /// IP protocol id: 6 TCP.
    pub const IP_PROTOCOL: u16 = 2;
    /// IPv4 source address.
    pub const IPV4_SOURCE: u16 = 3;
    /// IPv4 destination address.
    pub const IPV4_DESTINATION: u16 = 4;
    /// IPv6 source address.
    pub const IPV6_SOURCE: u16 = 5;
    /// IPv6 destination address.
    pub const IPV6_DESTINATION: u16 = 6;
    /// Source port.
    pub const SOURCE_PORT: u16 = 7;
    /// Destination port.
    pub const DESTINATION_PORT: u16 = 8;
    /// Timestamp, seconds since the epoch.
    pub const TIME_SECONDS: u16 = 9;
    /// Timestamp, microseconds within the second.
    pub const TIME_MICROS: u16 = 10;
    /// Protocol type of the payload.
    pub const PROTOCOL_TYPE: u16 = 11;
    /// Capture agent id.
    pub const AGENT_ID: u16 = 12;
    /// Authentication key (the collector's password).
    pub const AUTH_KEY: u16 = 14;
    /// The captured payload.
    pub const PAYLOAD: u16 = 15;
    /// Correlation id.
    pub const CORRELATION_ID: u16 = 17;
}

/// What one packet says besides the payload.
#[derive(Debug, Clone)]
pub struct Packet<'a> {
    /// Who sent the frame.
    pub source: SocketAddr,
    /// Who it went to.
    pub destination: SocketAddr,
    /// When it passed.
    pub time: SystemTime,
    /// The protocol type chunk's value.
    pub protocol_type: u8,
    /// The capture agent id.
    pub agent_id: u32,
    /// The collector's password, if it wants one.
    pub auth_key: Option<&'a str>,
    /// The correlation id (empty: none).
    pub correlation: &'a str,
    /// The captured bytes.
    pub payload: &'a [u8],
}

/// The most bytes one HEP packet holds (its length field is 16 bits).
pub const MAX_PACKET: usize = u16::MAX as usize;

/// Room left for the payload by the other chunks (the largest they can be).
pub const fn payload_room(auth_key_len: usize, correlation_len: usize) -> usize {
    // Header, then: family, protocol (7 each), two IPv6 addresses (22 each),
    // two ports (8 each), two times (10 each), type (7), agent (10), key,
    // payload and correlation headers (6 each).
    let fixed = 6 + 7 + 7 + 22 + 22 + 8 + 8 + 10 + 10 + 7 + 10 + 6 + 6 + 6;
    MAX_PACKET.saturating_sub(fixed + auth_key_len + correlation_len)
}

/// Encodes `packet` (the payload cut to fit one packet, see [`payload_room`]).
pub fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + packet.payload.len());
    out.extend_from_slice(b"HEP3");
    out.extend_from_slice(&[0, 0]); // total length, set at the end
    let (family, source, destination): (u8, Vec<u8>, Vec<u8>) =
        match (packet.source.ip(), packet.destination.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (2, s.octets().to_vec(), d.octets().to_vec()),
            (s, d) => (10, v6(s).to_vec(), v6(d).to_vec()),
        };
    put(&mut out, chunk::IP_FAMILY, &[family]);
    put(&mut out, chunk::IP_PROTOCOL, &[6]);
    let (src_type, dst_type) = if family == 2 {
        (chunk::IPV4_SOURCE, chunk::IPV4_DESTINATION)
    } else {
        (chunk::IPV6_SOURCE, chunk::IPV6_DESTINATION)
    };
    put(&mut out, src_type, &source);
    put(&mut out, dst_type, &destination);
    put(
        &mut out,
        chunk::SOURCE_PORT,
        &packet.source.port().to_be_bytes(),
    );
    put(
        &mut out,
        chunk::DESTINATION_PORT,
        &packet.destination.port().to_be_bytes(),
    );
    let since = packet.time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
    put(&mut out, chunk::TIME_SECONDS, &seconds.to_be_bytes());
    put(
        &mut out,
        chunk::TIME_MICROS,
        &since.subsec_micros().to_be_bytes(),
    );
    put(&mut out, chunk::PROTOCOL_TYPE, &[packet.protocol_type]);
    put(&mut out, chunk::AGENT_ID, &packet.agent_id.to_be_bytes());
    if let Some(key) = packet.auth_key {
        put(&mut out, chunk::AUTH_KEY, key.as_bytes());
    }
    let room = payload_room(
        packet.auth_key.map_or(0, str::len),
        packet.correlation.len(),
    );
    let payload = &packet.payload[..packet.payload.len().min(room)];
    put(&mut out, chunk::PAYLOAD, payload);
    if !packet.correlation.is_empty() {
        put(
            &mut out,
            chunk::CORRELATION_ID,
            packet.correlation.as_bytes(),
        );
    }
    let total = u16::try_from(out.len()).unwrap_or(u16::MAX);
    out[4..6].copy_from_slice(&total.to_be_bytes());
    out
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Appends one generic chunk.
fn put(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = u16::try_from(payload.len() + 6).unwrap_or(u16::MAX);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..usize::from(len) - 6]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunks of a packet: (vendor, type, payload).
    fn chunks(packet: &[u8]) -> Vec<(u16, u16, Vec<u8>)> {
        assert_eq!(&packet[..4], b"HEP3");
        let total = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
        assert_eq!(total, packet.len());
        let mut at = 6;
        let mut out = Vec::new();
        while at < total {
            let vendor = u16::from_be_bytes([packet[at], packet[at + 1]]);
            let kind = u16::from_be_bytes([packet[at + 2], packet[at + 3]]);
            let len = usize::from(u16::from_be_bytes([packet[at + 4], packet[at + 5]]));
            out.push((vendor, kind, packet[at + 6..at + len].to_vec()));
            at += len;
        }
        out
    }

    #[test]
    fn every_chunk_is_where_the_specification_puts_it() {
        let time = UNIX_EPOCH + std::time::Duration::new(1_765_000_000, 123_456_000);
        let bytes = encode(&Packet {
            source: "192.0.2.1:40001".parse().unwrap(),
            destination: "198.51.100.7:2855".parse().unwrap(),
            time,
            protocol_type: 100,
            agent_id: 2001,
            auth_key: Some("secret"),
            correlation: "call-1@example.net",
            payload: b"MSRP a SEND\r\n-------a$\r\n",
        });
        let got = chunks(&bytes);
        let expected: Vec<(u16, u16, Vec<u8>)> = vec![
            (0, 1, vec![2]),
            (0, 2, vec![6]),
            (0, 3, vec![192, 0, 2, 1]),
            (0, 4, vec![198, 51, 100, 7]),
            (0, 7, 40001u16.to_be_bytes().to_vec()),
            (0, 8, 2855u16.to_be_bytes().to_vec()),
            (0, 9, 1_765_000_000u32.to_be_bytes().to_vec()),
            (0, 10, 123_456u32.to_be_bytes().to_vec()),
            (0, 11, vec![100]),
            (0, 12, 2001u32.to_be_bytes().to_vec()),
            (0, 14, b"secret".to_vec()),
            (0, 15, b"MSRP a SEND\r\n-------a$\r\n".to_vec()),
            (0, 17, b"call-1@example.net".to_vec()),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn ipv6_addresses_and_an_oversized_payload() {
        let payload = vec![b'x'; 70_000];
        let bytes = encode(&Packet {
            source: "[2001:db8::1]:1".parse().unwrap(),
            destination: "[2001:db8::2]:2".parse().unwrap(),
            time: SystemTime::now(),
            protocol_type: 100,
            agent_id: 1,
            auth_key: None,
            correlation: "",
            payload: &payload,
        });
        assert!(bytes.len() <= MAX_PACKET);
        let got = chunks(&bytes);
        assert_eq!(got[0].2, vec![10]);
        assert_eq!(got[2].1, 5);
        assert_eq!(got[2].2.len(), 16);
        let body = got.iter().find(|c| c.1 == 15).unwrap();
        assert_eq!(body.2.len(), payload_room(0, 0));
        assert!(!got.iter().any(|c| c.1 == 17), "no empty correlation chunk");
    }
}
