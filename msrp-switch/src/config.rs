//! The daemon's settings: built-in defaults (loopback, no file needed), overridden by
//! environment variables, overridden by flags. This is the only module that reads
//! either; everything else gets a validated [`Config`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::capture::{CaptureSettings, Collector};
use crate::codec::{Limits, LimitsError};
use crate::metrics::HttpLimits;
use crate::transport::admission::ConnectionLimits;
use crate::transport::large::LargeMessageSettings;
use crate::transport::tls::TlsSettings;
use crate::transport::ws::WsSettings;
use crate::transport::{EngineConfig, TlsListen, WsListen};
use control_api::placement::discovery::{ControlPort, Discovery};
use control_api::port::PortLimits;
use control_api::tls::{PemFile, ServerTlsFiles};
use msrp_proto::endpoint::EndpointConfig;
use msrp_proto::relay::{RelayAuth, RelayConfig};
use msrp_proto::session::SessionLimits;

/// The settings, as flags; each is also a key of the TOML file (`--config`) and
/// an `MSRP_SWITCH_*` environment variable (named in `--help`). Flags win over
/// the environment, which wins over the file, which wins over the built-in
/// defaults; [`load`] layers them with figment.
#[derive(Debug, Clone, Parser, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[command(
    name = "msrp-switch",
    version,
    about = "MSRP (RFC 4975) switch: the user plane of an IM service"
)]
pub struct Args {
    /// A TOML file of settings (keys as the flags' long names, with `_` for `-`).
    #[arg(long, env = "MSRP_SWITCH_CONFIG", value_name = "PATH")]
    #[serde(skip)]
    pub config: Option<std::path::PathBuf>,

    /// Print the effective settings (TOML, each from its layer) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,

    /// Address and port to accept MSRP over TCP on.
    ///
    /// Environment: `MSRP_SWITCH_LISTEN`.
    #[arg(long, default_value = "127.0.0.1:2855")]
    pub listen: SocketAddr,

    /// Host written into the switch's MSRP URIs (what clients connect to); defaults
    /// to the listen address.
    ///
    /// Environment: `MSRP_SWITCH_ADVERTISE_HOST`.
    #[arg(long)]
    #[serde(default, deserialize_with = "scalar_text")]
    pub advertise_host: Option<String>,

    /// Accept MSRP over TLS (`msrps`, `TCP/TLS/MSRP`) on --tls-listen; `false`:
    /// TCP only, and TLS media are answered not acceptable (SIP 488).
    ///
    /// Environment: `MSRP_SWITCH_TLS`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub tls: bool,

    /// Address and port to accept MSRP over TLS on.
    ///
    /// Environment: `MSRP_SWITCH_TLS_LISTEN`.
    #[arg(long, default_value = "127.0.0.1:2856")]
    pub tls_listen: SocketAddr,

    /// PEM certificate chain (the switch's own first) presented to MSRP over
    /// TLS peers; with neither it nor --tls-key, a self-signed certificate is
    /// generated at start and its fingerprint logged. Re-read on SIGHUP.
    ///
    /// Environment: `MSRP_SWITCH_TLS_CERT`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub tls_cert: Option<String>,

    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1). Re-read on SIGHUP.
    ///
    /// Environment: `MSRP_SWITCH_TLS_KEY`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub tls_key: Option<String>,

    /// Seconds a TLS handshake may take (accepted or opened by the switch).
    ///
    /// Environment: `MSRP_SWITCH_TLS_HANDSHAKE_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = 10.0)]
    pub tls_handshake_timeout_seconds: f64,

    /// Address and port of the gRPC control API (msrpswitch.v1). Beyond loopback it
    /// needs --control-token or --control-client-ca (or both).
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_LISTEN`.
    #[arg(long, default_value = "127.0.0.1:50051")]
    pub control_listen: SocketAddr,

    /// Bearer token the control API requires (`authorization: Bearer <token>`).
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_TOKEN`.
    #[arg(long)]
    #[serde(default, deserialize_with = "scalar_text")]
    pub control_token: Option<String>,

    /// PEM certificate chain (the daemon's own first) of the control API: with
    /// --control-tls-key the API is served over TLS (clients connect to https://).
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_TLS_CERT`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub control_tls_cert: Option<String>,

    /// PEM private key of --control-tls-cert (PKCS#8, PKCS#1 or SEC1).
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_TLS_KEY`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub control_tls_key: Option<String>,

    /// PEM CA bundle: every control API client must present a certificate
    /// chaining to it (mTLS), checked in the TLS handshake; needs
    /// --control-tls-cert and --control-tls-key. With --control-token too, a call
    /// needs both.
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_CLIENT_CA`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub control_client_ca: Option<String>,

    /// Address and port of the Prometheus /metrics endpoint.
    ///
    /// Environment: `MSRP_SWITCH_METRICS_LISTEN`.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,

    /// Serve the HTTP port (--metrics-listen: /metrics, the probes and the
    /// control API over HTTP/JSON) over TLS with the control API's certificate
    /// (--control-tls-cert, --control-tls-key); with --control-client-ca every
    /// client must present a certificate from it, as on the control port.
    ///
    /// Environment: `MSRP_SWITCH_HTTP_TLS`.
    #[arg(long)]
    #[serde(default)]
    pub http_tls: bool,

    /// Pin each shard to its own core (`false` on shared hosts and containers
    /// with a CPU quota).
    ///
    /// Environment: `MSRP_SWITCH_PIN_CORES`.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pin_cores: bool,

    /// Shards (one thread and runtime each, pinned to a core); 0 = one per core.
    ///
    /// Environment: `MSRP_SWITCH_SHARDS`.
    #[arg(long, default_value_t = 0)]
    pub shards: usize,

    /// Bytes that may wait for one participant before its senders stop being read.
    ///
    /// Environment: `MSRP_SWITCH_QUEUE_BYTES`.
    #[arg(long, default_value_t = EndpointConfig::default().queue_bytes)]
    pub queue_bytes: usize,

    /// Seconds a request the switch wrote waits for its response before it has
    /// failed (RFC 4975 §7.1.1) and the sender gets REPORT 408.
    ///
    /// Environment: `MSRP_SWITCH_TRANSACTION_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = 30.0)]
    pub transaction_timeout_seconds: f64,

    /// Seconds an accepted connection may stay unbound before it is closed.
    ///
    /// Environment: `MSRP_SWITCH_BIND_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = 30.0)]
    pub bind_timeout_seconds: f64,

    /// Seconds without a request in a session before the control API's event stream
    /// reports it idle (the IM Server may then end it); 0 = never.
    ///
    /// Environment: `MSRP_SWITCH_SESSION_IDLE_SECONDS`.
    #[arg(long, default_value_t = 1800.0)]
    pub session_idle_seconds: f64,

    /// Seconds a participant the switch offered to may wait for its SDP answer
    /// (SetRemoteAnswer) before it is removed with an `offer_expired` event.
    ///
    /// Environment: `MSRP_SWITCH_OFFER_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = 180.0)]
    pub offer_timeout_seconds: f64,

    /// Seconds after which a session is released by the switch (with a
    /// `session_released` event), unless CreateSession sets its own; 0 = never.
    ///
    /// Environment: `MSRP_SWITCH_SESSION_MAX_SECONDS`.
    #[arg(long, default_value_t = 0.0)]
    pub session_max_seconds: f64,

    /// Seconds without a request from any participant after which a session is
    /// released by the switch, unless CreateSession sets its own; 0 = never.
    ///
    /// Environment: `MSRP_SWITCH_SESSION_IDLE_RELEASE_SECONDS`.
    #[arg(long, default_value_t = 0.0)]
    pub session_idle_release_seconds: f64,

    /// Largest frame head (start line + headers) in bytes; a longer head closes the
    /// connection.
    ///
    /// Environment: `MSRP_SWITCH_MAX_HEAD_BYTES`.
    #[arg(long, default_value_t = Limits::default().max_head_bytes)]
    pub max_head_bytes: usize,

    /// Most URIs in one To-Path / From-Path / Use-Path; more is answered 400.
    ///
    /// Environment: `MSRP_SWITCH_MAX_URIS_PER_PATH`.
    #[arg(long, default_value_t = Limits::default().max_uris_per_path)]
    pub max_uris_per_path: usize,

    /// Most header lines in one frame; more is answered 400.
    ///
    /// Environment: `MSRP_SWITCH_MAX_HEADERS`.
    #[arg(long, default_value_t = Limits::default().max_headers)]
    pub max_headers: usize,

    /// Longest transaction id / Message-ID (RFC 4975 allows 32; at most 64).
    ///
    /// Environment: `MSRP_SWITCH_MAX_TRANSACTION_ID_BYTES`.
    #[arg(long, default_value_t = Limits::default().max_transaction_id_bytes)]
    pub max_transaction_id_bytes: usize,

    /// Largest chunk body in bytes (streamed, not buffered); more is answered 413.
    ///
    /// Environment: `MSRP_SWITCH_MAX_CHUNK_BYTES`.
    #[arg(long, default_value_t = Limits::default().max_chunk_bytes)]
    pub max_chunk_bytes: u64,

    /// Group chats: seconds a participant's queue may stay over --queue-bytes
    /// before it is a slow consumer (dropped, or its senders paused, as the
    /// session's policy says).
    ///
    /// Environment: `MSRP_SWITCH_SLOW_CONSUMER_GRACE_SECONDS`.
    #[arg(
        long,
        default_value_t = EndpointConfig::default().slow_consumer_grace.as_secs_f64()
    )]
    pub slow_consumer_grace_seconds: f64,

    /// Group chats: the most body bytes of one incoming chunk held before its
    /// copies go out; a longer chunk goes to each participant cut into chunks of
    /// this size. Between 1024 and --max-chunk-bytes [default: 262144, or
    /// --max-chunk-bytes if that is lower].
    ///
    /// Environment: `MSRP_SWITCH_FANOUT_CHUNK_BYTES`.
    #[arg(long)]
    #[serde(default)]
    pub fanout_chunk_bytes: Option<usize>,

    /// Frame capture: the Homer / heplify collector HEPv3 packets go to,
    /// `udp:ADDRESS:PORT` or `tcp:ADDRESS:PORT` (none: frames go only to
    /// `WatchCapture` streams).
    ///
    /// Environment: `MSRP_SWITCH_HEP_COLLECTOR`.
    #[arg(long)]
    #[serde(default)]
    pub hep_collector: Option<String>,

    /// Frame capture: capture every session's frames, not only those
    /// `StartCapture` names.
    ///
    /// Environment: `MSRP_SWITCH_HEP_CAPTURE_ALL`.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub hep_capture_all: bool,

    /// Frame capture: body bytes kept of each captured frame (the head always
    /// goes whole).
    ///
    /// Environment: `MSRP_SWITCH_HEP_MAX_BODY_BYTES`.
    #[arg(long, default_value_t = CaptureSettings::default().max_body_bytes)]
    pub hep_max_body_bytes: usize,

    /// Frame capture: the HEP capture agent id.
    ///
    /// Environment: `MSRP_SWITCH_HEP_AGENT_ID`.
    #[arg(long, default_value_t = CaptureSettings::default().agent_id)]
    pub hep_agent_id: u32,

    /// Frame capture: the collector's password (HEP authentication key).
    ///
    /// Environment: `MSRP_SWITCH_HEP_PASSWORD`.
    #[arg(long)]
    #[serde(default)]
    pub hep_password: Option<String>,

    /// Frame capture: the HEP protocol type of the packets (100: Homer's log
    /// type, stored as text and linked to the call by its correlation id).
    ///
    /// Environment: `MSRP_SWITCH_HEP_PROTOCOL_TYPE`.
    #[arg(long, default_value_t = CaptureSettings::default().protocol_type)]
    pub hep_protocol_type: u8,

    /// Frame capture: frames that may wait for the collector; past it frames
    /// are dropped and counted (`msrp_switch_capture_dropped_total`), never
    /// slowing forwarding.
    ///
    /// Environment: `MSRP_SWITCH_HEP_QUEUE`.
    #[arg(long, default_value_t = CaptureSettings::default().queue)]
    pub hep_queue: usize,

    /// Large Message Mode: the directory each message's spill file is made in
    /// (one file per message, removed when its session ends) [default: the
    /// system's temporary directory].
    ///
    /// Environment: `MSRP_SWITCH_LARGE_MESSAGE_DIR`.
    #[arg(long)]
    #[serde(default)]
    pub large_message_dir: Option<std::path::PathBuf>,

    /// Large Message Mode: bytes of each message kept in memory for receivers
    /// that bind late; the rest is spilled to its file.
    ///
    /// Environment: `MSRP_SWITCH_LARGE_MESSAGE_MEMORY_BYTES`.
    #[arg(long, default_value_t = LargeMessageSettings::default().memory_bytes)]
    pub large_message_memory_bytes: u64,

    /// Large Message Mode: the most bytes all spill files together may hold;
    /// a message that would need more fails (413 to its sender) as on a full
    /// disk.
    ///
    /// Environment: `MSRP_SWITCH_LARGE_MESSAGE_DISK_BYTES`.
    #[arg(long, default_value_t = LargeMessageSettings::default().disk.limit)]
    pub large_message_disk_bytes: u64,

    /// Large Message Mode: seconds a complete session (every receiver has the
    /// message or failed) waits for the IM Server's BYE before the switch
    /// releases it itself (a `session_released` event, reason complete).
    ///
    /// Environment: `MSRP_SWITCH_LARGE_MESSAGE_LINGER_SECONDS`.
    #[arg(
        long,
        default_value_t = EndpointConfig::default().large_message_linger.as_secs_f64()
    )]
    pub large_message_linger_seconds: f64,

    /// Group chats: the most bytes queued for one participant whose socket takes
    /// nothing while the others go on without it; past it the senders wait again
    /// until it reads or its grace period ends (then it is dropped, with the drop
    /// policy). At least --queue-bytes.
    ///
    /// Environment: `MSRP_SWITCH_SLOW_CONSUMER_MAX_BYTES`.
    #[arg(
        long,
        default_value_t = EndpointConfig::default().slow_consumer_max_bytes
    )]
    pub slow_consumer_max_bytes: usize,

    /// Most MSRP connections accepted at once; 0 = the descriptor limit less
    /// --fd-reserve (and never more than that). Over it a connection is accepted
    /// and closed at once.
    ///
    /// Environment: `MSRP_SWITCH_MAX_CONNECTIONS`.
    #[arg(long, default_value_t = ConnectionLimits::default().max_connections)]
    pub max_connections: usize,

    /// Most accepted MSRP connections that have not bound to a participant yet
    /// (strangers); over it a new connection is closed at once.
    ///
    /// Environment: `MSRP_SWITCH_MAX_UNBOUND_CONNECTIONS`.
    #[arg(long, default_value_t = ConnectionLimits::default().max_unbound)]
    pub max_unbound_connections: usize,

    /// Most MSRP connections from one source address.
    ///
    /// Environment: `MSRP_SWITCH_MAX_CONNECTIONS_PER_SOURCE`.
    #[arg(long, default_value_t = ConnectionLimits::default().max_per_source)]
    pub max_connections_per_source: usize,

    /// File descriptors kept back from MSRP connections for the control and
    /// metrics ports, connect-outs and logs.
    ///
    /// Environment: `MSRP_SWITCH_FD_RESERVE`.
    #[arg(long, default_value_t = ConnectionLimits::default().fd_reserve)]
    pub fd_reserve: usize,

    /// Control API connections served at once; more wait to be accepted.
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_MAX_CONNECTIONS`.
    #[arg(long, default_value_t = PortLimits::default().max_connections)]
    pub control_max_connections: usize,

    /// Seconds a new control API connection may take to send its first bytes
    /// (over TLS: to finish its handshake).
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_HANDSHAKE_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = PortLimits::default().first_bytes_timeout.as_secs_f64())]
    pub control_handshake_timeout_seconds: f64,

    /// Seconds one control call may take to answer (DEADLINE_EXCEEDED after).
    ///
    /// Environment: `MSRP_SWITCH_CONTROL_CALL_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = PortLimits::default().call_timeout.as_secs_f64())]
    pub control_call_timeout_seconds: f64,

    /// Metrics port connections served at once; more wait to be accepted.
    ///
    /// Environment: `MSRP_SWITCH_METRICS_MAX_CONNECTIONS`.
    #[arg(long, default_value_t = HttpLimits::default().max_connections)]
    pub metrics_max_connections: usize,

    /// Seconds a metrics port client has to send a whole request head (also how
    /// long a kept-alive connection may sit idle).
    ///
    /// Environment: `MSRP_SWITCH_METRICS_HEADER_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = HttpLimits::default().header_read_timeout.as_secs_f64())]
    pub metrics_header_timeout_seconds: f64,

    /// Seconds a drain (SIGTERM, SIGINT or the Drain call) may take: what was
    /// accepted is delivered or REPORTed, then the process exits.
    ///
    /// Environment: `MSRP_SWITCH_DRAIN_SECONDS`.
    #[arg(long, default_value_t = 30.0)]
    pub drain_seconds: f64,

    /// Many nodes: a node of the cluster, by its gRPC control API URL
    /// (`http://10.0.0.7:50051`); repeat it (or separate URLs with commas)
    /// for each node, this one included. With it the node answers
    /// PlaceSession: which node a new session goes to. One of
    /// --cluster-node, --cluster-srv and --cluster-kubernetes.
    ///
    /// Environment: `MSRP_SWITCH_CLUSTER_NODE` (comma-separated).
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    #[serde(default, deserialize_with = "text_list")]
    pub cluster_node: Vec<String>,

    /// Many nodes: the cluster's nodes are the targets of the DNS SRV records
    /// `_msrp._tcp.<DOMAIN>` (their priority and weight kept), their control
    /// API on --cluster-control-port.
    ///
    /// Environment: `MSRP_SWITCH_CLUSTER_SRV`.
    #[arg(long, value_name = "DOMAIN")]
    #[serde(default)]
    pub cluster_srv: Option<String>,

    /// Many nodes: the cluster's nodes are the addresses of a Kubernetes
    /// headless service, `SERVICE.NAMESPACE` (resolved as
    /// `<service>.<namespace>.svc`), their control API on
    /// --cluster-control-port.
    ///
    /// Environment: `MSRP_SWITCH_CLUSTER_KUBERNETES`.
    #[arg(long, value_name = "SERVICE.NAMESPACE")]
    #[serde(default)]
    pub cluster_kubernetes: Option<String>,

    /// Many nodes: the control API's port on the nodes --cluster-srv or
    /// --cluster-kubernetes finds [default: this node's --control-listen
    /// port].
    ///
    /// Environment: `MSRP_SWITCH_CLUSTER_CONTROL_PORT`.
    #[arg(long, value_name = "PORT")]
    #[serde(default)]
    pub cluster_control_port: Option<u16>,

    /// Many nodes: seconds between two refreshes of the cluster (the nodes
    /// re-read, each asked for its health and Stats); PlaceSession answers
    /// from the last one.
    ///
    /// Environment: `MSRP_SWITCH_CLUSTER_REFRESH_SECONDS`.
    #[arg(long, default_value_t = 5.0)]
    pub cluster_refresh_seconds: f64,

    /// Log line format.
    ///
    /// Environment: `MSRP_SWITCH_LOG_FORMAT`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Accept MSRP over WebSocket (RFC 7977, subprotocol `msrp`) on this
    /// address: browsers' `;ws` participants connect here. Off when not given.
    ///
    /// Environment: `MSRP_SWITCH_WS_LISTEN`.
    #[arg(long, value_name = "ADDR")]
    #[serde(default)]
    pub ws_listen: Option<SocketAddr>,

    /// Accept MSRP over secure WebSocket (WSS: TLS with the --tls-cert
    /// certificate, then the upgrade) on this address: browsers' `msrps:...;ws`
    /// participants connect here. Needs TLS; off when not given.
    ///
    /// Environment: `MSRP_SWITCH_WSS_LISTEN`.
    #[arg(long, value_name = "ADDR")]
    #[serde(default)]
    pub wss_listen: Option<SocketAddr>,

    /// WebSocket: the `Origin`s a browser's upgrade may come from, comma
    /// separated (exactly as browsers send them, `https://chat.example.com`);
    /// others get 403. Not given: any origin. Requests without `Origin` (not
    /// from a browser) are always let in.
    ///
    /// Environment: `MSRP_SWITCH_WS_ORIGINS`.
    #[arg(long, value_name = "LIST")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub ws_origins: Option<String>,

    /// WebSocket: the longest upgrade request head, in bytes (more: 431).
    ///
    /// Environment: `MSRP_SWITCH_WS_MAX_REQUEST_BYTES`.
    #[arg(long, default_value_t = WsSettings::default().max_request_bytes)]
    pub ws_max_request_bytes: usize,

    /// WebSocket: seconds an accepted connection has to complete its upgrade.
    ///
    /// Environment: `MSRP_SWITCH_WS_HANDSHAKE_TIMEOUT_SECONDS`.
    #[arg(long, default_value_t = WsSettings::default().handshake_timeout.as_secs_f64())]
    pub ws_handshake_timeout_seconds: f64,

    /// RFC 4976 relay: how AUTH is checked. `digest` challenges with HTTP
    /// Digest (MD5, SHA-256) against --relay-credentials; `none` grants every
    /// AUTH without a challenge (trusted networks, benchmarks; logged as a
    /// warning at start).
    ///
    /// Environment: `MSRP_SWITCH_RELAY_AUTH`.
    #[arg(long, value_enum, default_value_t = RelayAuthMode::Digest)]
    pub relay_auth: RelayAuthMode,

    /// RFC 4976 relay: who may AUTH, one `user:realm:HA1` per line (HA1 in hex
    /// as htdigest writes it: 32 digits for MD5, 64 for SHA-256; `#` comments).
    /// Re-read on SIGHUP. Without it no digest AUTH succeeds.
    ///
    /// Environment: `MSRP_SWITCH_RELAY_CREDENTIALS`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub relay_credentials: Option<String>,

    /// RFC 4976 relay: PEM CA bundle that next hops' certificates are verified
    /// against when the relay connects to an `msrps:` next hop (for the host in
    /// the hop's URI); the switch's TLS certificate is presented as the client's.
    /// Without it a request to an `msrps:` next hop gets a REPORT 481.
    ///
    /// Environment: `MSRP_SWITCH_RELAY_TLS_CA`.
    #[arg(long, value_name = "PATH")]
    #[serde(default, deserialize_with = "scalar_text")]
    pub relay_tls_ca: Option<String>,

    /// RFC 4976 relay: the Digest realm of its challenges.
    ///
    /// Environment: `MSRP_SWITCH_RELAY_REALM`.
    #[arg(long, default_value_t = RelayConfig::default().realm)]
    pub relay_realm: String,

    /// RFC 4976 relay: the shortest grant an AUTH may ask for in Expires (a
    /// shorter one gets 423 with Min-Expires).
    ///
    /// Environment: `MSRP_SWITCH_RELAY_MIN_EXPIRES_SECONDS`.
    #[arg(long, default_value_t = RelayConfig::default().min_expires.as_secs())]
    pub relay_min_expires_seconds: u64,

    /// RFC 4976 relay: the longest grant (a longer one gets 423 with
    /// Max-Expires).
    ///
    /// Environment: `MSRP_SWITCH_RELAY_MAX_EXPIRES_SECONDS`.
    #[arg(long, default_value_t = RelayConfig::default().max_expires.as_secs())]
    pub relay_max_expires_seconds: u64,

    /// RFC 4976 relay: the grant when an AUTH asks for none (between the
    /// minimum and the maximum).
    ///
    /// Environment: `MSRP_SWITCH_RELAY_DEFAULT_EXPIRES_SECONDS`.
    #[arg(long, default_value_t = RelayConfig::default().default_expires.as_secs())]
    pub relay_default_expires_seconds: u64,

    /// RFC 4976 relay: how long a Digest nonce may be answered (then the client
    /// is challenged again with stale=true).
    ///
    /// Environment: `MSRP_SWITCH_RELAY_NONCE_SECONDS`.
    #[arg(long, default_value_t = RelayConfig::default().nonce_lifetime.as_secs_f64())]
    pub relay_nonce_seconds: f64,

    /// RFC 4976 relay: failed AUTH answers on one connection before it gets 403
    /// and is closed.
    ///
    /// Environment: `MSRP_SWITCH_RELAY_MAX_AUTH_FAILURES`.
    #[arg(long, default_value_t = RelayConfig::default().max_auth_failures)]
    pub relay_max_auth_failures: u32,

    /// RFC 4976 relay: relay URIs one connection may hold at once (expired ones
    /// make room); an AUTH beyond gets 403.
    ///
    /// Environment: `MSRP_SWITCH_RELAY_MAX_BINDINGS_PER_CONNECTION`.
    #[arg(long, default_value_t = RelayConfig::default().max_bindings_per_connection)]
    pub relay_max_bindings_per_connection: usize,
}

/// How the RFC 4976 relay checks AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayAuthMode {
    /// HTTP Digest against --relay-credentials.
    Digest,
    /// Every AUTH granted without a challenge.
    None,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The validated settings the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The forwarding engine: listener, shards, switch settings and codec limits.
    pub engine: EngineConfig,
    /// Where /metrics is served.
    pub metrics_listen: SocketAddr,
    /// The HTTP port is served over TLS with `control_tls` (`--http-tls`).
    pub http_tls: bool,
    /// Where the control API is served.
    pub control_listen: SocketAddr,
    /// The bearer token the control API requires, if any.
    pub control_token: Option<String>,
    /// The control API's TLS certificate, key and client CA, if it is served
    /// over TLS; the files are read at start.
    pub control_tls: Option<ServerTlsFiles>,
    /// The log format.
    pub log_format: LogFormat,
    /// The longest a drain may take.
    pub drain_deadline: Duration,
    /// The control port's limits.
    pub control_limits: PortLimits,
    /// The metrics port's limits.
    pub metrics_limits: HttpLimits,
    /// The RFC 4976 relay's credentials file (read at start and on SIGHUP).
    pub relay_credentials: Option<String>,
    /// The cluster this node places sessions over (PlaceSession), if any.
    pub cluster: Option<ClusterConfig>,
}

/// Many nodes: where the cluster's nodes come from and how often they are
/// asked for their state.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// The static list, the SRV domain or the headless service.
    pub discovery: Discovery,
    /// The pause between two refreshes.
    pub refresh: Duration,
}

impl Default for Config {
    /// Loopback: MSRP on 127.0.0.1:2855, metrics on 127.0.0.1:9464, default limits.
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            http_tls: false,
            control_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            control_token: None,
            control_tls: None,
            log_format: LogFormat::Text,
            drain_deadline: Duration::from_secs(30),
            control_limits: PortLimits::default(),
            metrics_limits: HttpLimits::default(),
            relay_credentials: None,
            cluster: None,
        }
    }
}

/// A setting that cannot work, naming it as the flag spells it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A codec limit is out of range.
    #[error("invalid --{}: {}", .0.field.replace('_', "-"), .0.reason)]
    Limit(#[from] LimitsError),
    /// Another setting is out of range.
    #[error("invalid --{flag}: {reason}")]
    Invalid {
        /// The flag, as spelled on the command line.
        flag: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Every setting's key (the flags' long names with `_`), for the environment
/// layer: other `MSRP_SWITCH_*` variables are not settings.
fn setting_keys() -> Vec<String> {
    Args::command()
        .get_arguments()
        .map(|arg| arg.get_id().as_str().to_owned())
        .filter(|id| !matches!(id.as_str(), "config" | "print_config" | "help" | "version"))
        .collect()
}

/// A layer of settings taken from the command line (`flags`) or clap's
/// defaults, named so that an error says where a value came from.
struct Layer {
    name: &'static str,
    values: Dict,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let metadata = Metadata::named(self.name);
        if self.name == FLAG_LAYER {
            metadata.interpolater(|_, keys| format!("--{}", keys.join(".").replace('_', "-")))
        } else {
            metadata
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}

const FLAG_LAYER: &str = "command-line flag";
const DEFAULT_LAYER: &str = "built-in default";

/// The settings in force and how they were layered.
#[derive(Debug)]
pub struct Loaded {
    /// The validated settings.
    pub config: Config,
    /// `--print-config` was given.
    pub print_config: bool,
    /// The effective settings as TOML (the token masked), for `--print-config`.
    pub effective: String,
}

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The command line is wrong (or `--help` / `--version`): clap's message.
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// A value has the wrong type or a key is unknown: figment names the key and
    /// its source (flag, environment variable, file).
    #[error("{0}")]
    Layer(Box<figment::Error>),
    /// A value is out of range: the setting as its source spells it.
    #[error("invalid {origin}: {reason}")]
    Setting {
        /// `--queue-bytes`, `MSRP_SWITCH_QUEUE_BYTES (environment variable)` or
        /// `queue_bytes in /etc/msrp-switch.toml`.
        origin: String,
        /// What is wrong.
        reason: String,
    },
}

/// Loads the settings from `args` (the command line, program name first), the
/// environment and the `--config` file, layered flags > environment > file >
/// defaults, and validates them.
///
/// # Errors
///
/// [`LoadError`] naming the setting and where its value came from.
pub fn load<I, T>(args: I) -> Result<Loaded, LoadError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Args::command().try_get_matches_from(args)?;
    let parsed = Args::from_arg_matches(&matches)?;
    let all = Serialized::defaults(&parsed)
        .data()
        .map_err(|err| LoadError::Layer(Box::new(err)))?
        .remove(&Profile::Default)
        .unwrap_or_default();
    let (mut defaults, mut flags) = (Dict::new(), Dict::new());
    for (key, value) in all {
        match matches.value_source(&key) {
            Some(clap::parser::ValueSource::CommandLine) => flags.insert(key, value),
            _ => defaults.insert(key, value),
        };
    }
    let keys = setting_keys();
    let mut figment = Figment::new().merge(Layer {
        name: DEFAULT_LAYER,
        values: defaults,
    });
    if let Some(path) = &parsed.config {
        if !path.is_file() {
            return Err(LoadError::Setting {
                origin: format!("--config {}", path.display()),
                reason: "no such file".to_owned(),
            });
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        // Keys compare without case: MSRP_SWITCH_QUEUE_BYTES is queue_bytes.
        .merge(
            Env::prefixed("MSRP_SWITCH_").filter(move |key| keys.iter().any(|k| key == k.as_str())),
        )
        .merge(Layer {
            name: FLAG_LAYER,
            values: flags,
        });
    let settings: Args = figment.extract().map_err(layer_error)?;
    let effective = settings.effective_toml();
    let config = settings.into_config().map_err(|err| {
        let (key, reason) = match err {
            ConfigError::Invalid { flag, reason } => (flag.replace('-', "_"), reason.to_owned()),
            ConfigError::Limit(limit) => (limit.field.to_owned(), limit.reason.to_string()),
        };
        LoadError::Setting {
            origin: source_of(&figment, &key),
            reason,
        }
    })?;
    Ok(Loaded {
        config,
        print_config: parsed.print_config,
        effective,
    })
}

/// Where the value of `key` came from, spelled as its source spells it.
fn source_of(figment: &Figment, key: &str) -> String {
    describe(figment.find_metadata(key), key)
}

/// `key` as the layer `metadata` describes spells it: `--queue-bytes`,
/// `MSRP_SWITCH_QUEUE_BYTES (environment variable)`, `queue_bytes in PATH`.
fn describe(metadata: Option<&Metadata>, key: &str) -> String {
    let key = key.to_ascii_lowercase();
    let flag = format!("--{}", key.replace('_', "-"));
    let Some(metadata) = metadata else {
        return flag;
    };
    match (metadata.name.as_ref(), &metadata.source) {
        (FLAG_LAYER, _) => flag,
        (DEFAULT_LAYER, _) => format!("{flag} (built-in default)"),
        (_, Some(figment::Source::File(path))) => format!("{key} in {}", path.display()),
        _ => format!(
            "MSRP_SWITCH_{} (environment variable)",
            key.to_ascii_uppercase()
        ),
    }
}

/// A figment error (a value of the wrong type, an unknown key) with its setting
/// named as its source spells it.
fn layer_error(err: figment::Error) -> LoadError {
    let key = err.path.last().cloned();
    match key {
        Some(key) => LoadError::Setting {
            origin: describe(err.metadata.as_ref(), &key),
            reason: err.kind.to_string(),
        },
        None => {
            let origin = match err.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                Some(figment::Source::File(path)) => format!("{}", path.display()),
                _ => "settings".to_owned(),
            };
            LoadError::Setting {
                origin,
                reason: err.kind.to_string(),
            }
        }
    }
}

/// A text setting that may look like a number (a token `12345`): TOML and
/// the environment give it as a number, the switch wants the text.
fn scalar_text<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Unsigned(u64),
        Signed(i64),
        Float(f64),
    }
    Ok(
        Option::<Scalar>::deserialize(de)?.map(|scalar| match scalar {
            Scalar::Text(text) => text,
            Scalar::Unsigned(n) => n.to_string(),
            Scalar::Signed(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
        }),
    )
}

/// A list setting: a TOML array, or text with commas between the items (as
/// the environment gives it, and as the flag takes it too).
fn text_list<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum List {
        Items(Vec<String>),
        Text(String),
    }
    let items = match List::deserialize(de)? {
        List::Items(items) => items,
        List::Text(text) => text.split(',').map(str::to_owned).collect(),
    };
    Ok(items
        .iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect())
}

impl Args {
    /// The settings as TOML, the control token masked.
    fn effective_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.control_token.is_some() {
            shown.control_token = Some("(set)".to_owned());
        }
        toml::to_string(&shown).unwrap_or_else(|err| format!("# cannot render: {err}\n"))
    }
}

/// The smallest `--fanout-chunk-bytes`: below it the per-copy head (To-Path,
/// From-Path, Message-ID, Byte-Range: a few hundred bytes) outweighs the body.
const MIN_FANOUT_CHUNK_BYTES: usize = 1024;

impl Args {
    /// Frame capture: the collector must parse, the queue hold a frame.
    fn capture(&self) -> Result<CaptureSettings, ConfigError> {
        let collector = match self.hep_collector.as_deref() {
            None => None,
            Some(text) => Some(
                text.parse::<Collector>()
                    .map_err(|_| ConfigError::Invalid {
                        flag: "hep-collector",
                        reason: "must be udp:ADDRESS:PORT or tcp:ADDRESS:PORT (an IP address)",
                    })?,
            ),
        };
        Ok(CaptureSettings {
            collector,
            all: self.hep_capture_all,
            max_body_bytes: self.hep_max_body_bytes,
            agent_id: self.hep_agent_id,
            auth_key: self.hep_password.clone(),
            protocol_type: self.hep_protocol_type,
            queue: positive("hep-queue", self.hep_queue)?,
        })
    }

    /// Where and how large messages are stored: the directory must be one.
    fn large_message(&self) -> Result<LargeMessageSettings, ConfigError> {
        let dir = self
            .large_message_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        if !dir.is_dir() {
            return Err(ConfigError::Invalid {
                flag: "large-message-dir",
                reason: "must be an existing directory the switch may write in",
            });
        }
        Ok(LargeMessageSettings {
            dir,
            memory_bytes: self.large_message_memory_bytes,
            disk: crate::store::DiskQuota::new(self.large_message_disk_bytes),
        })
    }
}

/// A `--cluster-node` URL: `http://HOST:PORT`, the node's gRPC control API.
/// TLS between nodes is not supported yet: an `https://` node is refused
/// rather than left down at every refresh.
fn node_url(url: &str) -> Result<(), ConfigError> {
    let invalid = ConfigError::Invalid {
        flag: "cluster-node",
        reason: "must be a node's control API URL, http://HOST:PORT (http://10.0.0.7:50051); \
                 https:// nodes are not supported yet",
    };
    let Ok(uri) = url.parse::<axum::http::Uri>() else {
        return Err(invalid);
    };
    let plain = uri.scheme_str() == Some("http");
    let host = uri.host().is_some_and(|host| !host.is_empty());
    let path = matches!(uri.path(), "" | "/") && uri.query().is_none();
    // No user information: the authority is the host and the port alone.
    let bare = uri
        .authority()
        .is_some_and(|authority| !authority.as_str().contains('@'));
    if plain && host && uri.port_u16().is_some() && path && bare {
        Ok(())
    } else {
        Err(invalid)
    }
}

/// One DNS label: letters, digits and `-`, not at either end; at most 63
/// bytes (RFC 1035 §2.3.1; Kubernetes names are such labels).
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A domain name: DNS labels separated by dots, the final dot optional, at
/// most 253 bytes.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

fn positive(flag: &'static str, value: usize) -> Result<usize, ConfigError> {
    if value == 0 {
        return Err(ConfigError::Invalid {
            flag,
            reason: "must be at least 1",
        });
    }
    Ok(value)
}

fn seconds(flag: &'static str, value: f64) -> Result<Duration, ConfigError> {
    if !(value.is_finite() && value > 0.0 && value <= 86_400.0) {
        return Err(ConfigError::Invalid {
            flag,
            reason: "must be more than 0 and at most 86400 seconds",
        });
    }
    Ok(Duration::from_secs_f64(value))
}

/// A limit in seconds where 0 means none; at most a year.
fn optional_seconds(flag: &'static str, value: f64) -> Result<Option<Duration>, ConfigError> {
    if value == 0.0 {
        return Ok(None);
    }
    if !(value.is_finite() && value > 0.0 && value <= 31_536_000.0) {
        return Err(ConfigError::Invalid {
            flag,
            reason: "must be 0 (never) or more than 0 and at most 31536000 seconds",
        });
    }
    Ok(Some(Duration::from_secs_f64(value)))
}

/// `--fanout-chunk-bytes`, checked against the chunk limit. Given, it must lie in
/// `1024..=max_chunk_bytes`: a larger value could never apply, since a longer
/// incoming chunk is refused with 413. Not given, it is the built-in default, or
/// `max_chunk_bytes` when that is lower, so lowering `--max-chunk-bytes` alone
/// never makes the defaults invalid.
fn fanout_chunk_bytes(value: Option<usize>, limits: &Limits) -> Result<usize, ConfigError> {
    let max = usize::try_from(limits.max_chunk_bytes).unwrap_or(usize::MAX);
    match value {
        None => Ok(EndpointConfig::default().fanout_chunk_bytes.min(max)),
        Some(value) if (MIN_FANOUT_CHUNK_BYTES..=max).contains(&value) => Ok(value),
        Some(_) => Err(ConfigError::Invalid {
            flag: "fanout-chunk-bytes",
            reason: "must be at least 1024 and at most --max-chunk-bytes",
        }),
    }
}

impl Args {
    /// The WebSocket listener's settings, with `--ws-listen`.
    fn ws_listen(&self) -> Result<Option<WsListen>, ConfigError> {
        self.websocket(self.ws_listen)
    }

    /// The secure WebSocket listener's settings, with `--wss-listen` (and TLS).
    fn wss_listen(&self) -> Result<Option<WsListen>, ConfigError> {
        if self.wss_listen.is_some() && !self.tls {
            return Err(ConfigError::Invalid {
                flag: "wss-listen",
                reason: "needs TLS (--tls true): WSS presents the TLS certificate",
            });
        }
        self.websocket(self.wss_listen)
    }

    /// A WebSocket listener on `listen`, with the upgrade settings.
    fn websocket(&self, listen: Option<SocketAddr>) -> Result<Option<WsListen>, ConfigError> {
        let Some(listen) = listen else {
            return Ok(None);
        };
        if !(256..=65_536).contains(&self.ws_max_request_bytes) {
            return Err(ConfigError::Invalid {
                flag: "ws-max-request-bytes",
                reason: "must be at least 256 and at most 65536",
            });
        }
        let origins: Vec<String> = self
            .ws_origins
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Some(WsListen {
            listen,
            settings: WsSettings {
                origins,
                max_request_bytes: self.ws_max_request_bytes,
                handshake_timeout: seconds(
                    "ws-handshake-timeout-seconds",
                    self.ws_handshake_timeout_seconds,
                )?,
            },
        }))
    }

    /// The RFC 4976 relay's settings.
    fn relay_config(&self) -> Result<RelayConfig, ConfigError> {
        let whole_seconds = |flag: &'static str, value: u64| {
            if (1..=31_536_000).contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(ConfigError::Invalid {
                    flag,
                    reason: "must be at least 1 and at most 31536000 seconds",
                })
            }
        };
        let min_expires =
            whole_seconds("relay-min-expires-seconds", self.relay_min_expires_seconds)?;
        let max_expires =
            whole_seconds("relay-max-expires-seconds", self.relay_max_expires_seconds)?;
        let default_expires = whole_seconds(
            "relay-default-expires-seconds",
            self.relay_default_expires_seconds,
        )?;
        if max_expires < min_expires {
            return Err(ConfigError::Invalid {
                flag: "relay-max-expires-seconds",
                reason: "must be at least --relay-min-expires-seconds",
            });
        }
        if !(min_expires..=max_expires).contains(&default_expires) {
            return Err(ConfigError::Invalid {
                flag: "relay-default-expires-seconds",
                reason: "must be between --relay-min-expires-seconds and \
                         --relay-max-expires-seconds",
            });
        }
        if self.relay_realm.is_empty() || self.relay_realm.contains(['"', '\\']) {
            return Err(ConfigError::Invalid {
                flag: "relay-realm",
                reason: "must not be empty or hold a quote or a backslash",
            });
        }
        Ok(RelayConfig {
            auth: match self.relay_auth {
                RelayAuthMode::Digest => RelayAuth::Digest,
                RelayAuthMode::None => RelayAuth::None,
            },
            realm: self.relay_realm.clone(),
            min_expires,
            max_expires,
            default_expires,
            nonce_lifetime: seconds("relay-nonce-seconds", self.relay_nonce_seconds)?,
            max_auth_failures: positive(
                "relay-max-auth-failures",
                self.relay_max_auth_failures as usize,
            )? as u32,
            max_bindings_per_connection: positive(
                "relay-max-bindings-per-connection",
                self.relay_max_bindings_per_connection,
            )?,
            ..RelayConfig::default()
        })
    }

    /// The TLS listener's settings, unless `--tls false`. The certificate files
    /// are read when the engine starts.
    fn tls_listen(&self) -> Result<Option<TlsListen>, ConfigError> {
        if !self.tls {
            if self.relay_tls_ca.is_some() {
                return Err(ConfigError::Invalid {
                    flag: "relay-tls-ca",
                    reason: "needs TLS (--tls true): the relay's TLS connections present \
                             its certificate",
                });
            }
            return Ok(None);
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Invalid {
                flag: if self.tls_cert.is_some() {
                    "tls-key"
                } else {
                    "tls-cert"
                },
                reason: "--tls-cert and --tls-key go together (neither: a self-signed \
                         certificate is generated)",
            });
        }
        // A generated certificate names every address a peer may check.
        let mut names = vec!["localhost".to_owned()];
        for name in [
            self.advertise_host.clone(),
            Some(self.listen.ip().to_string()),
            Some(self.tls_listen.ip().to_string()),
        ]
        .into_iter()
        .flatten()
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Ok(Some(TlsListen {
            listen: self.tls_listen,
            settings: TlsSettings {
                cert: self.tls_cert.clone().map(Into::into),
                key: self.tls_key.clone().map(Into::into),
                handshake_timeout: seconds(
                    "tls-handshake-timeout-seconds",
                    self.tls_handshake_timeout_seconds,
                )?,
                self_signed_names: names,
                relay_ca: self.relay_tls_ca.clone().map(Into::into),
            },
        }))
    }

    /// The control API's TLS files, unless it is served over plain HTTP/2. The
    /// files are read at start (`main`), after `--print-config`.
    fn control_tls(&self) -> Result<Option<ServerTlsFiles>, ConfigError> {
        const PAIR: &str = "--control-tls-cert and --control-tls-key go together";
        match (&self.control_tls_cert, &self.control_tls_key) {
            (Some(cert), Some(key)) => Ok(Some(ServerTlsFiles {
                cert: PemFile::new("--control-tls-cert", cert),
                key: PemFile::new("--control-tls-key", key),
                client_ca: self
                    .control_client_ca
                    .as_ref()
                    .map(|ca| PemFile::new("--control-client-ca", ca)),
            })),
            (Some(_), None) => Err(ConfigError::Invalid {
                flag: "control-tls-key",
                reason: PAIR,
            }),
            (None, Some(_)) => Err(ConfigError::Invalid {
                flag: "control-tls-cert",
                reason: PAIR,
            }),
            (None, None) if self.control_client_ca.is_some() => Err(ConfigError::Invalid {
                flag: "control-client-ca",
                reason: "needs --control-tls-cert and --control-tls-key (client certificates \
                         are checked in the TLS handshake)",
            }),
            (None, None) => Ok(None),
        }
    }

    /// Many nodes: the cluster, if one of --cluster-node, --cluster-srv and
    /// --cluster-kubernetes is given (two are an error naming both).
    fn cluster(&self) -> Result<Option<ClusterConfig>, ConfigError> {
        let listed = !self.cluster_node.is_empty();
        let control = ControlPort {
            port: self
                .cluster_control_port
                .unwrap_or_else(|| self.control_listen.port()),
            tls: false,
        };
        let discovery = match (listed, &self.cluster_srv, &self.cluster_kubernetes) {
            (false, None, None) => return Ok(None),
            (true, Some(_), _) => {
                return Err(ConfigError::Invalid {
                    flag: "cluster-srv",
                    reason: "cannot go with --cluster-node: the nodes come from one of \
                             --cluster-node, --cluster-srv and --cluster-kubernetes",
                });
            }
            (true, _, Some(_)) => {
                return Err(ConfigError::Invalid {
                    flag: "cluster-kubernetes",
                    reason: "cannot go with --cluster-node: the nodes come from one of \
                             --cluster-node, --cluster-srv and --cluster-kubernetes",
                });
            }
            (_, Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    flag: "cluster-kubernetes",
                    reason: "cannot go with --cluster-srv: the nodes come from one of \
                             --cluster-node, --cluster-srv and --cluster-kubernetes",
                });
            }
            (true, None, None) => {
                for url in &self.cluster_node {
                    node_url(url)?;
                }
                Discovery::Static(self.cluster_node.clone())
            }
            (false, Some(domain), None) => {
                if !is_dns_name(domain) {
                    return Err(ConfigError::Invalid {
                        flag: "cluster-srv",
                        reason: "must be a DNS domain (example.net): the SRV records \
                                 _msrp._tcp.<domain> name the nodes",
                    });
                }
                Discovery::Srv {
                    domain: domain.clone(),
                    control,
                }
            }
            (false, None, Some(service)) => {
                let Some((name, namespace)) = service
                    .split_once('.')
                    .filter(|(name, namespace)| is_dns_label(name) && is_dns_label(namespace))
                else {
                    return Err(ConfigError::Invalid {
                        flag: "cluster-kubernetes",
                        reason: "must be SERVICE.NAMESPACE (msrp-switch.voice): a headless \
                                 service's name and its namespace",
                    });
                };
                Discovery::kubernetes(name, namespace, control)
            }
        };
        Ok(Some(ClusterConfig {
            discovery,
            refresh: seconds("cluster-refresh-seconds", self.cluster_refresh_seconds)?,
        }))
    }

    /// Validates the flags into a [`Config`].
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let limits = Limits {
            max_head_bytes: self.max_head_bytes,
            max_uris_per_path: self.max_uris_per_path,
            max_headers: self.max_headers,
            max_transaction_id_bytes: self.max_transaction_id_bytes,
            max_chunk_bytes: self.max_chunk_bytes,
        };
        limits.validate()?;
        if self
            .control_token
            .as_deref()
            .is_some_and(|token| token.trim().is_empty())
        {
            return Err(ConfigError::Invalid {
                flag: "control-token",
                reason: "must not be empty or blank",
            });
        }
        if self.queue_bytes < 1024 {
            return Err(ConfigError::Invalid {
                flag: "queue-bytes",
                reason: "must be at least 1024",
            });
        }
        let fanout_chunk_bytes = fanout_chunk_bytes(self.fanout_chunk_bytes, &limits)?;
        if self.slow_consumer_max_bytes < self.queue_bytes {
            return Err(ConfigError::Invalid {
                flag: "slow-consumer-max-bytes",
                reason: "must be at least --queue-bytes",
            });
        }
        let tls = self.tls_listen()?;
        let ws = self.ws_listen()?;
        let wss = self.wss_listen()?;
        let control_tls = self.control_tls()?;
        if self.http_tls && control_tls.is_none() {
            return Err(ConfigError::Invalid {
                flag: "http-tls",
                reason: "needs --control-tls-cert and --control-tls-key (the HTTP port serves \
                         the control API's certificate)",
            });
        }
        let switch = EndpointConfig {
            limits,
            queue_bytes: self.queue_bytes,
            transaction_timeout: seconds(
                "transaction-timeout-seconds",
                self.transaction_timeout_seconds,
            )?,
            bind_timeout: seconds("bind-timeout-seconds", self.bind_timeout_seconds)?,
            session_idle: match self.session_idle_seconds {
                0.0 => None,
                value => Some(seconds("session-idle-seconds", value)?),
            },
            // Fractions are allowed, as for the other timers; 0 is not (a leg would be
            // a slow consumer at its first burst).
            slow_consumer_grace: seconds(
                "slow-consumer-grace-seconds",
                self.slow_consumer_grace_seconds,
            )?,
            fanout_chunk_bytes,
            slow_consumer_max_bytes: self.slow_consumer_max_bytes,
            offer_timeout: seconds("offer-timeout-seconds", self.offer_timeout_seconds)?,
            session_limits: SessionLimits {
                max_duration: optional_seconds("session-max-seconds", self.session_max_seconds)?,
                idle_release: optional_seconds(
                    "session-idle-release-seconds",
                    self.session_idle_release_seconds,
                )?,
            },
            relay: self.relay_config()?,
            large_message_linger: seconds(
                "large-message-linger-seconds",
                self.large_message_linger_seconds,
            )?,
            ..EndpointConfig::default()
        };
        let large_message = self.large_message()?;
        let capture = self.capture()?;
        let cluster = self.cluster()?;
        Ok(Config {
            cluster,
            relay_credentials: self.relay_credentials.clone(),
            engine: EngineConfig {
                listen: self.listen,
                advertise_host: self.advertise_host,
                tls,
                shards: self.shards,
                pin_cores: self.pin_cores,
                switch,
                ws,
                wss,
                large_message,
                capture,
                connections: ConnectionLimits {
                    max_connections: self.max_connections,
                    max_unbound: positive("max-unbound-connections", self.max_unbound_connections)?,
                    max_per_source: positive(
                        "max-connections-per-source",
                        self.max_connections_per_source,
                    )?,
                    fd_reserve: self.fd_reserve,
                },
            },
            drain_deadline: seconds("drain-seconds", self.drain_seconds)?,
            control_limits: PortLimits {
                max_connections: positive("control-max-connections", self.control_max_connections)?,
                first_bytes_timeout: seconds(
                    "control-handshake-timeout-seconds",
                    self.control_handshake_timeout_seconds,
                )?,
                call_timeout: seconds(
                    "control-call-timeout-seconds",
                    self.control_call_timeout_seconds,
                )?,
                ..PortLimits::default()
            },
            metrics_limits: HttpLimits {
                max_connections: positive("metrics-max-connections", self.metrics_max_connections)?,
                header_read_timeout: seconds(
                    "metrics-header-timeout-seconds",
                    self.metrics_header_timeout_seconds,
                )?,
                ..HttpLimits::default()
            },
            metrics_listen: self.metrics_listen,
            http_tls: self.http_tls,
            control_listen: self.control_listen,
            control_token: self.control_token,
            control_tls,
            log_format: self.log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        load(std::iter::once("msrp-switch").chain(args.iter().copied()))
            .map(|loaded| loaded.config)
            .map_err(|e| e.to_string())
    }

    /// A settings file in the test's own temporary directory.
    fn file(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("msrp-switch-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    #[test]
    fn a_file_sets_what_no_flag_does_and_its_errors_name_the_file() {
        let path = file(
            "layers.toml",
            "queue_bytes = 2048\nshards = 3\npin_cores = false\nlog_format = \"json\"\n",
        );
        let config = parse(&["--config", &path, "--shards", "2"]).unwrap();
        assert_eq!(config.engine.switch.queue_bytes, 2048, "from the file");
        assert_eq!(config.engine.shards, 2, "the flag wins over the file");
        assert!(!config.engine.pin_cores);
        assert_eq!(config.log_format, LogFormat::Json);

        let bad = file("bad.toml", "queue_bytes = 10\n");
        assert_eq!(
            parse(&["--config", &bad]).unwrap_err(),
            format!("invalid queue_bytes in {bad}: must be at least 1024")
        );
        let typed = file("typed.toml", "queue_bytes = \"many\"\n");
        assert_eq!(
            parse(&["--config", &typed]).unwrap_err(),
            format!(
                "invalid queue_bytes in {typed}: invalid type: found string \"many\", expected usize"
            )
        );
        let unknown = file("unknown.toml", "queue_byte = 2048\n");
        let err = parse(&["--config", &unknown]).unwrap_err();
        assert!(
            err.starts_with(&format!("invalid queue_byte in {unknown}: unknown field")),
            "{err}"
        );
        assert_eq!(
            parse(&["--config", "/nonexistent/msrp.toml"]).unwrap_err(),
            "invalid --config /nonexistent/msrp.toml: no such file"
        );
    }

    #[test]
    fn print_config_shows_every_setting_and_masks_the_token() {
        let loaded = load(["msrp-switch", "--print-config", "--control-token", "s3cret"]).unwrap();
        assert!(loaded.print_config);
        assert!(loaded.effective.contains("listen = \"127.0.0.1:2855\"\n"));
        assert!(loaded.effective.contains("queue_bytes = 1048576\n"));
        assert!(loaded.effective.contains("control_token = \"(set)\"\n"));
        assert!(!loaded.effective.contains("s3cret"));
        // Every key it prints is a key the file accepts.
        let path = file(
            "printed.toml",
            &loaded.effective.replace("\"(set)\"", "\"t0ken\""),
        );
        assert!(parse(&["--config", &path]).is_ok());
    }

    #[test]
    fn no_flags_give_the_loopback_defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.engine.listen, Config::default().engine.listen);
        assert_eq!(config.engine.switch.limits, Limits::default());
        assert_eq!(config.metrics_listen.to_string(), "127.0.0.1:9464");
        assert_eq!(
            config.engine.switch.transaction_timeout,
            Duration::from_secs(30)
        );
    }

    #[test]
    fn flags_override_and_bad_limits_name_the_flag() {
        let config = parse(&["--listen", "127.0.0.1:0", "--max-headers", "10"]).unwrap();
        assert_eq!(config.engine.listen.port(), 0);
        assert_eq!(config.engine.switch.limits.max_headers, 10);
        assert_eq!(
            parse(&["--transaction-timeout-seconds", "0"]).unwrap_err(),
            "invalid --transaction-timeout-seconds: must be more than 0 and at most 86400 seconds"
        );
        assert_eq!(
            parse(&["--queue-bytes", "10"]).unwrap_err(),
            "invalid --queue-bytes: must be at least 1024"
        );
        assert_eq!(
            parse(&["--max-chunk-bytes", "0"]).unwrap_err(),
            "invalid --max-chunk-bytes: must be at least 1"
        );
        assert!(
            parse(&["--listen", "nowhere"])
                .unwrap_err()
                .contains("--listen")
        );
    }

    #[test]
    fn group_flags_default_to_the_switch_defaults() {
        let config = parse(&[]).unwrap();
        let defaults = EndpointConfig::default();
        assert_eq!(
            config.engine.switch.slow_consumer_grace,
            defaults.slow_consumer_grace
        );
        assert_eq!(
            config.engine.switch.fanout_chunk_bytes,
            defaults.fanout_chunk_bytes
        );
        let config = parse(&[
            "--slow-consumer-grace-seconds",
            "0.5",
            "--fanout-chunk-bytes",
            "65536",
        ])
        .unwrap();
        assert_eq!(
            config.engine.switch.slow_consumer_grace,
            Duration::from_millis(500)
        );
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 65_536);
    }

    #[test]
    fn slow_consumer_max_bytes_is_at_least_the_queue_bound() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.engine.switch.slow_consumer_max_bytes,
            EndpointConfig::default().slow_consumer_max_bytes
        );
        let config = parse(&[
            "--queue-bytes",
            "65536",
            "--slow-consumer-max-bytes",
            "65536",
        ]);
        assert_eq!(
            config.unwrap().engine.switch.slow_consumer_max_bytes,
            65_536
        );
        assert_eq!(
            parse(&["--slow-consumer-max-bytes", "65536"]).unwrap_err(),
            "invalid --slow-consumer-max-bytes: must be at least --queue-bytes"
        );
    }

    #[test]
    fn a_bad_slow_consumer_grace_names_the_flag() {
        for bad in ["0", "-1", "86401", "inf", "NaN"] {
            assert_eq!(
                parse(&[&format!("--slow-consumer-grace-seconds={bad}")]).unwrap_err(),
                "invalid --slow-consumer-grace-seconds: must be more than 0 and at most 86400 \
                 seconds",
                "{bad}"
            );
        }
        assert!(
            parse(&["--slow-consumer-grace-seconds", "soon"])
                .unwrap_err()
                .contains("--slow-consumer-grace-seconds")
        );
    }

    #[test]
    fn fanout_chunk_bytes_lie_between_1024_and_the_chunk_limit() {
        const BAD: &str =
            "invalid --fanout-chunk-bytes: must be at least 1024 and at most --max-chunk-bytes";
        assert_eq!(parse(&["--fanout-chunk-bytes", "1023"]).unwrap_err(), BAD);
        assert_eq!(parse(&["--fanout-chunk-bytes", "0"]).unwrap_err(), BAD);
        assert_eq!(
            parse(&["--max-chunk-bytes", "4096", "--fanout-chunk-bytes", "4097"]).unwrap_err(),
            BAD
        );
        let config = parse(&["--max-chunk-bytes", "4096", "--fanout-chunk-bytes", "4096"]).unwrap();
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 4096);
        let config = parse(&["--fanout-chunk-bytes", "1024"]).unwrap();
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 1024);
        // Not given, it follows a lower chunk limit instead of failing.
        let config = parse(&["--max-chunk-bytes", "4096"]).unwrap();
        assert_eq!(config.engine.switch.fanout_chunk_bytes, 4096);
        assert!(
            parse(&["--fanout-chunk-bytes=-5"])
                .unwrap_err()
                .contains("--fanout-chunk-bytes")
        );
    }

    #[test]
    fn control_tls_files_go_together_and_print_config_shows_them() {
        assert_eq!(
            parse(&["--control-tls-cert", "/c.pem"]).unwrap_err(),
            "invalid --control-tls-key (built-in default): --control-tls-cert and \
             --control-tls-key go together"
        );
        assert_eq!(
            parse(&["--control-tls-key", "/k.pem"]).unwrap_err(),
            "invalid --control-tls-cert (built-in default): --control-tls-cert and \
             --control-tls-key go together"
        );
        assert_eq!(
            parse(&[
                "--control-client-ca",
                "/ca.pem",
                "--control-tls-key",
                "/k.pem"
            ])
            .unwrap_err(),
            "invalid --control-tls-cert (built-in default): --control-tls-cert and \
             --control-tls-key go together"
        );
        assert_eq!(
            parse(&["--control-client-ca", "/ca.pem"]).unwrap_err(),
            "invalid --control-client-ca: needs --control-tls-cert and --control-tls-key \
             (client certificates are checked in the TLS handshake)"
        );
        assert_eq!(parse(&[]).unwrap().control_tls, None);
        assert_eq!(
            parse(&["--http-tls"]).unwrap_err(),
            "invalid --http-tls: needs --control-tls-cert and --control-tls-key (the HTTP \
             port serves the control API's certificate)"
        );
        assert!(
            parse(&[
                "--http-tls",
                "--control-tls-cert",
                "/c.pem",
                "--control-tls-key",
                "/k.pem"
            ])
            .unwrap()
            .http_tls
        );

        let flags = [
            "--control-tls-cert",
            "/etc/msrp/control.pem",
            "--control-tls-key",
            "/etc/msrp/control-key.pem",
            "--control-client-ca",
            "/etc/msrp/clients-ca.pem",
        ];
        let tls = parse(&flags).unwrap().control_tls.unwrap();
        assert_eq!(
            tls.cert,
            PemFile::new("--control-tls-cert", "/etc/msrp/control.pem")
        );
        assert_eq!(
            tls.key,
            PemFile::new("--control-tls-key", "/etc/msrp/control-key.pem")
        );
        assert_eq!(
            tls.client_ca,
            Some(PemFile::new(
                "--control-client-ca",
                "/etc/msrp/clients-ca.pem"
            ))
        );
        // Without a client CA: TLS, and no client certificates.
        let without_ca = parse(&flags[..4]).unwrap().control_tls.unwrap();
        assert_eq!(without_ca.client_ca, None);

        let loaded = load(
            ["msrp-switch", "--print-config"]
                .into_iter()
                .chain(flags.iter().copied()),
        )
        .unwrap();
        for line in [
            "control_tls_cert = \"/etc/msrp/control.pem\"\n",
            "control_tls_key = \"/etc/msrp/control-key.pem\"\n",
            "control_client_ca = \"/etc/msrp/clients-ca.pem\"\n",
        ] {
            assert!(
                loaded.effective.contains(line),
                "{line} not in {}",
                loaded.effective
            );
        }
        // The printed settings load back as they are.
        let path = file("control-tls.toml", &loaded.effective);
        assert_eq!(parse(&["--config", &path]).unwrap().control_tls, Some(tls));
    }

    #[test]
    fn a_blank_token_and_bad_offer_and_session_limits_name_their_flag() {
        for (args, flag) in [
            (&["--control-token", "   "][..], "control-token"),
            (&["--control-token", ""][..], "control-token"),
            (
                &["--offer-timeout-seconds", "0"][..],
                "offer-timeout-seconds",
            ),
            (&["--session-max-seconds=-1"][..], "session-max-seconds"),
            (
                &["--session-idle-release-seconds", "inf"][..],
                "session-idle-release-seconds",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(flag), "{args:?}: {err}");
        }
        let config = parse(&[
            "--session-max-seconds",
            "3600",
            "--offer-timeout-seconds",
            "30",
        ])
        .unwrap();
        let switch = &config.engine.switch;
        assert_eq!(
            switch.session_limits.max_duration,
            Some(Duration::from_secs(3600))
        );
        assert_eq!(switch.session_limits.idle_release, None);
        assert_eq!(switch.offer_timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_cluster_comes_from_one_discovery_with_its_refresh_interval() {
        assert_eq!(parse(&[]).unwrap().cluster, None);
        let listed = parse(&[
            "--cluster-node",
            "http://127.0.0.1:50051",
            "--cluster-node",
            "http://10.0.0.2:50051,http://[fd00::3]:50051",
        ])
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(
            listed,
            ClusterConfig {
                discovery: Discovery::Static(vec![
                    "http://127.0.0.1:50051".into(),
                    "http://10.0.0.2:50051".into(),
                    "http://[fd00::3]:50051".into(),
                ]),
                refresh: Duration::from_secs(5),
            }
        );
        // The control port defaults to this node's own.
        let srv = parse(&[
            "--cluster-srv",
            "example.net.",
            "--control-listen",
            "127.0.0.1:6000",
        ])
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(
            srv.discovery,
            Discovery::Srv {
                domain: "example.net.".into(),
                control: ControlPort {
                    port: 6000,
                    tls: false
                },
            }
        );
        let headless = parse(&[
            "--cluster-kubernetes",
            "msrp-switch.voice",
            "--cluster-control-port",
            "50443",
            "--cluster-refresh-seconds",
            "0.5",
        ])
        .unwrap()
        .cluster
        .unwrap();
        assert_eq!(
            headless,
            ClusterConfig {
                discovery: Discovery::kubernetes(
                    "msrp-switch",
                    "voice",
                    ControlPort {
                        port: 50443,
                        tls: false
                    }
                ),
                refresh: Duration::from_millis(500),
            }
        );
    }

    #[test]
    fn a_file_lists_the_nodes_as_an_array_or_with_commas_and_prints_them_back() {
        let nodes = vec![
            "http://10.0.0.1:50051".to_owned(),
            "http://10.0.0.2:50051".to_owned(),
        ];
        for text in [
            "cluster_node = [\"http://10.0.0.1:50051\", \"http://10.0.0.2:50051\"]\n",
            "cluster_node = \"http://10.0.0.1:50051, http://10.0.0.2:50051\"\n",
        ] {
            let path = file("cluster.toml", text);
            let loaded = load(["msrp-switch", "--config", path.as_str()]).unwrap();
            let cluster = loaded.config.cluster.unwrap();
            assert_eq!(
                cluster.discovery,
                Discovery::Static(nodes.clone()),
                "{text}"
            );
            let again = file("cluster-printed.toml", &loaded.effective);
            assert_eq!(
                parse(&["--config", &again])
                    .unwrap()
                    .cluster
                    .unwrap()
                    .discovery,
                Discovery::Static(nodes.clone())
            );
        }
    }

    #[test]
    fn bad_cluster_settings_name_their_flag_and_two_discoveries_name_both() {
        for url in [
            "10.0.0.1:50051",
            "ftp://10.0.0.1:50051",
            "https://10.0.0.1:50051",
            "http://10.0.0.1",
            "http://10.0.0.1:50051/control",
            "http://user@10.0.0.1:50051",
            "not a url",
        ] {
            let err = parse(&["--cluster-node", url]).unwrap_err();
            assert!(
                err.starts_with("invalid --cluster-node: must be a node's control API URL"),
                "{url}: {err}"
            );
        }
        for (args, first, second) in [
            (
                &[
                    "--cluster-node",
                    "http://a:1",
                    "--cluster-srv",
                    "example.net",
                ][..],
                "--cluster-srv",
                "--cluster-node",
            ),
            (
                &[
                    "--cluster-node",
                    "http://a:1",
                    "--cluster-kubernetes",
                    "s.ns",
                ][..],
                "--cluster-kubernetes",
                "--cluster-node",
            ),
            (
                &[
                    "--cluster-srv",
                    "example.net",
                    "--cluster-kubernetes",
                    "s.ns",
                ][..],
                "--cluster-kubernetes",
                "--cluster-srv",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid {first}: cannot go with {second}")),
                "{args:?}: {err}"
            );
        }
        for (args, flag) in [
            (
                &["--cluster-kubernetes", "msrp-switch"][..],
                "--cluster-kubernetes",
            ),
            (
                &["--cluster-kubernetes", "a.b.c"][..],
                "--cluster-kubernetes",
            ),
            (&["--cluster-kubernetes=-a.b"][..], "--cluster-kubernetes"),
            (&["--cluster-srv", "exa mple.net"][..], "--cluster-srv"),
            (&["--cluster-srv", ""][..], "--cluster-srv"),
            (
                &[
                    "--cluster-srv",
                    "example.net",
                    "--cluster-refresh-seconds",
                    "0",
                ][..],
                "--cluster-refresh-seconds",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(
                err.starts_with(&format!("invalid {flag}:")),
                "{args:?}: {err}"
            );
        }
    }
}
