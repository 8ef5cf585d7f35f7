//! Who may call the control API. By default it listens on loopback only; a bearer
//! token (`authorization: Bearer <token>` metadata, checked on each call) and
//! client certificates from a CA (mTLS, checked in each connection's TLS
//! handshake) can be required, each or both, and the daemon refuses to expose
//! the API beyond loopback with neither.

use std::net::SocketAddr;

use tonic::{Request, Status};

use crate::tls::ServerTls;

/// The authentication a server requires, and the TLS it serves with.
#[derive(Clone, Default)]
pub struct Auth {
    token: Option<String>,
    tls: Option<ServerTls>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("tls", &self.tls)
            .finish()
    }
}

impl Auth {
    /// No authentication (loopback only).
    pub fn none() -> Self {
        Self::default()
    }

    /// Require this bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            tls: None,
        }
    }

    /// Serve over TLS; if `tls` has a client CA, every connection must present
    /// a certificate from it (in addition to the token, if there is one).
    pub fn with_tls(self, tls: ServerTls) -> Self {
        Self {
            tls: Some(tls),
            ..self
        }
    }

    /// The TLS connections are served with, if any.
    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    /// True if callers must authenticate, by token or by client certificate.
    pub fn is_required(&self) -> bool {
        self.token.is_some()
            || self
                .tls
                .as_ref()
                .is_some_and(ServerTls::requires_client_certificates)
    }

    /// Refuses to serve beyond loopback without authentication: anyone who can reach
    /// the API can read and release every session.
    pub fn check_exposure(&self, addr: SocketAddr) -> Result<(), String> {
        if addr.ip().is_loopback() || self.is_required() {
            return Ok(());
        }
        Err(format!(
            "refusing to serve the control API on {addr} without authentication: \
             set --control-token (MSRP_SWITCH_CONTROL_TOKEN) or --control-client-ca \
             (MSRP_SWITCH_CONTROL_CLIENT_CA, client certificates over TLS), or listen on a \
             loopback address"
        ))
    }

    /// Checks a call over HTTP (the daemon's HTTP port, see [`crate::http`]):
    /// the `Authorization` header's value, the peer's address, and whether its
    /// connection presented a client certificate from the client CA
    /// (`certified`: the HTTP port over TLS, `--http-tls`).
    ///
    /// - With a token, the header must be `Bearer <token>`, from anywhere.
    /// - With client certificates required, the connection must have
    ///   presented one (the HTTP port over TLS); with a token as well, both
    ///   are needed, as on the gRPC port.
    /// - With neither, only loopback peers may call, as the gRPC port allows
    ///   only loopback then.
    ///
    /// # Errors
    ///
    /// UNAUTHENTICATED for a missing or wrong token, PERMISSION_DENIED for a
    /// caller the configuration does not let in at all.
    pub fn check_http(
        &self,
        authorization: Option<&str>,
        peer: SocketAddr,
        certified: bool,
    ) -> Result<(), Status> {
        let certificates = self
            .tls
            .as_ref()
            .is_some_and(ServerTls::requires_client_certificates);
        if certificates && !certified {
            return Err(Status::permission_denied(
                "the control API requires a client certificate: call it over the HTTP port \
                 with --http-tls, presenting a certificate from --control-client-ca",
            ));
        }
        if let Some(expected) = &self.token {
            return match authorization.and_then(|value| value.strip_prefix("Bearer ")) {
                Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
                Some(_) => Err(Status::unauthenticated("bad bearer token")),
                None => Err(Status::unauthenticated(
                    "missing Authorization: Bearer <token> header",
                )),
            };
        }
        if certificates {
            return Ok(());
        }
        if peer.ip().is_loopback() || peer.ip().to_canonical().is_loopback() {
            Ok(())
        } else {
            Err(Status::permission_denied(format!(
                "{peer} is not on loopback: without --control-token the control API over \
                 HTTP serves loopback callers only"
            )))
        }
    }

    /// The interceptor that checks each request.
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.token else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        match presented {
            Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("bad bearer token")),
            None => Err(Status::unauthenticated(
                "missing authorization: Bearer <token> metadata",
            )),
        }
    }
}

/// Compares without an early exit, so timing does not reveal the token's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client side: adds `authorization: Bearer <token>` to every call a client
/// makes (nothing when there is no token). For tools such as `msrp-flood`.
#[derive(Clone, Default)]
pub struct BearerToken(Option<tonic::metadata::AsciiMetadataValue>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_tuple("BearerToken")
            .field(&self.0.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl BearerToken {
    /// The interceptor for `token`.
    ///
    /// # Errors
    ///
    /// The token is blank or holds a character a header value cannot carry.
    pub fn new(token: Option<&str>) -> Result<Self, String> {
        let Some(token) = token else {
            return Ok(Self(None));
        };
        if token.trim().is_empty() {
            return Err("the token is empty".to_owned());
        }
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token holds a character not allowed in a header".to_owned())?;
        Ok(Self(Some(value)))
    }
}

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_callers_need_the_token_or_loopback() {
        let here: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let there: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:40000".parse().unwrap();
        let open = Auth::none();
        assert!(open.check_http(None, here, false).is_ok());
        assert!(open.check_http(None, mapped, false).is_ok());
        let refused = open.check_http(None, there, false).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        let token = Auth::bearer("s3cret");
        assert!(
            token
                .check_http(Some("Bearer s3cret"), there, false)
                .is_ok()
        );
        assert_eq!(
            token
                .check_http(Some("Bearer nope"), here, false)
                .unwrap_err()
                .code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            token.check_http(None, here, false).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn loopback_is_fine_without_a_token_and_nothing_else_is() {
        let open = Auth::none();
        assert!(
            open.check_exposure("127.0.0.1:50051".parse().unwrap())
                .is_ok()
        );
        assert!(open.check_exposure("[::1]:50051".parse().unwrap()).is_ok());
        let err = open
            .check_exposure("0.0.0.0:50051".parse().unwrap())
            .unwrap_err();
        assert!(err.contains("without authentication"), "{err}");
        assert!(
            err.contains("--control-token") && err.contains("--control-client-ca"),
            "{err}"
        );
        assert!(
            Auth::bearer("s3cret")
                .check_exposure("0.0.0.0:50051".parse().unwrap())
                .is_ok()
        );
    }

    #[test]
    fn the_token_is_checked() {
        let auth = Auth::bearer("s3cret");
        let mut good = Request::new(());
        good.metadata_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(auth.check(good).is_ok());
        let mut bad = Request::new(());
        bad.metadata_mut()
            .insert("authorization", "Bearer nope".parse().unwrap());
        assert_eq!(
            auth.check(bad).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert_eq!(
            auth.check(Request::new(())).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
