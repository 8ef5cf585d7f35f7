//! The msrp-switch daemon: `msrp-switch` with no arguments accepts MSRP on
//! 127.0.0.1:2855 and serves Prometheus metrics on 127.0.0.1:9464.
//! `msrp-switch --help` lists every setting.

#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing::info;
use tracing_subscriber::EnvFilter;

use msrp_switch::config::{Args, LogFormat};
use msrp_switch::transport::{Engine, serve_metrics};

fn main() -> anyhow::Result<()> {
    let config = Args::parse().into_config()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }

    let engine = Engine::start(config.engine.clone())
        .with_context(|| format!("starting the MSRP listener on {}", config.engine.listen))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    let result = runtime.block_on(async {
        let metrics = TcpListener::bind(config.metrics_listen)
            .await
            .with_context(|| format!("binding the metrics listener on {}", config.metrics_listen))?;
        let metrics_addr = metrics.local_addr().context("reading the metrics address")?;
        info!(
            "msrp-switch listening for MSRP on {} ({} shards), metrics on http://{metrics_addr}/metrics",
            engine.local_addr(),
            engine.shards()
        );
        serve_metrics(metrics, engine.clone(), shutdown_signal()).await;
        anyhow::Ok(())
    });
    engine.shutdown();
    info!("msrp-switch stopped");
    result
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
