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
    if accept_types.is_empty() {
        return true;
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let (kind, _) = media.split_once('/').unwrap_or((media, ""));
    accept_types.iter().any(|accepted| {
        let accepted = accepted.trim();
        accepted == "*"
            || accepted.eq_ignore_ascii_case(media)
            || accepted
                .strip_suffix("/*")
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(kind))
    })
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
    /// RFC 6714 CEMA: match the switch's URI by session-id alone.
    pub cema: bool,
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
    /// Who connects: the switch's role.
    pub setup: SetupRole,
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
    if remote.setup == SetupRole::Active
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

/// The negotiated part of the switch's answer.
pub(crate) struct Negotiated {
    pub(crate) accept_types: Vec<String>,
    pub(crate) accept_wrapped_types: Vec<String>,
    pub(crate) max_size: Option<u64>,
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
}
