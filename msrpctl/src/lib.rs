//! msrpctl, the operators' command line over the control API: argument parsing
//! ([`args`]), the RPC each subcommand makes ([`run`]), how replies are shown
//! ([`render`]), the live view of `top` ([`top`]) and how failures become
//! messages and exit codes ([`failure`]).
//!
//! The binary (`src/main.rs`) only parses the command line and calls
//! [`main_exit_code`]. msrpctl is a crate of its own so that the daemon, which
//! depends on `control-api`, links none of the CLI (clap, serde_json).

#![forbid(unsafe_code)]

pub mod args;
pub mod failure;
mod place;
pub mod render;
pub mod top;
mod webchat;

use std::future::Future;
use std::io::Write;
use std::time::Duration;

use control_api::pb;
use control_api::pb::switch_control_client::SwitchControlClient;
use control_api::tls::{ClientTlsFiles, PemFile};
use serde_json::{Value, json};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Request, Response, Status};
use tonic_health::pb::health_client::HealthClient;

pub use args::{Cli, Command, DEFAULT_METRICS, DEFAULT_SERVER};
pub use failure::{Cause, Failure, exit};

/// Runs the parsed command line on a fresh single-threaded runtime, prints the
/// result to stdout and any failure to stderr (and, under `--json`, as a JSON
/// document to stdout), and returns the exit code.
pub fn main_exit_code(cli: &Cli) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("msrpctl: cannot start the async runtime: {err}");
            return exit::OTHER;
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = runtime.block_on(run(cli, &mut out));
    let code = match result {
        Ok(()) => exit::OK,
        Err(failure) if failure.is_broken_pipe() => exit::OK,
        Err(failure) => {
            if cli.json {
                // Best effort: stdout may be gone too.
                let _ = writeln!(out, "{:#}", failure.to_json());
            }
            let _ = writeln!(std::io::stderr(), "{}", failure.message());
            failure.exit_code()
        }
    };
    let _ = out.flush();
    code
}

/// What a command does, for failure messages (`get session s-1`).
pub fn describe(command: &Command) -> String {
    match command {
        Command::CreateSession(_) => "create session".to_owned(),
        Command::AddParticipant(a) => format!("add participant to session {}", a.session),
        Command::SetAnswer(a) => format!("set the answer of participant {}", a.participant),
        Command::AnswerFromBoth(a) => format!("answer participant {}", a.participant),
        Command::GetParticipant(_) => "get participant".to_owned(),
        Command::ModifyParticipant(a) => format!("modify participant {}", a.participant),
        Command::CommitModification(a) => {
            format!("commit the modification of participant {}", a.participant)
        }
        Command::AbortModification(a) => {
            format!("abort the modification of participant {}", a.participant)
        }
        Command::RemoveParticipant(a) => format!("remove participant {}", a.participant),
        Command::ReleaseSession(a) => format!("release session {}", a.session),
        Command::GetSession(a) => format!("get session {}", a.session),
        Command::ListSessions(_) => "list sessions".to_owned(),
        Command::Stats => "get stats".to_owned(),
        Command::Watch(_) => "watch events".to_owned(),
        Command::Trace(a) => format!("trace session {}", a.session),
        Command::Top(_) => "top".to_owned(),
        Command::Place(a) => format!("place {}", a.tag),
        Command::Health => "check health".to_owned(),
        Command::Drain(_) => "drain the switch".to_owned(),
        Command::Webchat(_) => "set up the web chat".to_owned(),
    }
}

/// Reads the remote media the options describe: the SDP file, the SDP text (`-`:
/// stdin), or the structured options.
///
/// # Errors
///
/// A usage failure when the file or stdin cannot be read.
pub fn remote_media(
    what: &str,
    media: &args::MediaArgs,
) -> Result<Option<pb::RemoteMedia>, Failure> {
    let source = &media.source;
    let remote = if source.offer {
        return Ok(None);
    } else if let Some(file) = &source.sdp_file {
        let sdp = std::fs::read_to_string(file).map_err(|err| {
            Failure::new(
                what,
                Cause::Usage(format!("cannot read --sdp-file {}: {err}", file.display())),
            )
        })?;
        pb::remote_media::Media::Sdp(sdp)
    } else if let Some(sdp) = &source.sdp {
        if sdp == "-" {
            let sdp = std::io::read_to_string(std::io::stdin()).map_err(|err| {
                Failure::new(
                    what,
                    Cause::Usage(format!("cannot read the SDP from stdin: {err}")),
                )
            })?;
            pb::remote_media::Media::Sdp(sdp)
        } else {
            pb::remote_media::Media::Sdp(sdp.clone())
        }
    } else {
        pb::remote_media::Media::Structured(media.structured.to_media(&source.path))
    };
    Ok(Some(pb::RemoteMedia {
        media: Some(remote),
    }))
}

/// The answer `commit-modification` carries for a staged offer, if given.
fn commit_answer(what: &str, args: &args::CommitArgs) -> Result<Option<pb::RemoteMedia>, Failure> {
    let sdp = match (&args.answer_sdp_file, &args.answer_sdp) {
        (Some(file), _) => std::fs::read_to_string(file).map_err(|err| {
            Failure::new(
                what,
                Cause::Usage(format!(
                    "cannot read --answer-sdp-file {}: {err}",
                    file.display()
                )),
            )
        })?,
        (None, Some(sdp)) => sdp.clone(),
        (None, None) => return Ok(None),
    };
    Ok(Some(pb::RemoteMedia {
        media: Some(pb::remote_media::Media::Sdp(sdp)),
    }))
}

/// The remote media of a command that needs them (`--offer` is add-participant's).
fn required_media(what: &str, media: &args::MediaArgs) -> Result<pb::RemoteMedia, Failure> {
    remote_media(what, media)?.ok_or_else(|| {
        Failure::new(
            what,
            Cause::Usage(
                "--offer is for add-participant, and for modify-participant without --commit"
                    .to_owned(),
            ),
        )
    })
}

/// A connection to the control API, with the token and the reply timeout.
struct Connection {
    channel: Channel,
    /// The URL connected to, for failure messages.
    server: String,
    authorization: Option<AsciiMetadataValue>,
    timeout: Duration,
    what: String,
}

impl Connection {
    /// Connects to `cli.server` within the timeout.
    async fn open(cli: &Cli, what: &str) -> Result<Self, Failure> {
        let timeout = Duration::from_secs(cli.timeout_seconds);
        let authorization = match &cli.token {
            Some(token) => Some(
                AsciiMetadataValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    Failure::new(
                        what,
                        Cause::Usage(
                            "--token must be printable ASCII (it is sent as gRPC metadata)"
                                .to_owned(),
                        ),
                    )
                })?,
            ),
            None => None,
        };
        let usage = |reason: String| Failure::new(what, Cause::Usage(reason));
        let tls = client_tls(cli).map_err(usage)?;
        let server = server_url(&cli.server, tls.is_some());
        let endpoint = Endpoint::from_shared(server.clone()).map_err(|err| {
            Failure::new(
                what,
                Cause::Usage(format!(
                    "invalid --server {:?}: {err} (expected e.g. {DEFAULT_SERVER})",
                    cli.server
                )),
            )
        })?;
        let endpoint = match tls {
            Some(tls) => endpoint.tls_config(tls.timeout(timeout)).map_err(|err| {
                usage(format!(
                    "TLS for --server {server}: {}",
                    failure::error_chain(&err)
                ))
            })?,
            None => endpoint,
        };
        let endpoint = endpoint.connect_timeout(timeout);
        let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
            Ok(Ok(channel)) => channel,
            Ok(Err(err)) => return Err(Failure::new(what, Cause::connection(&server, &err))),
            Err(_) => {
                return Err(Failure::new(
                    what,
                    Cause::Connect {
                        server,
                        detail: format!("no connection within {} s", cli.timeout_seconds),
                    },
                ));
            }
        };
        Ok(Self {
            channel,
            server,
            authorization,
            timeout,
            what: what.to_owned(),
        })
    }

    fn client(&self) -> SwitchControlClient<Channel> {
        SwitchControlClient::new(self.channel.clone())
    }

    /// A request carrying the bearer token, if any.
    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(authorization) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", authorization.clone());
        }
        request
    }

    /// Awaits one reply within the timeout.
    async fn call<T>(
        &self,
        reply: impl Future<Output = Result<Response<T>, Status>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, reply).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(Failure::new(&self.what, Cause::call(&self.server, status))),
            Err(_) => Err(Failure::new(
                &self.what,
                Cause::Timeout {
                    seconds: self.timeout.as_secs(),
                },
            )),
        }
    }
}

/// The TLS to connect with: with `--tls-ca`, which an https:// `--server` needs
/// (msrpctl trusts no system roots: a control API's certificate comes from the
/// operator's own CA). The files are read and checked here, before any
/// connection, so that an error names the option and the file.
pub(crate) fn client_tls(cli: &Cli) -> Result<Option<ClientTlsConfig>, String> {
    let identity = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => Some((
            PemFile::new("--tls-cert", cert),
            PemFile::new("--tls-key", key),
        )),
        (None, None) => None,
        _ => {
            return Err(
                "--tls-cert and --tls-key go together (the client certificate and its key)"
                    .to_owned(),
            );
        }
    };
    let Some(ca) = &cli.tls_ca else {
        if cli.server.starts_with("https://") {
            return Err(format!(
                "--server {} needs --tls-ca (MSRPCTL_TLS_CA): the CA that signed the switch's \
                 certificate",
                cli.server
            ));
        }
        if identity.is_some() {
            return Err(
                "--tls-cert needs TLS: give --tls-ca (the CA that signed the switch's \
                 certificate)"
                    .to_owned(),
            );
        }
        return Ok(None);
    };
    let files = ClientTlsFiles {
        ca: PemFile::new("--tls-ca", ca),
        identity,
    };
    files.load().map(Some).map_err(|err| err.to_string())
}

/// `host:port` without a scheme means plain HTTP/2, or TLS with `tls`; with
/// `tls` an http:// URL (the default `--server`) becomes https://.
fn server_url(server: &str, tls: bool) -> String {
    match server.split_once("://") {
        Some(("http", rest)) if tls => format!("https://{rest}"),
        Some(_) => server.to_owned(),
        None if tls => format!("https://{server}"),
        None => format!("http://{server}"),
    }
}

/// Writes `text` to the output.
pub(crate) fn emit(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|err| Failure::new("write the output", Cause::Output(err)))
}

/// Writes the JSON document (pretty) or the human text.
fn emit_either(
    out: &mut dyn Write,
    json: bool,
    value: impl FnOnce() -> Value,
    text: impl FnOnce() -> String,
) -> Result<(), Failure> {
    if json {
        emit(out, &format!("{:#}\n", value()))
    } else {
        emit(out, &text())
    }
}

/// Runs one command against the server and writes its output to `out`.
///
/// # Errors
///
/// A [`Failure`] naming what failed and why; [`Failure::exit_code`] gives the exit
/// code and [`Failure::message`] the line for stderr.
pub async fn run(cli: &Cli, out: &mut dyn Write) -> Result<(), Failure> {
    let what = describe(&cli.command);
    // Read local input before connecting: a usage error needs no server.
    let remote = match &cli.command {
        Command::AddParticipant(a) => remote_media(&what, &a.media)?,
        Command::ModifyParticipant(a) if a.commit => Some(required_media(&what, &a.media)?),
        Command::ModifyParticipant(a) => remote_media(&what, &a.media)?,
        Command::CommitModification(a) => commit_answer(&what, a)?,
        Command::SetAnswer(a) => Some(required_media(&what, &a.media)?),
        _ => None,
    };
    if let Command::CreateSession(a) = &cli.command {
        create_request(&what, a)?;
    }
    // Several nodes, not one --server (unless --server is asked).
    if let Command::Place(a) = &cli.command {
        if !a.ask {
            return place::run(cli, out, a).await;
        }
    }
    if let Command::Top(a) = &cli.command {
        top::Scraper::new(&a.metrics, cli).map_err(|why| Failure::new(&what, Cause::Usage(why)))?;
    }
    let conn = Connection::open(cli, &what).await?;
    let json = cli.json;
    match &cli.command {
        Command::CreateSession(a) => {
            let request = create_request(&what, a)?;
            let reply = conn
                .call(conn.client().create_session(conn.request(request.clone())))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&reply),
                || render::created_text(&reply.session_id, &request),
            )
        }
        Command::AddParticipant(a) => {
            let identity =
                (a.im_address.is_some() || a.privacy_alias.is_some()).then(|| pb::Identity {
                    im_address: a.im_address.clone().unwrap_or_default(),
                    privacy_alias: a.privacy_alias.clone().unwrap_or_default(),
                });
            let request = pb::AddParticipantRequest {
                session_id: a.session.clone(),
                identity,
                remote,
                offer_from: a.offer_from.clone().unwrap_or_default(),
                answer_with: a.answer_with.clone().unwrap_or_default(),
                correlation_tag: a.tag.clone().unwrap_or_default(),
                // An offer's transport follows offer_from (or TCP).
                transport: pb::Transport::Unspecified as i32,
                websocket: a.websocket,
            };
            let reply = conn
                .call(conn.client().add_participant(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&reply),
                || {
                    let mut text = render::key_values(&[
                        ("participant_id", reply.participant_id.clone()),
                        ("local_uri", render::local_uri(reply.local.as_ref())),
                        ("pending", render::yes_no(reply.pending)),
                    ]);
                    text.push_str(&render::local_media_text(reply.local.as_ref()));
                    text
                },
            )
        }
        Command::SetAnswer(a) => {
            let request = pb::SetRemoteAnswerRequest {
                participant_id: a.participant.clone(),
                remote,
            };
            let reply = conn
                .call(conn.client().set_remote_answer(conn.request(request)))
                .await?;
            emit_local(
                out,
                &a.participant,
                reply.local.as_ref(),
                json.then(|| proto_json(&reply)),
            )
        }
        Command::AnswerFromBoth(a) => {
            let request = pb::AnswerFromBothRequest {
                participant_id: a.participant.clone(),
                answer_with: a.answer_with.clone(),
            };
            let reply = conn
                .call(conn.client().answer_from_both(conn.request(request)))
                .await?;
            emit_local(
                out,
                &a.participant,
                reply.local.as_ref(),
                json.then(|| proto_json(&reply)),
            )
        }
        Command::GetParticipant(a) => {
            use pb::get_participant_request::Key;
            let key = match (&a.participant, &a.local_uri, &a.msrp_session_id) {
                (Some(id), _, _) => Key::ParticipantId(id.clone()),
                (_, Some(uri), _) => Key::LocalUri(uri.clone()),
                (_, _, Some(sid)) => Key::MsrpSessionId(sid.clone()),
                (None, None, None) => {
                    return Err(Failure::new(
                        &what,
                        Cause::Usage(
                            "give --participant, --local-uri or --msrp-session-id".to_owned(),
                        ),
                    ));
                }
            };
            let request = pb::GetParticipantRequest { key: Some(key) };
            let participant = conn
                .call(conn.client().get_participant(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&participant),
                || render::participant_text(&participant),
            )
        }
        Command::ModifyParticipant(a) => {
            let request = pb::ModifyParticipantRequest {
                participant_id: a.participant.clone(),
                remote,
                commit: a.commit,
            };
            let reply = conn
                .call(conn.client().modify_participant(conn.request(request)))
                .await?;
            emit_modification(out, json, &a.participant, &reply)
        }
        Command::CommitModification(a) => {
            let request = pb::CommitModificationRequest {
                participant_id: a.participant.clone(),
                remote,
            };
            let reply = conn
                .call(conn.client().commit_modification(conn.request(request)))
                .await?;
            emit_modification(out, json, &a.participant, &reply)
        }
        Command::AbortModification(a) => {
            let request = pb::AbortModificationRequest {
                participant_id: a.participant.clone(),
            };
            let reply = conn
                .call(conn.client().abort_modification(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&reply),
                || {
                    render::key_values(&[
                        ("participant_id", a.participant.clone()),
                        ("modification", "aborted".to_owned()),
                    ])
                },
            )
        }
        Command::RemoveParticipant(a) => {
            let request = pb::RemoveParticipantRequest {
                participant_id: a.participant.clone(),
            };
            let reply = conn
                .call(conn.client().remove_participant(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&reply),
                || {
                    let mut pairs = vec![
                        ("participant_id", a.participant.clone()),
                        ("removed", "yes".to_owned()),
                    ];
                    pairs.extend(render::counter_pairs(reply.counters.as_ref()));
                    render::key_values(&pairs)
                },
            )
        }
        Command::ReleaseSession(a) => {
            let request = pb::ReleaseSessionRequest {
                session_id: a.session.clone(),
            };
            let reply = conn
                .call(conn.client().release_session(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&reply),
                || {
                    let mut text = render::key_values(&[
                        ("session_id", a.session.clone()),
                        ("released", "yes".to_owned()),
                        ("participants", reply.participants.len().to_string()),
                    ]);
                    text.push('\n');
                    text.push_str(&render::released_table(&reply.participants));
                    text
                },
            )
        }
        Command::GetSession(a) => {
            let request = pb::GetSessionRequest {
                session_id: a.session.clone(),
            };
            let session = conn
                .call(conn.client().get_session(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&session),
                || render::session_text(&session),
            )
        }
        Command::ListSessions(a) => {
            let request = pb::ListSessionsRequest {
                page_size: a.page_size.unwrap_or(0),
                page_token: a.page_token.clone().unwrap_or_default(),
                kind: a
                    .kind
                    .map_or(pb::SessionKind::Unspecified, pb::SessionKind::from)
                    .into(),
                im_address: a.im_address.clone().unwrap_or_default(),
                correlation_tag: a.tag.clone().unwrap_or_default(),
            };
            let reply = conn
                .call(conn.client().list_sessions(conn.request(request)))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&reply),
                || {
                    let mut text = render::sessions_table(&reply.sessions);
                    if !reply.next_page_token.is_empty() {
                        text.push_str(&format!(
                            "\nnext page: --page-token {}\n",
                            reply.next_page_token
                        ));
                    }
                    text
                },
            )
        }
        Command::Stats => {
            let stats = conn
                .call(conn.client().stats(conn.request(pb::StatsRequest {})))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&stats),
                || render::stats_text(&stats),
            )
        }
        Command::Watch(a) => watch(&conn, out, json, a).await,
        Command::Trace(a) => trace(&conn, out, json, a).await,
        Command::Top(a) => top::run(&conn, cli, out, a).await,
        Command::Place(a) if a.ask => place::ask(&conn, out, json, a).await,
        // Handled before connecting (it talks to several nodes).
        Command::Place(a) => place::run(cli, out, a).await,
        Command::Webchat(a) => webchat::run(&conn, out, json, a).await,
        Command::Health => health(&conn, out, json).await,
        Command::Drain(a) => {
            let drained = conn
                .call(conn.client().drain(conn.request(pb::DrainRequest {
                    deadline_seconds: a.deadline_seconds,
                })))
                .await?;
            emit_either(
                out,
                json,
                || proto_json(&drained),
                || {
                    render::key_values(&[(
                        "deadline_seconds",
                        drained.deadline_seconds.to_string(),
                    )])
                },
            )
        }
    }
}

/// Prints a participant's media in force (set-answer, answer-from-both).
fn emit_local(
    out: &mut dyn Write,
    participant: &str,
    local: Option<&pb::LocalMedia>,
    json: Option<Value>,
) -> Result<(), Failure> {
    emit_either(
        out,
        json.is_some(),
        || json.unwrap_or(Value::Null),
        || {
            let mut text = render::key_values(&[
                ("participant_id", participant.to_owned()),
                ("local_uri", render::local_uri(local)),
            ]);
            text.push_str(&render::local_media_text(local));
            text
        },
    )
}

/// A reply in the canonical proto3 JSON mapping (pbjson): the document grpcurl
/// prints for the same call.
fn proto_json<T: serde::Serialize>(reply: &T) -> Value {
    serde_json::to_value(reply).unwrap_or(Value::Null)
}

/// The CreateSession request of `create-session`, or the usage failure naming the
/// flag that does not fit the kind.
fn create_request(
    what: &str,
    args: &args::CreateSessionArgs,
) -> Result<pb::CreateSessionRequest, Failure> {
    args.to_request()
        .map_err(|why| Failure::new(what, Cause::Usage(why)))
}

/// The output of ModifyParticipant and CommitModification.
fn emit_modification(
    out: &mut dyn Write,
    json: bool,
    participant: &str,
    reply: &pb::ModifyParticipantResponse,
) -> Result<(), Failure> {
    emit_either(
        out,
        json,
        || proto_json(reply),
        || {
            let mut text = render::key_values(&[
                ("participant_id", participant.to_owned()),
                (
                    "staged",
                    if reply.staged {
                        "yes (commit-modification or abort-modification to finish)"
                    } else {
                        "no (in force)"
                    }
                    .to_owned(),
                ),
                ("local_uri", render::local_uri(reply.local.as_ref())),
            ]);
            text.push_str(&render::local_media_text(reply.local.as_ref()));
            text
        },
    )
}

/// Resolves when the user presses Ctrl-C (never, if the signal cannot be watched).
async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Streams events until `--count` of them, Ctrl-C, or an error. Opening the stream
/// is not bounded by the timeout: like the events, it waits until Ctrl-C.
async fn watch(
    conn: &Connection,
    out: &mut dyn Write,
    json: bool,
    args: &args::WatchArgs,
) -> Result<(), Failure> {
    if args.count == Some(0) {
        return Ok(());
    }
    let interrupted = ctrl_c();
    tokio::pin!(interrupted);
    let request = pb::WatchEventsRequest {
        session_id: args.session.clone().unwrap_or_default(),
    };
    let mut client = conn.client();
    let mut stream = tokio::select! {
        () = &mut interrupted => return Ok(()),
        opened = client.watch_events(conn.request(request)) => match opened {
            Ok(response) => response.into_inner(),
            Err(status) => return Err(Failure::new(&conn.what, Cause::call(&conn.server, status))),
        },
    };
    // A cue for people (and scripts) that the subscription is in place.
    let _ = writeln!(
        std::io::stderr(),
        "msrpctl: watching events{} (Ctrl-C to stop)",
        args.session
            .as_deref()
            .map(|session| format!(" of session {session}"))
            .unwrap_or_default()
    );
    print_stream(conn, out, args.count, &mut stream, "event", |event| {
        if json {
            format!("{}\n", proto_json(event))
        } else {
            format!("{}\n", render::event_line(event))
        }
    })
    .await
}

/// `trace`: starts the session's capture, prints its frames, stops it.
async fn trace(
    conn: &Connection,
    out: &mut dyn Write,
    json: bool,
    args: &args::TraceArgs,
) -> Result<(), Failure> {
    let mut client = conn.client();
    // Subscribed first, so no frame between the two is missed.
    let mut stream = conn
        .call(client.watch_capture(conn.request(pb::WatchCaptureRequest {
            session_id: args.session.clone(),
        })))
        .await?;
    conn.call(client.start_capture(conn.request(pb::StartCaptureRequest {
        session_id: args.session.clone(),
    })))
    .await?;
    let _ = writeln!(
        std::io::stderr(),
        "msrpctl: tracing session {} (Ctrl-C to stop)",
        args.session
    );
    let printed = print_stream(conn, out, args.count, &mut stream, "capture", |frame| {
        if json {
            format!("{}\n", proto_json(frame))
        } else {
            render::captured_frame(frame)
        }
    })
    .await;
    if !args.keep {
        let mut client = conn.client();
        let _ = conn
            .call(client.stop_capture(conn.request(pb::StopCaptureRequest {
                session_id: args.session.clone(),
            })))
            .await;
    }
    printed
}

/// Prints each message of a server stream with `line` until `count` of them
/// or Ctrl-C; the stream ending is the switch stopping (UNAVAILABLE).
async fn print_stream<T>(
    conn: &Connection,
    out: &mut dyn Write,
    count: Option<u64>,
    stream: &mut tonic::Streaming<T>,
    what: &str,
    line: impl Fn(&T) -> String,
) -> Result<(), Failure> {
    if count == Some(0) {
        return Ok(());
    }
    let interrupted = ctrl_c();
    tokio::pin!(interrupted);
    let mut seen: u64 = 0;
    loop {
        let next = tokio::select! {
            () = &mut interrupted => return Ok(()),
            next = stream.message() => next,
        };
        match next {
            Ok(Some(item)) => {
                emit(out, &line(&item))?;
                seen += 1;
                if count.is_some_and(|count| seen >= count) {
                    return Ok(());
                }
            }
            Ok(None) => {
                return Err(Failure::new(
                    &conn.what,
                    Cause::Status(Status::unavailable(format!(
                        "the switch ended the {what} stream (stopping?)"
                    ))),
                ));
            }
            Err(status) => return Err(Failure::new(&conn.what, Cause::call(&conn.server, status))),
        }
    }
}

/// grpc.health.v1 Check on the control service.
async fn health(conn: &Connection, out: &mut dyn Write, json: bool) -> Result<(), Failure> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;

    let service = pb::switch_control_server::SERVICE_NAME;
    let mut client = HealthClient::new(conn.channel.clone());
    let reply = conn
        .call(client.check(conn.request(HealthCheckRequest {
            service: service.to_owned(),
        })))
        .await?;
    let status = ServingStatus::try_from(reply.status).map_or_else(
        |_| format!("UNKNOWN({})", reply.status),
        |s| s.as_str_name().to_owned(),
    );
    if reply.status != i32::from(ServingStatus::Serving) {
        return Err(Failure::new(&conn.what, Cause::NotServing { status }));
    }
    emit_either(
        out,
        json,
        || json!({ "service": service, "status": status }),
        || render::key_values(&[("service", service.to_owned()), ("status", status.clone())]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_makes_the_server_url_https() {
        assert_eq!(
            server_url("127.0.0.1:50051", false),
            "http://127.0.0.1:50051"
        );
        assert_eq!(
            server_url("127.0.0.1:50051", true),
            "https://127.0.0.1:50051"
        );
        assert_eq!(
            server_url(DEFAULT_SERVER, true),
            "https://127.0.0.1:50051",
            "--tls-ca with the default --server"
        );
        assert_eq!(
            server_url("https://switch.example:1", true),
            "https://switch.example:1"
        );
        assert_eq!(
            server_url("http://switch.example:1", false),
            "http://switch.example:1"
        );
    }
}
