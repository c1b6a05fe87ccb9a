//! The shop's stand-in for its own sign-in: a random session cookie, bound on the server to
//! the customer who paid in that browser.
//!
//! `/buy` gives the browser an unguessable `shop_session` cookie (a v4 UUID from the OS's
//! CSPRNG) and remembers the checkout session it opened; `/thanks` asks the API which
//! customer paid that checkout and binds them to the cookie. The customer-portal route's
//! resolver reads the customer from here, so a portal link goes only to the browser that
//! bought, never to whoever puts a `customer_id` in a query. A real shop uses its own
//! sign-in instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "shop_session";
/// Sessions kept at most (the demo forgets all of them beyond this).
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Default, Clone)]
struct Entry {
    checkout_session_id: Option<String>,
    customer_id: Option<String>,
}

/// Server-side session store, shared by the handlers.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The known session named by the request's cookie.
    pub fn from_headers(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, COOKIE_NAME)?;
        self.lock().contains_key(&id).then_some(id)
    }

    /// A new session id.
    pub fn start(&self) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.clear();
        }
        map.insert(id.clone(), Entry::default());
        id
    }

    /// Remembers the checkout session opened in this browser.
    pub fn record_checkout(&self, session: &str, checkout_session_id: &str) {
        if let Some(entry) = self.lock().get_mut(session) {
            entry.checkout_session_id = Some(checkout_session_id.to_owned());
        }
    }

    /// The checkout session opened in this browser, if any.
    pub fn checkout_of(&self, session: &str) -> Option<String> {
        self.lock().get(session)?.checkout_session_id.clone()
    }

    /// Binds the customer who paid.
    pub fn bind_customer(&self, session: &str, customer_id: &str) {
        if let Some(entry) = self.lock().get_mut(session) {
            entry.customer_id = Some(customer_id.to_owned());
        }
    }

    /// The customer bound to the request's session.
    pub fn customer(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers, COOKIE_NAME)?;
        self.lock().get(&id)?.customer_id.clone()
    }
}

/// The `Set-Cookie` value for a session.
pub fn set_cookie(session: &str) -> String {
    format!("{COOKIE_NAME}={session}; HttpOnly; SameSite=Lax; Path=/")
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name && !v.is_empty()).then(|| v.to_owned())
        })
}
