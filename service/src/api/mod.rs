//! The HTTP API as poem-openapi operations, one module per family. The
//! OpenAPI document is generated from these types.

pub mod health;

use poem_openapi::{OpenApiService, Tags};

use crate::app::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes for load balancers and orchestrators.
    Health,
}

pub type Apis = health::HealthApi;

pub fn service(state: &AppState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        health::HealthApi::new(state.clone()),
        "StartUpWebApp API",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "The storefront API of StartUpWebApp. Requests are form-encoded; state-changing \
         POSTs carry the `csrftoken` cookie's value in the `X-CSRFToken` header. Errors \
         use `{\"errors\": {\"error\": \"<code>\"}, \"description\": \"…\"}`.",
    )
    .server("/")
}
