//! A group member that binds and then never reads: a slow consumer, which a switch
//! that drops slow consumers closes after its grace period while the other members
//! go on at full speed.
//!
//! A member that does not read cannot see its connection close: the switch's FIN
//! waits behind the copies already in the socket buffers. So once the run stops, it
//! reads whatever is there and tells which comes first: the end of the stream (the
//! switch closed it: dropped) or a pause with nothing to read (still connected). It
//! keeps its write half open meanwhile: a FIN of its own would make the switch close
//! the connection too.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::wire::MsrpConn;

/// Nothing to read for this long while draining: the connection is still open.
const DRAIN_IDLE: Duration = Duration::from_millis(300);

/// The longest drain: a switch still writing after this has not dropped the member.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Holds `conn` unread until `stop` is raised, then returns true if the peer had
/// closed it.
pub(crate) async fn run_stalled(
    conn: MsrpConn,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let (mut read, _reader, _write) = conn.into_split()?;
    let _ = stop.wait_for(|stopped| *stopped).await;
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match tokio::time::timeout(DRAIN_IDLE, read.read(&mut buf)).await {
            // End of stream, or a reset: the switch closed it.
            Ok(Ok(0) | Err(_)) => return Ok(true),
            Ok(Ok(_)) if Instant::now() < deadline => {}
            Ok(Ok(_)) | Err(_) => return Ok(false),
        }
    }
}
