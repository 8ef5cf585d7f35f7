//! HTTP Digest for RFC 4976 AUTH (§5, §6.1): the challenge a relay sends in a 401,
//! the `Authorization` a client answers with, and the check of its `response`
//! (RFC 7616 with `qop=auth`). The hashes are RustCrypto's (`md-5`, `sha2`); only
//! the framing of the header values is written here.
//!
//! ```text
//!   HA1      = H(username ":" realm ":" password)        (stored, never the password)
//!   HA2      = H("AUTH" ":" uri)                        (the method is MSRP's AUTH)
//!   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" HA2)
//! ```

use std::fmt::Write as _;

use md5::Md5;
use rustc_hash::FxHashMap as HashMap;
use sha2::{Digest as _, Sha256};

/// A digest algorithm (RFC 7616 §3.3). RFC 4976 requires MD5; SHA-256 is offered
/// beside it for clients that know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `MD5`.
    Md5,
    /// `SHA-256`.
    Sha256,
}

impl Algorithm {
    /// Both, in the order a challenge offers them: MD5 first, which every relay
    /// client in the field knows.
    pub const ALL: [Algorithm; 2] = [Algorithm::Md5, Algorithm::Sha256];

    /// The token in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// The algorithm an `algorithm=` token names (case-insensitive); absent means MD5.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Length of a hash in lower-case hex.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// The lower-case hex hash of `parts` joined by `:`.
    pub fn hex(self, parts: &[&[u8]]) -> String {
        fn run<D: sha2::Digest>(mut d: D, parts: &[&[u8]]) -> String {
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(part);
            }
            let mut out = String::with_capacity(64);
            for b in d.finalize() {
                let _ = write!(out, "{b:02x}");
            }
            out
        }
        match self {
            Algorithm::Md5 => run(Md5::new(), parts),
            Algorithm::Sha256 => run(Sha256::new(), parts),
        }
    }
}

/// Who may AUTH: HA1 per user, realm and algorithm. The daemon reads them from a
/// file (see [`Credentials::parse`]) and reloads it on SIGHUP; tests fill one in
/// memory with [`Credentials::insert_password`].
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    ha1: HashMap<(String, String, Algorithm), String>,
}

/// A line of a credentials file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CredentialsError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl Credentials {
    /// No users.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `user` in `realm` with `password`, for both algorithms (tests, tools).
    pub fn insert_password(&mut self, user: &str, realm: &str, password: &str) {
        for algorithm in Algorithm::ALL {
            let ha1 = algorithm.hex(&[user.as_bytes(), realm.as_bytes(), password.as_bytes()]);
            self.ha1
                .insert((user.to_owned(), realm.to_owned(), algorithm), ha1);
        }
    }

    /// Reads a credentials file: one `user:realm:HA1` per line, HA1 in hex (32
    /// digits for MD5, 64 for SHA-256; a user may have a line of each), `#` starts
    /// a comment line, blank lines are skipped. The HA1 is what `htdigest` writes.
    pub fn parse(text: &str) -> Result<Self, CredentialsError> {
        let mut out = Self::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: &str| CredentialsError {
                line: i + 1,
                reason: reason.to_owned(),
            };
            let mut fields = line.rsplitn(2, ':');
            let (Some(ha1), Some(rest)) = (fields.next(), fields.next()) else {
                return Err(error("expected user:realm:HA1"));
            };
            let Some((user, realm)) = rest.split_once(':') else {
                return Err(error("expected user:realm:HA1"));
            };
            if user.is_empty() {
                return Err(error("empty user"));
            }
            let algorithm = match ha1.len() {
                32 => Algorithm::Md5,
                64 => Algorithm::Sha256,
                n => {
                    return Err(error(&format!(
                        "HA1 has {n} characters; 32 (MD5) or 64 (SHA-256) hex digits expected"
                    )));
                }
            };
            if !ha1.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(error("HA1 is not hexadecimal"));
            }
            out.ha1.insert(
                (user.to_owned(), realm.to_owned(), algorithm),
                ha1.to_ascii_lowercase(),
            );
        }
        Ok(out)
    }

    /// Entries (user, realm, algorithm).
    pub fn len(&self) -> usize {
        self.ha1.len()
    }

    /// True if nobody may AUTH.
    pub fn is_empty(&self) -> bool {
        self.ha1.is_empty()
    }

    /// The algorithms `realm` has users for, in offering order.
    pub(crate) fn algorithms(&self, realm: &str) -> impl Iterator<Item = Algorithm> + '_ {
        let realm = realm.to_owned();
        Algorithm::ALL.into_iter().filter(move |a| {
            self.ha1
                .keys()
                .any(|(_, r, algorithm)| *r == realm && algorithm == a)
        })
    }

    fn ha1(&self, user: &str, realm: &str, algorithm: Algorithm) -> Option<&str> {
        self.ha1
            .get(&(user.to_owned(), realm.to_owned(), algorithm))
            .map(String::as_str)
    }
}

/// The value of a `WWW-Authenticate` header challenging with `algorithm`.
pub(crate) fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut out = format!(
        "Digest realm=\"{}\", nonce=\"{nonce}\", qop=\"auth\", algorithm={}",
        quote(realm),
        algorithm.name()
    );
    if stale {
        out.push_str(", stale=true");
    }
    out
}

fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The parameters of an `Authorization: Digest ...` header a client sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Authorization {
    pub(crate) username: String,
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) uri: String,
    pub(crate) response: String,
    pub(crate) algorithm: Option<String>,
    pub(crate) cnonce: String,
    pub(crate) nc: String,
    pub(crate) qop: String,
}

/// Parses an `Authorization` value; the reason if it is not a usable Digest answer.
pub(crate) fn parse_authorization(value: &str) -> Result<Authorization, &'static str> {
    let value = value.trim_start();
    let Some(rest) = value
        .get(..6)
        .filter(|scheme| scheme.eq_ignore_ascii_case("digest"))
        .map(|_| &value[6..])
    else {
        return Err("not a Digest authorization");
    };
    let mut auth = Authorization::default();
    for (name, param) in params(rest)? {
        let slot = match name.to_ascii_lowercase().as_str() {
            "username" => &mut auth.username,
            "realm" => &mut auth.realm,
            "nonce" => &mut auth.nonce,
            "uri" => &mut auth.uri,
            "response" => &mut auth.response,
            "cnonce" => &mut auth.cnonce,
            "nc" => &mut auth.nc,
            "qop" => &mut auth.qop,
            "algorithm" => {
                auth.algorithm = Some(param);
                continue;
            }
            _ => continue,
        };
        *slot = param;
    }
    if auth.username.is_empty() || auth.nonce.is_empty() || auth.response.is_empty() {
        return Err("username, nonce and response are required");
    }
    if !auth.qop.eq_ignore_ascii_case("auth") {
        return Err("qop=auth is required");
    }
    if auth.cnonce.is_empty() || auth.nc.len() != 8 {
        return Err("cnonce and an 8-digit nc are required with qop=auth");
    }
    Ok(auth)
}

/// `name=value` pairs separated by commas; values are tokens or quoted strings
/// (with `\` escapes).
fn params(mut rest: &str) -> Result<Vec<(String, String)>, &'static str> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Ok(out);
        }
        let Some(eq) = rest.find('=') else {
            return Err("a parameter without a value");
        };
        let name = rest[..eq].trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err("an unterminated quoted string"),
                    },
                    Some((i, '"')) => break i,
                    Some((_, c)) => value.push(c),
                    None => return Err("an unterminated quoted string"),
                }
            };
            rest = &quoted[end + 1..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        out.push((name, value));
    }
}

/// Why an `Authorization` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such user in the realm, for that algorithm.
    UnknownUser,
    /// The response does not match: a wrong password.
    WrongResponse,
    /// An algorithm this relay does not offer.
    Algorithm,
}

/// The digest `response` of RFC 7616 §3.4.1 with qop `auth`, for `auth`'s
/// nonce, counts and URI and A2's `method` (`AUTH` for the client's response,
/// empty for the server's `rspauth`, §3.5).
fn response_digest(algorithm: Algorithm, ha1: &str, auth: &Authorization, method: &[u8]) -> String {
    let ha2 = algorithm.hex(&[method, auth.uri.as_bytes()]);
    algorithm.hex(&[
        ha1.as_bytes(),
        auth.nonce.as_bytes(),
        auth.nc.as_bytes(),
        auth.cnonce.as_bytes(),
        b"auth",
        ha2.as_bytes(),
    ])
}

/// Checks `auth`'s response for an AUTH request against `credentials`.
pub(crate) fn verify(credentials: &Credentials, auth: &Authorization) -> Result<(), Refusal> {
    let algorithm = match &auth.algorithm {
        None => Algorithm::Md5,
        Some(name) => Algorithm::from_name(name).ok_or(Refusal::Algorithm)?,
    };
    let ha1 = credentials
        .ha1(&auth.username, &auth.realm, algorithm)
        .ok_or(Refusal::UnknownUser)?;
    let expected = response_digest(algorithm, ha1, auth, b"AUTH");
    if constant_time_eq(
        expected.as_bytes(),
        auth.response.to_ascii_lowercase().as_bytes(),
    ) {
        Ok(())
    } else {
        Err(Refusal::WrongResponse)
    }
}

/// The `Authentication-Info` value of the 200 to an AUTH whose `auth` was
/// accepted (RFC 7616 §3.5): `rspauth` proves the relay knows the credentials
/// too; it is the response with an empty method in A2.
pub(crate) fn authentication_info(
    credentials: &Credentials,
    auth: &Authorization,
) -> Option<String> {
    let algorithm = match &auth.algorithm {
        None => Algorithm::Md5,
        Some(name) => Algorithm::from_name(name)?,
    };
    let ha1 = credentials.ha1(&auth.username, &auth.realm, algorithm)?;
    let rspauth = response_digest(algorithm, ha1, auth, b"");
    Some(format!(
        "qop=auth, rspauth=\"{rspauth}\", cnonce=\"{}\", nc={}",
        quote(&auth.cnonce),
        auth.nc
    ))
}

/// Compares without an early exit, so the time taken says nothing of how much of
/// a guessed response was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a client computes: the `response` for `ha1` (tests and the flooder's
/// relay client use it).
#[allow(clippy::too_many_arguments)]
pub fn client_response(
    algorithm: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
    uri: &str,
) -> String {
    let ha1 = algorithm.hex(&[user.as_bytes(), realm.as_bytes(), password.as_bytes()]);
    let ha2 = algorithm.hex(&[b"AUTH", uri.as_bytes()]);
    algorithm.hex(&[
        ha1.as_bytes(),
        nonce.as_bytes(),
        nc.as_bytes(),
        cnonce.as_bytes(),
        b"auth",
        ha2.as_bytes(),
    ])
}

/// The nonce parameter of a challenge (clients and tests read it back).
pub fn challenge_param<'a>(challenge: &'a str, name: &str) -> Option<&'a str> {
    let at = challenge.find(&format!("{name}="))? + name.len() + 1;
    let rest = &challenge[at..];
    match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next(),
        None => rest.split([',', ' ']).next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1's example (HTTP, so the method is GET): our hashing and
    /// joining give its responses for both algorithms.
    #[test]
    fn the_rfc_7616_example_responses() {
        let parts = |method: &[u8], algorithm: Algorithm| {
            let ha1 = algorithm.hex(&[b"Mufasa", b"http-auth@example.org", b"Circle of Life"]);
            let ha2 = algorithm.hex(&[method, b"/dir/index.html"]);
            algorithm.hex(&[
                ha1.as_bytes(),
                b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                b"00000001",
                b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                b"auth",
                ha2.as_bytes(),
            ])
        };
        assert_eq!(
            parts(b"GET", Algorithm::Md5),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(
            parts(b"GET", Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn an_authorization_round_trips_through_verify() {
        let mut credentials = Credentials::new();
        credentials.insert_password("alice", "relay.example", "secret");
        let uri = "msrps://relay.example:2856;tcp";
        for algorithm in Algorithm::ALL {
            let response = client_response(
                algorithm,
                "alice",
                "relay.example",
                "secret",
                "n0nce",
                "00000001",
                "c1",
                uri,
            );
            let header = format!(
                "Digest username=\"alice\", realm=\"relay.example\", nonce=\"n0nce\", \
                 uri=\"{uri}\", response=\"{response}\", qop=auth, nc=00000001, \
                 cnonce=\"c1\", algorithm={}",
                algorithm.name()
            );
            let auth = parse_authorization(&header).unwrap();
            assert_eq!(verify(&credentials, &auth), Ok(()));
            let wrong = Authorization {
                response: "0".repeat(algorithm.hex_len()),
                ..auth
            };
            assert_eq!(verify(&credentials, &wrong), Err(Refusal::WrongResponse));
        }
    }

    #[test]
    fn a_credentials_file_names_the_bad_line() {
        let ok =
            Credentials::parse("# users\n\nalice:relay.example:8ca523f5e9506fed4657c9700eebdbec\n")
                .unwrap();
        assert_eq!(ok.len(), 1);
        assert_eq!(
            Credentials::parse("alice:relay.example:8ca5\n")
                .unwrap_err()
                .line,
            1
        );
        let err = Credentials::parse("\nbob\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("user:realm:HA1"), "{err}");
        assert!(
            Credentials::parse(&format!("a:r:{}", "g".repeat(32)))
                .unwrap_err()
                .reason
                .contains("hexadecimal")
        );
    }

    #[test]
    fn quoted_values_may_hold_commas_and_escapes() {
        let auth = parse_authorization(
            "Digest username=\"a\\\"b\", realm=\"x, y\", nonce=n, uri=\"u\", \
             response=\"r\", qop=auth, nc=00000002, cnonce=\"c\"",
        )
        .unwrap();
        assert_eq!(auth.username, "a\"b");
        assert_eq!(auth.realm, "x, y");
        assert_eq!(auth.nonce, "n");
        assert!(parse_authorization("Basic abc").is_err());
        assert!(parse_authorization("Digest username=\"a\", nonce=\"n").is_err());
        assert_eq!(
            challenge_param(&challenge("r", "abc", Algorithm::Md5, false), "nonce"),
            Some("abc")
        );
    }
}
