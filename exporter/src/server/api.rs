//! The control API's request and response, as the server hands them to its source: plain data,
//! so the stages behind it never see hyper.

use serde::Serialize;

/// One request under `/api/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// POST (a change) rather than GET (a read).
    pub post: bool,
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: String,
}

/// A JSON answer (errors are `{"error": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: String,
}

impl ApiResponse {
    pub fn json<T: Serialize + ?Sized>(value: &T) -> ApiResponse {
        match serde_json::to_string_pretty(value) {
            Ok(mut body) => {
                body.push('\n');
                ApiResponse { status: 200, body }
            }
            Err(e) => ApiResponse::error(500, &format!("serialising the answer: {e}")),
        }
    }

    pub fn error(status: u16, message: &str) -> ApiResponse {
        ApiResponse { status, body: format!("{}\n", serde_json::json!({ "error": message })) }
    }
}

/// The percent-decoded value of `name` in a query string (`+` is a space).
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key)? == name).then(|| percent_decode(value)).flatten()
    })
}

/// `value` with every byte but unreserved ones (RFC 3986) percent-encoded, for a query.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'%' => {
                let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[2..];
            }
            b'+' => {
                bytes.push(b' ');
                rest = tail;
            }
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_round_trip() {
        let image = "registry.test/app:1 +x%";
        let query = format!("a=1&image={}", percent_encode(image));
        assert_eq!(query_value(&query, "image").as_deref(), Some(image));
        assert_eq!(query_value("image=a+b", "image").as_deref(), Some("a b"));
        assert_eq!(query_value("a=1", "image"), None);
        assert_eq!(query_value("image=%zz", "image"), None, "bad escapes are refused");
    }

    #[test]
    fn errors_are_json() {
        let e = ApiResponse::error(404, "no \"x\"");
        assert_eq!((e.status, e.body.as_str()), (404, "{\"error\":\"no \\\"x\\\"\"}\n"));
    }
}
