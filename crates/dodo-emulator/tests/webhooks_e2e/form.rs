//! A tiny browser for the hosted pages: opens a page (keeping its CSRF cookie and the form's
//! token) and submits its form as a browser would.

use reqwest::header::{COOKIE, SET_COOKIE};

pub fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An opened page.
pub struct Page {
    pub status: u16,
    pub html: String,
    /// `name=value` of the CSRF cookie the page set.
    pub cookie: Option<String>,
    /// The form's hidden `csrf_token`.
    pub token: Option<String>,
}

pub async fn open(url: &str) -> Page {
    let r = no_redirect().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let cookie = r
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    let html = r.text().await.unwrap();
    let token = html
        .split_once(r#"name="csrf_token" value=""#)
        .and_then(|(_, rest)| rest.split('"').next())
        .map(str::to_string);
    Page {
        status,
        html,
        cookie,
        token,
    }
}

/// Posts `fields` (plus the page's token) to `url` with the page's cookie.
pub async fn submit(url: &str, page: &Page, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    if let Some(t) = &page.token {
        all.push(("csrf_token", t));
    }
    let mut req = no_redirect().post(url).form(&all);
    if let Some(c) = &page.cookie {
        req = req.header(COOKIE, c);
    }
    req.send().await.unwrap()
}
