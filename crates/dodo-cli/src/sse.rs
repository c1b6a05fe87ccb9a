//! A small client for the emulator's Server-Sent Events feeds (`/_emulator/deliveries/stream`,
//! `/_emulator/requests/stream`): the server pushes each item as one event whose `data:` is a
//! JSON object, so `listen` and `logs tail` show things as they happen, without polling.
//!
//! Only what those feeds use is implemented: `data:` lines (several are joined with `\n`),
//! comment lines (`:` keep-alives) ignored, events ended by a blank line, `\r\n` or `\n`.

use serde_json::Value;

use crate::http::{CmdError, short};

/// An open event stream.
pub struct SseStream {
    url: String,
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl SseStream {
    /// Opens `url` (with `key` as Bearer token); a non-2xx answer or another content type is
    /// an error naming the URL.
    pub async fn open(
        http: &reqwest::Client,
        url: String,
        key: Option<&str>,
    ) -> Result<SseStream, CmdError> {
        let mut req = http.get(&url).header("accept", "text/event-stream");
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|source| CmdError::Http {
            url: url.clone(),
            source,
        })?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(CmdError::Failed(format!(
                "GET {url} answered {status}: {}",
                short(&body)
            )));
        }
        let is_sse = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            return Err(CmdError::Failed(format!(
                "GET {url} did not answer an event stream (is this emulator older than dodo-dev?)"
            )));
        }
        Ok(SseStream {
            url,
            resp,
            buf: Vec::new(),
        })
    }

    /// The next event's JSON; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Result<Option<Value>, CmdError> {
        loop {
            if let Some(data) = take_event(&mut self.buf) {
                let value = serde_json::from_str(&data).map_err(|e| {
                    CmdError::Failed(format!(
                        "{}: an event is not JSON ({e}): {}",
                        self.url,
                        short(&data)
                    ))
                })?;
                return Ok(Some(value));
            }
            let chunk = self.resp.chunk().await.map_err(|source| CmdError::Http {
                url: self.url.clone(),
                source,
            })?;
            match chunk {
                Some(bytes) => self.buf.extend(bytes.iter().filter(|b| **b != b'\r')),
                None => return Ok(None),
            }
        }
    }
}

/// Removes the first complete event from `buf` (with `\r` already removed) and returns its
/// data; events without data (keep-alive comments) are skipped. `None` until one is complete.
pub fn take_event(buf: &mut Vec<u8>) -> Option<String> {
    loop {
        let end = buf.windows(2).position(|w| w == b"\n\n")?;
        let event: Vec<u8> = buf.drain(..end + 2).collect();
        let text = String::from_utf8_lossy(&event);
        let data: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            return Some(data.join("\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_and_skip_comments() {
        let mut buf =
            b": keep-alive\n\ndata: {\"a\":1}\n\nevent: x\ndata: {\"b\":\ndata: 2}\n\ndata: {\"c\""
                .to_vec();
        assert_eq!(take_event(&mut buf).as_deref(), Some("{\"a\":1}"));
        assert_eq!(take_event(&mut buf).as_deref(), Some("{\"b\":\n2}"));
        assert_eq!(
            take_event(&mut buf),
            None,
            "the last event is not complete yet"
        );
        buf.extend_from_slice(b":3}\n\n");
        assert_eq!(take_event(&mut buf).as_deref(), Some("{\"c\":3}"));
        assert!(buf.is_empty());
    }

    #[test]
    fn data_without_a_space_is_kept_whole() {
        let mut buf = b"data:{\"x\":\" y\"}\n\n".to_vec();
        assert_eq!(take_event(&mut buf).as_deref(), Some("{\"x\":\" y\"}"));
    }
}
