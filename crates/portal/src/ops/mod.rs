//! The operations pages (`/ops`) for the utility's people (issue 13).
//!
//! - `/ops/login` (fields `user`, `password`) opens a session ([`session`]); `/ops/logout`
//!   ends it;
//! - `/ops/points`: one row per device point, `data-point="<supply point>"`, searched by
//!   point or terminal with `?q=`;
//! - `/ops/points/<supply point>?day=YYYY-MM-DD`: the point's registry entry, block state,
//!   last reading and quality, the day's load curve ([`curve`]) and the block / reconnect
//!   form (buttons `block` and `reconnect`, field `reason`), which records the action in
//!   the head end's store: the running head end acts on it (OPS-07), the page shows it.
//!
//! A viewer sees no control and a form posted from a viewer's session is refused (403);
//! every acting form carries the session's CSRF token and is refused without it. Each
//! answer names its user for the audit ([`AuditUser`]).
//! - `/ops/incidents`, `/ops/risks`, `/ops/vulnerabilities` ([`registers`]): the
//!   registers of OPS-01/08, OPS-02 and OPS-04 ([`crate::records`]).
//!
//! - `/ops/events` ([`events`]): the terminals' events and link states the head end
//!   collected (OPS-06); a point's page shows its terminal's latest, its link and the
//!   LED inferred from them ([`link`]).
//!
//! - `/ops/logs` ([`review`]): the terminal logs the head end collected with their
//!   verdicts, and the portal's audit (OPS-06).

mod curve;
mod events;
mod html;
mod link;
mod login;
mod points;
mod registers;
mod reply;
mod review;
pub mod session;

use std::sync::{Arc, Mutex};

use axum::routing::{get, post};
use axum::{Extension, Router};
use headend::storage::HeadendStore;
use mdms::MdmsStore;

pub use session::{Session, Sessions, COOKIE, SESSION};

use crate::records::{OpsRecord, RecordKind};
use crate::store::{AuditEntry, PortalStore};
use crate::users::Role;
use crate::PortalError;

/// What the pages read and act on beside the portal's own store.
pub struct Ops {
    /// Open sessions.
    pub sessions: Sessions,
    /// The head end's store: the registry, block records (written by the block form).
    pub headend: Mutex<Box<dyn HeadendStore + Send>>,
    /// The MDMS's store: the slots (read only).
    pub mdms: Mutex<Box<dyn MdmsStore + Send>>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl Ops {
    /// The pages over `headend` and `mdms`, nobody logged in.
    #[must_use]
    pub fn new(headend: Box<dyn HeadendStore + Send>, mdms: Box<dyn MdmsStore + Send>) -> Self {
        Self {
            sessions: Sessions::default(),
            headend: Mutex::new(headend),
            mdms: Mutex::new(mdms),
        }
    }
}

/// The user an answer was given to, for the audit (a response extension).
#[derive(Debug, Clone)]
pub struct AuditUser(pub String);

/// What the pages serve from.
pub trait OpsPortal: Send + Sync {
    /// The pages' parts.
    fn ops(&self) -> &Ops;
    /// The role of `user` if `password` is theirs.
    fn check(&self, user: &str, password: &str) -> Option<Role>;
    /// Keep a version of a register's record.
    ///
    /// # Errors
    /// The store's.
    fn add_record(&self, record: &OpsRecord) -> Result<(), PortalError>;
    /// Every version of a register's records.
    ///
    /// # Errors
    /// The store's.
    fn records(&self, kind: RecordKind) -> Result<Vec<OpsRecord>, PortalError>;
    /// The portal's `latest` audit entries, oldest first.
    ///
    /// # Errors
    /// The store's.
    fn audit(&self, latest: usize) -> Result<Vec<AuditEntry>, PortalError>;
}

impl<S: PortalStore + Send> OpsPortal for crate::server::Portal<S> {
    fn ops(&self) -> &Ops {
        &self.ops
    }

    fn check(&self, user: &str, password: &str) -> Option<Role> {
        let found = self.store.lock().ok()?.user(user).ok()??;
        found.verify(password.as_bytes()).then_some(found.role)
    }

    fn add_record(&self, record: &OpsRecord) -> Result<(), PortalError> {
        self.store
            .lock()
            .map_err(|_| PortalError::Store("lock poisoned".to_owned()))?
            .add_record(record)
    }

    fn records(&self, kind: RecordKind) -> Result<Vec<OpsRecord>, PortalError> {
        self.store
            .lock()
            .map_err(|_| PortalError::Store("lock poisoned".to_owned()))?
            .records(kind)
    }

    fn audit(&self, latest: usize) -> Result<Vec<AuditEntry>, PortalError> {
        self.store
            .lock()
            .map_err(|_| PortalError::Store("lock poisoned".to_owned()))?
            .audit(Some(latest))
    }
}

/// A form posted from another site is refused (403) before any handler sees it: the
/// browser names the page's origin in `Origin`, which must be this portal's
/// (`https://<Host>`). Beside the session's CSRF token and the `SameSite=Strict` cookie,
/// this also covers the login form, which has no session yet. A client that sends no
/// `Origin` (a script, curl) is not a browser carrying someone's cookie.
async fn same_origin(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, Method, StatusCode};
    use axum::response::IntoResponse as _;
    if request.method() == Method::POST {
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let ours = origin.to_str().ok() == Some(format!("https://{host}").as_str());
            if !ours {
                tracing::warn!(origin = ?origin, host, path = %request.uri().path(), "ops: a form posted from another site refused");
                return (StatusCode::FORBIDDEN, "a form from another site\n").into_response();
            }
        }
    }
    next.run(request).await
}

/// The `/ops` routes.
pub fn routes<P: OpsPortal + 'static>() -> Router<Arc<P>> {
    let mut router = Router::new();
    for kind in RecordKind::ALL {
        router = router
            .route(
                &format!("/ops/{}", kind.path()),
                get(registers::list::<P>)
                    .post(registers::create::<P>)
                    .layer(Extension(kind)),
            )
            .route(
                &format!("/ops/{}/{{id}}", kind.path()),
                get(registers::show::<P>)
                    .post(registers::update::<P>)
                    .layer(Extension(kind)),
            );
    }
    router
        .route("/ops/login", get(login::show).post(login::login::<P>))
        .route("/ops/logout", post(login::logout::<P>))
        .route("/ops/points", get(points::list::<P>))
        .route("/ops/events", get(events::list::<P>))
        .route("/ops/logs", get(review::list::<P>))
        .route("/ops/logs/{seq}", get(review::show::<P>))
        .route(
            "/ops/points/{point}",
            get(points::point::<P>).post(points::act::<P>),
        )
        .layer(axum::middleware::from_fn(same_origin))
}
