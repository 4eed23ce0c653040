//! The pages' HTML: escaping, and the frame every page shares (its navigation and the
//! log-out form). Everything is served by the portal itself: no script, style or font
//! from another host (the utility's network reaches none).

use super::session::Session;

/// Text for HTML: the five characters that matter escaped.
#[must_use]
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:1em 2em;color:#222}\
nav a,nav form{margin-right:1em;display:inline}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
.blocked{color:#b00;font-weight:bold}.message{background:#fee;padding:4px}\
svg text{font-size:11px}";

/// The paragraph that tells what a form's post came to (`id="message"`), none for
/// nothing to tell.
#[must_use]
pub fn message(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("<p class=\"message\" id=\"message\">{}</p>\n", esc(text))
    }
}

/// A page titled `title` around `body`; with a session, the navigation and its log-out.
#[must_use]
pub fn page(title: &str, session: Option<&Session>, body: &str) -> String {
    let nav = session.map_or_else(String::new, |s| {
        format!(
            "<nav><a href=\"/ops/points\">Points</a><a href=\"/ops/incidents\">Incidents</a><a href=\"/ops/risks\">Risks</a><a href=\"/ops/vulnerabilities\">Vulnerabilities</a><a href=\"/ops/events\">Events</a><a href=\"/ops/logs\">Logs</a>\
<span id=\"who\">{} ({})</span> \
<form method=\"post\" action=\"/ops/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" name=\"logout\">Log out</button></form></nav>\n",
            esc(&s.user),
            s.role.as_str(),
            esc(s.csrf())
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} — iotroute</title><style>{STYLE}</style></head>\n<body>\n{nav}<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = esc(title)
    )
}

/// A page as the answer: with headers that keep it from being framed, cached or made
/// to load anything from elsewhere (a script injected would not run: none is allowed).
#[must_use]
pub fn respond(status: axum::http::StatusCode, html: String) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_text_from_the_store_cannot_open_a_tag() {
        assert_eq!(esc("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
        let p = page("<b>", None, "");
        assert!(p.contains("<title>&lt;b&gt; — iotroute</title>"), "{p}");
    }
}
