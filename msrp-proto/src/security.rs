//! What the transport knows of a connection's TLS, and the check a bind makes
//! with it (RFC 4975 §14.2, RFC 8122): a participant whose media say
//! `TCP/TLS/MSRP` binds only a TLS connection, and one that gave
//! `a=fingerprint`s only a connection whose peer presented a certificate with
//! one of them, whichever side connected.
//!
//! The core hashes nothing: the transport, which holds the certificate, hands
//! over its digests under every [`HashFunction`], and the check compares bytes.

use crate::media::{Fingerprint, HashFunction, RemoteMedia, Transport};

/// A connection's security, as the transport reports it when it opens the
/// connection in the endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP.
    #[default]
    Plain,
    /// TLS; the peer's certificate, if it presented one.
    Tls(Option<Box<PeerCertificate>>),
}

/// The digests of the certificate a TLS peer presented (its end-entity
/// certificate's DER), one per [`HashFunction`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// One fingerprint per hash function, in [`HashFunction::ALL`]'s order.
    digests: Vec<Fingerprint>,
}

impl PeerCertificate {
    /// The certificate's digests, computed by the caller with `hash` (which
    /// must return `function.digest_len()` bytes of the DER certificate's digest).
    pub fn new(mut hash: impl FnMut(HashFunction) -> Vec<u8>) -> Self {
        Self {
            digests: HashFunction::ALL
                .into_iter()
                .map(|function| Fingerprint {
                    hash: function,
                    digest: hash(function),
                })
                .collect(),
        }
    }

    /// The certificate's fingerprint under `function`.
    pub fn fingerprint(&self, function: HashFunction) -> Option<&Fingerprint> {
        self.digests.iter().find(|f| f.hash == function)
    }

    /// True if the certificate is one of `expected` (RFC 8122 §5: the
    /// strongest hash function given is the one compared).
    pub fn matches(&self, expected: &RemoteMedia) -> bool {
        expected.strongest_fingerprints().any(|f| {
            self.fingerprint(f.hash)
                .is_some_and(|own| own.digest == f.digest)
        })
    }
}

/// Why a connection may not bind to a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindRefusal {
    /// The participant's media say TLS; the connection is plain TCP.
    NotTls,
    /// The participant gave fingerprints; the peer presented no certificate.
    NoCertificate,
    /// The peer's certificate is none of the participant's fingerprints.
    FingerprintMismatch,
    /// The participant is a WebSocket client (RFC 7977); the connection is not
    /// a WebSocket one.
    NotWebSocket,
}

impl BindRefusal {
    /// Every refusal, in the order of [`BindRefusal::index`].
    pub const ALL: [Self; 4] = [
        Self::NotTls,
        Self::NoCertificate,
        Self::FingerprintMismatch,
        Self::NotWebSocket,
    ];

    /// The metric label and event reason.
    pub const fn label(self) -> &'static str {
        match self {
            Self::NotTls => "not_tls",
            Self::NoCertificate => "no_certificate",
            Self::FingerprintMismatch => "fingerprint_mismatch",
            Self::NotWebSocket => "not_websocket",
        }
    }

    /// Its index among the per-reason counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// May a connection with `security` (a WebSocket one with `websocket`) bind to
/// a participant with media `remote`?
pub(crate) fn check_bind(
    security: &Security,
    websocket: bool,
    remote: &RemoteMedia,
) -> Result<(), BindRefusal> {
    if remote.websocket && !websocket {
        return Err(BindRefusal::NotWebSocket);
    }
    if remote.transport == Transport::Tcp {
        // A TCP participant that came over TLS anyway loses nothing.
        return Ok(());
    }
    let Security::Tls(peer) = security else {
        return Err(BindRefusal::NotTls);
    };
    if remote.fingerprints.is_empty() {
        return Ok(());
    }
    match peer {
        None => Err(BindRefusal::NoCertificate),
        Some(cert) if cert.matches(remote) => Ok(()),
        Some(_) => Err(BindRefusal::FingerprintMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(byte: u8) -> PeerCertificate {
        PeerCertificate::new(|f| vec![byte; f.digest_len()])
    }

    fn tls(fingerprints: &[Fingerprint]) -> RemoteMedia {
        RemoteMedia {
            transport: Transport::Tls,
            fingerprints: fingerprints.to_vec(),
            ..RemoteMedia::default()
        }
    }

    #[test]
    fn a_tls_participant_binds_only_its_certificate() {
        let own = cert(7);
        let pinned = tls(&[own.fingerprint(HashFunction::Sha256).unwrap().clone()]);
        let tls_with = |c: PeerCertificate| Security::Tls(Some(Box::new(c)));
        assert_eq!(check_bind(&tls_with(own.clone()), false, &pinned), Ok(()));
        assert_eq!(
            check_bind(&tls_with(cert(8)), false, &pinned),
            Err(BindRefusal::FingerprintMismatch)
        );
        assert_eq!(
            check_bind(&Security::Tls(None), false, &pinned),
            Err(BindRefusal::NoCertificate)
        );
        assert_eq!(
            check_bind(&Security::Plain, false, &pinned),
            Err(BindRefusal::NotTls)
        );
        // No fingerprint: any TLS peer; a TCP participant: anything.
        assert_eq!(check_bind(&Security::Tls(None), false, &tls(&[])), Ok(()));
        assert_eq!(
            check_bind(&Security::Plain, false, &RemoteMedia::default()),
            Ok(())
        );
    }

    #[test]
    fn a_websocket_participant_binds_only_a_websocket_connection() {
        let browser = RemoteMedia {
            transport: Transport::Tls,
            websocket: true,
            ..RemoteMedia::default()
        };
        assert_eq!(
            check_bind(&Security::Tls(None), false, &browser),
            Err(BindRefusal::NotWebSocket)
        );
        assert_eq!(check_bind(&Security::Tls(None), true, &browser), Ok(()));
        assert_eq!(
            check_bind(&Security::Plain, true, &browser),
            Err(BindRefusal::NotTls),
            "secure WebSocket media need TLS under the WebSocket"
        );
    }

    #[test]
    fn the_strongest_hash_given_is_the_one_compared() {
        let own = cert(7);
        // A matching sha-1 does not help when a sha-256 is given that does not
        // match: a downgrade to the weaker hash is refused.
        let media = tls(&[
            own.fingerprint(HashFunction::Sha1).unwrap().clone(),
            cert(9).fingerprint(HashFunction::Sha256).unwrap().clone(),
        ]);
        assert!(!own.matches(&media));
        // Two sha-256 values are two acceptable certificates.
        let media = tls(&[
            cert(9).fingerprint(HashFunction::Sha256).unwrap().clone(),
            own.fingerprint(HashFunction::Sha256).unwrap().clone(),
        ]);
        assert!(own.matches(&media));
    }
}
