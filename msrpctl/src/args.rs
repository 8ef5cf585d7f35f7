//! The command line: global flags, subcommands and the media options shared by
//! `add-participant` and `modify-participant`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use control_api::pb;

/// Where msrpctl looks for the control API unless told otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

/// The long `--help` text: what msrpctl does, and its exit codes.
const LONG_ABOUT: &str = "\
msrpctl drives msrp-switch through its gRPC control API (msrpswitch.v1.SwitchControl):
create sessions, add, modify and remove participants, inspect sessions and counters,
and watch participant events. Each subcommand is one RPC.

Human output is aligned key: value lines and tables; --json prints the reply of each
command's RPC in the canonical proto3 JSON mapping (camelCase names, enums by name,
64-bit integers as strings, default values left out): the document grpcurl prints
for the same call (one object per line for `watch`). Failures under --json are
{\"error\": {...}} documents.

Exit codes:
  0  ok
  1  any other failure (internal error, timeout, unexpected reply)
  2  usage: bad flags or arguments, unreadable --sdp-file, bad --server or --token,
     missing, unreadable or malformed --tls-ca / --tls-cert / --tls-key
  3  NOT_FOUND: no such session or participant
  4  INVALID_ARGUMENT: malformed request or SDP (the field is named)
  5  FAILED_PRECONDITION: not allowed in the current state; reason not_acceptable_here
     means the media cannot be accepted (answer the SIP request with 488)
  6  UNAUTHENTICATED or PERMISSION_DENIED: check --token / MSRPCTL_TOKEN; or the
     switch refused the client certificate: check --tls-cert / --tls-key
  7  UNAVAILABLE: msrp-switch is not reachable at --server, is stopping, or is not
     serving (health); or its certificate is not from --tls-ca";

/// The help heading of the flags every subcommand takes.
const GLOBAL: &str = "Global options";

/// msrpctl: the operators' command line for msrp-switch's control API.
#[derive(Debug, Parser)]
#[command(name = "msrpctl", version, long_about = LONG_ABOUT)]
pub struct Cli {
    /// The control API's address.
    #[arg(
        long,
        env = "MSRPCTL_SERVER",
        default_value = DEFAULT_SERVER,
        global = true,
        help_heading = GLOBAL,
        value_name = "URL"
    )]
    pub server: String,
    /// The bearer token the switch requires (sent as `authorization: Bearer <token>`).
    #[arg(
        long,
        env = "MSRPCTL_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = GLOBAL,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// PEM CA bundle the switch's certificate must chain to: connect with TLS.
    /// An https:// --server needs it; with it an http:// one becomes https://.
    #[arg(
        long,
        env = "MSRPCTL_TLS_CA",
        global = true,
        help_heading = GLOBAL,
        value_name = "PEM"
    )]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate chain, for a switch that requires client
    /// certificates (its --control-client-ca); with --tls-key and --tls-ca.
    #[arg(
        long,
        env = "MSRPCTL_TLS_CERT",
        global = true,
        help_heading = GLOBAL,
        value_name = "PEM"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "MSRPCTL_TLS_KEY",
        global = true,
        help_heading = GLOBAL,
        value_name = "PEM"
    )]
    pub tls_key: Option<PathBuf>,
    /// Machine output: the reply in the canonical proto3 JSON mapping, as grpcurl
    /// prints it (one event per line for `watch`).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// How long to wait for the connection and for each reply, in seconds
    /// (`watch` waits for events for as long as it runs).
    #[arg(
        long,
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true,
        help_heading = GLOBAL,
        value_name = "SECONDS"
    )]
    pub timeout_seconds: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// One subcommand per RPC, and `webchat`, the browser example's helper.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an empty session (CreateSession); prints its id.
    CreateSession(CreateSessionArgs),
    /// Add a participant (AddParticipant): with the remote side's offer, prints the
    /// participant id, the switch's MSRP URI and the SDP lines of its answer; with
    /// --offer, the switch's offer, and the participant is pending until set-answer.
    AddParticipant(AddParticipantArgs),
    /// Give a pending participant the remote side's answer to the switch's offer
    /// (SetRemoteAnswer).
    SetAnswer(SetAnswerArgs),
    /// Answer a participant's offer from that offer and another participant's
    /// answer (AnswerFromBoth: the B2BUA's answer to its originating leg).
    AnswerFromBoth(AnswerFromBothArgs),
    /// Apply (--commit) or stage new remote media for a participant
    /// (ModifyParticipant).
    ModifyParticipant(ModifyParticipantArgs),
    /// Apply a staged modification (CommitModification).
    CommitModification(CommitArgs),
    /// Drop a staged modification; the current media stay (AbortModification).
    AbortModification(ParticipantArgs),
    /// Release one participant; prints its counters (RemoveParticipant).
    RemoveParticipant(ParticipantArgs),
    /// Release every participant of a session, then the session (ReleaseSession).
    ReleaseSession(SessionArgs),
    /// Show one session and its participants (GetSession).
    GetSession(SessionArgs),
    /// Show one participant, by id, the switch's URI for it or that URI's
    /// session-id (GetParticipant).
    GetParticipant(GetParticipantArgs),
    /// List sessions, a page at a time, optionally filtered (ListSessions).
    ListSessions(ListSessionsArgs),
    /// Show the switch-wide counters (Stats).
    Stats,
    /// Print participant and session events as they happen (WatchEvents), until
    /// --count events or Ctrl-C.
    Watch(WatchArgs),
    /// Print a session's MSRP frames as they pass the switch (StartCapture,
    /// WatchCapture; StopCapture at the end unless --keep), until --count
    /// frames or Ctrl-C: for an operator without Homer.
    Trace(TraceArgs),
    /// A live view of the switch, redrawn every --interval-seconds until `q` or
    /// Ctrl-C: sessions, traffic, queues, latency, the daemon's CPU and memory
    /// (from the HTTP port's /metrics, --metrics) and the worst legs (from
    /// ListSessions). Without a terminal, or with --once, plain text frames.
    #[command(long_about = TOP_ABOUT)]
    Top(TopArgs),
    /// Which of several switches a session with this correlation tag goes to
    /// (control_api::placement): each --node is asked for its health and load,
    /// draining and silent nodes are skipped, the tag is hashed over the rest.
    /// Talks to the --node URLs, not --server; with --ask, asks the --server
    /// switch, which knows its cluster (PlaceSession).
    Place(PlaceArgs),
    /// Check the control service's health (grpc.health.v1 Check).
    Health,
    /// Drain the switch and stop it, as SIGTERM does (Drain): prints the
    /// deadline in force.
    Drain(DrainArgs),
    /// The browser chat example (examples/webchat): create a group chat, add each
    /// --member as a WebSocket participant, serve the page and print each
    /// member's URL; Ctrl-C releases the session. Not one RPC but a few: the
    /// switch needs --ws-listen (or --wss-listen with --secure).
    Webchat(WebchatArgs),
}

/// `webchat`'s options.
#[derive(Debug, Args)]
pub struct WebchatArgs {
    /// The chat room's URI: the group identity, the CPIM To of public messages.
    #[arg(long, default_value = "sip:chat@example.com", value_name = "URI")]
    pub room: String,
    /// A browser member's IM address (its CPIM From); repeat for each member.
    #[arg(long = "member", required = true, value_name = "URI")]
    pub members: Vec<String>,
    /// Another member's IM address, one that joins by other means (a desk
    /// client over TCP added with add-participant): listed beside the browser
    /// members in each page's menu of private-message recipients; repeatable.
    #[arg(long = "roster", value_name = "URI")]
    pub roster: Vec<String>,
    /// Where to serve the page over HTTP.
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    pub serve: std::net::SocketAddr,
    /// The members connect over secure WebSocket (wss, the switch's
    /// --wss-listen): their URIs are msrps.
    #[arg(long)]
    pub secure: bool,
}

/// The long help of `top`: where each figure comes from, and what "worst" means.
const TOP_ABOUT: &str = "\
A live view of the switch, redrawn every --interval-seconds until `q` or Ctrl-C
(which restore the terminal).

The header comes from the daemon's HTTP port (--metrics, GET /metrics in the
Prometheus text format): sessions and participants by kind, connections, msgs/s
in and out (SEND requests, i.e. chunks: a message sent whole counts once; the
rate of every frame kind follows), MB/s read and written, bytes queued for
writing, forwarding and response latency p50/p99 (estimated from the histogram
buckets filled during the interval, so only chunks of the last interval count),
errors of the interval, and the daemon's CPU % and resident memory; then each
shard's connections and queued bytes. Rates are counter differences over the
interval, so the first figures appear one interval after the start.

The worst legs come from the control API (--server): the participants with the
most requests per second (SEND, REPORT, ... received from it plus written to it:
the frames_in and frames_out of its counters) over the interval, then the most
message body bytes per second, then the most requests since they joined. Only the
first --max-sessions sessions of ListSessions (key order, shard by shard) are
looked at on each refresh, which keeps a refresh cheap on a busy switch; the
heading says how many were. The control API has no per-leg queue figure: queued
bytes are shown per shard.

Output: in a terminal, a full-screen view (alternate screen); otherwise, or with
--once, plain text frames without escape codes, one after another; with --json,
one JSON document per refresh, one per line. Failures exit as every subcommand
does (7 when the switch or its HTTP port cannot be reached).";

/// `top`'s options.
#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// The daemon's HTTP port (its --metrics-listen), where GET /metrics is
    /// scraped; a path other than / replaces /metrics.
    #[arg(
        long,
        env = "MSRPCTL_METRICS",
        default_value = DEFAULT_METRICS,
        value_name = "URL"
    )]
    pub metrics: String,
    /// Seconds between refreshes (0.05 to 3600; fractions allowed).
    #[arg(long, default_value_t = 1.0, value_parser = interval_seconds, value_name = "SECONDS")]
    pub interval_seconds: f64,
    /// Print one frame, as plain text, and exit (its rates are over one
    /// interval: it takes --interval-seconds).
    #[arg(long, conflicts_with = "iterations")]
    pub once: bool,
    /// Stop after this many refreshes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,
    /// The most sessions looked at per refresh for the worst legs (0: no
    /// ListSessions, no legs).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub max_sessions: u32,
    /// How many worst legs to show (fewer if the terminal is too short).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub legs: usize,
}

/// Where `top` scrapes /metrics unless told otherwise: the daemon's default
/// --metrics-listen.
pub const DEFAULT_METRICS: &str = "http://127.0.0.1:9464";

/// Parses `--interval-seconds`: a finite number of seconds from 0.05 (a redraw
/// every frame of a fast terminal is no use) to an hour.
fn interval_seconds(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if (0.05..=3600.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(format!("{text} is not from 0.05 to 3600"))
    }
}

/// `drain`'s options.
#[derive(Debug, Clone, Args)]
pub struct DrainArgs {
    /// The longest the drain may take, in seconds; 0 = the daemon's --drain-seconds.
    #[arg(long, default_value_t = 0)]
    pub deadline_seconds: u32,
}

/// The session kinds `create-session` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SessionKindArg {
    /// Two participants, the switch in the media path (B2BUA).
    OneToOne,
    /// A chat room (RFC 7701): any number of participants, each message fanned out
    /// to the others; needs --group-identity.
    Group,
    /// OMA SIMPLE IM Large Message Mode: one message from the first participant
    /// added to every other one, then a large-message-complete event.
    LargeMessage,
}

impl From<SessionKindArg> for pb::SessionKind {
    fn from(kind: SessionKindArg) -> Self {
        match kind {
            SessionKindArg::OneToOne => pb::SessionKind::OneToOne,
            SessionKindArg::Group => pb::SessionKind::Group,
            SessionKindArg::LargeMessage => pb::SessionKind::LargeMessage,
        }
    }
}

/// What a group does with a participant whose queue stays over its bound past the
/// switch's grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SlowConsumerArg {
    /// Drop its connection (the event stream says so); the others never wait.
    Drop,
    /// Stop reading the senders until it catches up.
    Pause,
}

impl From<SlowConsumerArg> for pb::SlowConsumer {
    fn from(slow: SlowConsumerArg) -> Self {
        match slow {
            SlowConsumerArg::Drop => pb::SlowConsumer::Drop,
            SlowConsumerArg::Pause => pb::SlowConsumer::Pause,
        }
    }
}

/// `create-session` options.
#[derive(Debug, Args)]
pub struct CreateSessionArgs {
    /// The kind of session.
    #[arg(long, value_enum)]
    pub kind: SessionKindArg,
    /// The IM Group Identity or ad-hoc IM Session Identity.
    #[arg(long, value_name = "URI")]
    pub group_identity: Option<String>,
    /// Media types the session carries, space-separated (repeatable); none = any.
    #[arg(long, value_name = "TYPES")]
    pub accept_types: Vec<String>,
    /// Types allowed inside wrappers such as message/cpim, space-separated
    /// (repeatable); none = any.
    #[arg(long, value_name = "TYPES")]
    pub accept_wrapped_types: Vec<String>,
    /// The largest message the switch accepts, in bytes; 0 or none = no limit.
    #[arg(long, value_name = "BYTES")]
    pub max_size: Option<u64>,
    /// The smallest a=max-size an offer may state (a participant that cannot receive
    /// messages this large is not acceptable here); none = no minimum.
    #[arg(long, value_name = "BYTES")]
    pub min_max_size: Option<u64>,
    /// Group: participants may send private messages (CPIM To naming one
    /// participant); without it they get 428. Offered as `a=chatroom:private-messages`.
    #[arg(long)]
    pub private_messages: bool,
    /// Group: NICKNAME requests are served; without it they get 403. Offered as
    /// `a=chatroom:nickname`.
    #[arg(long)]
    pub nicknames: bool,
    /// Group: what happens to a slow consumer; none = drop.
    #[arg(long, value_enum, value_name = "ACTION")]
    pub slow_consumer: Option<SlowConsumerArg>,
    /// A correlation tag (the SIP Call-ID) carried on every event of the session.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Release the session this long after its creation; none = the switch's
    /// --session-max-seconds.
    #[arg(long, value_name = "SECONDS")]
    pub max_duration_seconds: Option<u64>,
    /// Release the session after this long without a request; none = the switch's
    /// --session-idle-release-seconds.
    #[arg(long, value_name = "SECONDS")]
    pub idle_release_seconds: Option<u64>,
    /// Place the session on the shard of this session (s-...) or participant
    /// (p-...), so their participants can share one MSRP connection
    /// (a=connection:existing).
    #[arg(long, value_name = "ID")]
    pub colocate_with: Option<String>,
}

impl CreateSessionArgs {
    /// The CreateSession request these options describe. The group identity is
    /// left for the switch to check (it answers INVALID_ARGUMENT naming
    /// `group_identity`), so msrpctl and the API agree on what is required.
    ///
    /// # Errors
    ///
    /// The flag at fault when a group-only option is given for another kind: the
    /// switch would ignore it, and an operator who typed it meant a group.
    pub fn to_request(&self) -> Result<pb::CreateSessionRequest, String> {
        if self.kind != SessionKindArg::Group {
            let group_only = [
                ("--private-messages", self.private_messages),
                ("--nicknames", self.nicknames),
                ("--slow-consumer", self.slow_consumer.is_some()),
            ];
            if let Some((flag, _)) = group_only.iter().find(|(_, given)| *given) {
                return Err(format!(
                    "{flag} applies to group sessions only (--kind group)"
                ));
            }
        }
        Ok(pb::CreateSessionRequest {
            kind: pb::SessionKind::from(self.kind).into(),
            group_identity: self.group_identity.clone().unwrap_or_default(),
            policy: Some(pb::Policy {
                accept_types: split_list(&self.accept_types),
                accept_wrapped_types: split_list(&self.accept_wrapped_types),
                max_size: self.max_size.unwrap_or(0),
                min_max_size: self.min_max_size.unwrap_or(0),
                private_messages: self.private_messages,
                nicknames: self.nicknames,
                slow_consumer: self
                    .slow_consumer
                    .map_or(pb::SlowConsumer::Drop, pb::SlowConsumer::from)
                    .into(),
            }),
            correlation_tag: self.tag.clone().unwrap_or_default(),
            max_duration_seconds: self.max_duration_seconds.unwrap_or(0),
            idle_release_seconds: self.idle_release_seconds.unwrap_or(0),
            colocate_with: self.colocate_with.clone().unwrap_or_default(),
        })
    }
}

/// A session id.
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The session id.
    #[arg(long, value_name = "SESSION_ID")]
    pub session: String,
}

/// A participant id.
#[derive(Debug, Args)]
pub struct ParticipantArgs {
    /// The participant id.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
}

/// `commit-modification` options.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The participant whose staged modification goes into force.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
    /// The answer to the switch's staged offer (`modify-participant --offer`): a
    /// file holding the 200 OK's SDP `m=message` section.
    #[arg(long, value_name = "FILE", conflicts_with = "answer_sdp")]
    pub answer_sdp_file: Option<PathBuf>,
    /// The same answer as SDP text.
    #[arg(long, value_name = "SDP")]
    pub answer_sdp: Option<String>,
}

/// `add-participant` options.
#[derive(Debug, Args)]
pub struct AddParticipantArgs {
    /// The session to join.
    #[arg(long, value_name = "SESSION_ID")]
    pub session: String,
    /// The participant's authenticated IM address (SIP or tel URI).
    #[arg(long, value_name = "URI")]
    pub im_address: Option<String>,
    /// The anonymous address assigned when privacy was requested.
    #[arg(long, value_name = "URI")]
    pub privacy_alias: Option<String>,
    /// The remote side's media (its offer), or --offer.
    #[command(flatten)]
    pub media: MediaArgs,
    /// With --offer: the participant whose offer the IM Server forwards; the
    /// switch offers its types under the session policy.
    #[arg(long, value_name = "PARTICIPANT_ID", requires = "offer")]
    pub offer_from: Option<String>,
    /// With --offer: offer over WebSocket (RFC 7977), to a browser: a `;ws` URI
    /// on the switch's WebSocket listener, a=setup:passive.
    #[arg(long, requires = "offer")]
    pub websocket: bool,
    /// With the remote offer: the participant whose answer joins this answer
    /// (types in both).
    #[arg(long, value_name = "PARTICIPANT_ID", conflicts_with = "offer")]
    pub answer_with: Option<String>,
    /// A correlation tag for the participant (the SIP dialog).
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
}

/// `set-answer` options.
#[derive(Debug, Args)]
pub struct SetAnswerArgs {
    /// The pending participant.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
    /// The remote side's answer.
    #[command(flatten)]
    pub media: MediaArgs,
}

/// `answer-from-both` options.
#[derive(Debug, Args)]
pub struct AnswerFromBothArgs {
    /// The participant whose offer is answered.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
    /// The participant whose answer joins the selection.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub answer_with: String,
}

/// `get-participant` options: exactly one key.
#[derive(Debug, Args)]
#[group(id = "key", required = true, multiple = false)]
pub struct GetParticipantArgs {
    /// The participant id.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: Option<String>,
    /// The switch's MSRP URI for the participant.
    #[arg(long, value_name = "URI")]
    pub local_uri: Option<String>,
    /// The session-id of that URI (what a To-Path names).
    #[arg(long, value_name = "ID")]
    pub msrp_session_id: Option<String>,
}

/// `list-sessions` options.
#[derive(Debug, Args)]
pub struct ListSessionsArgs {
    /// Sessions per page (1 to 1000; none = 100).
    #[arg(long, value_name = "N")]
    pub page_size: Option<u32>,
    /// The next_page_token of the previous page.
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// Only sessions of this kind.
    #[arg(long, value_enum)]
    pub kind: Option<SessionKindArg>,
    /// Only sessions with a participant of this IM address.
    #[arg(long, value_name = "URI")]
    pub im_address: Option<String>,
    /// Only sessions with this correlation tag, or a participant with it.
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
}

/// `modify-participant` options.
#[derive(Debug, Args)]
pub struct ModifyParticipantArgs {
    /// The participant whose media change.
    #[arg(long, value_name = "PARTICIPANT_ID")]
    pub participant: String,
    /// Apply now (the client's re-INVITE/UPDATE); without it the change is staged
    /// until commit-modification or abort-modification.
    #[arg(long)]
    pub commit: bool,
    /// The new remote media.
    #[command(flatten)]
    pub media: MediaArgs,
}

/// The remote side's media: an SDP `m=message` section, or structured options.
#[derive(Debug, Args)]
pub struct MediaArgs {
    /// Where the media come from.
    #[command(flatten)]
    pub source: MediaSource,
    /// The structured media options (with --path).
    #[command(flatten)]
    pub structured: StructuredMedia,
}

/// Exactly one of an SDP file, SDP text, or a structured `--path`.
#[derive(Debug, Args)]
#[group(id = "remote", required = true, multiple = false)]
pub struct MediaSource {
    /// A file holding the remote SDP `m=message` section (with its c= line).
    #[arg(long, value_name = "FILE")]
    pub sdp_file: Option<PathBuf>,
    /// The remote SDP `m=message` section: `-` reads it from stdin; anything else is
    /// the SDP text itself.
    #[arg(long, value_name = "SDP")]
    pub sdp: Option<String>,
    /// Structured media: the a=path MSRP URIs, the endpoint's own last
    /// (space-separated or several values); needs --accept-types.
    #[arg(long, num_args = 1.., value_name = "URI", requires = "accept_types")]
    pub path: Vec<String>,
    /// No remote media: the switch offers. add-participant: the participant waits
    /// for set-answer. modify-participant (without --commit): the IM Server's
    /// modification, answered at commit-modification.
    #[arg(long)]
    pub offer: bool,
}

/// The structured media options besides `--path`.
#[derive(Debug, Args)]
pub struct StructuredMedia {
    /// a=accept-types, space-separated (repeatable).
    #[arg(long, value_name = "TYPES", requires = "path")]
    pub accept_types: Vec<String>,
    /// a=accept-wrapped-types, space-separated (repeatable).
    #[arg(long, value_name = "TYPES", requires = "path")]
    pub accept_wrapped_types: Vec<String>,
    /// a=max-size in bytes.
    #[arg(long, value_name = "BYTES", requires = "path")]
    pub max_size: Option<u64>,
    /// a=setup; none = the RFC 4975 default (the offerer connects).
    #[arg(long, value_enum, requires = "path")]
    pub setup: Option<SetupArg>,
    /// a=msrp-cema (RFC 6714).
    #[arg(long, requires = "path")]
    pub cema: bool,
}

/// RFC 4145 a=setup values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SetupArg {
    /// The endpoint connects.
    Active,
    /// The endpoint accepts.
    Passive,
    /// The endpoint may do either.
    Actpass,
    /// No connection for now.
    Holdconn,
}

impl From<SetupArg> for pb::Setup {
    fn from(setup: SetupArg) -> Self {
        match setup {
            SetupArg::Active => pb::Setup::Active,
            SetupArg::Passive => pb::Setup::Passive,
            SetupArg::Actpass => pb::Setup::Actpass,
            SetupArg::Holdconn => pb::Setup::Holdconn,
        }
    }
}

/// `watch` options.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Only events of this session.
    #[arg(long, value_name = "SESSION_ID")]
    pub session: Option<String>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
}

/// `place`'s options.
#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// The session's correlation tag (the SIP Call-ID).
    #[arg(long, value_name = "TAG")]
    pub tag: String,
    /// A switch's control API URL; repeat for each node of the cluster.
    #[arg(
        long = "node",
        required_unless_present = "ask",
        conflicts_with = "ask",
        value_name = "URL"
    )]
    pub nodes: Vec<String>,
    /// Hash over the nodes as given, without asking them (all serving, equal
    /// weights).
    #[arg(long, conflicts_with = "ask")]
    pub no_refresh: bool,
    /// Ask the --server switch instead (PlaceSession): it answers from its
    /// own view of its cluster (its --cluster-* flags), the same answer any
    /// node of the cluster gives; --json prints the RPC's reply.
    #[arg(long)]
    pub ask: bool,
}

/// `trace`'s options.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The session whose frames to print.
    #[arg(long, value_name = "SESSION_ID")]
    pub session: String,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Leave the capture on when done (for the HEP collector).
    #[arg(long)]
    pub keep: bool,
}

/// Splits space-separated lists given once or several times.
pub fn split_list(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|value| value.split_whitespace())
        .map(str::to_owned)
        .collect()
}

impl StructuredMedia {
    /// The [`pb::Media`] these options and `path` describe. The transport follows the
    /// scheme of the last path URI (`msrps:` is TLS), and the connection address and
    /// port are read from its authority.
    pub fn to_media(&self, path: &[String]) -> pb::Media {
        let path = split_list(path);
        let last = path.last().map(String::as_str).unwrap_or_default();
        let transport = if last.starts_with("msrps:") {
            pb::Transport::Tls
        } else {
            pb::Transport::Tcp
        };
        let (connection_address, port) = authority(last).unwrap_or_default();
        pb::Media {
            path,
            accept_types: split_list(&self.accept_types),
            accept_wrapped_types: split_list(&self.accept_wrapped_types),
            max_size: self.max_size.unwrap_or(0),
            setup: self
                .setup
                .map_or(pb::Setup::Unspecified, pb::Setup::from)
                .into(),
            cema: self.cema,
            transport: transport.into(),
            connection_address,
            port,
            ..pb::Media::default()
        }
    }
}

/// The host and port of an `msrp://host:port/...` URI, if it has both.
fn authority(uri: &str) -> Option<(String, u32)> {
    let (_, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', ';']).next()?;
    // Drop any userinfo.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = host_port.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), u32::from(port)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn structured_media_take_transport_and_address_from_the_path() {
        let media = StructuredMedia {
            accept_types: vec!["text/plain message/cpim".into()],
            accept_wrapped_types: vec![],
            max_size: Some(1024),
            setup: Some(SetupArg::Active),
            cema: false,
        }
        .to_media(&[
            "msrp://relay.example:2855/r1;tcp".into(),
            "msrps://[2001:db8::1]:40001/aaaa;tcp".into(),
        ]);
        assert_eq!(media.path.len(), 2);
        assert_eq!(media.accept_types, ["text/plain", "message/cpim"]);
        assert_eq!(media.transport(), pb::Transport::Tls);
        assert_eq!(media.connection_address, "2001:db8::1");
        assert_eq!(media.port, 40001);
        assert_eq!(media.setup(), pb::Setup::Active);
        assert_eq!(media.max_size, 1024);
    }

    fn create_args(args: &[&str]) -> CreateSessionArgs {
        let cli = Cli::try_parse_from(
            ["msrpctl", "create-session"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        match cli.command {
            Command::CreateSession(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn group_options_fill_the_policy() {
        let request = create_args(&[
            "--kind",
            "group",
            "--group-identity",
            "sip:team@conf.example.net",
            "--private-messages",
            "--nicknames",
            "--slow-consumer",
            "pause",
            "--accept-types",
            "message/cpim",
        ])
        .to_request()
        .unwrap();
        assert_eq!(request.kind(), pb::SessionKind::Group);
        assert_eq!(request.group_identity, "sip:team@conf.example.net");
        let policy = request.policy.unwrap();
        assert!(policy.private_messages && policy.nicknames);
        assert_eq!(policy.slow_consumer(), pb::SlowConsumer::Pause);
        assert_eq!(policy.accept_types, ["message/cpim"]);

        let policy = create_args(&["--kind", "group"])
            .to_request()
            .unwrap()
            .policy
            .unwrap();
        assert!(!policy.private_messages && !policy.nicknames);
        assert_eq!(policy.slow_consumer(), pb::SlowConsumer::Drop);
    }

    #[test]
    fn group_options_on_a_one_to_one_session_name_the_flag() {
        for flag in [
            &["--private-messages"][..],
            &["--nicknames"],
            &["--slow-consumer", "drop"],
        ] {
            let mut args = vec!["--kind", "one-to-one"];
            args.extend_from_slice(flag);
            let err = create_args(&args).to_request().unwrap_err();
            assert_eq!(
                err,
                format!("{} applies to group sessions only (--kind group)", flag[0])
            );
        }
        assert!(create_args(&["--kind", "one-to-one"]).to_request().is_ok());
    }

    #[test]
    fn colocate_with_goes_into_the_request() {
        let request = create_args(&["--kind", "one-to-one", "--colocate-with", "s-1f"])
            .to_request()
            .unwrap();
        assert_eq!(request.colocate_with, "s-1f");
        let request = create_args(&["--kind", "one-to-one"]).to_request().unwrap();
        assert_eq!(request.colocate_with, "", "the next shard in turn");
    }

    #[test]
    fn the_authority_of_odd_uris_is_none() {
        assert_eq!(authority("msrp://host/abc;tcp"), None);
        assert_eq!(authority("not a uri"), None);
        assert_eq!(
            authority("msrp://u@10.0.0.1:99/x;tcp"),
            Some(("10.0.0.1".into(), 99))
        );
    }
}
