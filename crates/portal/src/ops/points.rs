//! `/ops/points` and `/ops/points/<supply point>`: the device points, one point's page
//! and its block / reconnect form (OPS-07).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use headend::blocks::{periods, BlockAction, BlockError, BlockPeriod, BlockRecord};
use headend::events::TerminalEvent;
use headend::registry::{eui64_text, DevicePoint};
use mdms::{Filter, Slot, SupplyPoint};

use super::events::events_table;
use super::html::{self, esc, page, respond};
use super::reply::{acting, audited, failed, html, jst, see_other, session_or_login, text};
use super::session::Session;
use super::{curve, link, OpsPortal};
use crate::rounds::{day_start, local_day};
use crate::users::Role;

/// Points a page of `/ops/points` lists.
const PAGE: usize = 200;

/// The search and page of `/ops/points`.
#[derive(Debug, serde::Deserialize)]
pub struct Find {
    q: Option<String>,
    page: Option<usize>,
}

/// `GET /ops/points?q=&page=`: the registered points whose supply point or terminal
/// holds `q` (all without), [`PAGE`] a page from page 1; to the login without a session.
pub async fn list<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Query(find): Query<Find>,
) -> Response {
    let session = match session_or_login(portal.as_ref(), &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let q = find.q.unwrap_or_default();
    let needle = q.trim();
    let page = find.page.unwrap_or(1).max(1);
    let offset = (page - 1).saturating_mul(PAGE);
    let read = portal.ops().headend.lock().map(|h| {
        Ok::<_, headend::storage::HeadendError>((
            h.find_points(needle, offset, PAGE)?,
            h.block_records()?,
        ))
    });
    let ((points, total), records) = match read {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return failed("the registry", &e, &session.user),
        Err(_) => return failed("the registry", &"lock poisoned", &session.user),
    };
    // Blocks are few: every blocked point, from every record.
    let blocked: Vec<String> = periods(&records)
        .into_iter()
        .filter(|p| p.to.is_none())
        .map(|p| p.point)
        .collect();
    let mut table = String::from(
        "<table>\n<thead><tr><th>supply point</th><th>terminal</th><th>smart meter</th><th>retailer</th><th>state</th></tr></thead>\n<tbody>\n",
    );
    for p in &points {
        let sp = p.supply_point.to_string();
        let state = if blocked.contains(&sp) {
            "<span class=\"blocked\">blocked</span>"
        } else {
            "registered"
        };
        let _ = writeln!(
            table,
            "<tr data-point=\"{sp}\"><td><a href=\"/ops/points/{sp}\">{sp}</a></td><td>{t}</td><td>{m}</td><td>{r}</td><td>{state}</td></tr>",
            t = eui64_text(p.terminal_id),
            m = eui64_text(p.smart_meter),
            r = esc(p.retailer.as_str())
        );
    }
    table.push_str("</tbody>\n</table>");
    let link = |n: usize, text: &str| {
        format!(
            "<a href=\"/ops/points?q={}&amp;page={n}\">{text}</a>",
            esc(&query_text(needle))
        )
    };
    let mut pages = format!(
        "<p id=\"pages\" data-total=\"{total}\">{} to {} of {total} points",
        (offset + 1).min(total),
        offset + points.len()
    );
    if page > 1 {
        pages.push_str(&format!(" · {}", link(page - 1, "&larr; previous")));
    }
    if offset + points.len() < total {
        pages.push_str(&format!(" · {}", link(page + 1, "next &rarr;")));
    }
    pages.push_str("</p>");
    let body = format!(
        "<form method=\"get\" action=\"/ops/points\"><label>Point or terminal <input name=\"q\" value=\"{}\"></label><button type=\"submit\">Search</button></form>\n{pages}\n{table}",
        esc(&q)
    );
    html(StatusCode::OK, "Device points", &session, &body)
}

/// `text` for a URL's query: letters and digits as they are, anything else %-encoded.
fn query_text(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The day of `/ops/points/<point>`.
#[derive(Debug, serde::Deserialize)]
pub struct Day {
    day: Option<String>,
}

/// How many of its terminal's events a point's page shows.
const EVENTS_SHOWN: usize = 20;

/// What a point's page shows.
struct PointView {
    point: DevicePoint,
    /// Its blocked periods, oldest first.
    periods: Vec<BlockPeriod>,
    /// The day shown (JST) and its slots.
    day: NaiveDate,
    slots: Vec<Slot>,
    /// The slot ending at the boundary of its latest usable reading.
    latest: Option<Slot>,
    /// Its terminal's latest events, newest first.
    events: Vec<TerminalEvent>,
}

fn view<P: OpsPortal>(
    portal: &P,
    sp: &SupplyPoint,
    day: Option<NaiveDate>,
) -> Result<Option<PointView>, String> {
    let (point, records, events) = {
        let h = portal
            .ops()
            .headend
            .lock()
            .map_err(|_| "lock poisoned".to_owned())?;
        let Some(point) = h.point(sp).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let events = h
            .events(Some(point.terminal_id), EVENTS_SHOWN)
            .map_err(|e| e.to_string())?;
        (point, h.block_records().map_err(|e| e.to_string())?, events)
    };
    let periods = periods(&records)
        .into_iter()
        .filter(|p| p.point == sp.to_string())
        .collect();
    let m = portal
        .ops()
        .mdms
        .lock()
        .map_err(|_| "lock poisoned".to_owned())?;
    let far = Utc::now().max(DateTime::UNIX_EPOCH) + chrono::TimeDelta::days(36_500);
    let last = m
        .usable_before(sp, far, 1)
        .map_err(|e| e.to_string())?
        .pop();
    // Without ?day=, the day of its latest reading (a simulated run's days are not today).
    let day = day.unwrap_or_else(|| {
        last.map_or_else(
            || local_day(Utc::now()),
            |t| local_day(t - chrono::TimeDelta::seconds(1)),
        )
    });
    let slots_in = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let filter = Filter {
            point: Some(sp.clone()),
            from: Some(from),
            to: Some(to),
        };
        let mut slots = Vec::new();
        m.scan_slots(&filter, &mut |s| {
            slots.push(s.clone());
            Ok(())
        })
        .map(|()| slots)
        .map_err(|e| e.to_string())
    };
    let from = day_start(day);
    let slots = slots_in(from, from + chrono::TimeDelta::days(1))?;
    let minutes = chrono::TimeDelta::minutes(i64::from(point.interval.minutes()));
    let latest = match last {
        Some(end) => slots_in(end - minutes, end)?.pop(),
        None => None,
    };
    Ok(Some(PointView {
        point,
        periods,
        day,
        slots,
        latest,
        events,
    }))
}

fn render(v: &PointView, session: &Session, message: &str) -> String {
    let p = &v.point;
    let sp = p.supply_point.to_string();
    let current = v.periods.last().filter(|b| b.to.is_none());
    let state = current.map_or_else(
        || "<span id=\"state\" data-state=\"registered\">registered, not blocked</span>".to_owned(),
        |b| {
            format!(
                "<span id=\"state\" class=\"blocked\" data-state=\"blocked\">blocked</span> since {} by {}: {}",
                jst(b.from),
                esc(&b.by),
                esc(&b.reason)
            )
        },
    );
    let minutes = p.interval.minutes();
    let link = link::link_view(&v.events, current.is_some(), v.latest.as_ref());
    let mut body = html::message(message);
    let last = v.latest.as_ref().map_or_else(
        || "none".to_owned(),
        |s| {
            format!(
                "slot ending {}: AC in {:.3} kWh, AC out {:.3} kWh{}",
                jst(s.start + chrono::TimeDelta::minutes(i64::from(s.minutes))),
                f64::from(s.in_wh) / 1000.0,
                f64::from(s.out_wh) / 1000.0,
                s.received_at
                    .map_or_else(String::new, |t| format!(", received {}", jst(t)))
            )
        },
    );
    let since = link.since.as_ref().map_or_else(String::new, |(t, kind)| {
        format!(" ({} {})", esc(kind), jst(*t))
    });
    let _ = writeln!(
        body,
        "<table id=\"point\" data-point=\"{sp}\">\n<tr><th>state</th><td>{state}</td></tr>\n<tr><th>link</th><td id=\"link\" data-link=\"{l}\">{l}{since}</td></tr>\n<tr><th>LED</th><td id=\"led\" data-led=\"{led}\">{led} ({how})</td></tr>\n<tr><th>terminal</th><td>{t}</td></tr>\n<tr><th>smart meter</th><td>{m}</td></tr>\n<tr><th>interval</th><td>{minutes} min</td></tr>\n<tr><th>retailer</th><td>{r}</td></tr>\n<tr><th>last reading</th><td id=\"last\">{last}</td></tr>\n<tr><th>its quality</th><td id=\"quality\">{q}</td></tr>\n</table>",
        l = link.link,
        led = esc(&link.led),
        how = if link.reported { "reported by the terminal" } else { "inferred by the head end" },
        t = eui64_text(p.terminal_id),
        m = eui64_text(p.smart_meter),
        r = esc(p.retailer.as_str()),
        q = v.latest.as_ref().map_or_else(|| "-".to_owned(), |s| s.quality.to_string()),
    );
    let prev = v.day.pred_opt().unwrap_or(v.day);
    let next = v.day.succ_opt().unwrap_or(v.day);
    let in_kwh: u64 = v.slots.iter().map(|s| u64::from(s.in_wh)).sum();
    let out_kwh: u64 = v.slots.iter().map(|s| u64::from(s.out_wh)).sum();
    let _ = writeln!(
        body,
        "<h2>Load curve {day} (JST)</h2>\n<p><a href=\"/ops/points/{sp}?day={prev}\">&larr; {prev}</a> · <a href=\"/ops/points/{sp}?day={next}\">{next} &rarr;</a> · {n} slots, AC in {i:.3} kWh, AC out {o:.3} kWh <span style=\"color:#2a6fb0\">■ AC in</span> <span style=\"color:#e08a1e\">■ AC out</span></p>\n{svg}",
        day = v.day,
        n = v.slots.len(),
        i = in_kwh as f64 / 1000.0,
        o = out_kwh as f64 / 1000.0,
        svg = curve::svg(&v.slots, day_start(v.day), minutes)
    );
    // OPS-07: the controls only for who may act.
    if session.role == Role::Operator {
        let _ = writeln!(
            body,
            "<h2>Block or reconnect (OPS-07)</h2>\n<form method=\"post\" action=\"/ops/points/{sp}\" id=\"act\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n<label>Reason <input name=\"reason\" size=\"60\" maxlength=\"{max}\" required></label>\n<button type=\"submit\" name=\"block\" value=\"1\">Block</button>\n<button type=\"submit\" name=\"reconnect\" value=\"1\">Reconnect</button>\n</form>",
            csrf = esc(session.csrf()),
            max = headend::blocks::TEXT_MAX
        );
    }
    let mut history = String::from("<h2>Blocked periods</h2>\n<table id=\"blocks\"><tr><th>from</th><th>to</th><th>reason</th><th>by</th></tr>\n");
    for b in v.periods.iter().rev() {
        let _ = writeln!(
            history,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            jst(b.from),
            b.to.map_or_else(|| "(blocked)".to_owned(), jst),
            esc(&b.reason),
            esc(&b.by)
        );
    }
    history.push_str("</table>");
    body.push_str(&history);
    let _ = writeln!(
        body,
        "\n<h2>Latest events of its terminal</h2>\n{}",
        events_table(&v.events)
    );
    page(&format!("Point {sp}"), Some(session), &body)
}

fn point_of(text: &str) -> Option<SupplyPoint> {
    text.parse().ok()
}

/// `GET /ops/points/<supply point>?day=YYYY-MM-DD`.
pub async fn point<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Path(point_text): Path<String>,
    Query(day): Query<Day>,
) -> Response {
    let session = match session_or_login(portal.as_ref(), &headers) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let day = match day
        .day
        .as_deref()
        .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d"))
    {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(_)) => return text(StatusCode::BAD_REQUEST, "day= is YYYY-MM-DD", &session.user),
    };
    show(
        portal.as_ref(),
        &session,
        &point_text,
        day,
        StatusCode::OK,
        "",
    )
}

fn show<P: OpsPortal>(
    portal: &P,
    session: &Session,
    point_text: &str,
    day: Option<NaiveDate>,
    status: StatusCode,
    message: &str,
) -> Response {
    let Some(sp) = point_of(point_text) else {
        return text(StatusCode::NOT_FOUND, "no such point", &session.user);
    };
    match view(portal, &sp, day) {
        Ok(Some(v)) => audited(respond(status, render(&v, session, message)), &session.user),
        Ok(None) => text(StatusCode::NOT_FOUND, "no such point", &session.user),
        Err(e) => failed("the point", &e, &session.user),
    }
}

/// The block / reconnect form's fields: the button pressed is the one present.
#[derive(Debug, serde::Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    block: Option<String>,
    reconnect: Option<String>,
}

/// `POST /ops/points/<supply point>`: block or reconnect (OPS-07), recorded in the head
/// end's store with the reason, the time and the user; the running head end acts on it.
/// A viewer, a missing or wrong CSRF token: 403. Back to the point's page.
pub async fn act<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Path(point_text): Path<String>,
    Form(form): Form<ActForm>,
) -> Response {
    let session = match acting(portal.as_ref(), &headers, &form.csrf) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let action = match (form.block.is_some(), form.reconnect.is_some()) {
        (true, false) => BlockAction::Block,
        (false, true) => BlockAction::Reconnect,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "press block or reconnect",
                &session.user,
            )
        }
    };
    let Some(point) = point_of(&point_text) else {
        return text(StatusCode::NOT_FOUND, "no such point", &session.user);
    };
    let record = BlockRecord {
        point,
        action,
        at: Utc::now(),
        reason: form.reason.trim().to_owned(),
        by: session.user.clone(),
    };
    let kept = portal
        .ops()
        .headend
        .lock()
        .map(|mut h| h.record_block(&record));
    match kept {
        Ok(Ok(())) => {
            tracing::info!(point = %record.point, action = action.name(), reason = %record.reason, by = %record.by, "OPS-07");
            see_other(&format!("/ops/points/{}", record.point), &session.user)
        }
        Ok(Err(headend::storage::HeadendError::Block(e))) => {
            let status = match e {
                BlockError::Text(_) => StatusCode::BAD_REQUEST,
                BlockError::Unknown(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            show(
                portal.as_ref(),
                &session,
                &point_text,
                None,
                status,
                &e.to_string(),
            )
        }
        Ok(Err(e)) => failed("the head end's store", &e, &session.user),
        Err(_) => failed("the head end's store", &"lock poisoned", &session.user),
    }
}
