//! A point's link and LED as the head end can tell them: the link from the newest of
//! its terminal's state events (its smart meter's *joined* / *left*, or a hello's
//! *joined* / *absent* / *blocked*); the LED as the terminal last **reported** it (event
//! 15, `led`: an alarm — meter error, error, updating — or connected after one) when that
//! report is not older than the link's state, otherwise **inferred** by the terminal's
//! rules (`nodes::terminal::led::Led`) from the link, the point's block and its latest
//! slot.

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
    /// `authenticating`, `meter_error`, `error`, `updating`) or `unknown` (the page's
    /// `data-led`).
    pub led: String,
    /// Whether the terminal reported it (else it is inferred).
    pub reported: bool,
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
    let report = events
        .iter()
        .find(|e| e.kind == "led")
        .filter(|r| link == "up" && newest.is_none_or(|n| r.at >= n.at));
    let inferred = match link {
        // Refused by its smart meter at every try: it keeps authenticating.
        "blocked" => "authenticating",
        "down" => "scanning",
        "up" => match latest.map(|s| s.quality) {
            Some(Quality::Estimated) => "meter_error",
            Some(_) => "connected",
            None => "unknown",
        },
        _ => "unknown",
    };
    LinkView {
        link,
        since: newest.map(|e| (e.at, e.kind.clone())),
        led: report.map_or_else(|| inferred.to_owned(), |r| r.details.clone()),
        reported: report.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone as _, Utc};
    use wisun::mac::Eui64;

    fn led(name: &str, minute: u32) -> TerminalEvent {
        TerminalEvent {
            code: Some(15),
            details: name.to_owned(),
            ..event("led", minute)
        }
    }

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
        assert_eq!(
            (v.link, v.led.as_str(), v.reported),
            ("up", "connected", false)
        );
        assert_eq!(v.since.map(|(_, k)| k), Some("joined".to_owned()));
        let down = [event("left", 9), event("joined", 5)];
        assert_eq!(link_view(&down, false, Some(&measured)).led, "scanning");
        assert_eq!(link_view(&[event("absent", 3)], false, None).link, "down");
        assert_eq!(
            link_view(&up, false, Some(&slot(Quality::Estimated))).led,
            "meter_error"
        );
        assert_eq!(link_view(&up, true, Some(&measured)).led, "authenticating");
        assert_eq!(link_view(&[event("dos", 1)], false, None).link, "unknown");
    }

    #[test]
    fn ops_trm10_a_reported_led_stands_until_the_link_changes_after_it() {
        let measured = slot(Quality::Measured);
        let reported = [led("meter_error", 7), event("joined", 5)];
        let v = link_view(&reported, false, Some(&measured));
        assert_eq!((v.led.as_str(), v.reported), ("meter_error", true));
        // The link went down after the report: the link tells.
        let overtaken = [event("left", 9), led("meter_error", 7), event("joined", 5)];
        let v = link_view(&overtaken, false, Some(&measured));
        assert_eq!((v.led.as_str(), v.reported), ("scanning", false));
        // Blocked: whatever it reported before.
        assert_eq!(link_view(&reported, true, None).led, "authenticating");
    }
}
