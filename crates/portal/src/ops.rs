//! The operations pages (`/ops`) for the utility's people, being built (issue 13): the
//! login (`/ops/login`, fields `user` and `password`, a session cookie that is
//! `Secure`, `HttpOnly`, `SameSite=Strict`, eight hours) and the device points
//! (`/ops/points`, one row per point with `data-point="<supply point>"`, searched by
//! point or terminal with `?q=`). Not yet: a point's page with its curve, block and
//! reconnect forms (with CSRF tokens), events, incidents, risks, vulnerability notes,
//! log review.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::store::PortalStore;
use crate::users::Role;

/// How long a session lasts.
pub const SESSION: Duration = Duration::from_secs(8 * 3600);
/// The session cookie's name.
pub const COOKIE: &str = "iotroute_session";

/// A device point as the pages list it (from the head end's registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointRow {
    /// The 22-digit supply point.
    pub supply_point: String,
    /// The terminal's EUI-64, hex.
    pub terminal: String,
    /// The retailer's code.
    pub retailer: String,
}

/// Where the pages find the registered points: the head end's registry, read at each
/// request (the portal writes nothing of it).
pub trait Registry: Send + Sync {
    /// Every registered point.
    ///
    /// # Errors
    /// The registry's, as text.
    fn points(&self) -> Result<Vec<PointRow>, String>;
}

/// A logged-in user.
#[derive(Debug, Clone)]
struct Session {
    user: String,
    role: Role,
    until: Instant,
}

/// The sessions open, by their random token (in memory: a restart logs everybody out).
#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

impl Sessions {
    fn open(&self, user: &str, role: Role) -> Option<String> {
        let mut token = [0u8; 32];
        getrandom::getrandom(&mut token).ok()?;
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = self.0.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, s| s.until > now);
        map.insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                role,
                until: now + SESSION,
            },
        );
        Some(token)
    }

    /// The session a request's cookie names, if open.
    fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let token = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v.to_owned())?;
        let map = self.0.lock().ok()?;
        map.get(&token)
            .filter(|s| s.until > Instant::now())
            .cloned()
    }
}

/// What the pages need beside the store: the sessions and the registry.
pub struct Ops {
    /// Open sessions.
    pub sessions: Sessions,
    /// The registered points.
    pub registry: Box<dyn Registry>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

/// Text for HTML: the five characters that matter escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} — iotroute</title></head>\n<body>\n<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = esc(title)
    )
}

fn login_form(message: &str) -> String {
    page(
        "Operations: log in",
        &format!(
            "<p>{}</p>\n<form method=\"post\" action=\"/ops/login\">\n<label>User <input name=\"user\" autocomplete=\"username\"></label>\n<label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n<button type=\"submit\">Log in</button>\n</form>",
            esc(message)
        ),
    )
}

/// `GET /ops/login`.
pub async fn login_page() -> Html<String> {
    Html(login_form(""))
}

/// The login form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

/// What the pages serve from.
pub trait OpsPortal: Send + Sync {
    /// The pages' parts.
    fn ops(&self) -> &Ops;
    /// The user's role and password check.
    fn check(&self, user: &str, password: &str) -> Option<Role>;
}

impl<S: PortalStore + Send> OpsPortal for crate::server::Portal<S> {
    fn ops(&self) -> &Ops {
        &self.ops
    }

    fn check(&self, user: &str, password: &str) -> Option<Role> {
        let users = self.store.lock().ok()?.users().ok()?;
        users
            .into_iter()
            .find(|u| u.name == user)
            .filter(|u| u.verify(password.as_bytes()))
            .map(|u| u.role)
    }
}

/// `POST /ops/login`: a session for a user whose password is right; 401 otherwise, the
/// same answer for an unknown user and a wrong password.
pub async fn login<P: OpsPortal + 'static>(
    State(portal): State<std::sync::Arc<P>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let Some(role) = portal.check(&form.user, &form.password) else {
        tracing::warn!(user = %form.user.chars().take(64).collect::<String>(), "ops: login refused");
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_form("User or password not right.")),
        )
            .into_response();
    };
    let Some(token) = portal.ops().sessions.open(&form.user, role) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no session\n").into_response();
    };
    tracing::info!(user = %form.user, role = role.as_str(), "ops: logged in");
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ops/points".to_owned()),
            (
                header::SET_COOKIE,
                format!(
                    "{COOKIE}={token}; Path=/ops; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
                    SESSION.as_secs()
                ),
            ),
        ],
    )
        .into_response()
}

/// The search of `/ops/points`.
#[derive(Debug, serde::Deserialize)]
pub struct Search {
    q: Option<String>,
}

/// `GET /ops/points`: every registered point, or those whose supply point or terminal
/// holds `q`; to the login without a session.
pub async fn points<P: OpsPortal + 'static>(
    State(portal): State<std::sync::Arc<P>>,
    headers: HeaderMap,
    Query(search): Query<Search>,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/ops/login")]).into_response();
    };
    let rows = match portal.ops().registry.points() {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "ops: registry unreadable");
            return (StatusCode::INTERNAL_SERVER_ERROR, "registry unreadable\n").into_response();
        }
    };
    let q = search.q.unwrap_or_default();
    let needle = q.to_ascii_lowercase();
    let mut table = String::from(
        "<table>\n<thead><tr><th>supply point</th><th>terminal</th><th>retailer</th></tr></thead>\n<tbody>\n",
    );
    for p in rows.iter().filter(|p| {
        needle.is_empty()
            || p.supply_point.contains(&needle)
            || p.terminal.to_ascii_lowercase().contains(&needle)
    }) {
        table.push_str(&format!(
            "<tr data-point=\"{sp}\"><td>{sp}</td><td>{t}</td><td>{r}</td></tr>\n",
            sp = esc(&p.supply_point),
            t = esc(&p.terminal),
            r = esc(&p.retailer)
        ));
    }
    table.push_str("</tbody>\n</table>");
    let body = format!(
        "<p>{} ({})</p>\n<form method=\"get\" action=\"/ops/points\"><label>Point or terminal <input name=\"q\" value=\"{}\"></label><button type=\"submit\">Search</button></form>\n{table}",
        esc(&session.user),
        session.role.as_str(),
        esc(&q)
    );
    Html(page("Device points", &body)).into_response()
}
