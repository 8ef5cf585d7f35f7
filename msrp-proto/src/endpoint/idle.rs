//! Session idleness: a session with no request from any participant for the idle
//! period is reported once (the IM Server may end it), then watched again from its
//! next request.

use std::time::Instant;

use crate::control::Event;
use crate::ids::SessionKey;
use crate::transaction::Timer;

use super::Endpoint;

impl Endpoint {
    /// A participant of `key` sent a request.
    pub(crate) fn session_active(&mut self, key: SessionKey, now: Instant) {
        let Some(idle) = self.config.session_idle else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        session.last_request = Some(now);
        if session.idle_reported {
            // Reported (or never armed): watch again from now.
            session.idle_reported = false;
            self.transactions.schedule(now + idle, Timer::Idle(key));
        }
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
        self.events.push_back(Event::SessionIdle { session: key });
    }
}
