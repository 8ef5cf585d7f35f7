//! Which sessions' frames the transport copies to a capture collector (HEP,
//! `msrpctl trace`): the IM Server asks per session (`StartCapture`), or the
//! daemon captures every session. The core only keeps the choice; the
//! transport copies the bytes of the connections it names, so nothing is
//! done per frame for a session nobody captures.

use std::sync::Arc;

use crate::control::ControlError;
use crate::ids::{ConnId, SessionKey};

use super::Endpoint;

/// What a captured connection's frames are filed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureTag {
    /// The session.
    pub session: SessionKey,
    /// The session's correlation tag (the SIP Call-ID), so a collector links
    /// the frames to the call's SIP messages.
    pub correlation: Arc<str>,
}

impl Endpoint {
    /// Starts (`on`) or stops capturing `session`'s frames.
    ///
    /// # Errors
    ///
    /// [`ControlError::NoSuchSession`] if the session is not on this shard.
    pub fn capture_session(&mut self, session: SessionKey, on: bool) -> Result<(), ControlError> {
        if !self.sessions.contains_key(&session) {
            return Err(ControlError::NoSuchSession(session));
        }
        if on {
            self.captured.insert(session);
        } else {
            self.captured.remove(&session);
        }
        Ok(())
    }

    /// The tag of `conn`'s frames if its session is captured (every bound
    /// connection's with `capture_all`); `None` otherwise, at the cost of one
    /// check while nothing is captured.
    pub fn captured(&self, conn: ConnId, capture_all: bool) -> Option<CaptureTag> {
        if self.captured.is_empty() && !capture_all {
            return None;
        }
        let (session, _) = self.conn_participant(conn)?;
        if !capture_all && !self.captured.contains(&session) {
            return None;
        }
        let correlation = Arc::clone(&self.sessions.get(&session)?.correlation_tag);
        Some(CaptureTag {
            session,
            correlation,
        })
    }
}
