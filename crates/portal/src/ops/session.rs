//! The operations pages' sessions: a random token in a cookie that is `Secure`,
//! `HttpOnly` and `SameSite=Strict`, eight hours, kept in memory (a restart logs
//! everybody out), and with each session its own random CSRF token, which every form
//! that acts carries in a hidden field and the server compares with the session's: a
//! page of another site cannot read it, so it cannot forge the form.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};

use crate::users::Role;

/// How long a session lasts.
pub const SESSION: Duration = Duration::from_secs(8 * 3600);
/// The session cookie's name.
pub const COOKIE: &str = "iotroute_session";

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user's name.
    pub user: String,
    /// What the user may do.
    pub role: Role,
    /// The token every acting form of this session carries.
    csrf: String,
    until: Instant,
}

impl Session {
    /// The CSRF token, for a form's hidden field.
    #[must_use]
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether a form's `token` is this session's, compared in constant time.
    #[must_use]
    pub fn csrf_matches(&self, token: &str) -> bool {
        let (a, b) = (self.csrf.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
    }
}

/// The sessions open, by their random token.
#[derive(Debug, Default)]
pub struct Sessions(Mutex<HashMap<String, Session>>);

/// 32 bytes of the operating system's random source, hex.
fn random_token() -> Option<String> {
    let mut token = [0u8; 32];
    getrandom::getrandom(&mut token).ok()?;
    Some(token.iter().map(|b| format!("{b:02x}")).collect())
}

impl Sessions {
    /// A new session for `user`: its cookie token.
    pub fn open(&self, user: &str, role: Role) -> Option<String> {
        let token = random_token()?;
        let csrf = random_token()?;
        let mut map = self.0.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, s| s.until > now);
        map.insert(
            token.clone(),
            Session {
                user: user.to_owned(),
                role,
                csrf,
                until: now + SESSION,
            },
        );
        Some(token)
    }

    /// The session a request's cookie names, if open.
    #[must_use]
    pub fn of(&self, headers: &HeaderMap) -> Option<Session> {
        let token = token_of(headers)?;
        let map = self.0.lock().ok()?;
        map.get(&token)
            .filter(|s| s.until > Instant::now())
            .cloned()
    }

    /// End the session a request's cookie names.
    pub fn close(&self, headers: &HeaderMap) {
        if let (Some(token), Ok(mut map)) = (token_of(headers), self.0.lock()) {
            map.remove(&token);
        }
    }
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The `Set-Cookie` value of a new session.
#[must_use]
pub fn cookie(token: &str) -> String {
    format!(
        "{COOKIE}={token}; Path=/ops; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION.as_secs()
    )
}

/// The `Set-Cookie` value that ends it in the browser.
#[must_use]
pub fn cookie_cleared() -> String {
    format!("{COOKIE}=; Path=/ops; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("other=1; {COOKIE}={token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn ops_a_session_is_found_by_its_cookie_and_ends_at_logout() {
        let sessions = Sessions::default();
        let token = sessions.open("sato", Role::Operator).unwrap();
        let s = sessions.of(&headers(&token)).unwrap();
        assert_eq!((s.user.as_str(), s.role), ("sato", Role::Operator));
        assert!(sessions.of(&headers("0000")).is_none());
        sessions.close(&headers(&token));
        assert!(sessions.of(&headers(&token)).is_none());
    }

    #[test]
    fn ops_each_session_has_its_own_csrf_token_and_only_it_matches() {
        let sessions = Sessions::default();
        let a = sessions
            .of(&headers(&sessions.open("a", Role::Operator).unwrap()))
            .unwrap();
        let b = sessions
            .of(&headers(&sessions.open("b", Role::Operator).unwrap()))
            .unwrap();
        assert_eq!(a.csrf().len(), 64);
        assert_ne!(a.csrf(), b.csrf());
        assert!(a.csrf_matches(a.csrf()));
        assert!(!a.csrf_matches(b.csrf()));
        assert!(!a.csrf_matches(""));
        assert!(!a.csrf_matches(&a.csrf()[..63]));
    }
}
