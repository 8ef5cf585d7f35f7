//! The size and character limits of every request field (documented in the proto).
//! A value over its limit, or with a character that could break the SDP or the CPIM
//! it is copied into, is refused with `INVALID_ARGUMENT` naming the field; the error
//! quotes at most [`QUOTED_CHARS`] characters of it, so a huge value never makes a
//! huge error.

use tonic::Status;

use crate::error::invalid_argument;

/// Ids: session, participant, page token.
pub const MAX_ID_BYTES: usize = 64;
/// A correlation tag.
pub const MAX_TAG_BYTES: usize = 256;
/// A group identity, IM address or privacy alias.
pub const MAX_ADDRESS_BYTES: usize = 1024;
/// Entries of `accept_types` and `accept_wrapped_types`.
pub const MAX_MEDIA_TYPES: usize = 64;
/// One media type.
pub const MAX_MEDIA_TYPE_BYTES: usize = 128;
/// Entries of `chatroom`.
pub const MAX_CHATROOM_TOKENS: usize = 16;
/// One `chatroom` token.
pub const MAX_TOKEN_BYTES: usize = 64;
/// One URI of a path.
pub const MAX_URI_BYTES: usize = 1024;
/// `connection`, `direction`, `fingerprint`, `connection_address`.
pub const MAX_ATTRIBUTE_BYTES: usize = 256;
/// An SDP media section.
pub const MAX_SDP_BYTES: usize = 16 * 1024;
/// Sessions per page at most, and when none is asked for.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Sessions per page when the request gives 0.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Characters of an offending value quoted in an error.
pub const QUOTED_CHARS: usize = 64;

/// `value`, cut to [`QUOTED_CHARS`] characters for an error message.
pub fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTED_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}... ({} bytes)", value.len())
    } else {
        format!("{head:?}")
    }
}

/// At most `max` bytes.
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(invalid_argument(
            field,
            format!(
                "{} bytes, more than the {max} allowed: {}",
                value.len(),
                quote(value)
            ),
        ));
    }
    Ok(())
}

/// At most `max` bytes and no control character (CR, LF, NUL, ...): the value is
/// copied into SDP lines or compared with CPIM headers.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), Status> {
    check_len(field, value, max)?;
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid_argument(
            field,
            format!(
                "contains the control character {:?}: {}",
                c.escape_default().to_string(),
                quote(value)
            ),
        ));
    }
    Ok(())
}

/// At most `max` entries.
pub fn check_count<T>(field: &str, values: &[T], max: usize) -> Result<(), Status> {
    if values.len() > max {
        return Err(invalid_argument(
            field,
            format!("{} entries, more than the {max} allowed", values.len()),
        ));
    }
    Ok(())
}

/// RFC 2045 token characters: printable ASCII but space and tspecials.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

/// A list of RFC 4975 `accept-types` entries: `*`, `type/*` or `type/subtype`, each
/// a token (no space, no parameters).
pub fn check_media_types(field: &str, values: &[String]) -> Result<(), Status> {
    check_count(field, values, MAX_MEDIA_TYPES)?;
    for (i, value) in values.iter().enumerate() {
        let field = format!("{field}[{i}]");
        check_len(&field, value, MAX_MEDIA_TYPE_BYTES)?;
        let ok = value == "*"
            || value.split_once('/').is_some_and(|(kind, sub)| {
                !kind.is_empty()
                    && kind.chars().all(is_token_char)
                    && (sub == "*" || (!sub.is_empty() && sub.chars().all(is_token_char)))
            });
        if !ok {
            return Err(invalid_argument(
                &field,
                format!(
                    "not a media type (type/subtype, type/* or *): {}",
                    quote(value)
                ),
            ));
        }
    }
    Ok(())
}

/// A list of tokens (`a=chatroom` values).
pub fn check_tokens(field: &str, values: &[String]) -> Result<(), Status> {
    check_count(field, values, MAX_CHATROOM_TOKENS)?;
    for (i, value) in values.iter().enumerate() {
        let field = format!("{field}[{i}]");
        check_len(&field, value, MAX_TOKEN_BYTES)?;
        if value.is_empty() || !value.chars().all(is_token_char) {
            return Err(invalid_argument(
                &field,
                format!("not a token: {}", quote(value)),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::bad_field;

    #[test]
    fn control_characters_are_refused_with_the_field_named() {
        let err =
            check_text("group_identity", "sip:room@x\r\nm=audio 1 RTP/AVP 0", 1024).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert_eq!(bad_field(&err).as_deref(), Some("group_identity"));
        assert!(err.message().contains("control character"), "{err:?}");
        assert!(check_text("group_identity", "sip:room@example.net", 1024).is_ok());
    }

    #[test]
    fn a_huge_value_is_quoted_short() {
        let huge = "x".repeat(1 << 20);
        let err = check_len("session_id", &huge, MAX_ID_BYTES).unwrap_err();
        assert!(err.message().len() < 300, "{} bytes", err.message().len());
        assert!(err.message().contains("1048576 bytes"), "{}", err.message());
    }

    #[test]
    fn media_types_follow_the_accept_types_grammar() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_media_types("t", &list(&["*", "text/*", "message/cpim"])).is_ok());
        for bad in [
            "text/plain\r\na=inject",
            "text/plain m=audio",
            "text",
            "/plain",
            "text/",
            "text/plain;charset=utf-8",
        ] {
            let err =
                check_media_types("policy.accept_types", &list(&["text/html", bad])).unwrap_err();
            assert_eq!(
                bad_field(&err).as_deref(),
                Some("policy.accept_types[1]"),
                "{bad:?}"
            );
        }
        let many = vec!["text/plain".to_string(); MAX_MEDIA_TYPES + 1];
        assert!(check_media_types("t", &many).is_err());
    }

    #[test]
    fn chatroom_tokens() {
        let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_tokens("c", &list(&["nickname", "private-messages"])).is_ok());
        assert!(check_tokens("c", &list(&["nick name"])).is_err());
        assert!(check_tokens("c", &list(&[""])).is_err());
    }
}
