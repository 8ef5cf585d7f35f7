//! The msrp-switch daemon: `msrp-switch` with no arguments accepts MSRP on
//! 127.0.0.1:2855, serves the gRPC control API on 127.0.0.1:50051 and Prometheus
//! metrics on 127.0.0.1:9464.
//! `msrp-switch --help` lists every setting.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tracing::info;
use tracing_subscriber::EnvFilter;

use control_api::auth::{Auth, BearerToken};
use control_api::placement::clients::ClientOptions;
use control_api::placement::refresh::{Placement, Refresher};
use control_api::tls::PemError;
use msrp_switch::config::{ClusterConfig, Config, LoadError, LogFormat, load};
use msrp_switch::control::{ControlService, serve_service};
use msrp_switch::engine::Engine;
use msrp_switch::lifecycle::Lifecycle;
use msrp_switch::metrics::serve_http;
use msrp_switch::msrp_proto::relay::RelayAuth;
use msrp_switch::relay_credentials;
use msrp_switch::sd_notify;

fn main() -> anyhow::Result<()> {
    let loaded = match load(std::env::args_os()) {
        Ok(loaded) => loaded,
        // --help, --version and usage errors, the way clap prints them.
        Err(LoadError::Usage(err)) => err.exit(),
        Err(err) => {
            eprintln!("msrp-switch: {err}");
            std::process::exit(2);
        }
    };
    if loaded.print_config {
        print!("{}", loaded.effective);
        return Ok(());
    }
    let config = loaded.config;
    // The control API's certificate files, read before anything binds; a bad
    // one stops start-up as a bad setting does, naming the flag and the file.
    let control_auth = match control_auth(&config) {
        Ok(auth) => auth,
        Err(err) => {
            eprintln!("msrp-switch: {err}");
            std::process::exit(2);
        }
    };
    // The relay's credentials likewise: a file that cannot be read stops start-up.
    let relay_credentials = match config
        .relay_credentials
        .as_deref()
        .map(relay_credentials::read)
    {
        None => None,
        Some(Ok(credentials)) => Some(credentials),
        Some(Err(err)) => {
            eprintln!("msrp-switch: {err}");
            std::process::exit(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a person at a terminal: a journal, a pipe or a file gets
    // plain text (and NO_COLOR is honoured everywhere).
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    // Refuse before binding anything: an exposed, unauthenticated control API would
    // let anyone who reaches it read and release every session.
    control_auth
        .check_exposure(config.control_listen)
        .map_err(anyhow::Error::msg)?;
    let engine = Engine::start(config.engine.clone())
        .with_context(|| format!("starting the MSRP listener on {}", config.engine.listen))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    let result = runtime.block_on(async {
        // Handed over before the first line says the daemon is up; logged after it.
        let relay_entries = relay_credentials.as_ref().map(|c| c.len());
        if let Some(credentials) = relay_credentials {
            engine
                .set_relay_credentials(credentials)
                .await
                .context("handing the relay its credentials")?;
        }
        // Watched before the daemon says it is up, so no SIGHUP can kill it after.
        #[cfg(unix)]
        tokio::spawn(reload_on_hangup(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
            engine.clone(),
            config.relay_credentials.clone(),
            control_auth.tls().cloned(),
        ));
        let metrics = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("binding the metrics listener on {}", config.metrics_listen))?;
        let metrics_addr = metrics.local_addr().context("reading the metrics address")?;
        let control = TcpListener::bind(config.control_listen)
            .await
            .with_context(|| format!("binding the control API on {}", config.control_listen))?;
        let control_addr = control.local_addr().context("reading the control address")?;
        let caps = &config.engine.connections;
        let tls = engine
            .tls_addr()
            .map_or_else(|| "off".to_owned(), |addr| addr.to_string());
        let ws = engine
            .ws_addr()
            .map_or_else(|| "off".to_owned(), |addr| addr.to_string());
        let wss = engine
            .wss_addr()
            .map_or_else(|| "off".to_owned(), |addr| addr.to_string());
        let control_tls = match control_auth.tls() {
            None => "off",
            Some(tls) if tls.requires_client_certificates() => "client certificates required",
            Some(_) => "on",
        };
        info!(
            max_connections = engine.max_connections(),
            max_unbound = caps.max_unbound,
            max_per_source = caps.max_per_source,
            tls = %tls,
            ws = %ws,
            wss = %wss,
            control_tls,
            "msrp-switch listening for MSRP on {} ({} shards), control API on {control_addr}, metrics on http://{metrics_addr}/metrics",
            engine.local_addr(),
            engine.shards()
        );
        if let Some(certificate) = engine.tls_identity() {
            info!(
                fingerprint = %certificate.fingerprint(),
                self_signed = certificate.is_self_signed(),
                "MSRP over TLS presents the certificate with this fingerprint (a=fingerprint of msrps media)"
            );
        }
        match config.engine.switch.relay.auth {
            RelayAuth::None => tracing::warn!(
                "--relay-auth none: the RFC 4976 relay grants every AUTH without a challenge; \
                 anyone who reaches the MSRP port may relay through it"
            ),
            RelayAuth::Digest if config.relay_credentials.is_none() => info!(
                "RFC 4976 relay: no --relay-credentials, so no AUTH can succeed (requests to \
                 other clients' relay URIs need none)"
            ),
            RelayAuth::Digest => {}
        }
        if let Some(entries) = relay_entries {
            info!(entries, "RFC 4976 relay credentials loaded");
        }
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let lifecycle = Lifecycle::new(config.drain_deadline);
        let http_auth = control_auth.clone();
        let http_auth_tls = control_auth.tls().cloned();
        // One service for both fronts: the same lifecycle, the same cluster.
        let mut service = ControlService::with_lifecycle(engine.clone(), lifecycle.clone());
        if let Some(cluster) = &config.cluster {
            service = service.with_placement(start_placement(cluster, config.control_token.as_deref())?);
        }
        let mut control_task = tokio::spawn(serve_service(
            service.clone(),
            control,
            control_auth,
            config.control_limits,
            until_stopped(stopped.clone()),
        ));
        // /readyz says 200 until the drain begins, so a balancer looking at it
        // stops sending work before the listeners close.
        let (ready, readiness) = tokio::sync::watch::channel(true);
        // The control API over HTTP/JSON on the same port as the metrics: the
        // same service and lifecycle, the same token.
        let control_http = control_api::http::router(
            service,
            http_auth,
            config.control_limits.call_timeout,
        );
        let metrics_task = tokio::spawn(serve_http(
            metrics,
            engine.clone(),
            readiness,
            config.metrics_limits.clone(),
            control_http,
            config
                .http_tls
                .then(|| http_auth_tls.clone())
                .flatten(),
            until_stopped(stopped),
        ));
        // Every listener is bound: systemd's Type=notify may consider us started.
        sd_notify::ready(&format!(
            "serving: MSRP on {}, control API on {control_addr}, metrics on {metrics_addr}",
            engine.local_addr()
        ));
        tokio::spawn(sd_notify::watchdog(engine.clone()));
        // SIGTERM or SIGINT asks for a drain; so does the control API's Drain.
        let signals = tokio::spawn({
            let lifecycle = lifecycle.clone();
            async move {
                shutdown_signal().await;
                lifecycle.request_drain(None);
                // A second signal during the drain stops at once.
                shutdown_signal().await;
            }
        });
        let deadline = tokio::select! {
            deadline = lifecycle.draining() => deadline,
            // The control API ended by itself (it failed): stop.
            served = &mut control_task => {
                served.context("control API task")??;
                anyhow::bail!("the control API stopped");
            }
        };
        let _ = ready.send(false);
        sd_notify::stopping(deadline);
        info!(
            deadline_seconds = deadline.as_secs_f64(),
            "draining: no new sessions, participants or MSRP connections; health NOT_SERVING"
        );
        let started = std::time::Instant::now();
        tokio::select! {
            outcome = engine.drain(deadline) => info!(
                quiescent = outcome.quiescent,
                reports = outcome.reports,
                unflushed = outcome.unflushed,
                seconds = started.elapsed().as_secs_f64(),
                "drained"
            ),
            _ = signals => tracing::warn!("second signal: stopping without finishing the drain"),
        }
        let _ = stop.send(true);
        // Event streams ended when the drain began; a client that holds a call
        // open past the grace period does not hold the exit.
        let grace = Duration::from_secs(2);
        let _ = tokio::time::timeout(grace, metrics_task).await;
        match tokio::time::timeout(grace, control_task).await {
            Ok(served) => served.context("control API task")??,
            Err(_) => tracing::warn!("control API connections still open at exit"),
        }
        anyhow::Ok(())
    });
    engine.shutdown();
    info!("msrp-switch stopped");
    result
}

/// Many nodes: starts the task that refreshes the cluster (the nodes re-read,
/// each asked for its health and Stats with this node's control token) every
/// interval, at once for the first time; PlaceSession answers from what it
/// last found. Call it once the control API is bound: this node is one of
/// the nodes it asks.
fn start_placement(cluster: &ClusterConfig, token: Option<&str>) -> anyhow::Result<Placement> {
    let token = BearerToken::new(token).map_err(|why| anyhow::anyhow!("--control-token: {why}"))?;
    let options = ClientOptions {
        token,
        ..ClientOptions::default()
    };
    let (refresher, placement) =
        Refresher::new(cluster.discovery.clone(), options, cluster.refresh);
    info!(
        discovery = ?cluster.discovery,
        refresh_seconds = cluster.refresh.as_secs_f64(),
        "many nodes: PlaceSession places sessions over the cluster"
    );
    tokio::spawn(refresher.run());
    Ok(placement)
}

/// Who may call the control API: the token, and the TLS certificate and
/// client CA read from their files.
fn control_auth(config: &Config) -> Result<Auth, PemError> {
    let auth = config
        .control_token
        .clone()
        .map_or_else(Auth::none, Auth::bearer);
    Ok(match &config.control_tls {
        Some(files) => auth.with_tls(files.load()?),
        None => auth,
    })
}

/// SIGHUP must not kill the daemon (its default action would): it re-reads the
/// TLS certificate files of MSRP and of the control API, with its client CA
/// (new handshakes present the new certificate; open connections keep theirs),
/// and the relay's credentials file (a bad file leaves the old in force). Log
/// level and limits are read at start only.
#[cfg(unix)]
async fn reload_on_hangup(
    hangups: std::io::Result<tokio::signal::unix::Signal>,
    engine: Engine,
    relay_credentials_file: Option<String>,
    control_tls: Option<control_api::tls::ServerTls>,
) {
    let mut hangups = match hangups {
        Ok(hangups) => hangups,
        Err(err) => {
            tracing::warn!("cannot watch SIGHUP ({err}); a SIGHUP would stop the daemon");
            return;
        }
    };
    while hangups.recv().await.is_some() {
        // RELOADING=1 now, READY=1 when this iteration ends, however it ends.
        let _reloading = sd_notify::reloading();
        if let Some(tls) = &control_tls {
            match tls.reload() {
                Ok(()) => info!("SIGHUP: control API certificate and client CA reloaded"),
                Err(err) => tracing::warn!(
                    %err,
                    "SIGHUP: control API certificate not reloaded; the old one stays"
                ),
            }
        }
        if let Some(path) = &relay_credentials_file {
            match relay_credentials::read(path) {
                Ok(credentials) => {
                    let entries = credentials.len();
                    match engine.set_relay_credentials(credentials).await {
                        Ok(()) => info!(entries, "SIGHUP: relay credentials reloaded"),
                        Err(err) => {
                            tracing::warn!(%err, "SIGHUP: relay credentials not handed over")
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(%err, "SIGHUP: relay credentials not reloaded; the old ones stay")
                }
            }
        }
        let Some(certificate) = engine.tls_identity() else {
            if relay_credentials_file.is_none() && control_tls.is_none() {
                tracing::warn!("SIGHUP received: nothing to reload (TLS is off); ignored");
            }
            continue;
        };
        if certificate.is_self_signed() {
            tracing::warn!(
                "SIGHUP received: the TLS certificate is the one generated at start (no \
                 --tls-cert); kept, nothing else is reloadable"
            );
            continue;
        }
        match certificate.reload() {
            Ok(fingerprint) => info!(%fingerprint, "SIGHUP: TLS certificate reloaded"),
            Err(err) => {
                tracing::warn!(%err, "SIGHUP: TLS certificate not reloaded; the old one stays")
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
