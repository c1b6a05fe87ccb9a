//! One API call: per-request options, awaiting, and raw response access.
//!
//! Every generated method returns a [`Call<T>`]: a builder that can take per-request
//! options ([`timeout`](Call::timeout), [`max_retries`](Call::max_retries),
//! [`header`](Call::header), [`idempotency_key`](Call::idempotency_key),
//! [`assume_safe_to_repeat`](Call::assume_safe_to_repeat)) and is then
//! awaited (`IntoFuture`) for the decoded `T`, or turned into an [`ApiResponse<T>`] with
//! [`with_response`](Call::with_response) to see the status, headers and request id.

use std::fmt;
use std::future::IntoFuture;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{DecodeError, Error, request_id_from};
use crate::execute::{RawResponse, execute};
use crate::options::{RequestOptions, impl_request_options};
use crate::request::RequestSpec;

use dodo_types::BoxFuture;

/// A decoded value together with the response metadata.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApiResponse<T> {
    /// The decoded body.
    pub value: T,
    /// HTTP status (2xx).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Request id from `x-request-id` (or `request-id`), if the server sent one.
    pub request_id: Option<String>,
}

impl<T> ApiResponse<T> {
    /// Keeps only the value.
    pub fn into_value(self) -> T {
        self.value
    }
}

type Decoder<T> = fn(&RawResponse) -> Result<T, Error>;

/// A pending API call returning `T`. Await it, or call [`with_response`](Call::with_response).
#[must_use = "a Call does nothing until it is awaited"]
pub struct Call<T> {
    client: Client,
    spec: RequestSpec,
    options: RequestOptions,
    accept: &'static str,
    decode: Decoder<T>,
}

impl<T> fmt::Debug for Call<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("method", self.spec.method())
            .field("path", &self.spec.display_path())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl_request_options!(Call);

impl<T: DeserializeOwned + Send + 'static> Call<T> {
    /// A call whose 2xx JSON body decodes into `T`.
    #[doc(hidden)]
    pub fn json(client: &Client, spec: RequestSpec) -> Self {
        Call::with_decoder(client, spec, "application/json", decode_json::<T>)
    }
}

impl Call<()> {
    /// A call that accepts any 2xx and ignores the body.
    #[doc(hidden)]
    pub fn empty(client: &Client, spec: RequestSpec) -> Self {
        Call::with_decoder(client, spec, "application/json", |_| Ok(()))
    }
}

impl Call<Bytes> {
    /// A call returning the raw 2xx body (PDF, CSV...), sent with the given `Accept`.
    #[doc(hidden)]
    pub fn bytes(client: &Client, spec: RequestSpec, accept: &'static str) -> Self {
        Call::with_decoder(client, spec, accept, |raw| Ok(raw.body.clone()))
    }
}

impl<T> Call<T> {
    fn with_decoder(
        client: &Client,
        spec: RequestSpec,
        accept: &'static str,
        decode: Decoder<T>,
    ) -> Self {
        Call {
            client: client.clone(),
            spec,
            options: RequestOptions::default(),
            accept,
            decode,
        }
    }
}

impl<T: Send + 'static> Call<T> {
    /// Runs the call and returns the value with status, headers and request id.
    pub fn with_response(self) -> BoxFuture<'static, Result<ApiResponse<T>, Error>> {
        Box::pin(async move {
            let raw = execute(&self.client.inner, &self.spec, &self.options, self.accept).await?;
            let value = (self.decode)(&raw)?;
            Ok(ApiResponse {
                value,
                request_id: request_id_from(&raw.headers),
                status: raw.status,
                headers: raw.headers,
            })
        })
    }

    /// Runs the call (same as `.await`).
    pub fn send(self) -> BoxFuture<'static, Result<T, Error>> {
        self.into_future()
    }
}

impl<T: Send + 'static> IntoFuture for Call<T> {
    type Output = Result<T, Error>;
    type IntoFuture = BoxFuture<'static, Result<T, Error>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let raw = execute(&self.client.inner, &self.spec, &self.options, self.accept).await?;
            (self.decode)(&raw)
        })
    }
}

/// Decodes a JSON body, reporting the JSON path of the first mismatch. An empty body is
/// read as JSON `null` when `T` accepts it (`()`, `Option<_>`, `serde_json::Value`).
pub(crate) fn decode_json<T: DeserializeOwned>(raw: &RawResponse) -> Result<T, Error> {
    if raw.body.iter().all(u8::is_ascii_whitespace)
        && let Ok(value) = serde_json::from_slice::<T>(b"null")
    {
        return Ok(value);
    }
    // Fast path: plain serde_json. Only a failure pays for path tracking, on a second pass.
    if let Ok(value) = serde_json::from_slice::<T>(&raw.body) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(&raw.body);
    let result = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => de.end().map(|()| value).map_err(|e| (".".to_owned(), e)),
        Err(e) => Err((e.path().to_string(), e.into_inner())),
    };
    result.map_err(|(json_path, source)| {
        Error::Decode(Box::new(DecodeError {
            status: raw.status,
            headers: raw.headers.clone(),
            request_id: request_id_from(&raw.headers),
            json_path,
            body: raw.body.clone(),
            method: raw.method.clone(),
            path: raw.path.clone(),
            source,
        }))
    })
}
