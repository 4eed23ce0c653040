//! The answers every operations page gives, one way: to the login without a session, a
//! page or a short text naming its user for the audit ([`AuditUser`]), a store that
//! failed; and the one way a time is shown (JST).

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use edi::message::JST;

use super::html::{page, respond};
use super::session::Session;
use super::{AuditUser, OpsPortal};

/// The search of a list (`?q=`).
#[derive(Debug, serde::Deserialize)]
pub struct Search {
    /// The text looked for.
    pub q: Option<String>,
}

/// To the login.
#[must_use]
pub fn to_login() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/ops/login")]).into_response()
}

/// The session of a request, or the answer that sends it to the login.
///
/// # Errors
/// [`to_login`] when the request has no open session.
pub fn session_or_login<P: OpsPortal>(
    portal: &P,
    headers: &HeaderMap,
) -> Result<Session, Response> {
    portal.ops().sessions.of(headers).ok_or_else(to_login)
}

/// The session of a form that acts: an operator's, carrying the session's CSRF token
/// (`csrf`). To the login without a session; 403 for a viewer or a token not the
/// session's (OPS-07: a viewer acts on nothing, another site cannot forge a form).
///
/// # Errors
/// The answer refusing the form.
pub fn acting<P: OpsPortal>(
    portal: &P,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Session, Response> {
    let session = session_or_login(portal, headers)?;
    if session.role != crate::users::Role::Operator {
        tracing::warn!(user = %session.user, "ops: a viewer's form refused");
        return Err(text(
            StatusCode::FORBIDDEN,
            "a viewer acts on nothing",
            &session.user,
        ));
    }
    if !session.csrf_matches(csrf) {
        tracing::warn!(user = %session.user, "ops: a form without the session's token refused");
        return Err(text(
            StatusCode::FORBIDDEN,
            "the form's token is not this session's",
            &session.user,
        ));
    }
    Ok(session)
}

/// `response` with its user named for the audit.
#[must_use]
pub fn audited(mut response: Response, user: &str) -> Response {
    response.extensions_mut().insert(AuditUser(user.to_owned()));
    response
}

/// A 303 to `location`.
#[must_use]
pub fn see_other(location: &str, user: &str) -> Response {
    audited(
        (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, location.to_owned())],
        )
            .into_response(),
        user,
    )
}

/// `status` with a short text.
#[must_use]
pub fn text(status: StatusCode, text: &str, user: &str) -> Response {
    audited((status, format!("{text}\n")).into_response(), user)
}

/// A page for `session`'s user.
#[must_use]
pub fn html(status: StatusCode, title: &str, session: &Session, body: &str) -> Response {
    audited(
        respond(status, page(title, Some(session), body)),
        &session.user,
    )
}

/// A 500 for `what` that could not be read, logged.
#[must_use]
pub fn failed(what: &str, e: &dyn std::fmt::Display, user: &str) -> Response {
    tracing::error!(error = %e, "ops: {what} unreadable");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        &format!("{what} unreadable"),
        user,
    )
}

/// A time as the pages show it: JST to the second.
#[must_use]
pub fn jst(t: DateTime<Utc>) -> String {
    t.with_timezone(&JST)
        .format("%Y-%m-%d %H:%M:%S JST")
        .to_string()
}
