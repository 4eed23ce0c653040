//! `/ops/events` (OPS-06: what the head end collected of the terminals, reviewed): the
//! events the smart meters relayed and the link states their hellos told, newest first,
//! each with its point; `?q=` keeps those whose terminal, point or kind holds the text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use headend::events::TerminalEvent;
use headend::registry::eui64_text;

use super::html::esc;
use super::reply::{failed, html, jst, to_login, Search};
use super::OpsPortal;

/// How many events the page reads.
const EVENTS_READ: usize = 2_000;

/// The events as a table (newest first), each terminal linked to its point's page when
/// `points` names it.
#[must_use]
pub fn events_table_of(events: &[TerminalEvent], points: &BTreeMap<String, String>) -> String {
    let mut out = String::from(
        "<table class=\"events\">\n<tr><th>received</th><th>happened</th><th>kind</th><th>code</th><th>terminal</th><th>point</th><th>smart meter</th><th>details</th></tr>\n",
    );
    for e in events {
        let terminal = eui64_text(e.terminal);
        let point = points.get(&terminal).map_or_else(
            || "-".to_owned(),
            |p| format!("<a href=\"/ops/points/{p}\">{p}</a>"),
        );
        let _ = writeln!(
            out,
            "<tr data-kind=\"{k}\"><td>{}</td><td>{}</td><td>{k}</td><td>{}</td><td>{terminal}</td><td>{point}</td><td>{}</td><td>{}</td></tr>",
            jst(e.received_at),
            jst(e.at),
            e.code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            eui64_text(e.smart_meter),
            esc(&e.details),
            k = esc(&e.kind),
        );
    }
    out.push_str("</table>");
    out
}

/// One terminal's events (its point's page).
#[must_use]
pub fn events_table(events: &[TerminalEvent]) -> String {
    events_table_of(events, &BTreeMap::new())
}

/// `GET /ops/events`.
pub async fn list<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return to_login();
    };
    // Each terminal's point, by the registry's index on terminals.
    let read = portal.ops().headend.lock().map(|h| {
        let events = h.events(None, EVENTS_READ)?;
        let mut points = BTreeMap::new();
        let mut looked = std::collections::BTreeSet::new();
        for e in &events {
            if looked.insert(e.terminal.0) {
                if let Some(p) = h.point_of_terminal(e.terminal)? {
                    points.insert(eui64_text(e.terminal), p.supply_point.to_string());
                }
            }
        }
        Ok::<_, headend::storage::HeadendError>((events, points))
    });
    let (events, points) = match read {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return failed("the events", &e, &session.user),
        Err(_) => return failed("the events", &"lock poisoned", &session.user),
    };
    let q = search.q.unwrap_or_default();
    let needle = q.trim().to_ascii_lowercase();
    let shown: Vec<TerminalEvent> = events
        .into_iter()
        .filter(|e| {
            let terminal = eui64_text(e.terminal);
            needle.is_empty()
                || terminal.to_ascii_lowercase().contains(&needle)
                || e.kind.contains(&needle)
                || points.get(&terminal).is_some_and(|p| p.contains(&needle))
        })
        .collect();
    let body = format!(
        "<p>The latest {EVENTS_READ} events the head end collected, newest first: {} shown.</p>\n<form method=\"get\" action=\"/ops/events\"><label>Terminal, point or kind <input name=\"q\" value=\"{}\"></label><button type=\"submit\">Search</button></form>\n{}",
        shown.len(),
        esc(&q),
        events_table_of(&shown, &points)
    );
    html(StatusCode::OK, "Events (OPS-06)", &session, &body)
}
