//! The raw, authenticated escape hatch: `client.get("/path")`, `post`, `put`, `patch`,
//! `delete` and `execute_*` for endpoints this crate does not wrap yet. Every call gets the
//! same authentication, retries, timeouts and errors as the typed methods.

use bytes::Bytes;
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::call::Call;
use crate::client::Client;
use crate::error::Error;
use crate::request::RequestSpec;

impl Client {
    /// Runs any request and decodes a JSON response into `T` (an authenticated escape hatch
    /// for endpoints this crate does not wrap yet).
    pub fn execute_json<T: DeserializeOwned + Send + 'static>(&self, spec: RequestSpec) -> Call<T> {
        Call::json(self, spec)
    }

    /// Runs any request, accepting any 2xx and ignoring the body.
    pub fn execute_empty(&self, spec: RequestSpec) -> Call<()> {
        Call::empty(self, spec)
    }

    /// Runs any request and returns the raw body bytes of a 2xx response.
    pub fn execute_bytes(&self, spec: RequestSpec, accept: &'static str) -> Call<Bytes> {
        Call::bytes(self, spec, accept)
    }

    /// `GET path` (a path such as `/payments/pay_123`, used verbatim) decoded as `T`.
    pub fn get<T: DeserializeOwned + Send + 'static>(&self, path: &str) -> Call<T> {
        self.execute_json(RequestSpec::new(Method::GET, raw_path(path)))
    }

    /// `DELETE path` decoded as `T` (use `T = ()` to ignore the body).
    pub fn delete<T: DeserializeOwned + Send + 'static>(&self, path: &str) -> Call<T> {
        self.execute_json(RequestSpec::new(Method::DELETE, raw_path(path)))
    }

    /// `POST path` with a JSON body, decoded as `T`.
    pub fn post<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Call<T> {
        self.execute_json(RequestSpec::new(Method::POST, raw_path(path)).json(body))
    }

    /// `PUT path` with a JSON body, decoded as `T`.
    pub fn put<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Call<T> {
        self.execute_json(RequestSpec::new(Method::PUT, raw_path(path)).json(body))
    }

    /// `PATCH path` with a JSON body, decoded as `T`.
    pub fn patch<T: DeserializeOwned + Send + 'static, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Call<T> {
        self.execute_json(RequestSpec::new(Method::PATCH, raw_path(path)).json(body))
    }
}

/// Validates a caller-written raw path: it must start with `/` and hold no `?` or `#`
/// (use [`RequestSpec::query`] for query parameters).
fn raw_path(path: &str) -> Result<String, Error> {
    if !path.starts_with('/') {
        return Err(Error::invalid(format!(
            "raw path {path:?} must start with '/'"
        )));
    }
    if path.contains(['?', '#']) {
        return Err(Error::invalid(format!(
            "raw path {path:?} must not contain '?' or '#'; pass query parameters with RequestSpec::query"
        )));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_validated() {
        assert!(raw_path("/payments").is_ok());
        assert!(raw_path("payments").is_err());
        assert!(raw_path("/payments?x=1").is_err());
    }
}
