//! The CLI's HTTP plumbing: building a TLS-capable client, calling the emulator's admin API and
//! the Dodo Payments API, and the error every command returns.
//!
//! TLS is rustls with the Mozilla roots (webpki-roots), so `https://` targets work on any
//! machine without the platform's OpenSSL; `--ca-cert FILE` adds a PEM certificate (a local
//! receiver's self-signed one, a company proxy's) to the roots. Certificates are always
//! verified: there is deliberately no switch that turns verification off.

use std::path::PathBuf;

use clap::Args;
use serde_json::Value;

/// Longest response body printed.
const SHOWN_BODY: usize = 300;

/// A failed command. `main` prints it with its whole cause chain.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// A request could not be sent or its answer read (the cause says why: DNS, refused
    /// connection, TLS certificate, timeout).
    #[error("request to {url} failed")]
    Http {
        /// The URL that was requested.
        url: String,
        /// What went wrong underneath.
        #[source]
        source: reqwest::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Something was refused or answered an error; the message says what and why.
    #[error("{0}")]
    Failed(String),
    /// A call through the emulator's typed admin handle failed (the message names the call).
    #[error(transparent)]
    Admin(#[from] dodo_emulator::testing::HarnessError),
}

/// `err` and every cause under it, one per line: `err` then `  caused by: ...`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push_str(&format!("\n  caused by: {c}"));
        cause = c.source();
    }
    out
}

/// TLS options shared by every command that makes requests.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsArgs {
    /// Also trust this PEM certificate (e.g. a local https receiver's self-signed one);
    /// repeatable.
    #[arg(long = "ca-cert", value_name = "FILE", global = true)]
    pub ca_certs: Vec<PathBuf>,
}

/// Builds the HTTP client: rustls, the Mozilla roots plus `--ca-cert` files, no proxy for
/// loopback targets.
pub fn client(tls: &TlsArgs) -> Result<reqwest::Client, CmdError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(std::time::Duration::from_secs(10));
    for path in &tls.ca_certs {
        let pem = std::fs::read(path).map_err(|source| CmdError::Read {
            path: path.clone(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
            CmdError::Failed(format!(
                "--ca-cert {}: not a PEM certificate ({source})",
                path.display()
            ))
        })?;
        if certs.is_empty() {
            return Err(CmdError::Failed(format!(
                "--ca-cert {}: no PEM certificate in the file",
                path.display()
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|source| CmdError::Http {
        url: "(client set-up)".into(),
        source,
    })
}

/// The key sent to an emulator's admin API: the given one, else the emulator's default key
/// (`dodo_emulator::DEFAULT_API_KEY`, public, what `dodo-dev emulator` uses without `--api-key`).
pub fn admin_key(given: Option<&str>) -> &str {
    given.unwrap_or(dodo_emulator::DEFAULT_API_KEY)
}

/// Cuts a body to [`SHOWN_BODY`] bytes on a character boundary, marking the cut with `…`.
pub fn short(s: &str) -> String {
    let mut end = s.len().min(SHOWN_BODY);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if end < s.len() {
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// Sends one JSON request and returns the JSON answer; a non-2xx answer is an error that
/// names the URL, the status and the start of the body. `key` goes out as a Bearer token.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Result<Value, CmdError> {
    let mut req = http.request(method.clone(), url);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let failed = |source| CmdError::Http {
        url: url.to_string(),
        source,
    };
    let resp = req.send().await.map_err(failed)?;
    let status = resp.status();
    let text = resp.text().await.map_err(failed)?;
    if !status.is_success() {
        return Err(CmdError::Failed(format!(
            "{method} {url} answered {status}: {}",
            short(&text)
        )));
    }
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| {
        CmdError::Failed(format!(
            "{method} {url} answered {status} with a body that is not JSON ({e}): {}",
            short(&text)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_cuts_long_bodies_on_char_boundaries() {
        assert_eq!(short("ok"), "ok");
        let long = "é".repeat(400);
        let cut = short(&long);
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= 303);
    }

    #[test]
    fn a_missing_ca_cert_names_the_file() {
        let err = client(&TlsArgs {
            ca_certs: vec![PathBuf::from("/nonexistent/ca.pem")],
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("dodo-dev-empty-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = client(&TlsArgs {
            ca_certs: vec![path.clone()],
        })
        .unwrap_err();
        let _ = std::fs::remove_file(&path);
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
    }
}
