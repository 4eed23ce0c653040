//! `/ops/logs` (OPS-06: logs reviewed regularly): the terminal logs the head end
//! collected, each with its verdict against its head (`data-verdict="intact|broken"`)
//! and its records on `/ops/logs/<number>`; and the portal's own audit, its latest
//! entries (who — a retailer's certificate or `ops:<user>` —, what, when, the answer).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use headend::collected::Verdict;
use headend::registry::eui64_text;

use super::html::esc;
use super::reply::{failed, html, jst, to_login};
use super::OpsPortal;

/// How many of the portal's latest audit entries the page shows.
const AUDIT_SHOWN: usize = 500;
/// How many records of a collected log its page shows.
const RECORDS_SHOWN: usize = 2_000;

/// `GET /ops/logs`.
pub async fn list<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return to_login();
    };
    let logs = match portal.ops().headend.lock().map(|h| h.collected_logs()) {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return failed("the collected logs", &e, &session.user),
        Err(_) => return failed("the collected logs", &"lock poisoned", &session.user),
    };
    let audit = match portal.audit(AUDIT_SHOWN) {
        Ok(a) => a,
        Err(e) => return failed("the audit", &e, &session.user),
    };
    let mut body = String::from(
        "<h2>Terminal logs collected by the head end</h2>\n<p>Each verified against its head when collected (<code>iotroute headend logs collect</code>) and kept as collected.</p>\n<table id=\"logs\">\n<tr><th>No.</th><th>terminal</th><th>file</th><th>collected</th><th>by</th><th>records</th><th>verdict</th></tr>\n",
    );
    for l in logs.iter().rev() {
        let (class, verdict) = match &l.verdict {
            Verdict::Intact => ("intact", "intact".to_owned()),
            Verdict::Broken(why) => (
                "broken",
                format!("<span class=\"blocked\">broken</span>: {}", esc(why)),
            ),
        };
        let _ = writeln!(
            body,
            "<tr data-log=\"{seq}\" data-verdict=\"{class}\"><td><a href=\"/ops/logs/{seq}\">{seq}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}..{}</td><td>{verdict}</td></tr>",
            eui64_text(l.terminal),
            esc(&l.name),
            jst(l.collected_at),
            esc(&l.by),
            l.first_seq,
            l.last_seq,
            seq = l.seq,
        );
    }
    let _ = write!(
        body,
        "</table>\n<h2>The portal's audit (the latest {AUDIT_SHOWN}, newest first)</h2>\n<table id=\"audit\">\n<tr><th>time</th><th>who</th><th>certificate</th><th>request</th><th>answer</th></tr>\n"
    );
    for a in audit.iter().rev() {
        let _ = writeln!(
            body,
            "<tr data-result=\"{r}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{r}</td></tr>",
            jst(a.at),
            esc(&a.who),
            esc(a.serial.as_deref().unwrap_or("-")),
            esc(&a.what),
            r = a.result,
        );
    }
    body.push_str("</table>");
    html(StatusCode::OK, "Log review (OPS-06)", &session, &body)
}

/// `GET /ops/logs/<number>`: a collected log's records, as collected.
pub async fn show<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Path(seq): Path<String>,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return to_login();
    };
    let Ok(seq) = seq.parse::<u64>() else {
        return html(StatusCode::NOT_FOUND, "No such log", &session, "");
    };
    let read = portal.ops().headend.lock().map(|h| {
        let log = h.collected_logs()?.into_iter().find(|l| l.seq == seq);
        Ok::<_, headend::storage::HeadendError>((log, h.log_content(seq)?))
    });
    let (log, content) = match read {
        Ok(Ok((Some(l), Some(c)))) => (l, c),
        Ok(Ok(_)) => return html(StatusCode::NOT_FOUND, "No such log", &session, ""),
        Ok(Err(e)) => return failed("the collected log", &e, &session.user),
        Err(_) => return failed("the collected log", &"lock poisoned", &session.user),
    };
    let text = String::from_utf8_lossy(&content);
    let lines: Vec<&str> = text.lines().collect();
    let mut body = format!(
        "<p>Terminal {}, {} collected {} by {}: <span id=\"verdict\">{}</span>. {} records{}.</p>\n<pre id=\"records\">",
        eui64_text(log.terminal),
        esc(&log.name),
        jst(log.collected_at),
        esc(&log.by),
        esc(&log.verdict.text()),
        lines.len(),
        if lines.len() > RECORDS_SHOWN { format!(", the first {RECORDS_SHOWN} shown") } else { String::new() }
    );
    for line in lines.iter().take(RECORDS_SHOWN) {
        body.push_str(&esc(line));
        body.push('\n');
    }
    body.push_str("</pre>");
    html(
        StatusCode::OK,
        &format!("Collected log No. {seq}"),
        &session,
        &body,
    )
}
