//! The broker's HTTP listener (`kavka.http.listener`): `GET /metrics` (Prometheus' text
//! format), `GET /health` (the process answers) and `GET /ready` (this broker serves: its logs
//! are open, its listeners bound, and it has caught up with the metadata quorum). Anything
//! else is a JSON error with its status code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::broker::Broker;

/// Prometheus' text exposition format.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The routes, over `broker`.
pub fn router(broker: Arc<Broker>) -> Router {
    Router::new()
        .route("/metrics", get(metrics).fallback(method_not_allowed))
        .route("/health", get(health).fallback(method_not_allowed))
        .route("/ready", get(ready).fallback(method_not_allowed))
        .fallback(not_found)
        .with_state(broker)
}

/// Serves `listener` until the task is aborted.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>) {
    if let Err(e) = axum::serve(listener, router(broker)).await {
        tracing::warn!(error = %e, "HTTP listener stopped");
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A JSON error: `{"error_code": 404, "message": "..."}`.
fn error(status: StatusCode, message: String) -> Response {
    json(
        status,
        serde_json::json!({ "error_code": status.as_u16(), "message": message }),
    )
}

async fn metrics(State(broker): State<Arc<Broker>>) -> Response {
    let Some(m) = broker.metrics() else {
        return error(StatusCode::NOT_FOUND, "metrics are off".into());
    };
    let text = super::scrape::render(&broker, m).await;
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response()
}

async fn health() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "UP" }))
}

async fn ready(State(broker): State<Arc<Broker>>) -> Response {
    match broker.not_ready_reason() {
        None => json(StatusCode::OK, serde_json::json!({ "status": "READY" })),
        Some(reason) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "NOT_READY", "reason": reason }),
        ),
    }
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such path: {}", uri.path()),
    )
}

async fn method_not_allowed(uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} answers GET only", uri.path()),
    )
}
