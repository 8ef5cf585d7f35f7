//! The statuses the service returns. Each carries `google.rpc` error details
//! (tonic-types), so a client reads the offending field or the reason instead of
//! parsing message text:
//! - `INVALID_ARGUMENT` with a `BadRequest` field violation naming the field;
//! - `NOT_FOUND` with `ResourceInfo` naming the session or participant;
//! - `FAILED_PRECONDITION` with `ErrorInfo` reason `not_acceptable_here` for media
//!   the switch cannot accept (the IM Server answers SIP 488), or another reason.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::ERROR_DOMAIN;

/// The `ErrorInfo.reason` that means "answer the SIP request with 488".
pub const NOT_ACCEPTABLE_HERE: &str = "not_acceptable_here";

/// A malformed argument: names the field (`remote.sdp`, `session_id`, ...).
pub fn invalid_argument(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let details = ErrorDetails::with_bad_request_violation(field, description.clone());
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        details,
    )
}

/// No such session or participant.
pub fn not_found(resource_type: &str, name: &str) -> Status {
    let details = ErrorDetails::with_resource_info(
        resource_type,
        name,
        "",
        "no such resource on this switch",
    );
    Status::with_error_details(
        Code::NotFound,
        format!("no {resource_type} {name}"),
        details,
    )
}

/// Media the switch cannot accept: the IM Server answers SIP 488.
pub fn not_acceptable_here(description: impl Into<String>) -> Status {
    failed_precondition(NOT_ACCEPTABLE_HERE, description)
}

/// The call cannot apply in the current state (`reason` is machine-readable).
pub fn failed_precondition(reason: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let details =
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
    Status::with_error_details(Code::FailedPrecondition, description, details)
}

/// The switch is stopping.
pub fn unavailable(description: impl Into<String>) -> Status {
    Status::unavailable(description.into())
}

/// The `ErrorInfo.reason` of a status, if it has one (for clients and tests).
pub fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// The first field named by a `BadRequest` violation, if any.
pub fn bad_field(status: &Status) -> Option<String> {
    status
        .get_details_bad_request()
        .and_then(|bad| bad.field_violations.into_iter().next())
        .map(|violation| violation.field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_survive_the_status() {
        let status = invalid_argument("remote.sdp", "no m=message line");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(bad_field(&status).as_deref(), Some("remote.sdp"));
        let status = not_acceptable_here("no common media type");
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(reason(&status).as_deref(), Some(NOT_ACCEPTABLE_HERE));
        assert_eq!(not_found("session", "s-1").code(), Code::NotFound);
    }
}
