//! Large Message Mode's stores on a shard: the switch asks for a message's bytes
//! to be stored ([`Action::Store`]) and read back for receivers behind the sender
//! ([`Action::Replay`]); each session's store is owned by a task of its own that
//! does those in order, so a read always finds what was stored before it, and a
//! slow disk stalls that message alone, never the shard.
//!
//! ```text
//!  switch ── Store / Replay ──▶ inbox ──▶ store task ── MessageStore (memory, spill file)
//!    ▲                                        │
//!    └── large_message_stored / _replayed ────┘  (then the shard pumps)
//! ```
//! [`Action::ReleaseStore`] (or the session's end) closes the inbox: the task
//! ends and its store, with its spill file, goes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

use msrp_proto::endpoint::Action;
use msrp_proto::ids::{ParticipantId, SessionKey};

use super::shard::Local;
use crate::store::{DiskQuota, MessageStore};

/// Where and how large messages are stored.
#[derive(Debug, Clone)]
pub struct LargeMessageSettings {
    /// The directory spill files are made in (one per message, removed with it).
    pub dir: PathBuf,
    /// Bytes of each message kept in memory; the rest is spilled.
    pub memory_bytes: u64,
    /// The most bytes all spill files together may hold.
    pub disk: DiskQuota,
}

impl Default for LargeMessageSettings {
    fn default() -> Self {
        Self {
            dir: std::env::temp_dir(),
            memory_bytes: 8 * 1024 * 1024,
            disk: DiskQuota::new(64 * 1024 * 1024 * 1024),
        }
    }
}

/// What a store task is asked to do.
enum StoreOp {
    Append {
        offset: u64,
        bytes: Bytes,
    },
    Read {
        participant: ParticipantId,
        offset: u64,
        len: usize,
    },
}

/// A shard's store tasks, by session.
#[derive(Default)]
pub(crate) struct Stores {
    inboxes: HashMap<SessionKey, mpsc::UnboundedSender<StoreOp>>,
}

/// Carries out a store action of the switch (any other action is ignored).
pub(crate) fn handle(local: &Rc<Local>, action: Action) {
    let (session, op) = match action {
        Action::Store {
            session,
            offset,
            bytes,
        } => (session, StoreOp::Append { offset, bytes }),
        Action::Replay {
            session,
            participant,
            offset,
            len,
        } => (
            session,
            StoreOp::Read {
                participant,
                offset,
                len,
            },
        ),
        Action::ReleaseStore { session } => {
            local.stores.borrow_mut().inboxes.remove(&session);
            return;
        }
        _ => return,
    };
    let mut stores = local.stores.borrow_mut();
    let inbox = stores.inboxes.entry(session).or_insert_with(|| {
        let (tx, rx) = mpsc::unbounded_channel();
        let settings = &local.large_message;
        // The process id keeps two daemons sharing a directory apart.
        let name = format!("msrp-switch-{}-{session}", std::process::id());
        let store = MessageStore::new(&settings.dir, &name, settings.memory_bytes)
            .with_quota(settings.disk.clone());
        tokio::task::spawn_local(run(Rc::clone(local), session, store, rx));
        tx
    });
    // A closed inbox is a failed store: the switch already knows.
    drop(inbox.send(op));
}

/// One session's store task.
async fn run(
    local: Rc<Local>,
    session: SessionKey,
    mut store: MessageStore,
    mut inbox: mpsc::UnboundedReceiver<StoreOp>,
) {
    let mut failed = false;
    while let Some(op) = inbox.recv().await {
        match op {
            // After a failure nothing more is stored (the message failed).
            StoreOp::Append { .. } if failed => continue,
            StoreOp::Append { offset, bytes } => {
                let outcome = if offset == store.len() {
                    store.append(bytes).await.map_err(|e| e.to_string())
                } else {
                    Err(format!(
                        "bytes at {offset} do not follow the {} stored",
                        store.len()
                    ))
                };
                let mut switch = local.switch.borrow_mut();
                let now = Instant::now().into_std();
                match outcome {
                    Ok(()) => switch.large_message_stored(session, store.len(), now),
                    Err(why) => {
                        failed = true;
                        debug!(%session, %why, "large message store failed");
                        switch.large_message_store_failed(session, &why, now);
                    }
                }
            }
            StoreOp::Read {
                participant,
                offset,
                len,
            } => {
                let outcome = store.read(offset, len).await.map_err(|e| e.to_string());
                let now = Instant::now().into_std();
                local
                    .switch
                    .borrow_mut()
                    .large_message_replayed(participant, offset, outcome, now);
            }
        }
        local.pump();
    }
}
