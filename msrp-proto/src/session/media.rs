//! Media-type matching against SDP `a=accept-types` (RFC 4975 §8.6).

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
