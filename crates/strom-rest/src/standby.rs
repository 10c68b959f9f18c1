//! The REST endpoint of a standby JobManager (`high-availability.type: etcd`): every request is
//! redirected to the same path and query at the leader's REST address (307, so a POST stays a
//! POST with its body), as the leader's record in etcd gives it; 503 while no leader serves.
//! When the standby is elected, this server stops and the JobManager's own REST takes the port.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use strom_cluster::ha::LeaderRecord;
use tokio::sync::watch;

/// The redirect to `leader` for a request of `uri`, or 503 when no leader serves.
pub fn redirect(leader: &LeaderRecord, uri: &Uri) -> Response {
    if !leader.serving() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "errors": ["this JobManager stands by and no leader serves yet; try again shortly"]
            })),
        )
            .into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let to = format!("{}{path}", leader.rest.trim_end_matches('/'));
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, to)],
        axum::Json(serde_json::json!({ "leader": leader.name, "rest": leader.rest })),
    )
        .into_response()
}

/// Serves the redirects on `listener` until `until` completes; `leader` is the latest leader
/// record the standby saw.
pub async fn serve(
    listener: crate::RestListener,
    leader: watch::Receiver<LeaderRecord>,
    until: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().fallback(move |uri: Uri| {
        let leader = leader.borrow().clone();
        async move { redirect(&leader, &uri) }
    });
    listener.serve(app, until).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_to_the_same_path_at_the_leader() {
        let uri: Uri = "/jobs/overview?x=1".parse().unwrap();
        let none = redirect(&LeaderRecord::default(), &uri);
        assert_eq!(none.status(), StatusCode::SERVICE_UNAVAILABLE);
        let leader = LeaderRecord {
            rest: "http://10.0.0.1:8081".into(),
            rpc: "10.0.0.1:6123".into(),
            name: "j1:42".into(),
            token: 3,
        };
        let r = redirect(&leader, &uri);
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            r.headers()[header::LOCATION],
            "http://10.0.0.1:8081/jobs/overview?x=1"
        );
    }
}
