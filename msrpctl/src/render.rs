//! How replies are shown: JSON documents built from the protobuf fields (snake_case,
//! as in the proto; enums by their proto names), and human tables and key: value
//! lines.

use std::fmt::Write as _;

use control_api::pb;

/// One participant for people: key: value lines, then its media's SDP lines.
pub fn participant_text(participant: &pb::Participant) -> String {
    let identity = participant.identity.clone().unwrap_or_default();
    let mut pairs = vec![
        ("participant_id", participant.participant_id.clone()),
        ("session_id", participant.session_id.clone()),
        ("im_address", or_dash(&identity.im_address)),
        ("local_uri", participant.local_uri.clone()),
        ("bound", yes_no(participant.bound)),
        ("pending", yes_no(participant.pending)),
        ("correlation_tag", or_dash(&participant.correlation_tag)),
    ];
    pairs.extend(counter_pairs(participant.counters.as_ref()));
    let mut text = key_values(&pairs);
    text.push_str(&local_media_text(participant.local.as_ref()));
    text
}

/// The human form of a created session: its id, kind and group identity, and for a
/// group what its policy allows.
pub fn created_text(session_id: &str, request: &pb::CreateSessionRequest) -> String {
    let mut pairs = vec![
        ("session_id", session_id.to_owned()),
        ("kind", kind_text(request.kind)),
        ("group_identity", or_dash(&request.group_identity)),
    ];
    if request.kind == i32::from(pb::SessionKind::Group) {
        let policy = request.policy.clone().unwrap_or_default();
        pairs.extend([
            ("private_messages", yes_no(policy.private_messages)),
            ("nicknames", yes_no(policy.nicknames)),
            ("slow_consumer", slow_consumer_text(policy.slow_consumer)),
        ]);
    }
    key_values(&pairs)
}

/// The human name of an event kind.
pub fn event_kind_name(kind: Option<&pb::event::Kind>) -> &'static str {
    match kind {
        Some(pb::event::Kind::ParticipantBound(_)) => "participant-bound",
        Some(pb::event::Kind::ConnectionLost(_)) => "connection-lost",
        Some(pb::event::Kind::ParticipantRemoved(_)) => "participant-removed",
        Some(pb::event::Kind::SessionIdle(_)) => "session-idle",
        Some(pb::event::Kind::EventsMissed(_)) => "events-missed",
        Some(pb::event::Kind::NicknameSet(_)) => "nickname-set",
        Some(pb::event::Kind::SlowConsumerDropped(_)) => "slow-consumer-dropped",
        Some(pb::event::Kind::OfferExpired(_)) => "offer-expired",
        Some(pb::event::Kind::SessionReleased(_)) => "session-released",
        Some(pb::event::Kind::Draining(_)) => "draining",
        Some(pb::event::Kind::BindRefused(_)) => "bind-refused",
        Some(pb::event::Kind::ConnectFailed(_)) => "connect-failed",
        Some(pb::event::Kind::MessageReceived(_)) => "message-received",
        Some(pb::event::Kind::MessageDelivered(_)) => "message-delivered",
        Some(pb::event::Kind::MessageFailed(_)) => "message-failed",
        Some(pb::event::Kind::LargeMessageComplete(_)) => "large-message-complete",
        None => "unknown",
    }
}

/// One line for an event: `<UTC time> <kind> session=S participant=P [count=N]`.
pub fn event_line(event: &pb::Event) -> String {
    let mut line = format!(
        "{} {:<19} session={}",
        utc_timestamp(event.timestamp_ms),
        event_kind_name(event.kind.as_ref()),
        event.session_id
    );
    if !event.participant_id.is_empty() {
        let _ = write!(line, " participant={}", event.participant_id);
    }
    match &event.kind {
        Some(pb::event::Kind::EventsMissed(missed)) => {
            let _ = write!(line, " count={}", missed.count);
        }
        Some(pb::event::Kind::NicknameSet(set)) => {
            let _ = write!(line, " nickname={:?}", set.nickname);
        }
        Some(pb::event::Kind::SlowConsumerDropped(dropped)) => {
            let _ = write!(line, " queued_bytes={}", dropped.queued_bytes);
        }
        Some(pb::event::Kind::Draining(draining)) => {
            let _ = write!(line, " deadline_seconds={}", draining.deadline_seconds);
        }
        Some(pb::event::Kind::BindRefused(refused)) => {
            let _ = write!(line, " reason={}", refused.reason);
        }
        Some(pb::event::Kind::ConnectFailed(failed)) => {
            let _ = write!(line, " reason={:?}", failed.reason);
        }
        Some(pb::event::Kind::MessageReceived(received)) => {
            let _ = write!(line, " bytes={}", received.bytes);
        }
        Some(pb::event::Kind::MessageDelivered(delivered)) => {
            let _ = write!(line, " bytes={}", delivered.bytes);
        }
        Some(pb::event::Kind::MessageFailed(failed)) => {
            let _ = write!(line, " status={} reason={:?}", failed.status, failed.reason);
        }
        Some(pb::event::Kind::LargeMessageComplete(complete)) => {
            let _ = write!(
                line,
                " delivered={} failed={}",
                complete.delivered, complete.failed
            );
        }
        _ => {}
    }
    line
}

/// A captured frame for people: a line saying when, which way and between
/// whom, then the frame as it passed (body cut as the switch cut it).
pub fn captured_frame(frame: &pb::CapturedFrame) -> String {
    use pb::captured_frame::Direction;
    let way = match Direction::try_from(frame.direction) {
        Ok(Direction::Received) => "received",
        Ok(Direction::Sent) => "sent",
        _ => "passed",
    };
    // `YYYY-MM-DDTHH:MM:SS` of the millisecond stamp, then the microseconds.
    let stamp = utc_timestamp(frame.timestamp_us / 1000);
    let second = stamp.split('.').next().unwrap_or_default();
    let mut text = format!(
        "{second}.{:06}Z {way} {} -> {}",
        frame.timestamp_us % 1_000_000,
        frame.source,
        frame.destination,
    );
    if frame.frames_missed > 0 {
        let _ = write!(
            text,
            " ({} frames missed before this one)",
            frame.frames_missed
        );
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&frame.frame));
    if frame.omitted_bytes > 0 {
        let _ = writeln!(text, "[{} body bytes not shown]", frame.omitted_bytes);
    }
    text.push('\n');
    text
}

/// A session kind for people: `one-to-one`.
pub fn kind_text(kind: i32) -> String {
    match pb::SessionKind::try_from(kind) {
        Ok(pb::SessionKind::OneToOne) => "one-to-one".to_owned(),
        Ok(pb::SessionKind::Group) => "group".to_owned(),
        Ok(pb::SessionKind::LargeMessage) => "large-message".to_owned(),
        Ok(pb::SessionKind::Unspecified) => "unspecified".to_owned(),
        Err(_) => format!("unknown({kind})"),
    }
}

/// A slow-consumer action for people: `drop`.
pub fn slow_consumer_text(slow_consumer: i32) -> String {
    match pb::SlowConsumer::try_from(slow_consumer) {
        Ok(pb::SlowConsumer::Drop) => "drop".to_owned(),
        Ok(pb::SlowConsumer::Pause) => "pause".to_owned(),
        Err(_) => format!("unknown({slow_consumer})"),
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn utc_timestamp(unix_ms: u64) -> String {
    let millis = unix_ms % 1000;
    let secs = unix_ms / 1000;
    let (hour, minute, second) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, days >= 0).
    let days = secs / 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Column alignment in a [`table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// An aligned table: a header line, then one line per row, columns two spaces apart.
/// Trailing padding is trimmed.
pub fn table(columns: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|(name, _)| name.chars().count())
        .collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, ((cell, width), (_, align))) in row.iter().zip(&widths).zip(columns).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            match align {
                Align::Left => {
                    let _ = write!(line, "{cell:<width$}");
                }
                Align::Right => {
                    let _ = write!(line, "{cell:>width$}");
                }
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `key: value` lines with the values aligned.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let width = pairs
        .iter()
        .map(|(key, _)| key.chars().count() + 1)
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for (key, value) in pairs {
        let key = format!("{key}:");
        let _ = writeln!(text, "{}", format!("{key:<width$} {value}").trim_end());
    }
    text
}

/// The participants table of `get-session` and `release-session`.
pub fn participants_table(participants: &[pb::Participant]) -> String {
    if participants.is_empty() {
        return "(no participants)\n".to_owned();
    }
    let rows: Vec<Vec<String>> = participants
        .iter()
        .map(|participant| {
            let identity = participant.identity.clone().unwrap_or_default();
            let counters = participant.counters.unwrap_or_default();
            let mut im_address = identity.im_address;
            if !identity.privacy_alias.is_empty() {
                let _ = write!(im_address, " (alias {})", identity.privacy_alias);
            }
            if im_address.is_empty() {
                im_address.push('-');
            }
            vec![
                participant.participant_id.clone(),
                im_address,
                yes_no(participant.bound),
                counters.frames_in.to_string(),
                counters.bytes_in.to_string(),
                counters.frames_out.to_string(),
                counters.bytes_out.to_string(),
                yes_no(participant.modification_staged),
                participant.local_uri.clone(),
            ]
        })
        .collect();
    table(
        &[
            ("PARTICIPANT", Align::Left),
            ("IM ADDRESS", Align::Left),
            ("BOUND", Align::Left),
            ("FRAMES IN", Align::Right),
            ("BYTES IN", Align::Right),
            ("FRAMES OUT", Align::Right),
            ("BYTES OUT", Align::Right),
            ("STAGED", Align::Left),
            ("LOCAL URI", Align::Left),
        ],
        &rows,
    )
}

/// The sessions table of `list-sessions`.
pub fn sessions_table(sessions: &[pb::Session]) -> String {
    if sessions.is_empty() {
        return "(no sessions)\n".to_owned();
    }
    let rows: Vec<Vec<String>> = sessions
        .iter()
        .map(|session| {
            let bound = session.participants.iter().filter(|p| p.bound).count();
            vec![
                session.session_id.clone(),
                kind_text(session.kind),
                session.participants.len().to_string(),
                bound.to_string(),
                or_dash(&session.group_identity),
            ]
        })
        .collect();
    table(
        &[
            ("SESSION", Align::Left),
            ("KIND", Align::Left),
            ("PARTICIPANTS", Align::Right),
            ("BOUND", Align::Right),
            ("GROUP IDENTITY", Align::Left),
        ],
        &rows,
    )
}

/// The human form of one session: key: value lines, then its participants.
pub fn session_text(session: &pb::Session) -> String {
    let mut pairs = vec![
        ("session_id", session.session_id.clone()),
        ("kind", kind_text(session.kind)),
        ("group_identity", or_dash(&session.group_identity)),
        ("correlation_tag", or_dash(&session.correlation_tag)),
    ];
    if let Some(policy) = session
        .policy
        .as_ref()
        .filter(|_| session.kind == i32::from(pb::SessionKind::Group))
    {
        pairs.extend([
            ("private_messages", yes_no(policy.private_messages)),
            ("nicknames", yes_no(policy.nicknames)),
            ("slow_consumer", slow_consumer_text(policy.slow_consumer)),
        ]);
    }
    pairs.push(("participants", session.participants.len().to_string()));
    let mut text = key_values(&pairs);
    text.push('\n');
    text.push_str(&participants_table(&session.participants));
    text
}

/// The human form of the switch's media: its MSRP URI, then the SDP lines to paste.
pub fn local_media_text(local: Option<&pb::LocalMedia>) -> String {
    let Some(local) = local else {
        return "sdp: (none returned)\n".to_owned();
    };
    let mut text = String::from("sdp:\n");
    for line in local.sdp.lines() {
        text.push_str(line.trim_end_matches('\r'));
        text.push('\n');
    }
    text
}

/// The switch's own MSRP URI from its media (the last a=path entry).
pub fn local_uri(local: Option<&pb::LocalMedia>) -> String {
    local
        .and_then(|local| local.structured.as_ref())
        .and_then(|media| media.path.last())
        .cloned()
        .unwrap_or_else(|| "-".to_owned())
}

/// Counters as `key: value` pairs.
pub fn counter_pairs(counters: Option<&pb::Counters>) -> [(&'static str, String); 4] {
    let counters = counters.copied().unwrap_or_default();
    [
        ("frames_in", counters.frames_in.to_string()),
        ("bytes_in", counters.bytes_in.to_string()),
        ("frames_out", counters.frames_out.to_string()),
        ("bytes_out", counters.bytes_out.to_string()),
    ]
}

/// The final counters of released participants (`release-session`).
pub fn released_table(participants: &[pb::Participant]) -> String {
    if participants.is_empty() {
        return "(no participants)\n".to_owned();
    }
    let rows: Vec<Vec<String>> = participants
        .iter()
        .map(|participant| {
            let counters = participant.counters.unwrap_or_default();
            vec![
                participant.participant_id.clone(),
                counters.frames_in.to_string(),
                counters.bytes_in.to_string(),
                counters.frames_out.to_string(),
                counters.bytes_out.to_string(),
            ]
        })
        .collect();
    table(
        &[
            ("PARTICIPANT", Align::Left),
            ("FRAMES IN", Align::Right),
            ("BYTES IN", Align::Right),
            ("FRAMES OUT", Align::Right),
            ("BYTES OUT", Align::Right),
        ],
        &rows,
    )
}

/// The human form of the switch-wide counters.
pub fn stats_text(stats: &pb::StatsResponse) -> String {
    key_values(&[
        ("sessions", stats.sessions.to_string()),
        ("participants", stats.participants.to_string()),
        ("connections", stats.connections.to_string()),
        ("frames_received", stats.frames_received.to_string()),
        ("frames_sent", stats.frames_sent.to_string()),
        ("bytes_received", stats.bytes_received.to_string()),
        ("bytes_sent", stats.bytes_sent.to_string()),
        ("shards", stats.shards.to_string()),
    ])
}

/// `yes` or `no`.
pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(id: &str, bound: bool) -> pb::Participant {
        pb::Participant {
            participant_id: id.into(),
            identity: Some(pb::Identity {
                im_address: format!("sip:{id}@example.com"),
                privacy_alias: String::new(),
            }),
            local_uri: format!("msrp://127.0.0.1:2855/{id};tcp"),
            bound,
            counters: Some(pb::Counters {
                frames_in: 12,
                bytes_in: 34_567,
                frames_out: 1,
                bytes_out: 2,
            }),
            modification_staged: false,
            ..Default::default()
        }
    }

    #[test]
    fn tables_align_columns() {
        let text = participants_table(&[participant("p-1", true), participant("p-22", false)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("PARTICIPANT  IM ADDRESS"), "{text}");
        let column = lines[0].find("BOUND").unwrap();
        assert_eq!(&lines[1][column..column + 3], "yes", "{text}");
        assert_eq!(&lines[2][column..column + 2], "no", "{text}");
        // Numbers are right-aligned under their header.
        let end = lines[0].find("BYTES IN").unwrap() + "BYTES IN".len();
        assert_eq!(&lines[1][end - 5..end], "34567", "{text}");
        assert_eq!(participants_table(&[]), "(no participants)\n");
    }

    #[test]
    fn key_values_align() {
        let text = key_values(&[("a", "1".into()), ("long_key", "2".into())]);
        assert_eq!(text, "a:        1\nlong_key: 2\n");
    }

    #[test]
    fn a_created_group_shows_its_policy() {
        let request = pb::CreateSessionRequest {
            kind: pb::SessionKind::Group.into(),
            group_identity: "sip:team@conf.example.net".into(),
            policy: Some(pb::Policy {
                nicknames: true,
                slow_consumer: pb::SlowConsumer::Pause.into(),
                ..pb::Policy::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            created_text("s-7", &request),
            "session_id:       s-7\n\
             kind:             group\n\
             group_identity:   sip:team@conf.example.net\n\
             private_messages: no\n\
             nicknames:        yes\n\
             slow_consumer:    pause\n"
        );
        // --json is the canonical proto3 JSON mapping: camelCase names, enums by
        // name, defaults left out.
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(value["kind"], "SESSION_KIND_GROUP");
        assert_eq!(value["policy"]["nicknames"], true);
        assert!(value["policy"].get("privateMessages").is_none(), "{value}");
        assert_eq!(value["policy"]["slowConsumer"], "SLOW_CONSUMER_PAUSE");

        // A 1:1 session has no group policy to show.
        let request = pb::CreateSessionRequest {
            kind: pb::SessionKind::OneToOne.into(),
            ..request
        };
        assert_eq!(
            created_text("s-8", &request),
            "session_id:     s-8\n\
             kind:           one-to-one\n\
             group_identity: sip:team@conf.example.net\n"
        );
    }

    #[test]
    fn events_print_one_line_each() {
        let event = pb::Event {
            session_id: "s-1".into(),
            participant_id: String::new(),
            timestamp_ms: 1_700_000_000_123,
            kind: Some(pb::event::Kind::EventsMissed(pb::EventsMissed { count: 4 })),
            ..Default::default()
        };
        assert_eq!(
            event_line(&event),
            "2023-11-14T22:13:20.123Z events-missed       session=s-1 count=4"
        );
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["sessionId"], "s-1");
        // uint64 is a string in proto3 JSON.
        assert_eq!(value["timestampMs"], "1700000000123");
        assert_eq!(value["eventsMissed"]["count"], "4");
    }

    #[test]
    fn timestamps_are_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
