//! What every request passes first: the bearer token of mutating calls (`rest.auth.token`) and
//! the body size limit (`rest.server.max-content-length`, 100 MiB), both answered in Flink's
//! error shape (`{"errors": [...]}`: 401, 413). No CORS headers are sent, so browsers refuse
//! cross-origin calls.

use crate::RestError;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The configuration key of the token mutating calls need.
pub const AUTH_TOKEN: &str = "rest.auth.token";
/// The configuration key of the body size limit.
pub const MAX_CONTENT_LENGTH: &str = "rest.server.max-content-length";
/// Flink's default `rest.server.max-content-length` is 100 MiB.
pub const DEFAULT_MAX_CONTENT_LENGTH: usize = 100 * 1024 * 1024;

/// The guard's settings.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Mutating calls (every method but GET, HEAD, OPTIONS) need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub max_body: usize,
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn mutating(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware (see the module documentation).
pub async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    if let Some(token) = &g.token {
        if mutating(req.method()) {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if !given.is_some_and(|t| same(t.trim().as_bytes(), token.as_bytes())) {
                let what = if given.is_some() {
                    "the bearer token is wrong"
                } else {
                    "this call needs the header 'Authorization: Bearer <token>'"
                };
                let mut r = RestError(
                    StatusCode::UNAUTHORIZED,
                    format!(
                        "Unauthorized: {what} ({} {}); the cluster is configured with '{AUTH_TOKEN}', and every call that submits, cancels, stops or changes something must carry it",
                        req.method(),
                        req.uri().path()
                    ),
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                return r;
            }
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > g.max_body) {
        return too_large(g.max_body);
    }
    let r = next.run(req).await;
    // a streamed body past the limit (axum's own 413 is plain text)
    let json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        return too_large(g.max_body);
    }
    r
}

fn too_large(max: usize) -> Response {
    RestError(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Request Entity Too Large: the body is larger than '{MAX_CONTENT_LENGTH}' = {max} bytes; send a smaller request or raise the limit"
        ),
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use serde_json::Value;
    use std::io::{Read, Write};

    fn serve(g: Guard) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let max = g.max_body;
        let app = Router::new()
            .route(
                "/jobs",
                get(|| async { "[]" }).post(|b: axum::body::Bytes| async move {
                    format!("{{\"got\": {}}}", b.len())
                }),
            )
            .layer(axum::middleware::from_fn_with_state(Arc::new(g), check))
            .layer(axum::extract::DefaultBodyLimit::max(max));
        let l = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = l.local_addr().unwrap();
        rt.spawn(async move {
            let _ = axum::serve(l, app).await;
        });
        (addr, rt)
    }

    /// (status, headers, body) of a raw request.
    fn call(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String, Value) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(body);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let (h, b) = out.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = h.split(' ').nth(1).unwrap().parse().unwrap();
        let b = serde_json::from_str(b).unwrap_or(Value::String(b.to_string()));
        (status, h.to_ascii_lowercase(), b)
    }

    fn req(method: &str, extra: &str, body: &[u8]) -> String {
        format!(
            "{method} /jobs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        )
    }

    fn error(v: &Value) -> String {
        v["errors"][0]
            .as_str()
            .unwrap_or_else(|| panic!("not Flink's error shape: {v}"))
            .to_string()
    }

    #[test]
    fn mutating_calls_need_the_token_and_reads_do_not() {
        let (addr, _rt) = serve(Guard {
            token: Some("s3cret".into()),
            max_body: 1000,
        });
        let (st, head, v) = call(addr, &req("POST", "", b"{}"), b"{}");
        assert_eq!(st, 401, "{v}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        assert!(error(&v).contains("Authorization: Bearer"), "{v}");
        let (st, _, v) = call(
            addr,
            &req("POST", "Authorization: Bearer wrong!\r\n", b"{}"),
            b"{}",
        );
        assert_eq!(st, 401);
        assert!(error(&v).contains("wrong"), "{v}");
        let (st, _, v) = call(
            addr,
            &req("POST", "Authorization: Bearer s3cret\r\n", b"{}"),
            b"{}",
        );
        assert_eq!((st, v["got"].as_u64()), (200, Some(2)));
        for m in ["PATCH", "DELETE", "PUT"] {
            assert_eq!(call(addr, &req(m, "", b""), b"").0, 401, "{m}");
        }
        let (st, head, _) = call(addr, &req("GET", "", b""), b"");
        assert_eq!(st, 200);
        assert!(
            !head.contains("access-control-allow-origin"),
            "no CORS: {head}"
        );
    }

    #[test]
    fn bodies_past_the_limit_are_413_in_flinks_shape() {
        let (addr, _rt) = serve(Guard {
            token: None,
            max_body: 1000,
        });
        let big = vec![b'x'; 1001];
        let (st, _, v) = call(addr, &req("POST", "", &big), &big);
        assert_eq!(st, 413, "{v}");
        assert!(
            error(&v).contains("'rest.server.max-content-length' = 1000"),
            "{v}"
        );
        // chunked (no length given): the extractor's limit, answered in the same shape
        let mut chunked = String::from(
            "POST /jobs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        chunked.push_str(&format!("{:x}\r\n{}\r\n0\r\n\r\n", 1500, "y".repeat(1500)));
        let (st, _, v) = call(addr, &chunked, b"");
        assert_eq!(st, 413, "{v}");
        assert!(error(&v).contains("Request Entity Too Large"), "{v}");
        let ok = vec![b'x'; 1000];
        assert_eq!(call(addr, &req("POST", "", &ok), &ok).0, 200);
        // without a token nothing needs one
        assert_eq!(call(addr, &req("PATCH", "", b""), b"").0, 405);
    }
}
