//! Session idleness and lifetime: a session with no request from any participant
//! for the idle period is reported once (the IM Server may end it), then watched
//! again from its next request; a session past its maximum duration or its idle
//! release time is released by the switch, with one event.

use std::time::Instant;

use tracing::debug;

use crate::control::{Event, ReleaseReason};
use crate::ids::SessionKey;
use crate::session::SessionKind;
use crate::transaction::Timer;

use super::Endpoint;

impl Endpoint {
    /// A participant of `key` sent a request; the session's kind, if it is there
    /// (the request's handler is chosen by it, and it is found once, here).
    pub(crate) fn session_active(&mut self, key: SessionKey, now: Instant) -> Option<SessionKind> {
        let session = self.sessions.get_mut(&key)?;
        session.last_request = Some(now);
        let kind = session.kind;
        if let Some(idle) = self.config.session_idle
            && session.idle_reported
        {
            // Reported (or never armed): watch again from now.
            session.idle_reported = false;
            self.transactions.schedule(now + idle, Timer::Idle(key));
        }
        Some(kind)
    }

    /// The idle timer of `key` fired: report it, or re-arm for the last request.
    pub(crate) fn check_idle(&mut self, key: SessionKey, now: Instant) {
        let Some(idle) = self.config.session_idle else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        if session.idle_reported {
            return;
        }
        let Some(last) = session.last_request else {
            return;
        };
        let due = last + idle;
        if due > now {
            self.transactions.schedule(due, Timer::Idle(key));
            return;
        }
        session.idle_reported = true;
        self.emit(Event::SessionIdle { session: key });
    }
}

impl Endpoint {
    /// The release timer of `key` fired: release it if a limit has passed, or wait
    /// for the next deadline (the idle release moves with every request).
    pub(crate) fn check_release(&mut self, key: SessionKey, now: Instant) {
        if self.large_release_due(key, now) {
            debug!(session = %key, "complete large message session released by the switch");
            self.emit(Event::SessionReleased {
                session: key,
                reason: ReleaseReason::Complete,
            });
            let _ = self.release(key, false);
            return;
        }
        let Some(session) = self.sessions.get(&key) else {
            return;
        };
        let (Some(created), Some(last)) = (session.created, session.last_request) else {
            return;
        };
        let Some(due) = session.limits.deadline(created, last) else {
            return;
        };
        if due > now {
            self.transactions.schedule(due, Timer::Release(key));
            return;
        }
        let reason = match session.limits.max_duration {
            Some(max) if created + max <= now => ReleaseReason::MaxDuration,
            _ => ReleaseReason::Idle,
        };
        debug!(session = %key, ?reason, "session released by the switch");
        self.emit(Event::SessionReleased {
            session: key,
            reason,
        });
        let _ = self.release(key, false);
    }
}
