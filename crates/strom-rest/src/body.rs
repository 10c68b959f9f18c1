//! JSON request bodies: every body the API reads as JSON (`POST /jobs`, the savepoint, stop and
//! checkpoint triggers, `POST /v1/sql`) must be a JSON object of the request's fields, as Flink's
//! request bodies are; anything else is a 400 naming what was sent and what is expected.
//!
//! serde's derived `Deserialize` also takes a JSON array as a struct (its fields by position), so
//! `[null, null]` would read as `{}`: the top-level shape is checked before serde sees the body.

use crate::error::RestError;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// What a request body must be: its name (Flink's request body class, or the call) and an
/// example object.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected {
    pub what: &'static str,
    pub example: &'static str,
}

impl Expected {
    fn error(&self, detail: &str) -> RestError {
        RestError(
            StatusCode::BAD_REQUEST,
            format!(
                "Request did not match expected format {}: {detail}. Expected a JSON object like {}",
                self.what, self.example
            ),
        )
    }
}

/// The kind of JSON value a body starts with, when it is not an object (`None` for an object).
fn not_an_object(body: &[u8]) -> Option<&'static str> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    Some(match first {
        b'{' => return None,
        b'[' => "an array",
        b'"' => "a string",
        b'n' => "null",
        b't' | b'f' => "a boolean",
        b'-' | b'0'..=b'9' => "a number",
        _ => "not JSON",
    })
}

fn is_blank(body: &[u8]) -> bool {
    body.iter().all(|b| b.is_ascii_whitespace())
}

/// Parses a body that must be a JSON object.
pub(crate) fn json_object<T: DeserializeOwned>(
    body: &[u8],
    expected: Expected,
) -> Result<T, RestError> {
    if is_blank(body) {
        return Err(expected.error("the body is empty"));
    }
    if let Some(kind) = not_an_object(body) {
        return Err(expected.error(&format!("the body is {kind}, not a JSON object")));
    }
    serde_json::from_slice(body).map_err(|e| expected.error(&e.to_string()))
}

/// Like [`json_object`], but an empty body is `{}` (as Flink reads the trigger requests).
pub(crate) fn json_object_or_default<T: DeserializeOwned + Default>(
    body: &[u8],
    expected: Expected,
) -> Result<T, RestError> {
    if is_blank(body) {
        return Ok(T::default());
    }
    json_object(body, expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Two {
        a: Option<String>,
        b: Option<u32>,
    }

    const E: Expected = Expected {
        what: "TwoBody",
        example: r#"{"a": "x", "b": 1}"#,
    };

    fn message(r: Result<Two, RestError>) -> String {
        let e = r.expect_err("a 400");
        assert_eq!(e.0, StatusCode::BAD_REQUEST);
        e.1
    }

    #[test]
    fn only_a_json_object_is_a_body() {
        assert_eq!(
            json_object::<Two>(br#" {"a": "x", "b": 2} "#, E).ok(),
            Some(Two {
                a: Some("x".into()),
                b: Some(2)
            })
        );
        assert_eq!(json_object::<Two>(b"{}", E).ok(), Some(Two::default()));
        // serde alone reads these two as a struct, by position
        assert!(serde_json::from_slice::<Two>(b"[null, null]").is_ok());
        assert!(serde_json::from_slice::<Two>(br#"["x", 1]"#).is_ok());
        for (body, kind) in [
            (&b"[null, null]"[..], "an array"),
            (br#" ["x", 1]"#, "an array"),
            (b"null", "null"),
            (br#""{}""#, "a string"),
            (b"true", "a boolean"),
            (b"-3", "a number"),
            (b"<xml/>", "not JSON"),
        ] {
            let m = message(json_object(body, E));
            assert!(
                m.contains(&format!("the body is {kind}, not a JSON object"))
                    && m.contains("TwoBody")
                    && m.contains(r#"{"a": "x", "b": 1}"#),
                "{m}"
            );
        }
        assert!(message(json_object(b"  ", E)).contains("the body is empty"));
        assert!(message(json_object(br#"{"a": 5}"#, E)).contains("invalid type"));
        assert!(message(json_object(br#"{"c": 5}"#, E)).contains("unknown field `c`"));
        assert!(message(json_object(b"{bad", E)).contains("TwoBody"));
    }

    #[test]
    fn an_empty_body_may_stand_for_the_empty_object() {
        assert_eq!(
            json_object_or_default::<Two>(b"", E).ok(),
            Some(Two::default())
        );
        assert_eq!(
            json_object_or_default::<Two>(b" \n", E).ok(),
            Some(Two::default())
        );
        assert!(message(json_object_or_default(b"[null, null]", E)).contains("an array"));
    }
}
