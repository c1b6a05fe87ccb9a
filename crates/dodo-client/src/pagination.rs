//! List calls, pages and auto-paginating streams.
//!
//! Two wire formats exist. Page-number lists ([`ListCall`], every list but one) send
//! `page_number` (0-based, default 0) and `page_size` and get `{"items": [...]}`; the next
//! page is the current `page_number` (0 when absent) plus one, and the walk ends on an empty
//! page or, when `page_size` was given, on a page with fewer items (no extra request). The
//! official TS SDK started from "page 1" and silently skipped the second page; this one
//! does not. Cursor lists ([`CursorListCall`], `GET /webhooks`) send `iterator`/`limit`
//! and get `{"data", "done", "iterator", "prev_iterator"}`; the walk ends when `done` is
//! true, the page is empty, the next iterator is null/empty, or an iterator repeats.
//! A page-number list whose server answers the same page again (ignoring `page_number`)
//! also ends, without repeating the items.
//! Both produce the same [`Page<T>`] and the same item stream; no `T: Clone` is needed.

use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;

use futures_core::stream::BoxStream;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use dodo_types::BoxFuture;

use crate::call::decode_json;
use crate::client::Client;
use crate::error::{Error, request_id_from};
use crate::execute::execute;
use crate::options::{RequestOptions, impl_request_options};
use crate::request::RequestSpec;

/// Query parameter holding the 0-based page number.
pub const PAGE_NUMBER_PARAM: &str = "page_number";
/// Query parameter holding the page size.
pub const PAGE_SIZE_PARAM: &str = "page_size";
/// Query parameter holding the cursor of cursor lists.
pub const ITERATOR_PARAM: &str = "iterator";

/// Which wire format a list uses, plus the walk state needed to continue it.
#[derive(Clone)]
enum Format {
    PageNumber {
        /// Hash of the previous page's body, to stop when a server ignores `page_number`
        /// and answers the same page again.
        previous_body: Option<u64>,
    },
    Cursor {
        /// Cursors already requested in this walk (to stop on a repeat).
        seen: Vec<String>,
    },
}

/// Everything needed to fetch one page.
struct Pager<T> {
    client: Client,
    spec: RequestSpec,
    options: RequestOptions,
    format: Format,
    _item: PhantomData<fn() -> T>,
}

impl<T> Clone for Pager<T> {
    fn clone(&self) -> Self {
        Pager {
            client: self.client.clone(),
            spec: self.spec.clone(),
            options: self.options.clone(),
            format: self.format.clone(),
            _item: PhantomData,
        }
    }
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct ItemsEnvelope<T> {
    items: Vec<T>,
}

#[derive(Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct CursorEnvelope<T> {
    data: Vec<T>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    iterator: Option<String>,
    #[serde(default)]
    prev_iterator: Option<String>,
}

/// Position information of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    Number {
        page_number: u64,
    },
    Cursor {
        next: Option<String>,
        prev: Option<String>,
        done: bool,
    },
}

fn hash_body(body: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut hasher);
    hasher.finish()
}

fn parse_param(spec: &RequestSpec, name: &str) -> Result<Option<u64>, Error> {
    spec.query_param(name)
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                Error::invalid(format!(
                    "query parameter {name}={v:?} is not a non-negative integer"
                ))
            })
        })
        .transpose()
}

impl<T: DeserializeOwned + Send + 'static> Pager<T> {
    fn fetch(self) -> BoxFuture<'static, Result<Page<T>, Error>> {
        Box::pin(async move {
            let raw = execute(
                &self.client.inner,
                &self.spec,
                &self.options,
                "application/json",
            )
            .await?;
            let request_id = request_id_from(&raw.headers);
            let (items, position, next_spec, format) = match self.format {
                Format::PageNumber { previous_body } => {
                    let page_number = parse_param(&self.spec, PAGE_NUMBER_PARAM)?.unwrap_or(0);
                    let page_size = parse_param(&self.spec, PAGE_SIZE_PARAM)?;
                    let mut envelope: ItemsEnvelope<T> = decode_json(&raw)?;
                    let body_hash = hash_body(&raw.body);
                    if previous_body == Some(body_hash) {
                        // The same page again: the server ignores page_number. End the
                        // walk without repeating items.
                        envelope.items.clear();
                    }
                    let short = page_size.is_some_and(|size| (envelope.items.len() as u64) < size);
                    let next = if envelope.items.is_empty() || short {
                        None
                    } else {
                        let mut spec = self.spec.clone();
                        spec.set_param(PAGE_NUMBER_PARAM, (page_number + 1).to_string());
                        Some(spec)
                    };
                    (
                        envelope.items,
                        Position::Number { page_number },
                        next,
                        Format::PageNumber {
                            previous_body: Some(body_hash),
                        },
                    )
                }
                Format::Cursor { mut seen } => {
                    if let Some(current) = self.spec.query_param(ITERATOR_PARAM) {
                        seen.push(current.to_owned());
                    }
                    let envelope: CursorEnvelope<T> = decode_json(&raw)?;
                    let next = match envelope.iterator.as_deref() {
                        Some(cursor)
                            if !envelope.done
                                && !envelope.data.is_empty()
                                && !cursor.is_empty()
                                && !seen.iter().any(|s| s == cursor) =>
                        {
                            let mut spec = self.spec.clone();
                            spec.set_param(ITERATOR_PARAM, cursor.to_owned());
                            Some(spec)
                        }
                        _ => None,
                    };
                    (
                        envelope.data,
                        Position::Cursor {
                            next: envelope.iterator,
                            prev: envelope.prev_iterator,
                            done: envelope.done,
                        },
                        next,
                        Format::Cursor { seen },
                    )
                }
            };
            let next = next_spec.map(|spec| Pager {
                client: self.client,
                spec,
                options: self.options,
                format,
                _item: PhantomData,
            });
            Ok(Page {
                items,
                status: raw.status,
                headers: raw.headers,
                request_id,
                position,
                next,
            })
        })
    }
}

/// One page of a list.
pub struct Page<T> {
    /// The items of this page, in server order.
    pub items: Vec<T>,
    status: StatusCode,
    headers: HeaderMap,
    request_id: Option<String>,
    position: Position,
    next: Option<Pager<T>>,
}

impl<T: fmt::Debug> fmt::Debug for Page<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("items", &self.items)
            .field("status", &self.status)
            .field("request_id", &self.request_id)
            .field("position", &self.position)
            .field("has_next_page", &self.next.is_some())
            .finish_non_exhaustive()
    }
}

impl<T> Page<T> {
    /// Whether another page should be fetched.
    pub fn has_next_page(&self) -> bool {
        self.next.is_some()
    }

    /// HTTP status of the response that produced this page.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Response headers of this page.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Request id of this page's response, if the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The 0-based page number requested (page-number lists only).
    pub fn page_number(&self) -> Option<u64> {
        match self.position {
            Position::Number { page_number } => Some(page_number),
            Position::Cursor { .. } => None,
        }
    }

    /// The `iterator` returned by the server (cursor lists only).
    pub fn next_cursor(&self) -> Option<&str> {
        match &self.position {
            Position::Cursor { next, .. } => next.as_deref(),
            Position::Number { .. } => None,
        }
    }

    /// The `prev_iterator` returned by the server (cursor lists only).
    pub fn prev_cursor(&self) -> Option<&str> {
        match &self.position {
            Position::Cursor { prev, .. } => prev.as_deref(),
            Position::Number { .. } => None,
        }
    }

    /// The `done` flag returned by the server (cursor lists only).
    pub fn is_done(&self) -> Option<bool> {
        match &self.position {
            Position::Cursor { done, .. } => Some(*done),
            Position::Number { .. } => None,
        }
    }

    /// Keeps only the items.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

impl<T: DeserializeOwned + Send + 'static> Page<T> {
    /// Fetches the next page, or `None` when this was the last one.
    pub fn next_page(&self) -> BoxFuture<'static, Result<Option<Page<T>>, Error>> {
        let next = self.next.clone();
        Box::pin(async move {
            match next {
                Some(pager) => pager.fetch().await.map(Some),
                None => Ok(None),
            }
        })
    }

    /// Streams this page's items, then those of every following page.
    pub fn into_stream(self) -> BoxStream<'static, Result<T, Error>> {
        let Page { items, next, .. } = self;
        walk(Walk::Yield(items.into_iter(), next))
    }
}

/// Walk state of an item stream.
enum Walk<T> {
    Fetch(Pager<T>),
    Yield(std::vec::IntoIter<T>, Option<Pager<T>>),
    Done,
}

fn walk<T: DeserializeOwned + Send + 'static>(
    start: Walk<T>,
) -> BoxStream<'static, Result<T, Error>> {
    Box::pin(futures_util::stream::unfold(
        start,
        |mut state| async move {
            loop {
                state = match state {
                    Walk::Done => return None,
                    Walk::Yield(mut items, next) => match items.next() {
                        Some(item) => return Some((Ok(item), Walk::Yield(items, next))),
                        None => match next {
                            Some(pager) => Walk::Fetch(pager),
                            None => Walk::Done,
                        },
                    },
                    Walk::Fetch(pager) => match pager.fetch().await {
                        Ok(page) => Walk::Yield(page.items.into_iter(), page.next),
                        Err(e) => return Some((Err(e), Walk::Done)),
                    },
                }
            }
        },
    ))
}

fn pages<T: DeserializeOwned + Send + 'static>(
    start: Pager<T>,
) -> BoxStream<'static, Result<Page<T>, Error>> {
    Box::pin(futures_util::stream::unfold(
        Some(start),
        |state| async move {
            let pager = state?;
            match pager.fetch().await {
                Ok(page) => {
                    let next = page.next.clone();
                    Some((Ok(page), next))
                }
                Err(e) => Some((Err(e), None)),
            }
        },
    ))
}

macro_rules! list_call {
    ($(#[$meta:meta])* $name:ident, $format:expr) => {
        $(#[$meta])*
        #[must_use = "a list call does nothing until it is awaited or streamed"]
        pub struct $name<T> {
            client: Client,
            spec: RequestSpec,
            options: RequestOptions,
            _item: PhantomData<fn() -> T>,
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("method", self.spec.method())
                    .field("path", &self.spec.display_path())
                    .field("query", &self.spec.query_pairs())
                    .field("options", &self.options)
                    .finish()
            }
        }

        impl_request_options!($name);

        impl<T: DeserializeOwned + Send + 'static> $name<T> {
            /// A list call for `spec` (its query may already hold filters and paging).
            #[doc(hidden)]
            pub fn new(client: &Client, spec: RequestSpec) -> Self {
                $name {
                    client: client.clone(),
                    spec,
                    options: RequestOptions::default(),
                    _item: PhantomData,
                }
            }

            fn pager(self) -> Pager<T> {
                Pager {
                    client: self.client,
                    spec: self.spec,
                    options: self.options,
                    format: $format,
                    _item: PhantomData,
                }
            }

            /// Streams every item of every page, fetching pages as needed. The stream
            /// ends after the last page or after the first error.
            pub fn into_stream(self) -> BoxStream<'static, Result<T, Error>> {
                walk(Walk::Fetch(self.pager()))
            }

            /// Same as [`into_stream`](Self::into_stream).
            pub fn items(self) -> BoxStream<'static, Result<T, Error>> {
                self.into_stream()
            }

            /// Streams whole pages, starting with the first.
            pub fn pages(self) -> BoxStream<'static, Result<Page<T>, Error>> {
                pages(self.pager())
            }

            /// Fetches every item into a `Vec`.
            pub async fn collect_all(self) -> Result<Vec<T>, Error> {
                use futures_util::TryStreamExt;
                self.into_stream().try_collect().await
            }
        }

        impl<T: DeserializeOwned + Send + 'static> IntoFuture for $name<T> {
            type Output = Result<Page<T>, Error>;
            type IntoFuture = BoxFuture<'static, Result<Page<T>, Error>>;

            /// Fetches the first requested page.
            fn into_future(self) -> Self::IntoFuture {
                self.pager().fetch()
            }
        }
    };
}

list_call!(
    /// A page-number list call (`{"items": [...]}`). Await it for the first [`Page`], or
    /// stream every item with [`into_stream`](Self::into_stream).
    ///
    /// ```no_run
    /// # async fn run(client: dodo_client::Client) -> Result<(), dodo_client::Error> {
    /// use futures_util::TryStreamExt;
    /// use dodo_client::{ListCall, Method, RequestSpec};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Query { page_size: u32 }
    ///
    /// let spec = RequestSpec::new(Method::GET, Ok("/payments".into())).query(&Query { page_size: 100 });
    /// // Pages 0, 1, 2, ... until a short or empty page.
    /// let mut items = ListCall::<serde_json::Value>::new(&client, spec).into_stream();
    /// while let Some(payment) = items.try_next().await? {
    ///     println!("{}", payment["payment_id"]);
    /// }
    /// # Ok(()) }
    /// ```
    ListCall,
    Format::PageNumber {
        previous_body: None
    }
);

list_call!(
    /// A cursor list call (`GET /webhooks`: `{"data", "done", "iterator"}`). Await it for
    /// the first [`Page`], or stream every item with [`into_stream`](Self::into_stream).
    CursorListCall,
    Format::Cursor { seen: Vec::new() }
);
