//! A point's link and LED as the head end can tell them: the link from the newest of
//! its terminal's state events (its smart meter's *joined* / *left*, or a hello's
//! *joined* / *absent* / *blocked*), and the LED the terminal shows by its rules
//! (`nodes::terminal::led::Led`, docs/terminal.md) **inferred** from that link, the
//! point's block and its latest slot — the head end never sees the LED itself.

use headend::events::{is_state, TerminalEvent};
use mdms::{Quality, Slot};

/// What the page shows of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkView {
    /// `up`, `down`, `blocked` or `unknown` (the page's `data-link`).
    pub link: &'static str,
    /// Since when, as the newest state event tells (its time and kind), if any.
    pub since: Option<(chrono::DateTime<chrono::Utc>, String)>,
    /// The LED's name as the terminal shows it (`connected`, `scanning`,
    /// `authenticating`, `meter-error`) or `unknown` (the page's `data-led`).
    pub led: &'static str,
}

/// The link and LED of a point from its terminal's `events` (newest first), whether it
/// is `blocked` (OPS-07) and its `latest` slot.
#[must_use]
pub fn link_view(events: &[TerminalEvent], blocked: bool, latest: Option<&Slot>) -> LinkView {
    let newest = events.iter().find(|e| is_state(&e.kind));
    let link = match newest.map(|e| e.kind.as_str()) {
        _ if blocked => "blocked",
        Some("joined") => "up",
        Some("left" | "absent") => "down",
        Some("blocked") => "blocked",
        _ => "unknown",
    };
    let led = match link {
        // Refused by its smart meter at every try: it keeps authenticating.
        "blocked" => "authenticating",
        "down" => "scanning",
        "up" => match latest.map(|s| s.quality) {
            Some(Quality::Estimated) => "meter-error",
            Some(_) => "connected",
            None => "unknown",
        },
        _ => "unknown",
    };
    LinkView {
        link,
        since: newest.map(|e| (e.at, e.kind.clone())),
        led,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone as _, Utc};
    use wisun::mac::Eui64;

    fn event(kind: &str, minute: u32) -> TerminalEvent {
        let at = Utc.with_ymd_and_hms(2026, 4, 1, 0, minute, 0).unwrap();
        TerminalEvent {
            terminal: Eui64([1; 8]),
            smart_meter: Eui64([2; 8]),
            kind: kind.to_owned(),
            code: None,
            at,
            received_at: at,
            details: String::new(),
        }
    }

    fn slot(quality: Quality) -> Slot {
        Slot {
            point: "0300111234567890123456".parse().unwrap(),
            terminal: mdms::TerminalId([1; 8]),
            start: Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap(),
            minutes: 30,
            in_wh: 1,
            out_wh: 0,
            cum_in: 0,
            cum_out: 0,
            quality,
            received_at: None,
        }
    }

    #[test]
    fn ops_the_newest_state_event_tells_the_link_and_alarms_do_not() {
        let measured = slot(Quality::Measured);
        // Newest first: a flood after the join does not change the link.
        let up = [event("dos", 9), event("joined", 5), event("left", 1)];
        let v = link_view(&up, false, Some(&measured));
        assert_eq!((v.link, v.led), ("up", "connected"));
        assert_eq!(v.since.map(|(_, k)| k), Some("joined".to_owned()));
        let down = [event("left", 9), event("joined", 5)];
        assert_eq!(link_view(&down, false, Some(&measured)).led, "scanning");
        assert_eq!(link_view(&[event("absent", 3)], false, None).link, "down");
        assert_eq!(
            link_view(&up, false, Some(&slot(Quality::Estimated))).led,
            "meter-error"
        );
        assert_eq!(link_view(&up, true, Some(&measured)).led, "authenticating");
        assert_eq!(link_view(&[event("dos", 1)], false, None).link, "unknown");
    }
}
