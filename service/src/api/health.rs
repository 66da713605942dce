//! `/healthz` (the process is alive; no I/O) and `/readyz` (the database
//! answers and its migrations are current).

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::app::AppState;
use crate::db;

pub struct HealthApi {
    state: AppState,
}

impl HealthApi {
    pub fn new(state: AppState) -> Self {
        HealthApi { state }
    }
}

#[derive(Object, Debug)]
pub struct Liveness {
    /// Always `ok`.
    pub status: String,
}

#[derive(Object, Debug)]
pub struct Readiness {
    /// `ready` or `not-ready`.
    pub status: String,
    /// Why the service is not ready: `database-unreachable`,
    /// `migrations-pending` or `migration-failed`.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// Human-readable detail.
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The service can take traffic.
    #[oai(status = 200)]
    Ready(Json<Readiness>),
    /// The database is unreachable or behind the code's migrations.
    #[oai(status = 503)]
    NotReady(Json<Readiness>),
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness: answers while the process runs, without touching the database.
    #[oai(path = "/healthz", method = "get")]
    async fn healthz(&self) -> Json<Liveness> {
        Json(Liveness {
            status: "ok".to_owned(),
        })
    }

    /// Readiness: the database is reachable and every migration is applied.
    #[oai(path = "/readyz", method = "get")]
    async fn readyz(&self) -> ReadyResponse {
        match db::check_ready(&self.state.pool).await {
            Ok(()) => ReadyResponse::Ready(Json(Readiness {
                status: "ready".to_owned(),
                reason: None,
                description: None,
            })),
            Err(e) => {
                tracing::warn!(error = %e, "not ready");
                ReadyResponse::NotReady(Json(Readiness {
                    status: "not-ready".to_owned(),
                    reason: Some(e.code().to_owned()),
                    description: Some(e.to_string()),
                }))
            }
        }
    }
}
