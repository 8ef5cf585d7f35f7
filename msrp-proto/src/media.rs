//! The one owner of media rules: what a participant's SDP says (a=path,
//! accept-types, accept-wrapped-types, max-size, setup role, CEMA), what the switch
//! answers under a session's policy, and media-type matching (RFC 4975 §8.6,
//! RFC 6135, RFC 7701 §9). SDP syntax lives with the control API; this module sees
//! parsed values only, so a gRPC front and an HTTP front share every rule.

use crate::codec::MsrpUri;
use crate::control::ControlError;
use crate::session::SessionKind;

/// True if `content_type` (a Content-Type value, parameters allowed) is allowed by
/// `accept_types`: `*` allows everything, `type/*` a whole type, otherwise the
/// `type/subtype` must match, ignoring case and parameters. An empty list is treated
/// as `*`: the participant stated no restriction.
pub fn accepts(accept_types: &[String], content_type: &str) -> bool {
    if accepts_anything(accept_types) {
        return true;
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    accept_types.iter().any(|accepted| {
        let accepted = accepted.trim();
        accepted.eq_ignore_ascii_case(media)
            || accepted
                .strip_suffix("/*")
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(kind))
    })
}

/// True if `accept_types` allows every content type (`*`, or no list at all):
/// what most peers offer, so a caller can skip reading the Content-Type, as the
/// 1:1 path does for every SEND.
pub fn accepts_anything(accept_types: &[String]) -> bool {
    accept_types.is_empty() || accept_types.iter().any(|a| a.trim() == "*")
}

/// The accept-types the switch answers with: the offer intersected with the
/// session policy, in the offer's order (RFC 4975 §8.6 wildcards: `*` in the offer
/// takes the policy's list, `type/*` the policy's types of that type; a policy
/// wildcard keeps the offered entry). An empty policy keeps the offer.
pub fn negotiate(offer: &[String], policy: &[String]) -> Vec<String> {
    if policy.is_empty() {
        return offer.to_vec();
    }
    let mut answer: Vec<String> = Vec::new();
    let mut push = |t: &str| {
        if !answer.iter().any(|a| a.eq_ignore_ascii_case(t)) {
            answer.push(t.to_string());
        }
    };
    for offered in offer {
        let offered = offered.trim();
        if offered == "*" {
            policy.iter().for_each(|p| push(p));
        } else if let Some(kind) = offered.strip_suffix("/*") {
            for p in policy {
                let same_kind = p
                    .split_once('/')
                    .is_some_and(|(k, _)| k.eq_ignore_ascii_case(kind));
                if p == "*" || same_kind {
                    push(if p == "*" { offered } else { p });
                }
            }
        } else if accepts(policy, offered) {
            push(offered);
        }
    }
    answer
}

/// Which side opens the connection (RFC 6135 / RFC 4145 `a=setup`), from the switch's
/// point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetupRole {
    /// The participant connects to the switch's URI (the default, RFC 4975 §5.4).
    #[default]
    Passive,
    /// The switch connects to the participant's path and binds with an empty SEND.
    Active,
}

/// The stream a participant's MSRP connection runs over (the `m=` line's
/// protocol and the scheme of its URIs, RFC 4975 §8, §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// `TCP/MSRP`, `msrp:` URIs.
    #[default]
    Tcp,
    /// `TCP/TLS/MSRP`, `msrps:` URIs.
    Tls,
}

/// RFC 4145 §5 `a=connection` (RFC 6135 for MSRP): whether a session opens a new
/// connection or reuses one already open between the same two hops, so that
/// several MSRP sessions share it (RFC 4975 §8.5: the To-Path session-id then
/// tells them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionReuse {
    /// `a=connection:new`, and the default when SDP says nothing: a connection of
    /// its own.
    #[default]
    New,
    /// `a=connection:existing`: reuse the connection already open to the same
    /// hop (same authority, transport and, over TLS, certificate).
    Existing,
}

impl ConnectionReuse {
    /// The attribute's value as SDP writes it.
    pub fn as_sdp(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Existing => "existing",
        }
    }

    /// Reads an `a=connection` value (any case); the empty string (no attribute)
    /// is [`ConnectionReuse::New`]. `None` for any other value.
    pub fn from_sdp(value: &str) -> Option<Self> {
        if value.is_empty() || value.eq_ignore_ascii_case("new") {
            Some(Self::New)
        } else if value.eq_ignore_ascii_case("existing") {
            Some(Self::Existing)
        } else {
            None
        }
    }
}

/// A hash function of an `a=fingerprint` (RFC 8122 §5, from RFC 3279 / 4055):
/// the ones a certificate is hashed with today. MD5 and MD2 are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashFunction {
    /// `sha-1`: RFC 4572's era, still what many RCS clients send.
    Sha1,
    /// `sha-224`.
    Sha224,
    /// `sha-256`: the one every endpoint must support (RFC 8122 §5).
    Sha256,
    /// `sha-384`.
    Sha384,
    /// `sha-512`.
    Sha512,
}

impl HashFunction {
    /// Every function, weakest first.
    pub const ALL: [Self; 5] = [
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
    ];

    /// The SDP token (`sha-256`).
    pub fn token(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha224 => "sha-224",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// Bytes in a digest.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A certificate fingerprint (RFC 8122 §5: `hash-func SP fingerprint`, the
/// digest of the DER certificate as colon-separated upper-case hex pairs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    /// The hash function.
    pub hash: HashFunction,
    /// The digest, `hash.digest_len()` bytes.
    pub digest: Vec<u8>,
}

impl Fingerprint {
    /// Parses an `a=fingerprint` value: the hash function's token (any case) and
    /// its digest as hex pairs separated by colons (any case).
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut tokens = value.split_ascii_whitespace();
        let (Some(hash), Some(hex), None) = (tokens.next(), tokens.next(), tokens.next()) else {
            return Err(format!("{value:?} is not \"hash-func XX:XX:...\""));
        };
        let hash = HashFunction::ALL
            .into_iter()
            .find(|h| h.token().eq_ignore_ascii_case(hash))
            .ok_or_else(|| {
                format!(
                    "hash function {hash:?} is not one of sha-1, sha-224, sha-256, sha-384, sha-512"
                )
            })?;
        let digest = hex
            .split(':')
            .map(|pair| {
                (pair.len() == 2)
                    .then(|| u8::from_str_radix(pair, 16).ok())
                    .flatten()
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| format!("{hex:?} is not colon-separated hex pairs"))?;
        if digest.len() != hash.digest_len() {
            return Err(format!(
                "a {} fingerprint has {} bytes, not {}",
                hash.token(),
                hash.digest_len(),
                digest.len()
            ));
        }
        Ok(Self { hash, digest })
    }
}

impl std::fmt::Display for Fingerprint {
    /// `sha-256 AB:CD:...`, as SDP carries it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.hash.token())?;
        for (i, byte) in self.digest.iter().enumerate() {
            let sep = if i == 0 { ' ' } else { ':' };
            write!(f, "{sep}{byte:02X}")?;
        }
        Ok(())
    }
}

/// The remote side's MSRP media, from its SDP.
#[derive(Debug, Clone)]
pub struct RemoteMedia {
    /// `a=path`: the participant's URIs, the participant's own last.
    pub path: Vec<MsrpUri>,
    /// `a=accept-types`; empty means no restriction.
    pub accept_types: Vec<String>,
    /// `a=accept-wrapped-types`: types allowed inside wrappers such as message/cpim.
    pub accept_wrapped_types: Vec<String>,
    /// `a=max-size`: the largest message the participant accepts, in bytes.
    pub max_size: Option<u64>,
    /// Who connects.
    pub setup: SetupRole,
    /// RFC 6714 CEMA: match the switch's URI by session-id alone, and connect
    /// (setup active) to `media_address` rather than the path's host.
    pub cema: bool,
    /// The connection's transport.
    pub transport: Transport,
    /// `a=fingerprint`s (RFC 8122): the certificate the participant's TLS
    /// connection must present, whichever side connects. Empty: not checked.
    pub fingerprints: Vec<Fingerprint>,
    /// The `c=` address and `m=` port, where a CEMA participant is reached
    /// (RFC 6714 §4.2): an ALG may have rewritten them but not the path.
    pub media_address: Option<(String, u16)>,
    /// `a=connection`: [`ConnectionReuse::Existing`] lets the participant share
    /// a connection the switch already carries other sessions on (see
    /// [`answer_connection`]).
    pub connection: ConnectionReuse,
    /// RFC 7977: the participant's own URI (the path's first) has transport
    /// `ws`: it connects over WebSocket (secure with `msrps:`), always itself
    /// (§5.1: nobody connects to a WebSocket client), and binds only a
    /// WebSocket connection. Its host is often an `.invalid` name.
    pub websocket: bool,
    /// The media line spelled the transport `TCP/WS/MSRP` or `TCP/WSS/MSRP`,
    /// as some WebSocket clients write it (RFC 7977 §5.2.2 itself keeps
    /// `TCP/MSRP` and `TCP/TLS/MSRP`): the switch's SDP for this participant is
    /// spelled the same way.
    pub ws_proto: bool,
}

/// What a session allows; empty lists mean no restriction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Media types the session carries; offers are intersected with these.
    pub accept_types: Vec<String>,
    /// Types allowed inside wrappers such as message/cpim.
    pub accept_wrapped_types: Vec<String>,
    /// Largest message the switch accepts from a participant, in bytes.
    pub max_size: Option<u64>,
    /// Smallest `a=max-size` an offer may state: a participant that cannot receive
    /// messages that large cannot take part.
    pub min_max_size: Option<u64>,
    /// Group chats: participants may send private messages (CPIM `To` naming one
    /// participant, RFC 7701 §7.2); when false they get 428. IMDNs are routed to
    /// their one recipient either way.
    pub private_messages: bool,
    /// Group chats: NICKNAME requests are served (RFC 7701 §8); when false they get
    /// 403.
    pub nicknames: bool,
    /// Group chats: what happens to a participant whose leg stays over its bound
    /// past the grace period.
    pub slow_consumer: SlowConsumer,
}

/// What a group does with a slow consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Drop its connection (an event tells the IM Server); the others never wait.
    #[default]
    Drop,
    /// Stop reading the senders until it catches up: nobody is dropped, everybody
    /// goes at its pace.
    Pause,
}

/// Who a participant is, as the IM Server authenticated it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The authenticated IM address (SIP or tel URI).
    pub im_address: String,
    /// The anonymous address assigned when privacy was requested.
    pub privacy_alias: Option<String>,
}

/// The switch's side of the media for one participant: what goes into the SDP
/// answer.
#[derive(Debug, Clone)]
pub struct LocalMedia {
    /// `a=path`: the switch's URI for this participant.
    pub uri: MsrpUri,
    /// `a=accept-types`: the offer intersected with the session policy.
    pub accept_types: Vec<String>,
    /// `a=accept-wrapped-types`: likewise.
    pub accept_wrapped_types: Vec<String>,
    /// `a=max-size`: the session policy's, if any.
    pub max_size: Option<u64>,
    /// `a=chatroom` tokens (RFC 7701 §9) a group offers: `private-messages` and
    /// `nickname`, as the policy allows; empty for a 1:1 session.
    pub chatroom: Vec<String>,
    /// Who connects: the switch's role. `None` while the switch's own offer
    /// (`a=setup:actpass`, RFC 6135) waits for the answer that decides it.
    pub setup: Option<SetupRole>,
    /// The transport (`TCP/TLS/MSRP` for an `msrps:` URI); a TLS answer carries
    /// the switch's certificate fingerprint, which the control front adds.
    pub transport: Transport,
    /// `a=connection`: `existing` only when the switch reuses a connection for
    /// this participant or lets it bind on one (see [`answer_connection`]).
    pub connection: ConnectionReuse,
    /// Spell the transport `TCP/WS/MSRP` (`TCP/WSS/MSRP` over TLS) in SDP: the
    /// participant's offer did, or the IM Server asked the switch to offer so
    /// (see [`RemoteMedia::ws_proto`]).
    pub ws_proto: bool,
}

impl RemoteMedia {
    /// No media yet: a participant the switch offered to, before its answer. An
    /// empty path matches no request, so nothing binds to it.
    pub(crate) fn not_answered() -> Self {
        Self {
            path: Vec::new(),
            accept_types: Vec::new(),
            accept_wrapped_types: Vec::new(),
            max_size: None,
            setup: SetupRole::Passive,
            cema: false,
            transport: Transport::Tcp,
            fingerprints: Vec::new(),
            media_address: None,
            connection: ConnectionReuse::New,
            websocket: false,
            ws_proto: false,
        }
    }

    /// The strongest hash function among the fingerprints, and the digests
    /// given with it (RFC 8122 §5: the strongest one the endpoint supports is
    /// the one checked; several are several acceptable certificates).
    pub fn strongest_fingerprints(&self) -> impl Iterator<Item = &Fingerprint> {
        let strongest = self.fingerprints.iter().map(|f| f.hash).max();
        self.fingerprints
            .iter()
            .filter(move |f| Some(f.hash) == strongest)
    }

    /// Where the switch connects when it is the active party: the first path
    /// URI's host and port (RFC 4975 §5.4), or under CEMA the `c=`/`m=` address
    /// (RFC 6714 §4.2), which is where an ALG anchors the connection.
    pub fn connect_target(&self) -> Option<(String, u16)> {
        if self.cema
            && let Some(address) = &self.media_address
        {
            return Some(address.clone());
        }
        let first = self.path.first()?;
        Some((first.host().to_string(), first.port().unwrap_or(2855)))
    }
}

impl Default for RemoteMedia {
    /// No media: see `RemoteMedia::not_answered`.
    fn default() -> Self {
        Self::not_answered()
    }
}

/// The switch's `a=connection` for a participant whose remote media are `remote`
/// (RFC 4145 §5, RFC 6135): `existing` only when the remote side asked for it and
/// the switch reuses. As the passive side (the participant connects) the switch
/// lets the participant's first request bind on a connection that already carries
/// other sessions of its shard; as the active side it reuses only when
/// `reusable`: a connection to the same hop is bound already (otherwise it
/// connects out, and says `new`).
pub fn answer_connection(remote: &RemoteMedia, reusable: bool) -> ConnectionReuse {
    match (remote.connection, remote.setup) {
        (ConnectionReuse::Existing, SetupRole::Passive) => ConnectionReuse::Existing,
        (ConnectionReuse::Existing, SetupRole::Active) if reusable => ConnectionReuse::Existing,
        _ => ConnectionReuse::New,
    }
}

/// The `a=chatroom` tokens of a session's SDP answers (RFC 7701 §9).
pub(crate) fn chatroom(kind: SessionKind, policy: &Policy) -> Vec<String> {
    let mut tokens = Vec::new();
    if kind == SessionKind::Group {
        if policy.nicknames {
            tokens.push("nickname".to_owned());
        }
        if policy.private_messages {
            tokens.push("private-messages".to_owned());
        }
    }
    tokens
}

pub(crate) fn check_remote(remote: &RemoteMedia) -> Result<(), ControlError> {
    if remote.path.is_empty() {
        return Err(ControlError::InvalidArgument {
            field: "path",
            reason: "must hold at least one MSRP URI".into(),
        });
    }
    // The switch pins a passive TLS participant's certificate by its fingerprint:
    // it has no CA store to check a name against, so without one the connection
    // would be encrypted to whoever answers.
    if remote.setup == SetupRole::Active
        && remote.transport == Transport::Tls
        && remote.fingerprints.is_empty()
    {
        return Err(ControlError::NotAcceptable(
            "the switch connects out over TLS (setup active) but the media carry no \
             a=fingerprint to check the participant's certificate against"
                .into(),
        ));
    }
    let cema_address = remote.cema && remote.media_address.is_some();
    if remote.setup == SetupRole::Active
        && !cema_address
        && remote.path.first().is_some_and(|uri| uri.port().is_none())
    {
        return Err(ControlError::InvalidArgument {
            field: "path",
            reason: "the switch connects out (setup active) but the first URI has no port".into(),
        });
    }
    Ok(())
}

/// Negotiates the switch's accept-types, accept-wrapped-types and max-size for an
/// offer under a policy; refuses what the switch cannot accept (SIP 488).
pub(crate) fn answer_media(
    policy: &Policy,
    remote: &RemoteMedia,
) -> Result<Negotiated, ControlError> {
    let accept_types = negotiate(&remote.accept_types, &policy.accept_types);
    if accept_types.is_empty() {
        return Err(ControlError::NotAcceptable(format!(
            "no media type in common: offered [{}], the session carries [{}]",
            remote.accept_types.join(" "),
            policy.accept_types.join(" ")
        )));
    }
    let accept_wrapped_types =
        negotiate(&remote.accept_wrapped_types, &policy.accept_wrapped_types);
    if let (Some(min), Some(offered)) = (policy.min_max_size, remote.max_size)
        && offered < min
    {
        return Err(ControlError::NotAcceptable(format!(
            "a=max-size:{offered} is below the session's minimum of {min} bytes"
        )));
    }
    Ok(Negotiated {
        accept_types,
        accept_wrapped_types,
        max_size: policy.max_size,
    })
}

/// The switch's offer under a policy (RFC 4975 §8.6, OMA IM 7.2.1.2): the types of
/// the offer it forwards (`forwarded`, another leg's) intersected with the policy,
/// in that offer's order, or the policy's own types (`*` for none); `a=max-size`
/// the smaller of the policy's and the forwarded offer's.
pub(crate) fn offer_media(
    policy: &Policy,
    forwarded: Option<&RemoteMedia>,
) -> Result<Negotiated, ControlError> {
    let own = |types: &[String], wildcard: bool| {
        if types.is_empty() && wildcard {
            vec!["*".to_owned()]
        } else {
            types.to_vec()
        }
    };
    let Some(forwarded) = forwarded else {
        return Ok(Negotiated {
            accept_types: own(&policy.accept_types, true),
            accept_wrapped_types: own(&policy.accept_wrapped_types, false),
            max_size: policy.max_size,
        });
    };
    let accept_types = negotiate(&forwarded.accept_types, &policy.accept_types);
    if accept_types.is_empty() {
        return Err(ControlError::NotAcceptable(format!(
            "no media type in common: the forwarded offer has [{}], the session carries [{}]",
            forwarded.accept_types.join(" "),
            policy.accept_types.join(" ")
        )));
    }
    Ok(Negotiated {
        accept_types,
        accept_wrapped_types: negotiate(
            &forwarded.accept_wrapped_types,
            &policy.accept_wrapped_types,
        ),
        max_size: smaller(policy.max_size, forwarded.max_size),
    })
}

/// The answer to `offer` "selected from both" (OMA IM 7.2.1.2 step 2b): the types
/// of `offer`, in its order, that `other_answer` (another leg's answer) and the
/// policy also carry; `a=max-size` the smaller of the policy's and that answer's.
pub(crate) fn answer_from_both(
    policy: &Policy,
    offer: &RemoteMedia,
    other_answer: &RemoteMedia,
) -> Result<Negotiated, ControlError> {
    let both = negotiate(
        &negotiate(&offer.accept_types, &other_answer.accept_types),
        &policy.accept_types,
    );
    if both.is_empty() {
        return Err(ControlError::NotAcceptable(format!(
            "no media type in common: offered [{}], the other leg answered [{}], the \
             session carries [{}]",
            offer.accept_types.join(" "),
            other_answer.accept_types.join(" "),
            policy.accept_types.join(" ")
        )));
    }
    let mut negotiated = answer_media(policy, offer)?;
    negotiated.accept_types = both;
    negotiated.accept_wrapped_types = negotiate(
        &negotiate(
            &offer.accept_wrapped_types,
            &other_answer.accept_wrapped_types,
        ),
        &policy.accept_wrapped_types,
    );
    negotiated.max_size = smaller(policy.max_size, other_answer.max_size);
    Ok(negotiated)
}

/// RFC 3264 §6: an answer may remove media types from the offer, never add one.
/// Each answered type must be covered by an offered one (`*` only by `*`, `type/*`
/// by `type/*` or `*`).
pub(crate) fn check_answer(offer: &LocalMedia, answer: &RemoteMedia) -> Result<(), ControlError> {
    let widened = |offered: &[String], answered: &[String]| {
        answered
            .iter()
            .find(|t| !covers(offered, t))
            .map(|t| t.trim().to_owned())
    };
    if let Some(t) = widened(&offer.accept_types, &answer.accept_types) {
        return Err(ControlError::NotAcceptable(format!(
            "the answer adds a=accept-types {t} that the offer [{}] did not list",
            offer.accept_types.join(" ")
        )));
    }
    if !offer.accept_wrapped_types.is_empty()
        && let Some(t) = widened(&offer.accept_wrapped_types, &answer.accept_wrapped_types)
    {
        return Err(ControlError::NotAcceptable(format!(
            "the answer adds a=accept-wrapped-types {t} that the offer [{}] did not list",
            offer.accept_wrapped_types.join(" ")
        )));
    }
    Ok(())
}

/// True if the offered list `offered` covers the answered entry `t`.
fn covers(offered: &[String], t: &str) -> bool {
    let t = t.trim();
    let wildcard = offered.iter().any(|o| o.trim() == "*");
    if t == "*" {
        return wildcard;
    }
    if let Some(kind) = t.strip_suffix("/*") {
        return wildcard
            || offered
                .iter()
                .any(|o| o.trim().eq_ignore_ascii_case(&format!("{kind}/*")));
    }
    accepts(offered, t) && !offered.is_empty()
}

fn smaller(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The negotiated part of the switch's answer.
pub(crate) struct Negotiated {
    pub(crate) accept_types: Vec<String>,
    pub(crate) accept_wrapped_types: Vec<String>,
    pub(crate) max_size: Option<u64>,
}

/// The remote side's `a=setup` as offered (RFC 4145, RFC 6135).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedSetup {
    /// Not stated: RFC 4975's default, the offerer connects.
    Unspecified,
    /// The remote side connects.
    Active,
    /// The remote side waits: the switch connects.
    Passive,
    /// Either: the answerer (the switch) chooses passive.
    Actpass,
    /// No connection yet: not acceptable to a switch in the media path.
    Holdconn,
}

/// The remote side's transport from its `m=` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferedTransport {
    /// Not stated (structured media without one): the path's scheme decides.
    Unspecified,
    /// `TCP/MSRP`.
    Tcp,
    /// `TCP/TLS/MSRP`.
    Tls,
    /// `TCP/WS/MSRP`: MSRP over WebSocket as some clients spell it; the path's
    /// URI must say transport `ws` with an `msrp:` scheme.
    WebSocket,
    /// `TCP/WSS/MSRP`: the same over secure WebSocket (`msrps:`).
    SecureWebSocket,
}

/// The media an offer or answer states, parsed but not yet checked: what a control
/// front (gRPC, HTTP) hands to [`remote_media`].
#[derive(Debug, Clone)]
pub struct Offered {
    /// `a=path`, parsed.
    pub path: Vec<MsrpUri>,
    /// `a=accept-types`.
    pub accept_types: Vec<String>,
    /// `a=accept-wrapped-types`.
    pub accept_wrapped_types: Vec<String>,
    /// `a=max-size`, if stated.
    pub max_size: Option<u64>,
    /// `a=setup`.
    pub setup: OfferedSetup,
    /// The `m=` line's transport.
    pub transport: OfferedTransport,
    /// RFC 6714 CEMA.
    pub cema: bool,
    /// `a=fingerprint` values as given (`sha-256 AB:...`).
    pub fingerprints: Vec<String>,
    /// The `c=` address and `m=` port, if given.
    pub media_address: Option<(String, u16)>,
    /// `a=connection` (new when not stated).
    pub connection: ConnectionReuse,
}

/// Why offered media cannot be used: the field, what is wrong, and whether it is
/// well formed but not acceptable (SIP 488) rather than malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MediaError {
    /// The offending field, as the control API names it (`remote.path`, ...).
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
    /// Well formed, but not something this switch accepts (SIP 488).
    pub not_acceptable: bool,
}

/// The media rules every control front applies to a participant's SDP offer: a
/// path of at least one URI, mandatory accept-types (RFC 4975 §8.6), transports
/// this switch offers, and the setup roles (RFC 6135: the switch connects only when
/// the remote side is passive; actpass and the RFC 4975 default leave the switch
/// passive).
pub fn remote_media(offered: Offered) -> Result<RemoteMedia, MediaError> {
    remote(offered, Side::Offer)
}

/// The same rules for the remote side's answer to the switch's own offer
/// (`a=setup:actpass`): the answer decides the roles. `active`: the remote side
/// connects. `passive`, or no `a=setup` (RFC 4145 §4.1: an answer's default is
/// passive, and RFC 4975 §5.4 lets the offerer connect): the switch connects.
/// `actpass` is not an answer; `holdconn` is refused.
pub fn remote_answer(answered: Offered) -> Result<RemoteMedia, MediaError> {
    remote(answered, Side::Answer)
}

/// Whose SDP the remote media come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Offer,
    Answer,
}

fn remote(offered: Offered, side: Side) -> Result<RemoteMedia, MediaError> {
    let malformed = |field, reason: &str| MediaError {
        field,
        reason: reason.into(),
        not_acceptable: false,
    };
    let refused = |field, reason: &str| MediaError {
        field,
        reason: reason.into(),
        not_acceptable: true,
    };
    if offered.path.is_empty() {
        return Err(malformed(
            "remote.path",
            "a=path must hold at least one MSRP URI",
        ));
    }
    if offered.accept_types.is_empty() {
        return Err(malformed(
            "remote.accept_types",
            "a=accept-types is mandatory (RFC 4975 §8.6)",
        ));
    }
    // The first URI is the hop the connection goes to: its scheme is the
    // connection's transport (RFC 4975 §6: msrps is MSRP over TLS), and an m=
    // line that says otherwise contradicts it.
    let by_path = match offered.path.first().map(MsrpUri::scheme) {
        Some(crate::codec::Scheme::Msrps) => Transport::Tls,
        _ => Transport::Tcp,
    };
    let transport = match (offered.transport, by_path) {
        (OfferedTransport::Unspecified, t) => t,
        (OfferedTransport::Tcp | OfferedTransport::WebSocket, Transport::Tcp) => Transport::Tcp,
        (OfferedTransport::Tls | OfferedTransport::SecureWebSocket, Transport::Tls) => {
            Transport::Tls
        }
        (OfferedTransport::WebSocket, Transport::Tls) => {
            return Err(malformed(
                "remote.transport",
                "TCP/WS/MSRP with an msrps: URI in a=path (secure WebSocket is TCP/WSS/MSRP)",
            ));
        }
        (OfferedTransport::SecureWebSocket, Transport::Tcp) => {
            return Err(malformed(
                "remote.transport",
                "TCP/WSS/MSRP with an msrp: URI in a=path (secure WebSocket needs msrps)",
            ));
        }
        (OfferedTransport::Tcp, Transport::Tls) => {
            return Err(malformed(
                "remote.transport",
                "TCP/MSRP with an msrps: URI in a=path (msrps is MSRP over TLS)",
            ));
        }
        (OfferedTransport::Tls, Transport::Tcp) => {
            return Err(malformed(
                "remote.transport",
                "TCP/TLS/MSRP with an msrp: URI in a=path (TLS needs msrps)",
            ));
        }
    };
    let websocket = offered
        .path
        .first()
        .is_some_and(|uri| uri.transport().eq_ignore_ascii_case("ws"));
    let ws_proto = matches!(
        offered.transport,
        OfferedTransport::WebSocket | OfferedTransport::SecureWebSocket
    );
    if ws_proto && !websocket {
        return Err(malformed(
            "remote.transport",
            "TCP/WS/MSRP and TCP/WSS/MSRP are MSRP over WebSocket: the a=path URI needs \
             transport ws (RFC 7977 §5.2.1)",
        ));
    }
    let mut fingerprints = Vec::with_capacity(offered.fingerprints.len());
    for text in &offered.fingerprints {
        let fingerprint = Fingerprint::parse(text).map_err(|reason| MediaError {
            field: "remote.fingerprint",
            reason,
            not_acceptable: false,
        })?;
        fingerprints.push(fingerprint);
    }
    let setup = match (offered.setup, side) {
        (OfferedSetup::Passive, _) | (OfferedSetup::Unspecified, Side::Answer) => SetupRole::Active,
        (OfferedSetup::Active, _)
        | (OfferedSetup::Actpass | OfferedSetup::Unspecified, Side::Offer) => SetupRole::Passive,
        (OfferedSetup::Actpass, Side::Answer) => {
            return Err(malformed(
                "remote.setup",
                "a=setup:actpass is an offer's, not an answer's (RFC 4145 §4.1)",
            ));
        }
        (OfferedSetup::Holdconn, _) => {
            return Err(refused(
                "remote.setup",
                "a=setup:holdconn: no connection may be opened yet",
            ));
        }
    };
    if websocket && setup == SetupRole::Active {
        return Err(refused(
            "remote.setup",
            "a WebSocket client (transport ws in a=path) connects itself: the switch \
             cannot connect to it (RFC 7977 §5.1), so its setup must let it be active",
        ));
    }
    Ok(RemoteMedia {
        websocket,
        ws_proto,
        path: offered.path,
        accept_types: offered.accept_types,
        accept_wrapped_types: offered.accept_wrapped_types,
        max_size: offered.max_size,
        setup,
        cema: offered.cema,
        transport,
        // A fingerprint pins the TLS certificate; on TCP there is none to pin.
        fingerprints: if transport == Transport::Tls {
            fingerprints
        } else {
            Vec::new()
        },
        media_address: offered.media_address,
        // RFC 4145 §5: `existing` answers only an offer of `existing`, and the
        // switch's own offers say `new`: an answer cannot ask for reuse.
        connection: match side {
            Side::Offer => offered.connection,
            Side::Answer => ConnectionReuse::New,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn negotiation_keeps_the_offer_order_and_resolves_wildcards() {
        let policy = list(&["message/cpim", "text/plain", "image/png"]);
        assert_eq!(
            negotiate(&list(&["text/plain", "message/cpim", "video/mp4"]), &policy),
            list(&["text/plain", "message/cpim"])
        );
        assert_eq!(negotiate(&list(&["*"]), &policy), policy);
        assert_eq!(
            negotiate(&list(&["image/*"]), &policy),
            list(&["image/png"])
        );
        assert_eq!(
            negotiate(&list(&["text/html"]), &list(&["text/*"])),
            list(&["text/html"])
        );
        assert_eq!(
            negotiate(&list(&["video/mp4"]), &policy),
            Vec::<String>::new()
        );
        assert_eq!(negotiate(&list(&["a/b"]), &[]), list(&["a/b"]));
    }

    #[test]
    fn wildcards_and_parameters() {
        let types = |list: &[&str]| list.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        assert!(accepts(&types(&["*"]), "image/png"));
        assert!(accepts(&[], "image/png"));
        assert!(accepts(&types(&["text/*"]), "TEXT/Plain; charset=utf-8"));
        assert!(accepts(
            &types(&["message/cpim", "text/plain"]),
            "text/plain"
        ));
        assert!(!accepts(&types(&["message/cpim"]), "text/plain"));
        assert!(!accepts(&types(&["text/*"]), "image/text"));
    }

    fn offered(setup: OfferedSetup) -> Offered {
        Offered {
            path: vec![MsrpUri::parse_str("msrp://10.0.0.1:7394/abc;tcp").unwrap()],
            accept_types: vec!["message/cpim".into()],
            accept_wrapped_types: Vec::new(),
            max_size: None,
            setup,
            transport: OfferedTransport::Tcp,
            cema: false,
            fingerprints: Vec::new(),
            media_address: None,
            connection: ConnectionReuse::New,
        }
    }

    #[test]
    fn the_switch_connects_only_when_the_remote_side_is_passive() {
        for (setup, ours) in [
            (OfferedSetup::Unspecified, SetupRole::Passive),
            (OfferedSetup::Active, SetupRole::Passive),
            (OfferedSetup::Actpass, SetupRole::Passive),
            (OfferedSetup::Passive, SetupRole::Active),
        ] {
            assert_eq!(
                remote_media(offered(setup)).unwrap().setup,
                ours,
                "{setup:?}"
            );
        }
        let err = remote_media(offered(OfferedSetup::Holdconn)).unwrap_err();
        assert_eq!((err.field, err.not_acceptable), ("remote.setup", true));
    }

    #[test]
    fn malformed_and_unacceptable_media_name_their_field() {
        let mut no_types = offered(OfferedSetup::Active);
        no_types.accept_types.clear();
        let err = remote_media(no_types).unwrap_err();
        assert_eq!(
            (err.field, err.not_acceptable),
            ("remote.accept_types", false)
        );
        let mut no_path = offered(OfferedSetup::Active);
        no_path.path.clear();
        let err = remote_media(no_path).unwrap_err();
        assert_eq!((err.field, err.not_acceptable), ("remote.path", false));
        let mut tls = offered(OfferedSetup::Active);
        tls.transport = OfferedTransport::Tls;
        let err = remote_media(tls).unwrap_err();
        assert_eq!((err.field, err.not_acceptable), ("remote.transport", false));
        let mut msrps = offered(OfferedSetup::Active);
        msrps.path = vec![MsrpUri::parse_str("msrps://10.0.0.1:7394/abc;tcp").unwrap()];
        let err = remote_media(msrps.clone()).unwrap_err();
        assert_eq!((err.field, err.not_acceptable), ("remote.transport", false));
        msrps.transport = OfferedTransport::Unspecified;
        msrps.fingerprints = vec!["md5 AB:CD".into()];
        let err = remote_media(msrps).unwrap_err();
        assert_eq!(
            (err.field, err.not_acceptable),
            ("remote.fingerprint", false)
        );
    }

    #[test]
    fn tls_follows_the_path_scheme_and_keeps_its_fingerprints() {
        let sha256 = format!("SHA-256 {}", ["0a"; 32].join(":"));
        let mut msrps = offered(OfferedSetup::Active);
        msrps.path = vec![MsrpUri::parse_str("msrps://10.0.0.1:7394/abc;tcp").unwrap()];
        msrps.transport = OfferedTransport::Tls;
        msrps.fingerprints = vec![sha256, format!("sha-1 {}", ["FF"; 20].join(":"))];
        let remote = remote_media(msrps).unwrap();
        assert_eq!(remote.transport, Transport::Tls);
        assert_eq!(remote.fingerprints.len(), 2);
        let strongest: Vec<_> = remote.strongest_fingerprints().collect();
        assert_eq!(strongest.len(), 1);
        assert_eq!(strongest[0].hash, HashFunction::Sha256);
        assert_eq!(
            strongest[0].to_string(),
            format!("sha-256 {}", ["0A"; 32].join(":"))
        );
        // On TCP a fingerprint pins nothing.
        let mut tcp = offered(OfferedSetup::Active);
        tcp.fingerprints = vec![format!("sha-1 {}", ["FF"; 20].join(":"))];
        assert!(remote_media(tcp).unwrap().fingerprints.is_empty());
    }

    #[test]
    fn fingerprints_parse_strictly() {
        for bad in [
            "sha-256",
            "sha-256 AB:CD",
            "sha-256 AB:CD:EF extra",
            "md5 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
            "sha-1 ABC:DE",
            "sha-1 G0:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00",
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
        let text = format!("sha-1 {}", ["a1"; 20].join(":"));
        let parsed = Fingerprint::parse(&text).unwrap();
        assert_eq!(parsed.digest, vec![0xa1; 20]);
        assert_eq!(Fingerprint::parse(&parsed.to_string()).unwrap(), parsed);
    }

    #[test]
    fn connection_existing_is_answered_only_when_the_switch_reuses() {
        for (text, parsed) in [
            ("", Some(ConnectionReuse::New)),
            ("NEW", Some(ConnectionReuse::New)),
            ("Existing", Some(ConnectionReuse::Existing)),
            ("reuse", None),
        ] {
            assert_eq!(ConnectionReuse::from_sdp(text), parsed, "{text:?}");
        }
        assert_eq!(ConnectionReuse::Existing.as_sdp(), "existing");
        // The participant connects: the switch lets it bind on a shared connection.
        let mut active = offered(OfferedSetup::Active);
        active.connection = ConnectionReuse::Existing;
        let remote = remote_media(active.clone()).unwrap();
        assert_eq!(remote.connection, ConnectionReuse::Existing);
        assert_eq!(answer_connection(&remote, false), ConnectionReuse::Existing);
        // The switch connects: `existing` only if it found a connection to reuse.
        let mut passive = offered(OfferedSetup::Passive);
        passive.connection = ConnectionReuse::Existing;
        let remote = remote_media(passive).unwrap();
        assert_eq!(answer_connection(&remote, false), ConnectionReuse::New);
        assert_eq!(answer_connection(&remote, true), ConnectionReuse::Existing);
        // `new` is answered `new`, and an answer to the switch's offer (which
        // says new) cannot ask for reuse.
        let fresh = remote_media(offered(OfferedSetup::Active)).unwrap();
        assert_eq!(answer_connection(&fresh, true), ConnectionReuse::New);
        let answer = remote_answer(active).unwrap();
        assert_eq!(answer.connection, ConnectionReuse::New);
    }

    #[test]
    fn cema_connects_to_the_media_address() {
        let mut cema = offered(OfferedSetup::Passive);
        cema.media_address = Some(("192.0.2.7".into(), 9000));
        let plain = remote_media(cema.clone()).unwrap();
        assert_eq!(plain.connect_target(), Some(("10.0.0.1".into(), 7394)));
        cema.cema = true;
        let remote = remote_media(cema).unwrap();
        assert_eq!(remote.connect_target(), Some(("192.0.2.7".into(), 9000)));
    }
}
