//! The msrp-switch daemon: `msrp-switch` with no arguments accepts MSRP on
//! 127.0.0.1:2855, serves the gRPC control API on 127.0.0.1:50051 and Prometheus
//! metrics on 127.0.0.1:9464.
//! `msrp-switch --help` lists every setting.

#![forbid(unsafe_code)]

use std::io::IsTerminal;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing::info;
use tracing_subscriber::EnvFilter;

use control_api::auth::Auth;
use msrp_switch::config::{Args, LogFormat};
use msrp_switch::control::serve_control;
use msrp_switch::engine::Engine;
use msrp_switch::metrics::{HttpLimits, serve_metrics_with};

fn main() -> anyhow::Result<()> {
    let config = Args::parse().into_config()?;
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
    if config.control_token.is_none() {
        Auth::none()
            .check_exposure(config.control_listen)
            .map_err(anyhow::Error::msg)?;
    }
    let engine = Engine::start(config.engine.clone())
        .with_context(|| format!("starting the MSRP listener on {}", config.engine.listen))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    let result = runtime.block_on(async {
        // Watched before the daemon says it is up, so no SIGHUP can kill it after.
        #[cfg(unix)]
        tokio::spawn(ignore_hangups(tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        )));
        let metrics = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("binding the metrics listener on {}", config.metrics_listen))?;
        let metrics_addr = metrics.local_addr().context("reading the metrics address")?;
        let control = TcpListener::bind(config.control_listen)
            .await
            .with_context(|| format!("binding the control API on {}", config.control_listen))?;
        let control_addr = control.local_addr().context("reading the control address")?;
        info!(
            "msrp-switch listening for MSRP on {} ({} shards), control API on {control_addr}, metrics on http://{metrics_addr}/metrics",
            engine.local_addr(),
            engine.shards()
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let control_task = tokio::spawn(serve_control(
            engine.clone(),
            control,
            config.control_token.clone(),
            until_stopped(stopped.clone()),
        ));
        // /readyz says 200 until the stop begins, so a balancer looking at it
        // stops sending work before the listeners close.
        let (ready, readiness) = tokio::sync::watch::channel(true);
        let metrics_task = tokio::spawn(serve_metrics_with(
            metrics,
            engine.clone(),
            readiness,
            HttpLimits::default(),
            until_stopped(stopped),
        ));
        shutdown_signal().await;
        let _ = ready.send(false);
        let _ = stop.send(true);
        let _ = metrics_task.await;
        control_task.await.context("control API task")??;
        anyhow::Ok(())
    });
    engine.shutdown();
    info!("msrp-switch stopped");
    result
}

/// SIGHUP must not kill the daemon (its default action would). Nothing is
/// reloadable yet (log level, limits and, with TLS, certificates are read at
/// start), so each one is logged as ignored.
#[cfg(unix)]
async fn ignore_hangups(hangups: std::io::Result<tokio::signal::unix::Signal>) {
    match hangups {
        Ok(mut hangups) => {
            while hangups.recv().await.is_some() {
                tracing::warn!("SIGHUP received: nothing is reloadable yet; ignored");
            }
        }
        Err(err) => tracing::warn!("cannot watch SIGHUP ({err}); a SIGHUP would stop the daemon"),
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
