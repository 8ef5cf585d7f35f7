//! `msrpctl place`: which of several switches a session with a correlation
//! tag goes to (`control_api::placement`): each `--node` is asked for its
//! health and load, draining and silent nodes are skipped, and the tag is
//! hashed over the rest (weighted rendezvous hashing). What a signalling
//! script runs before CreateSession when it drives a cluster. With `--ask`
//! the `--server` switch is asked instead (PlaceSession): it answers from its
//! own refresh of the cluster it was started with.

use std::fmt::Write as _;
use std::io::Write;

use control_api::auth::BearerToken;
use control_api::pb;
use control_api::placement::clients::{ClientOptions, Clients};
use control_api::placement::{Cluster, Node, NodeState};

use crate::args::{Cli, PlaceArgs};
use crate::failure::{Cause, Failure};
use crate::{Connection, emit_either, proto_json};

/// Asks the switch connected to where the tag goes (PlaceSession) and prints
/// the chosen node and the ranking, as [`run`] does (`--json`: the reply).
///
/// # Errors
///
/// The call's failure: FAILED_PRECONDITION (exit 5) from a switch started
/// without a cluster, UNAVAILABLE (exit 7) when no node takes sessions.
pub(crate) async fn ask(
    conn: &Connection,
    out: &mut dyn Write,
    json: bool,
    args: &PlaceArgs,
) -> Result<(), Failure> {
    let request = pb::PlaceSessionRequest {
        correlation_tag: args.tag.clone(),
    };
    let reply = conn
        .call(conn.client().place_session(conn.request(request)))
        .await?;
    emit_either(
        out,
        json,
        || proto_json(&reply),
        || {
            let chosen = reply
                .chosen
                .as_ref()
                .map_or("-", |n| n.control_url.as_str());
            let mut text = format!("node: {chosen}\n");
            for (at, n) in reply.ranking.iter().enumerate() {
                let state = pb::NodeState::try_from(n.state).unwrap_or(pb::NodeState::Unspecified);
                let (rank, state, skipped) = match state {
                    pb::NodeState::Serving => ((at + 1).to_string(), "serving", ""),
                    pb::NodeState::Draining => ("-".to_owned(), "draining", " (takes no sessions)"),
                    _ => ("-".to_owned(), "down", " (takes no sessions)"),
                };
                let _ = writeln!(
                    text,
                    "  {rank:>2}  {}  {state}  weight {:.3}  sessions {}{skipped}",
                    n.control_url, n.weight, n.sessions
                );
            }
            text
        },
    )
}

/// Refreshes the nodes (unless `--no-refresh`) and prints the chosen one and
/// the ranking.
///
/// # Errors
///
/// A bad token or TLS file (usage), or no node takes sessions (UNAVAILABLE).
pub async fn run(cli: &Cli, out: &mut dyn Write, args: &PlaceArgs) -> Result<(), Failure> {
    let what = format!("place {}", args.tag);
    let usage = |why: String| Failure::new(&what, Cause::Usage(why));
    let token =
        BearerToken::new(cli.token.as_deref()).map_err(|why| usage(format!("--token: {why}")))?;
    let tls = crate::client_tls(cli).map_err(usage)?;
    let options = ClientOptions {
        timeout: std::time::Duration::from_secs(cli.timeout_seconds),
        token,
        tls,
        ..ClientOptions::default()
    };
    let mut cluster = Cluster::new(args.nodes.iter().map(Node::new));
    if !args.no_refresh {
        let mut clients = Clients::new(options);
        clients.refresh(&mut cluster).await;
    }
    let ranked = cluster.ranked(&args.tag);
    let Some(chosen) = cluster.place(&args.tag) else {
        return Err(Failure::new(
            &what,
            Cause::Status(tonic::Status::unavailable(
                "no node takes sessions (every one is draining or does not answer)",
            )),
        ));
    };
    let text = if cli.json {
        let nodes: Vec<serde_json::Value> = cluster
            .nodes()
            .iter()
            .map(|n| {
                serde_json::json!({
                    "node": n.control,
                    "state": n.state.as_str(),
                    "weight": n.weight,
                    "sessions": n.load.as_ref().map(|l| l.sessions),
                })
            })
            .collect();
        let order: Vec<&str> = ranked.iter().map(|n| n.control.as_str()).collect();
        format!(
            "{}\n",
            serde_json::json!({"tag": args.tag, "node": chosen.control, "ranking": order, "nodes": nodes})
        )
    } else {
        let mut text = format!("node: {}\n", chosen.control);
        for n in cluster.nodes() {
            let rank = ranked
                .iter()
                .position(|r| r.name == n.name)
                .map_or_else(|| "-".to_owned(), |i| (i + 1).to_string());
            let sessions = n
                .load
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| l.sessions.to_string());
            let skipped = if n.state == NodeState::Serving {
                ""
            } else {
                " (takes no sessions)"
            };
            let _ = writeln!(
                text,
                "  {rank:>2}  {}  {}  weight {:.3}  sessions {sessions}{skipped}",
                n.control,
                n.state.as_str(),
                n.weight
            );
        }
        text
    };
    crate::emit(out, &text)
}
