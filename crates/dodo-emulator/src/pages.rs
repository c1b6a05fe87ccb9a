//! HTML pages from templates: the hosted checkout and the customer portal render through
//! [`Pages`], never by string formatting.
//!
//! Templates live in `templates/*.html` beside this crate and are compiled into the binary
//! with `include_str!`, so the emulator needs no files at run time. The engine is
//! [minijinja](https://docs.rs/minijinja): templates are plain Jinja files a newcomer can edit
//! without touching Rust, they are parsed once per emulator, and every `{{ value }}` in a
//! `.html` template is HTML-escaped automatically (so a product named
//! `<script>alert(1)</script>` or metadata with quotes renders inert). askama would check
//! templates at compile time but regenerates Rust for each page and makes every context a
//! Rust type; for a handful of local test pages, a small runtime engine with auto-escaping by
//! default keeps the crate simpler. Money goes through the `money(currency)` filter
//! ([`crate::money::format`]).

use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;
use minijinja::Environment;
use serde::Serialize;

use crate::error::ApiError;

const TEMPLATES: [(&str, &str); 4] = [
    ("layout.html", include_str!("../templates/layout.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("checkout.html", include_str!("../templates/checkout.html")),
    ("portal.html", include_str!("../templates/portal.html")),
];

/// The page templates of one emulator.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    /// Loads the templates (auto-escaping every `.html` template).
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                // The templates are part of the crate and covered by tests; a broken one
                // renders as an error page rather than taking the emulator down.
                tracing::error!(template = name, error = %e, "page template does not parse");
            }
        }
        env.add_filter("money", |amount: i64, currency: String| {
            crate::money::format(amount, &currency)
        });
        Self { env }
    }

    /// Renders template `name` with `context`.
    pub fn render<S: Serialize>(&self, name: &str, context: S) -> Result<String, ApiError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|e| ApiError::internal(format!("cannot render page {name}: {e}")))
    }

    /// Renders `name` as an HTML response with `status` (an error page if rendering fails).
    pub fn respond<S: Serialize>(&self, status: StatusCode, name: &str, context: S) -> Response {
        match self.render(name, context) {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => self.message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Page unavailable",
                &e.message,
            ),
        }
    }

    /// A page with a title and one paragraph.
    pub fn message(&self, status: StatusCode, title: &str, text: &str) -> Response {
        let body = self
            .render(
                "message.html",
                minijinja::context! { title => title, text => text },
            )
            .unwrap_or_else(|_| {
                "<!doctype html><title>Error</title><p>Page unavailable.</p>".into()
            });
        (status, Html(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let pages = Pages::new();
        for (name, _) in TEMPLATES {
            assert!(pages.env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn user_strings_are_escaped_and_money_is_formatted() {
        let pages = Pages::new();
        let html = pages
            .render(
                "message.html",
                minijinja::context! {
                    title => "<script>alert(1)</script>",
                    text => r#"say "hi" & 'bye'"#,
                    params => vec![("id", "<b>")],
                },
            )
            .unwrap();
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("say &quot;hi&quot; &amp; &#x27;bye&#x27;"),
            "{html}"
        );
        assert!(html.contains("<code>&lt;b&gt;</code>"));
        let t = pages
            .env
            .render_str("{{ 99|money('JPY') }} {{ -5|money('usd') }}", ())
            .unwrap();
        assert_eq!(t, "¥99 -$0.05");
    }
}
