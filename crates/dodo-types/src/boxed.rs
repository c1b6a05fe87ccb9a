//! The two boxed types every crate of the toolkit shares (hand-written, not generated).
//!
//! [`BoxError`] is the one type-erased error used as a `source()` or a handler's failure;
//! [`BoxFuture`] the one boxed future returned by hooks, handlers and resolvers. They live
//! here, in the crate every other one depends on, so the client, the webhooks, the inbox and
//! the adaptors name the same thing the same way.

use std::future::Future;
use std::pin::Pin;

/// A boxed, thread-safe error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed, `Send` future living for `'a` (use `BoxFuture<'static, T>` for owned futures).
///
/// ```
/// use dodo_types::BoxFuture;
///
/// fn answer() -> BoxFuture<'static, u32> {
///     Box::pin(async { 42 })
/// }
/// # let _ = answer;
/// ```
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
