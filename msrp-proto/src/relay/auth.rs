//! AUTH (RFC 4976 §5, §6.1): a client asks the relay for a URI to put in its
//! path. With Digest the first AUTH gets a 401 challenge (a fresh nonce, MD5 and
//! SHA-256 offered); the answer is checked, each nonce count used once, failures
//! bounded per connection; a granted AUTH gets 200 with `Use-Path` (a relay URI
//! with an unguessable session-id, unique to the grant) and `Expires`, or 423 with
//! `Min-Expires`/`Max-Expires` when the asked Expires is out of bounds.

use std::time::{Duration, Instant};

use bytes::Bytes;
use smallvec::SmallVec;
use tracing::debug;

use crate::codec::{ContinuationFlag, Head, HeaderName, MsrpUri, Scheme, StatusCode};
use crate::conn::{Inbound, State};
use crate::endpoint::Endpoint;
use crate::ids::ConnId;
use crate::security::Security;
use crate::stats::{RelayAuthResult, Stats};

use super::digest::{self, Algorithm, Refusal};
use super::{Binding, Nonce, RelayAuth};

/// What an AUTH comes to.
enum Outcome {
    /// Challenge (again): 401 with a fresh nonce; `stale` if the old one expired.
    Challenge { stale: bool },
    /// Granted for this long, with the `Authentication-Info` of a Digest answer.
    Grant(Duration, Option<String>),
    /// Expires out of bounds.
    OutOfBounds,
    /// Too many failures, or too many grants on the connection: 403, and with
    /// `close` the connection goes.
    Refuse { close: bool },
}

impl Endpoint {
    /// An AUTH to the relay's own URI (To-Path: that URI alone, no session-id).
    pub(crate) fn relay_auth(&mut self, conn: ConnId, head: &Head, now: Instant) -> Inbound {
        // The answer goes back along the whole From-Path (RFC 4975 §7.2: a
        // response to anything but SEND; relays in between pass it on, RFC 4976
        // §6.4.3), so a client behind inner relays gets it through them.
        let back: SmallVec<[MsrpUri; 4]> = head.from_path().collect();
        let Some(us) = head.to_path().next() else {
            return Inbound::Answer(None);
        };
        if back.is_empty() {
            return Inbound::Answer(None);
        }
        let outcome = match self.relay.config.auth {
            RelayAuth::None => self.expires_outcome(head),
            RelayAuth::Digest => self.digest_outcome(conn, head, now),
        };
        // A grant the connection has no room for is refused.
        let mut granted = None;
        let outcome = match outcome {
            Outcome::Grant(expires, info) => match self.grant(conn, expires, now) {
                Some(uri) => {
                    granted = Some(uri);
                    Outcome::Grant(expires, info)
                }
                None => Outcome::Refuse { close: false },
            },
            other => other,
        };
        let tid = *head.transaction_id();
        let (status, close) = match &outcome {
            Outcome::Challenge { .. } => (StatusCode::UNAUTHORIZED, false),
            Outcome::Grant(..) => (StatusCode::OK, false),
            Outcome::OutOfBounds => (StatusCode::PARAMETER_OUT_OF_BOUNDS, false),
            Outcome::Refuse { close } => (StatusCode::ACTION_NOT_ALLOWED, *close),
        };
        let result = match &outcome {
            Outcome::Challenge { .. } => RelayAuthResult::Challenged,
            Outcome::Grant(..) => RelayAuthResult::Granted,
            Outcome::OutOfBounds => RelayAuthResult::ExpiresOutOfBounds,
            Outcome::Refuse { .. } => RelayAuthResult::Refused,
        };
        self.metrics.relay_auth(result);
        self.metrics.response_sent(status);
        let writer = self
            .encoder
            .response_head(&tid, status)
            .path(HeaderName::ToPath, &back)
            .path(HeaderName::FromPath, std::slice::from_ref(&us));
        let head_bytes = match outcome {
            Outcome::Challenge { stale } => {
                let nonce = self.ids.transaction_id().as_str().to_owned();
                let realm = self.relay.config.realm.clone();
                let offered: Vec<Algorithm> = {
                    let known: Vec<Algorithm> = self.relay.credentials.algorithms(&realm).collect();
                    if known.is_empty() {
                        vec![Algorithm::Md5]
                    } else {
                        known
                    }
                };
                self.relay.conns.entry(conn).or_default().nonce = Some(Nonce {
                    value: nonce.clone(),
                    issued_at: now,
                    last_nc: 0,
                });
                let mut writer = writer;
                for algorithm in offered {
                    writer = writer.header(
                        "WWW-Authenticate",
                        &digest::challenge(&realm, &nonce, algorithm, stale),
                    );
                }
                writer.finish(false)
            }
            Outcome::Grant(expires, info) => match &granted {
                Some(uri) => {
                    // §5.1: the inner relays the AUTH came through (From-Path
                    // without the client, in the order the client names them),
                    // then this grant.
                    let mut use_path: SmallVec<[MsrpUri; 4]> =
                        back[..back.len() - 1].iter().rev().cloned().collect();
                    use_path.push(uri.clone());
                    let writer = writer
                        .path(HeaderName::UsePath, &use_path)
                        .header("Expires", itoa::Buffer::new().format(expires.as_secs()));
                    match &info {
                        Some(info) => writer.header("Authentication-Info", info),
                        None => writer,
                    }
                    .finish(false)
                }
                None => writer.finish(false),
            },
            Outcome::OutOfBounds => {
                let config = &self.relay.config;
                let (min, max) = (config.min_expires.as_secs(), config.max_expires.as_secs());
                writer
                    .header("Min-Expires", itoa::Buffer::new().format(min))
                    .header("Max-Expires", itoa::Buffer::new().format(max))
                    .finish(false)
            }
            Outcome::Refuse { .. } => writer.finish(false),
        };
        let end = self.encoder.end_line(&tid, ContinuationFlag::End, false);
        let frame = Bytes::from([head_bytes, end].concat());
        Inbound::Respond { frame, close }
    }

    /// Digest: challenge, or check the answer.
    fn digest_outcome(&mut self, conn: ConnId, head: &Head, now: Instant) -> Outcome {
        let Some(value) = head.value(HeaderName::Authorization) else {
            return Outcome::Challenge { stale: false };
        };
        let lifetime = self.relay.config.nonce_lifetime;
        let realm = self.relay.config.realm.clone();
        let mut info = None;
        let checked = match digest::parse_authorization(value) {
            Err(why) => Err(why),
            Ok(auth) => {
                let state = self.relay.conns.entry(conn).or_default();
                let nc = u32::from_str_radix(&auth.nc, 16).unwrap_or(0);
                match &mut state.nonce {
                    Some(n) if n.value == auth.nonce => {
                        if now.saturating_duration_since(n.issued_at) > lifetime {
                            return Outcome::Challenge { stale: true };
                        }
                        if nc <= n.last_nc {
                            Err("a nonce count used before (a replay)")
                        } else if auth.realm != realm {
                            Err("another realm")
                        } else {
                            // Spent whether or not the answer is right.
                            n.last_nc = nc;
                            match digest::verify(&self.relay.credentials, &auth) {
                                Ok(()) => {
                                    info =
                                        digest::authentication_info(&self.relay.credentials, &auth);
                                    Ok(())
                                }
                                Err(Refusal::UnknownUser) => Err("unknown user"),
                                Err(Refusal::WrongResponse) => Err("wrong response"),
                                Err(Refusal::Algorithm) => Err("an algorithm not offered"),
                            }
                        }
                    }
                    _ => Err("a nonce this connection was not given"),
                }
            }
        };
        match checked {
            Ok(()) => {
                if let Some(state) = self.relay.conns.get_mut(&conn) {
                    state.failures = 0;
                }
                match self.expires_outcome(head) {
                    Outcome::Grant(expires, _) => Outcome::Grant(expires, info),
                    other => other,
                }
            }
            Err(why) => {
                let max = self.relay.config.max_auth_failures;
                let state = self.relay.conns.entry(conn).or_default();
                state.failures += 1;
                debug!(
                    conn = conn.0,
                    failures = state.failures,
                    why,
                    "AUTH refused"
                );
                if state.failures >= max {
                    Outcome::Refuse { close: true }
                } else {
                    Outcome::Challenge { stale: false }
                }
            }
        }
    }

    /// The grant an authenticated AUTH asks for, if within bounds.
    fn expires_outcome(&self, head: &Head) -> Outcome {
        let config = &self.relay.config;
        match head.expires() {
            None => Outcome::Grant(config.default_expires, None),
            Some(asked) => {
                let asked = Duration::from_secs(u64::from(asked));
                if asked < config.min_expires || asked > config.max_expires {
                    Outcome::OutOfBounds
                } else {
                    Outcome::Grant(asked, None)
                }
            }
        }
    }

    /// Grants a relay URI to `conn`'s client for `expires`; `None` (and no
    /// Use-Path) if the connection holds too many already.
    fn grant(&mut self, conn: ConnId, expires: Duration, now: Instant) -> Option<MsrpUri> {
        let max = self.relay.config.max_bindings_per_connection;
        let bindings = &mut self.relay.bindings;
        let state = self.relay.conns.entry(conn).or_default();
        // Expired grants make room.
        let before = state.bindings.len();
        state.bindings.retain(|sid| {
            let live = bindings
                .get(sid.as_str())
                .is_some_and(|b| b.expires_at > now);
            if !live {
                bindings.remove(sid.as_str());
            }
            live
        });
        let held = state.bindings.len();
        Stats::shift(&self.metrics.relay_bindings, held as i64 - before as i64);
        if held >= max {
            return None;
        }
        let sid = self.ids.session_id(self.shard);
        let tls = matches!(
            self.conns.get(&conn).map(|c| &c.security),
            Some(Security::Tls(_))
        );
        let (scheme, port) = match (tls, self.config.tls_port) {
            (true, Some(port)) => (Scheme::Msrps, port),
            _ => (Scheme::Msrp, self.config.local_port),
        };
        let uri = MsrpUri::from_parts(
            scheme,
            &self.config.local_host,
            Some(port),
            Some(&sid),
            "tcp",
        )
        .ok()?;
        state.bindings.push(sid.clone());
        self.relay.bindings.insert(
            sid,
            Binding {
                conn,
                expires_at: now + expires,
            },
        );
        Stats::shift(&self.metrics.relay_bindings, 1);
        if let Some(c) = self.conns.get_mut(&conn)
            && c.state == State::Accepted
        {
            c.state = State::Relay;
        }
        Some(uri)
    }
}
