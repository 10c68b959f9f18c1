//! The Web UI: plain HTML, CSS and JavaScript modules from `crates/strom-rest/ui/`, embedded in
//! the binary at build time (no Node.js to build, no network at run time). `/` serves
//! `index.html`, `/ui/<path>` the other assets. The DAG is laid out by dagre, vendored as
//! `ui/vendor/dagre.min.js` with its license.

use crate::error::RestError;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[cfg(test)]
mod tests;

/// One embedded file: its path under `ui/`, content type and bytes.
pub(crate) struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $ct:expr) => {
        Asset {
            path: $path,
            content_type: $ct,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the UI (the test `every_ui_file_is_embedded` keeps this list complete).
pub(crate) const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/app.js", JS),
    asset!("js/api.js", JS),
    asset!("js/format.js", JS),
    asset!("js/overview.js", JS),
    asset!("js/jobs.js", JS),
    asset!("js/job.js", JS),
    asset!("js/job_tabs.js", JS),
    asset!("js/dag.js", JS),
    asset!("js/taskmanagers.js", JS),
    asset!("js/jobmanager.js", JS),
    asset!("js/submit.js", JS),
    asset!("vendor/dagre.min.js", JS),
    asset!("vendor/dagre.LICENSE", "text/plain; charset=utf-8"),
];

pub(crate) fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

fn serve(a: &Asset) -> Response {
    (
        [
            (header::CONTENT_TYPE, a.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        a.body,
    )
        .into_response()
}

async fn index() -> Response {
    serve(find("index.html").expect("index.html is embedded"))
}

async fn ui_asset(Path(path): Path<String>) -> Result<Response, RestError> {
    find(&path).map(serve).ok_or_else(|| {
        RestError(
            StatusCode::NOT_FOUND,
            format!("Unable to load requested file /ui/{path}."),
        )
    })
}

/// `/` and `/ui/*`, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(ui_asset))
}
