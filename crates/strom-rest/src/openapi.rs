//! `GET /v1/openapi.json`: the REST API as OpenAPI 3.0, checked in as `openapi.json` (written by
//! `openapi/generate.py`, response schemas inferred from Flink's captured answers). The tests
//! keep it equal to the routes of [`crate::router`].

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use super::DOCUMENT;
    use std::collections::BTreeSet;

    /// `(method, path)` of every `.route(...)` in lib.rs, read from its source: the path is the
    /// first string, the methods are the `get(`, `.post(`, ... calls up to the closing `)`.
    fn routes() -> BTreeSet<(String, String)> {
        let src = crate::api::SOURCES.concat();
        let src = src.as_str();
        let mut out = BTreeSet::new();
        for part in src.split(".route(").skip(1) {
            let mut quoted = part.splitn(3, '"');
            let path = quoted.nth(1).expect("a route path").to_string();
            let rest = quoted.next().unwrap_or_default();
            let mut depth = 1usize;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(rest.len(), |(i, _)| i);
            let handlers = &rest[..end];
            for m in ["get", "post", "patch", "delete", "put"] {
                let call = format!("{m}(");
                let found = handlers.match_indices(&call).any(|(i, _)| {
                    i == 0
                        || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && handlers.as_bytes()[i - 1] != b'_'
                });
                if found {
                    out.insert((m.to_string(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        let mut listed = BTreeSet::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for (method, op) in ops.as_object().expect("operations") {
                assert!(op["responses"].is_object(), "{method} {path}");
                // axum's {param} and OpenAPI's agree in syntax; names may differ
                listed.insert((method.clone(), path.clone()));
            }
        }
        let norm = |s: &BTreeSet<(String, String)>| -> BTreeSet<(String, String)> {
            s.iter()
                .map(|(m, p)| {
                    let p: Vec<String> = p
                        .split('/')
                        .map(|seg| {
                            if seg.starts_with('{') {
                                "{}".into()
                            } else {
                                seg.to_string()
                            }
                        })
                        .collect();
                    (m.clone(), p.join("/"))
                })
                .collect()
        };
        let (served, documented) = (norm(&routes()), norm(&listed));
        // the source reading found the routes (44 operations when this was written)
        assert!(served.len() >= 44, "{served:?}");
        assert!(served.contains(&("patch".to_string(), "/jobs/{}".to_string())));
        assert!(served.contains(&("delete".to_string(), "/cluster".to_string())));
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "openapi.json is out of date (run python3 crates/strom-rest/openapi/generate.py): served but not documented {missing:?}; documented but not served {extra:?}"
        );
    }
}
