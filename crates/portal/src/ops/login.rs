//! `/ops/login` and `/ops/logout`.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::html::{esc, page, respond};
use super::session::{cookie, cookie_cleared};
use super::{AuditUser, OpsPortal};

fn form(message: &str) -> String {
    page(
        "Operations: log in",
        None,
        &format!(
            "<p class=\"message\">{}</p>\n<form method=\"post\" action=\"/ops/login\">\n<label>User <input name=\"user\" autocomplete=\"username\"></label>\n<label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n<button type=\"submit\" name=\"login\">Log in</button>\n</form>",
            esc(message)
        ),
    )
}

/// `GET /ops/login`.
pub async fn show() -> Response {
    respond(StatusCode::OK, form(""))
}

/// The login form's fields.
#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
}

/// `POST /ops/login`: a session for a user whose password is right; 401 otherwise, the
/// same answer for an unknown user and a wrong password.
pub async fn login<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    Form(login): Form<LoginForm>,
) -> Response {
    let name: String = login.user.chars().take(64).collect();
    let Some(role) = portal.check(&login.user, &login.password) else {
        tracing::warn!(user = %name, "ops: login refused");
        let mut r = respond(
            StatusCode::UNAUTHORIZED,
            form("User or password not right."),
        );
        r.extensions_mut().insert(AuditUser(name));
        return r;
    };
    let Some(token) = portal.ops().sessions.open(&login.user, role) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no session\n").into_response();
    };
    tracing::info!(user = %name, role = role.as_str(), "ops: logged in");
    let mut r = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ops/points".to_owned()),
            (header::SET_COOKIE, cookie(&token)),
        ],
    )
        .into_response();
    r.extensions_mut().insert(AuditUser(name));
    r
}

/// The log-out form's field.
#[derive(Debug, serde::Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /ops/logout`: the session ended (with its CSRF token: another site cannot log
/// a user out either), back to the login.
pub async fn logout<P: OpsPortal + 'static>(
    State(portal): State<Arc<P>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(session) = portal.ops().sessions.of(&headers) else {
        return super::reply::to_login();
    };
    if !session.csrf_matches(&form.csrf) {
        tracing::warn!(user = %session.user, "ops: log-out without the session's token refused");
        return (
            StatusCode::FORBIDDEN,
            "the form's token is not this session's\n",
        )
            .into_response();
    }
    portal.ops().sessions.close(&headers);
    tracing::info!(user = %session.user, "ops: logged out");
    let mut r = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ops/login".to_owned()),
            (header::SET_COOKIE, cookie_cleared()),
        ],
    )
        .into_response();
    r.extensions_mut().insert(AuditUser(session.user));
    r
}
