//! `/ops/incidents`, `/ops/risks`, `/ops/vulnerabilities` (OPS-01/08, OPS-02, OPS-04):
//! each register's records as they stand now (risks past their review date flagged
//! `data-overdue="true"`; an incident's receiving-point retailer named as its contact,
//! OPS-01), one record's page with every version (who, when, what changed), and for an
//! operator the forms that add a record or its next version, with the session's CSRF
//! token; the form says which version it edits, so an edit made meanwhile by somebody
//! else is not overwritten (409).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use chrono::Utc;

use super::html::{self, esc};
use super::reply::{acting, failed, html, jst, see_other, text, to_login};
use super::session::Session;
use super::OpsPortal;
use crate::records::{current, fields_of, overdue, Input, OpsRecord, RecordKind};
use crate::users::Role;
use crate::PortalError;

/// The retailer of the registered point `point` (an incident's contact, OPS-01), if it
/// is registered.
fn contact<P: OpsPortal>(portal: &P, point: &str) -> Result<Option<String>, String> {
    let Ok(point) = point.parse::<mdms::SupplyPoint>() else {
        return Ok(None);
    };
    let h = portal
        .ops()
        .headend
        .lock()
        .map_err(|_| "lock poisoned".to_owned())?;
    Ok(h.point(&point)
        .map_err(|e| e.to_string())?
        .map(|p| p.retailer.as_str().to_owned()))
}

/// The contact of a record, if it names a registered point.
fn contact_of<P: OpsPortal>(portal: &P, record: &OpsRecord) -> Result<Option<String>, String> {
    record
        .fields
        .get("point")
        .map_or(Ok(None), |p| contact(portal, p))
}

fn today() -> chrono::NaiveDate {
    crate::rounds::local_day(Utc::now())
}

/// The form's inputs for `kind`, filled with `values`.
fn inputs(kind: RecordKind, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for f in kind.fields() {
        let v = values.get(f.name).map_or("", String::as_str);
        let required = if f.required { " required" } else { "" };
        let control = match f.input {
            Input::Line => format!("<input name=\"{n}\" value=\"{v}\" maxlength=\"200\" size=\"60\"{required}>", n = f.name, v = esc(v)),
            Input::Point => format!("<input name=\"{n}\" value=\"{v}\" pattern=\"[0-9]{{22}}\" size=\"24\"{required}>", n = f.name, v = esc(v)),
            Input::Date => format!("<input type=\"date\" name=\"{n}\" value=\"{v}\"{required}>", n = f.name, v = esc(v)),
            Input::Text => format!("<textarea name=\"{n}\" rows=\"3\" cols=\"70\" maxlength=\"4000\"{required}>{v}</textarea>", n = f.name, v = esc(v)),
            Input::Choice(options) => {
                let mut s = format!("<select name=\"{n}\"{required}>", n = f.name);
                if !f.required {
                    s.push_str("<option value=\"\"></option>");
                }
                for o in options {
                    let selected = if *o == v { " selected" } else { "" };
                    let _ = write!(s, "<option{selected}>{o}</option>");
                }
                s.push_str("</select>");
                s
            }
        };
        let _ = writeln!(
            out,
            "<tr><th><label>{}{}</label></th><td>{control}</td></tr>",
            esc(f.label),
            if f.required { " *" } else { "" }
        );
    }
    out
}

fn form(
    kind: RecordKind,
    action: &str,
    session: &Session,
    values: &BTreeMap<String, String>,
    version: Option<u32>,
    button: &str,
) -> String {
    let version = version.map_or_else(String::new, |v| {
        format!("<input type=\"hidden\" name=\"version\" value=\"{v}\">")
    });
    format!(
        "<form method=\"post\" action=\"{action}\" id=\"record-form\">\n<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{version}\n<table>\n{rows}</table>\n<button type=\"submit\" name=\"save\">{button}</button>\n</form>",
        csrf = esc(session.csrf()),
        rows = inputs(kind, values)
    )
}

/// `GET /ops/<register>`.
pub async fn list<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    Extension(kind): Extension<RecordKind>,
    headers: HeaderMap,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return to_login();
    };
    show_list(
        portal.as_ref(),
        kind,
        &session,
        StatusCode::OK,
        "",
        &BTreeMap::new(),
    )
}

fn show_list<P: OpsPortal>(
    portal: &P,
    kind: RecordKind,
    session: &Session,
    status: StatusCode,
    message: &str,
    values: &BTreeMap<String, String>,
) -> Response {
    let versions = match portal.records(kind) {
        Ok(v) => v,
        Err(e) => return failed("the register", &e, &session.user),
    };
    let listed: Vec<_> = kind.fields().iter().filter(|f| f.listed).collect();
    let mut body = html::message(message);
    body.push_str("<table id=\"records\">\n<thead><tr><th>No.</th>");
    for f in &listed {
        let _ = write!(body, "<th>{}</th>", esc(f.label));
    }
    match kind {
        RecordKind::Incident => body.push_str("<th>contact (receiving-point retailer)</th>"),
        RecordKind::Risk => body.push_str("<th>review</th>"),
        RecordKind::Vulnerability => {}
    }
    body.push_str("<th>last change</th></tr></thead>\n<tbody>\n");
    let today = today();
    for r in current(&versions) {
        let late = overdue(r, today);
        let flag = if kind == RecordKind::Risk {
            format!(" data-overdue=\"{late}\"")
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr data-record=\"{id}\"{flag}><td><a href=\"/ops/{path}/{id}\">{id}</a></td>",
            id = r.id,
            path = kind.path()
        );
        for f in &listed {
            let _ = write!(
                body,
                "<td>{}</td>",
                esc(r.fields.get(f.name).map_or("", String::as_str))
            );
        }
        match kind {
            RecordKind::Incident => {
                let contact = match contact_of(portal, r) {
                    Ok(c) => c.unwrap_or_else(|| "-".to_owned()),
                    Err(e) => return failed("the registry", &e, &session.user),
                };
                let _ = write!(body, "<td class=\"contact\">{}</td>", esc(&contact));
            }
            RecordKind::Risk => body.push_str(if late {
                "<td class=\"blocked\">overdue</td>"
            } else {
                "<td>due later</td>"
            }),
            RecordKind::Vulnerability => {}
        }
        let _ = writeln!(
            body,
            "<td>v{} {} by {}</td></tr>",
            r.version,
            jst(r.at),
            esc(&r.by)
        );
    }
    body.push_str("</tbody>\n</table>\n");
    if session.role == Role::Operator {
        let _ = write!(
            body,
            "<h2>New</h2>\n{}",
            form(
                kind,
                &format!("/ops/{}", kind.path()),
                session,
                values,
                None,
                "Add"
            )
        );
    }
    html(status, kind.title(), session, &body)
}

/// A form's fields as sent.
type Fields = Vec<(String, String)>;

fn value<'a>(form: &'a Fields, name: &str) -> &'a str {
    form.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The form's record fields, checked; an incident's point must be registered.
fn checked<P: OpsPortal>(
    portal: &P,
    kind: RecordKind,
    form: &Fields,
) -> Result<BTreeMap<String, String>, String> {
    let fields = fields_of(kind, form).map_err(|e| e.to_string())?;
    if let Some(point) = fields.get("point") {
        if contact(portal, point)?.is_none() {
            return Err(format!("supply point concerned: {point} is not registered"));
        }
    }
    Ok(fields)
}

/// `POST /ops/<register>`: a new record.
pub async fn create<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    Extension(kind): Extension<RecordKind>,
    headers: HeaderMap,
    Form(form): Form<Fields>,
) -> Response {
    let session = match acting(portal.as_ref(), &headers, value(&form, "csrf")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let fields = match checked(portal.as_ref(), kind, &form) {
        Ok(f) => f,
        Err(why) => {
            let given = form.into_iter().filter(|(n, _)| n != "csrf").collect();
            return show_list(
                portal.as_ref(),
                kind,
                &session,
                StatusCode::BAD_REQUEST,
                &why,
                &given,
            );
        }
    };
    // The next number: the store refuses it if another was added meanwhile.
    let id = match portal.records(kind) {
        Ok(v) => v.iter().map(|r| r.id).max().unwrap_or(0) + 1,
        Err(e) => return failed("the register", &e, &session.user),
    };
    keep(
        portal.as_ref(),
        &session,
        OpsRecord {
            kind,
            id,
            version: 1,
            at: Utc::now(),
            by: session.user.clone(),
            fields,
        },
    )
}

fn keep<P: OpsPortal>(portal: &P, session: &Session, record: OpsRecord) -> Response {
    match portal.add_record(&record) {
        Ok(()) => {
            tracing::info!(register = record.kind.name(), id = record.id, version = record.version, by = %record.by, "ops: record kept");
            see_other(
                &format!("/ops/{}/{}", record.kind.path(), record.id),
                &session.user,
            )
        }
        Err(PortalError::Refused(why)) => text(
            StatusCode::CONFLICT,
            &format!("changed meanwhile, reload: {why}"),
            &session.user,
        ),
        Err(e) => failed("the register", &e, &session.user),
    }
}

/// `GET /ops/<register>/<number>`.
pub async fn show<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    Extension(kind): Extension<RecordKind>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return to_login();
    };
    show_record(
        portal.as_ref(),
        kind,
        &session,
        &id,
        StatusCode::OK,
        "",
        None,
    )
}

fn show_record<P: OpsPortal>(
    portal: &P,
    kind: RecordKind,
    session: &Session,
    id: &str,
    status: StatusCode,
    message: &str,
    given: Option<BTreeMap<String, String>>,
) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return text(StatusCode::NOT_FOUND, "no such record", &session.user);
    };
    let versions: Vec<OpsRecord> = match portal.records(kind) {
        Ok(v) => v.into_iter().filter(|r| r.id == id).collect(),
        Err(e) => return failed("the register", &e, &session.user),
    };
    let Some(now) = versions.last() else {
        return text(StatusCode::NOT_FOUND, "no such record", &session.user);
    };
    let mut body = html::message(message);
    let _ = writeln!(
        body,
        "<table id=\"record\" data-record=\"{id}\" data-version=\"{}\">",
        now.version
    );
    for f in kind.fields() {
        let _ = writeln!(
            body,
            "<tr><th>{}</th><td data-field=\"{}\">{}</td></tr>",
            esc(f.label),
            f.name,
            esc(now.fields.get(f.name).map_or("", String::as_str)).replace('\n', "<br>")
        );
    }
    if kind == RecordKind::Incident {
        let contact = match contact_of(portal, now) {
            Ok(c) => c,
            Err(e) => return failed("the registry", &e, &session.user),
        };
        let _ = writeln!(body, "<tr><th>contact (receiving-point retailer, OPS-01)</th><td class=\"contact\">{}</td></tr>", esc(contact.as_deref().unwrap_or("-")));
    }
    if kind == RecordKind::Risk {
        let late = overdue(now, today());
        let _ = writeln!(
            body,
            "<tr><th>review</th><td data-overdue=\"{late}\">{}</td></tr>",
            if late {
                "<span class=\"blocked\">overdue</span>"
            } else {
                "due later"
            }
        );
    }
    body.push_str("</table>\n<h2>Versions</h2>\n<table id=\"versions\"><tr><th>version</th><th>kept</th><th>by</th><th>changed</th></tr>\n");
    let mut before: Option<&OpsRecord> = None;
    for v in &versions {
        let changed: Vec<&str> = kind
            .fields()
            .iter()
            .filter(|f| before.map(|b| b.fields.get(f.name)) != Some(v.fields.get(f.name)))
            .filter(|f| before.is_some() || v.fields.contains_key(f.name))
            .map(|f| f.label)
            .collect();
        let _ = writeln!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            v.version,
            jst(v.at),
            esc(&v.by),
            esc(&changed.join(", "))
        );
        before = Some(v);
    }
    body.push_str("</table>\n");
    if session.role == Role::Operator {
        let values = given.unwrap_or_else(|| now.fields.clone());
        let _ = write!(
            body,
            "<h2>Edit (a new version)</h2>\n{}",
            form(
                kind,
                &format!("/ops/{}/{id}", kind.path()),
                session,
                &values,
                Some(now.version),
                "Save"
            )
        );
    }
    let title = format!(
        "{} No. {id}: {}",
        kind.title(),
        now.fields.get("title").map_or("", String::as_str)
    );
    html(status, &title, session, &body)
}

/// `POST /ops/<register>/<number>`: its next version.
pub async fn update<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    Extension(kind): Extension<RecordKind>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Fields>,
) -> Response {
    let session = match acting(portal.as_ref(), &headers, value(&form, "csrf")) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(number) = id.parse::<u64>() else {
        return text(StatusCode::NOT_FOUND, "no such record", &session.user);
    };
    // An edit of a version kept (from 1): never a way to add a record.
    let Some(edited) = value(&form, "version")
        .parse::<u32>()
        .ok()
        .filter(|v| *v >= 1)
    else {
        return text(
            StatusCode::BAD_REQUEST,
            "the form names no version",
            &session.user,
        );
    };
    let fields = match checked(portal.as_ref(), kind, &form) {
        Ok(f) => f,
        Err(why) => {
            let given = form
                .into_iter()
                .filter(|(n, _)| n != "csrf" && n != "version")
                .collect();
            return show_record(
                portal.as_ref(),
                kind,
                &session,
                &id,
                StatusCode::BAD_REQUEST,
                &why,
                Some(given),
            );
        }
    };
    // The version after the one the form showed: the store refuses it if that is taken.
    keep(
        portal.as_ref(),
        &session,
        OpsRecord {
            kind,
            id: number,
            version: edited.saturating_add(1),
            at: Utc::now(),
            by: session.user.clone(),
            fields,
        },
    )
}
