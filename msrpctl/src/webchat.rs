//! `msrpctl webchat`: the browser chat example's helper (`examples/webchat/`).
//! It creates a group chat (RFC 7701) through the control API, adds one
//! participant per `--member` as a WebSocket client (RFC 7977: a path URI on an
//! `.invalid` host with transport `ws`, `a=setup:active`, since a browser always
//! connects), serves the page over HTTP and prints each member's page URL, whose
//! query carries what the page needs: the switch's WebSocket URL, both MSRP URIs,
//! the member's address, the room and the roster. It serves until Ctrl-C or
//! SIGTERM, then releases the session.
//!
//! The page's files are compiled in, so the command serves the same page wherever
//! it runs; they are plain files in `examples/webchat/` and can be served by any
//! web server with the same query.

use std::io::Write;
use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use control_api::pb;
use serde_json::{Value, json};

use crate::args::WebchatArgs;
use crate::{Cause, Connection, Failure, emit, emit_either};

/// The page and its scripts, as `examples/webchat/` holds them.
const FILES: [(&str, &str, &str); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../examples/webchat/index.html"),
    ),
    (
        "/msrp.js",
        "text/javascript; charset=utf-8",
        include_str!("../../examples/webchat/msrp.js"),
    ),
    (
        "/chat.js",
        "text/javascript; charset=utf-8",
        include_str!("../../examples/webchat/chat.js"),
    ),
    (
        "/chat.css",
        "text/css; charset=utf-8",
        include_str!("../../examples/webchat/chat.css"),
    ),
];

/// One member as added: what its page needs.
struct Member {
    address: String,
    participant_id: String,
    /// The member's own URI (its From-Path), made up here as a browser would.
    path: String,
    /// The switch's URI for it (its To-Path).
    switch: String,
}

/// Runs `webchat`: the group, its members, the page, until stopped.
pub(crate) async fn run(
    conn: &Connection,
    out: &mut dyn Write,
    json: bool,
    args: &WebchatArgs,
) -> Result<(), Failure> {
    let what = &conn.what;
    // Bind first: a port in use fails before anything is created on the switch.
    let listener = tokio::net::TcpListener::bind(args.serve)
        .await
        .map_err(|err| {
            Failure::new(
                what,
                Cause::Usage(format!("--serve {}: cannot listen: {err}", args.serve)),
            )
        })?;
    let page = listener.local_addr().map_err(|err| {
        Failure::new(what, Cause::Usage(format!("--serve {}: {err}", args.serve)))
    })?;

    let session = conn
        .call(
            conn.client()
                .create_session(conn.request(pb::CreateSessionRequest {
                    kind: pb::SessionKind::Group as i32,
                    group_identity: args.room.clone(),
                    policy: Some(pb::Policy {
                        accept_types: vec!["message/cpim".to_owned()],
                        accept_wrapped_types: vec!["*".to_owned()],
                        private_messages: true,
                        nicknames: true,
                        ..Default::default()
                    }),
                    correlation_tag: "msrpctl-webchat".to_owned(),
                    ..Default::default()
                })),
        )
        .await?
        .session_id;
    let mut members = Vec::with_capacity(args.members.len());
    for address in &args.members {
        match add_member(conn, &session, address, args.secure).await {
            Ok(member) => members.push(member),
            Err(failure) => {
                release(conn, &session).await;
                return Err(failure);
            }
        }
    }

    let roster: Vec<&str> = members
        .iter()
        .map(|m| m.address.as_str())
        .chain(args.roster.iter().map(String::as_str))
        .collect();
    let urls: Vec<String> = members
        .iter()
        .map(|m| page_url(page, m, &args.room, &roster))
        .collect();
    emit_either(
        out,
        json,
        || {
            let members: Vec<Value> = members
                .iter()
                .zip(&urls)
                .map(|(m, url)| {
                    json!({
                        "imAddress": m.address,
                        "participantId": m.participant_id,
                        "url": url,
                    })
                })
                .collect();
            json!({ "sessionId": session, "page": format!("http://{page}/"), "members": members })
        },
        || {
            let mut text = format!("session_id: {session}\n");
            for (m, url) in members.iter().zip(&urls) {
                text.push_str(&format!("{}: {url}\n", m.address));
            }
            text.push_str(&format!(
                "serving the page on http://{page}/ until Ctrl-C, which releases the session\n"
            ));
            text
        },
    )?;

    let app = FILES
        .iter()
        .fold(Router::new(), |app, &(route, kind, body)| {
            app.route(
                route,
                get(move || async move { ([(header::CONTENT_TYPE, kind)], body).into_response() }),
            )
        });
    let served = axum::serve(listener, app).with_graceful_shutdown(stopped());
    let result = served.await;
    release(conn, &session).await;
    result.map_err(|err| {
        Failure::new(
            what,
            Cause::Usage(format!("serving the page on {page}: {err}")),
        )
    })?;
    emit(out, "released the session\n")
}

/// Adds one browser member: an offer from a WebSocket client, which the switch
/// answers with its `;ws` URI on its WebSocket listener.
async fn add_member(
    conn: &Connection,
    session: &str,
    address: &str,
    secure: bool,
) -> Result<Member, Failure> {
    let scheme = if secure { "msrps" } else { "msrp" };
    // RFC 7977 §5.3: the client's own URI names no reachable host.
    let path = format!(
        "{scheme}://{}.invalid:9/{};ws",
        random_token(12),
        random_token(16)
    );
    let media = pb::Media {
        path: vec![path.clone()],
        accept_types: vec!["message/cpim".to_owned()],
        accept_wrapped_types: vec!["*".to_owned()],
        setup: pb::Setup::Active as i32,
        transport: if secure {
            pb::Transport::Tls
        } else {
            pb::Transport::Tcp
        } as i32,
        port: 9,
        ..Default::default()
    };
    let added = conn
        .call(
            conn.client()
                .add_participant(conn.request(pb::AddParticipantRequest {
                    session_id: session.to_owned(),
                    identity: Some(pb::Identity {
                        im_address: address.to_owned(),
                        privacy_alias: String::new(),
                    }),
                    remote: Some(pb::RemoteMedia {
                        media: Some(pb::remote_media::Media::Structured(media)),
                    }),
                    correlation_tag: format!("msrpctl-webchat {address}"),
                    ..Default::default()
                })),
        )
        .await?;
    let switch = added
        .local
        .as_ref()
        .and_then(|local| local.structured.as_ref())
        .and_then(|media| media.path.first())
        .cloned()
        .ok_or_else(|| {
            Failure::new(
                &conn.what,
                Cause::Usage("the switch's answer has no a=path".to_owned()),
            )
        })?;
    Ok(Member {
        address: address.to_owned(),
        participant_id: added.participant_id,
        path,
        switch,
    })
}

/// The page's URL for `member`: the switch's WebSocket URL is its URI's
/// authority (`msrps:` means `wss:`).
fn page_url(page: SocketAddr, member: &Member, room: &str, roster: &[&str]) -> String {
    let (scheme, rest) = member
        .switch
        .split_once("://")
        .unwrap_or(("msrp", &member.switch));
    let authority = rest.split('/').next().unwrap_or_default();
    let ws = if scheme.eq_ignore_ascii_case("msrps") {
        format!("wss://{authority}/")
    } else {
        format!("ws://{authority}/")
    };
    let nick = member
        .address
        .split_once(':')
        .map_or(member.address.as_str(), |(_, rest)| rest);
    let nick = nick.split('@').next().unwrap_or(nick);
    let query = [
        ("ws", ws.as_str()),
        ("to", member.switch.as_str()),
        ("from", member.path.as_str()),
        ("me", member.address.as_str()),
        ("room", room),
        ("roster", &roster.join(",")),
        ("nick", nick),
    ]
    .iter()
    .map(|(key, value)| format!("{key}={}", percent_encode(value)))
    .collect::<Vec<_>>()
    .join("&");
    format!("http://{page}/?{query}")
}

/// `value` for a URL query: unreserved characters stay, every other byte is %XX.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `n` random characters from `[a-z0-9]`, from the OS's random source through
/// the standard library's hasher keys (no extra crate for a made-up URI).
fn random_token(n: usize) -> String {
    use std::hash::{BuildHasher, RandomState};
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|i| {
            let mix = RandomState::new().hash_one(i);
            char::from(ALPHABET[(mix % ALPHABET.len() as u64) as usize])
        })
        .collect()
}

/// Releases the session, ignoring a failure (the switch may be gone).
async fn release(conn: &Connection, session: &str) {
    let _ = conn
        .call(
            conn.client()
                .release_session(conn.request(pb::ReleaseSessionRequest {
                    session_id: session.to_owned(),
                })),
        )
        .await;
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stopped() {
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return crate::ctrl_c().await,
        };
    tokio::select! {
        () = crate::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_url_carries_the_websocket_url_and_both_uris_encoded() {
        let member = Member {
            address: "sip:alice@example.com".to_owned(),
            participant_id: "p1".to_owned(),
            path: "msrp://x7.invalid:9/abc;ws".to_owned(),
            switch: "msrps://127.0.0.1:2858/s1;ws".to_owned(),
        };
        let url = page_url(
            "127.0.0.1:8090".parse().unwrap(),
            &member,
            "sip:chat@example.com",
            &["sip:alice@example.com", "sip:bob@example.com"],
        );
        assert_eq!(
            url,
            "http://127.0.0.1:8090/?ws=wss%3A%2F%2F127.0.0.1%3A2858%2F\
             &to=msrps%3A%2F%2F127.0.0.1%3A2858%2Fs1%3Bws\
             &from=msrp%3A%2F%2Fx7.invalid%3A9%2Fabc%3Bws\
             &me=sip%3Aalice%40example.com&room=sip%3Achat%40example.com\
             &roster=sip%3Aalice%40example.com%2Csip%3Abob%40example.com&nick=alice"
        );
    }

    #[test]
    fn made_up_tokens_differ() {
        let a = random_token(16);
        assert_eq!(a.len(), 16);
        assert_ne!(a, random_token(16));
    }
}
