//! `msrpctl top`: a live view of the switch, refreshed every `--interval-seconds`.
//!
//! Each refresh takes a [`view::Snapshot`]: a scrape of the daemon's `/metrics`
//! ([`scrape`], parsed by [`exposition`]) and the participants' counters of the
//! first `--max-sessions` sessions of ListSessions. [`view::View`] turns two
//! snapshots into rates and percentiles, as text or JSON, and the screen shows
//! it: redrawn in place in a terminal ([`terminal`]), one frame after another
//! anywhere else.

pub mod exposition;
pub mod scrape;
pub mod terminal;
pub mod view;

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use control_api::pb;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

pub use scrape::Scraper;
use terminal::Live;
use view::{Legs, Snapshot, View};

use crate::args::TopArgs;
use crate::failure::{Cause, Failure};
use crate::{Cli, Connection, ctrl_c};

/// A series every msrp-switch exports, to tell its page from another's.
const SWITCH_METRIC: &str = "msrp_switch_connections";

/// The most sessions asked for in one ListSessions page (the API's maximum).
const MAX_PAGE_SIZE: u32 = 1000;

/// Runs `top` until `--once`, `--iterations`, `q`, Ctrl-C or a failure.
///
/// The first snapshot is taken before the screen is touched, so a switch that
/// cannot be reached fails with the terminal as it was; the first frame comes
/// one interval later, with rates over that interval.
pub(crate) async fn run(
    conn: &Connection,
    cli: &Cli,
    out: &mut dyn Write,
    args: &TopArgs,
) -> Result<(), Failure> {
    let scraper = Scraper::new(&args.metrics, cli)
        .map_err(|why| Failure::new(&conn.what, Cause::Usage(why)))?;
    let interval = Duration::from_secs_f64(args.interval_seconds);
    let refreshes = if args.once { Some(1) } else { args.iterations };
    let interrupted = ctrl_c();
    tokio::pin!(interrupted);

    let mut prev = tokio::select! {
        () = &mut interrupted => return Ok(()),
        snapshot = snapshot(conn, &scraper, args.max_sessions) => snapshot?,
    };
    let live = !args.once && !cli.json && std::io::stdout().is_terminal();
    let mut screen = if live {
        Screen::Live(Live::enter(out).map_err(output)?)
    } else if cli.json {
        Screen::Json(out)
    } else {
        Screen::Plain { out, drawn: 0 }
    };
    let mut keys = match &screen {
        Screen::Live(live) if live.reads_keys() => Some(terminal::keys()),
        _ => None,
    };
    screen.waiting(args.interval_seconds)?;

    let mut ticker = tokio::time::interval_at(Instant::now() + interval, interval);
    // A refresh slower than the interval (a busy switch) delays the next one
    // rather than bunching them up.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut drawn: u64 = 0;
    loop {
        tokio::select! {
            () = &mut interrupted => break,
            () = quit(&mut keys) => break,
            _ = ticker.tick() => {}
        }
        let cur = tokio::select! {
            () = &mut interrupted => break,
            () = quit(&mut keys) => break,
            snapshot = snapshot(conn, &scraper, args.max_sessions) => snapshot?,
        };
        screen.draw(&View::between(&prev, &cur), args.legs)?;
        drawn += 1;
        if refreshes.is_some_and(|n| drawn >= n) {
            break;
        }
        prev = cur;
    }
    // Dropping the screen restores the terminal, on the way out of any return.
    drop(screen);
    Ok(())
}

/// Where frames go.
enum Screen<'a> {
    /// A terminal: redrawn in place.
    Live(Live<'a>),
    /// Anything else: plain text frames one after another, a blank line apart.
    Plain { out: &'a mut dyn Write, drawn: u64 },
    /// `--json`: one document per refresh, one per line.
    Json(&'a mut dyn Write),
}

impl Screen<'_> {
    /// Shows that the first frame is coming (in a terminal only: a pipe gets
    /// frames and nothing else).
    fn waiting(&mut self, interval_seconds: f64) -> Result<(), Failure> {
        let Self::Live(live) = self else {
            return Ok(());
        };
        let text = format!(
            "msrpctl top: first figures in {interval_seconds} s\n\n{}",
            footer(live.reads_keys())
        );
        live.draw(&text, usize::MAX, usize::MAX).map_err(output)
    }

    fn draw(&mut self, view: &View, max_legs: usize) -> Result<(), Failure> {
        match self {
            Self::Live(live) => {
                let (rows, columns) = Live::size().unwrap_or((24, 80));
                // The legs fill what the header, the shards and the footer leave.
                let room = rows.saturating_sub(view.lines_without_legs() + 3);
                let mut text = view.text(max_legs.min(room));
                text.push('\n');
                text.push_str(&footer(live.reads_keys()));
                live.draw(&text, rows, columns).map_err(output)
            }
            Self::Plain { out, drawn } => {
                let mut text = String::new();
                if *drawn > 0 {
                    text.push('\n');
                }
                text.push_str(&view.text(max_legs));
                *drawn += 1;
                write(*out, &text)
            }
            Self::Json(out) => write(*out, &format!("{}\n", view.json(max_legs))),
        }
    }
}

/// The live view's last line.
fn footer(reads_keys: bool) -> String {
    if reads_keys {
        "q or Ctrl-C: quit".to_owned()
    } else {
        "Ctrl-C: quit".to_owned()
    }
}

fn write(out: &mut dyn Write, text: &str) -> Result<(), Failure> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(output)
}

fn output(err: std::io::Error) -> Failure {
    Failure::new("write the output", Cause::Output(err))
}

/// Resolves when `q` (or Ctrl-C read as a key) is typed; never without keys.
async fn quit(keys: &mut Option<mpsc::UnboundedReceiver<u8>>) {
    if let Some(keys) = keys {
        while let Some(key) = keys.recv().await {
            if matches!(key, b'q' | b'Q' | 0x03) {
                return;
            }
        }
    }
    // stdin closed, or not read: only Ctrl-C ends the view.
    std::future::pending::<()>().await;
}

/// One refresh's reads: the scrape and the legs, at once.
async fn snapshot(
    conn: &Connection,
    scraper: &Scraper,
    max_sessions: u32,
) -> Result<Snapshot, Failure> {
    let (page, legs) = tokio::join!(scraper.scrape(), legs(conn, max_sessions));
    let page = page.map_err(|cause| Failure::new(&conn.what, cause))?;
    let not_metrics = |detail: String| {
        Failure::new(
            &conn.what,
            Cause::Metrics {
                url: scraper.url().to_owned(),
                detail,
            },
        )
    };
    let metrics = exposition::Exposition::parse(&page).map_err(not_metrics)?;
    // Prometheus text from something else (another exporter on the port) would
    // show a view of dashes: say so instead.
    if metrics.value(SWITCH_METRIC, &[]).is_none() {
        return Err(not_metrics(format!(
            "no {SWITCH_METRIC} on the page; is it the daemon's HTTP port (--metrics-listen)?"
        )));
    }
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        });
    Ok(Snapshot {
        taken: std::time::Instant::now(),
        unix_ms,
        metrics,
        legs: legs?,
    })
}

/// The participants of the first `max_sessions` sessions, a page at a time.
async fn legs(conn: &Connection, max_sessions: u32) -> Result<Legs, Failure> {
    let mut legs = Legs::default();
    let mut client = conn.client();
    let mut page_token = String::new();
    let mut left = max_sessions;
    while left > 0 {
        let request = pb::ListSessionsRequest {
            page_size: left.min(MAX_PAGE_SIZE),
            page_token,
            ..Default::default()
        };
        let page = conn
            .call(client.list_sessions(conn.request(request)))
            .await?;
        legs.add_sessions(&page.sessions);
        left = left.saturating_sub(u32::try_from(page.sessions.len()).unwrap_or(u32::MAX));
        if page.next_page_token.is_empty() {
            legs.complete = true;
            return Ok(legs);
        }
        page_token = page.next_page_token;
    }
    Ok(legs)
}
