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

#[cfg(test)]
mod tests {
    use super::*;

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
