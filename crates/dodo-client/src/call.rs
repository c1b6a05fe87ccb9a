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

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{DecodeError, Error, request_id_from};
use crate::execute::{RawResponse, execute};
use crate::request::RequestSpec;

pub use dodo_types::BoxFuture;

/// Options for one call, overriding the client's defaults.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestOptions {
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Overall deadline across attempts.
    pub total_timeout: Option<Duration>,
    /// Retries after the first attempt.
    pub max_retries: Option<u32>,
    /// Extra headers (override client defaults with the same name).
    pub headers: Vec<(String, String)>,
    /// Idempotency key sent as `Idempotency-Key` (and in the body where the body has an
    /// `idempotency_key` field), identical on every attempt.
    pub idempotency_key: Option<String>,
    /// The caller asserts that sending this request twice cannot duplicate its effect
    /// (see [`Call::assume_safe_to_repeat`]).
    pub assume_safe_to_repeat: bool,
}

impl fmt::Debug for RequestOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestOptions")
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_retries", &self.max_retries)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("idempotency_key", &self.idempotency_key)
            .field("assume_safe_to_repeat", &self.assume_safe_to_repeat)
            .finish()
    }
}

impl RequestOptions {
    /// Empty options (use the client's defaults).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Adds the per-request option setters to a call type holding `options: RequestOptions`.
macro_rules! impl_request_options {
    ($ty:ident) => {
        impl<T> $ty<T> {
            /// Per-attempt timeout for this call.
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.timeout = Some(timeout);
                self
            }

            /// Overall deadline across all attempts of this call.
            pub fn total_timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.total_timeout = Some(timeout);
                self
            }

            /// Retries after the first attempt for this call (0 disables retries).
            pub fn max_retries(mut self, retries: u32) -> Self {
                self.options.max_retries = Some(retries);
                self
            }

            /// An extra header for this call (replaces a default header of the same name).
            /// An invalid name or value fails the call with `Error::InvalidRequest`.
            pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
                self.options.headers.push((name.into(), value.into()));
                self
            }

            /// The idempotency key for this call, sent as `Idempotency-Key` on every
            /// attempt and written into the body where the body has an `idempotency_key`
            /// field. Only the body field is documented by the live API: on other POSTs
            /// the header alone does not make a retry safe, and such a POST is still not
            /// repeated after a timeout or 5xx (see
            /// [`ClientBuilder::server_honours_idempotency_key`](crate::ClientBuilder::server_honours_idempotency_key)).
            pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
                self.options.idempotency_key = Some(key.into());
                self
            }

            /// Asserts that this request may be sent again after an ambiguous failure
            /// (a timeout or reset after sending, a 5xx, a 408), so the client retries it
            /// like a GET. **Risk:** if the server did process the first copy, the effect
            /// happens twice (a second refund, a second charge); use it only when your own
            /// data makes a repeat harmless.
            pub fn assume_safe_to_repeat(mut self) -> Self {
                self.options.assume_safe_to_repeat = true;
                self
            }

            /// Replaces all per-request options at once.
            pub fn options(mut self, options: $crate::call::RequestOptions) -> Self {
                self.options = options;
                self
            }

            /// The request this call will send.
            pub fn spec(&self) -> &$crate::request::RequestSpec {
                &self.spec
            }
        }
    };
}
pub(crate) use impl_request_options;

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
            let raw = execute(&self.client, &self.spec, &self.options, self.accept).await?;
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
            let raw = execute(&self.client, &self.spec, &self.options, self.accept).await?;
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
