//! What every request to a route passes first (after routing, so a method a path lacks is 405
//! and an unknown path 404 whatever the token): the bearer token of mutating calls
//! (`rest.auth.token`) and the body size limit (`rest.server.max-content-length`, 100 MiB), both
//! answered in Flink's error shape (`{"errors": [...]}`: 401, 413). The guard is the one home of
//! the limit: it reads each body whole, declared (`Content-Length`) or chunked, and hands the
//! handler a body within the limit. No CORS headers are sent, so browsers refuse cross-origin
//! calls.

use crate::openapi::{Methods, Operation};
use crate::RestError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use std::sync::Arc;

/// The configuration key of the token mutating calls need.
pub const AUTH_TOKEN: &str = strom_common::config::options::REST_AUTH_TOKEN.key;
/// The configuration key of the body size limit.
pub const MAX_CONTENT_LENGTH: &str = strom_common::config::options::REST_MAX_CONTENT_LENGTH.key;

/// The guard's settings.
#[derive(Debug, Clone)]
pub struct Guard {
    /// Mutating calls (every method but GET, HEAD, OPTIONS) need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub max_body: usize,
}

/// A router whose every route passes [`check`] first, inside its method router: a method the
/// path lacks is 405 (in Flink's error shape) and an unknown path 404 before the token is asked
/// for (axum's `Router::route_layer` would also wrap each path's 405 answer).
/// Each route comes with the description of its methods ([`crate::openapi::Methods`]), kept in
/// `operations` for the OpenAPI document.
pub(crate) struct GuardedRoutes<S> {
    pub router: Router<S>,
    pub operations: Vec<Operation>,
    guard: Arc<Guard>,
}

impl<S: Clone + Send + Sync + 'static> GuardedRoutes<S> {
    pub fn new(guard: Arc<Guard>) -> Self {
        Self {
            router: Router::new(),
            operations: Vec::new(),
            guard,
        }
    }

    pub fn route(mut self, path: &str, methods: Methods<S>) -> Self {
        let check = axum::middleware::from_fn_with_state(self.guard.clone(), check);
        self.operations
            .extend(methods.docs.into_iter().map(|(method, doc)| Operation {
                method,
                path: path.to_string(),
                doc,
            }));
        Self {
            router: self.router.route(
                path,
                methods
                    .router
                    .route_layer(check)
                    .fallback(crate::error::method_not_allowed),
            ),
            ..self
        }
    }
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
    let (parts, body) = req.into_parts();
    match read_body(body, g.max_body).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(answer) => answer,
    }
}

/// The whole body, or the answer when it is larger than `max` (413) or cannot be read (400).
async fn read_body(mut body: Body, max: usize) -> Result<Vec<u8>, Response> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            RestError(
                StatusCode::BAD_REQUEST,
                format!("Bad request: the request body could not be read: {e}"),
            )
            .into_response()
        })?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > max {
                return Err(too_large(max));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
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
    use crate::openapi::{get, Doc};
    use serde_json::Value;
    use std::io::{Read, Write};

    fn serve(g: Guard) -> (std::net::SocketAddr, tokio::runtime::Runtime) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let app = GuardedRoutes::new(Arc::new(g))
            .route(
                "/jobs",
                get(|| async { "[]" }, Doc::new("list")).post(
                    |b: axum::body::Bytes| async move { format!("{{\"got\": {}}}", b.len()) },
                    Doc::new("count the body"),
                ),
            )
            .router
            .layer(axum::extract::DefaultBodyLimit::disable());
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

    /// A chunked POST /jobs whose chunks have the given sizes.
    fn chunked(sizes: &[usize]) -> String {
        let mut r = String::from(
            "POST /jobs HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for n in sizes {
            r.push_str(&format!("{n:x}\r\n{}\r\n", "y".repeat(*n)));
        }
        r.push_str("0\r\n\r\n");
        r
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
        // routed first: a method the path lacks is 405, with or without the token
        for m in ["PATCH", "DELETE", "PUT"] {
            assert_eq!(call(addr, &req(m, "", b""), b"").0, 405, "{m}");
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
        // chunked (no length given): counted as it is read, answered in the same shape
        for chunks in [vec![1500], vec![600, 401], vec![1, 999, 1]] {
            let (st, _, v) = call(addr, &chunked(&chunks), b"");
            assert_eq!(st, 413, "{chunks:?}: {v}");
            assert!(error(&v).contains("Request Entity Too Large"), "{v}");
        }
        let (st, _, v) = call(addr, &chunked(&[600, 400]), b"");
        assert_eq!((st, v["got"].as_u64()), (200, Some(1000)), "{v}");
        let ok = vec![b'x'; 1000];
        assert_eq!(call(addr, &req("POST", "", &ok), &ok).0, 200);
        // without a token nothing needs one
        assert_eq!(call(addr, &req("PATCH", "", b""), b"").0, 405);
    }

    #[test]
    fn bodies_within_the_limit_pass_whole_past_axums_own_default() {
        // axum's extractors stop at 2 MB by default; the guard's limit is the only one
        let (addr, _rt) = serve(Guard {
            token: None,
            max_body: 4 << 20,
        });
        let body = vec![b'z'; 3 << 20];
        let (st, _, v) = call(addr, &req("POST", "", &body), &body);
        assert_eq!((st, v["got"].as_u64()), (200, Some(3 << 20)), "{v}");
    }
}
