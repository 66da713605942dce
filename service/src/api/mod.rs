//! The HTTP API as poem-openapi operations, one module per family. The
//! OpenAPI document is generated from these types.

pub mod cart;
pub mod catalogue;
pub mod checkout;
pub mod client_events;
pub mod failure;
pub mod health;
pub mod order_detail;
pub mod session;
pub mod user;
pub mod wire;

use poem_openapi::{OpenApiService, Tags};

use crate::app::AppState;

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and readiness probes for load balancers and orchestrators.
    Health,
    /// The product catalogue: product list and product pages.
    Catalogue,
    /// Storefront analytics: page views, errors, clicks and marketing links.
    ClientEvents,
    /// Carts, the checkout gate and the order confirm page.
    Cart,
    /// The CSRF cookie handshake.
    Session,
    /// Registration, login, recovery, the account pages and terms of use.
    Accounts,
    /// The emailed unsubscribe links.
    Subscriptions,
    /// The chat form and "notify me" sign-ups.
    Contact,
    /// Stripe Checkout: sessions, the success page and the webhook.
    Checkout,
    /// The order page.
    Orders,
}

pub type Apis = (
    health::HealthApi,
    catalogue::CatalogueApi,
    client_events::ClientEventsApi,
    cart::CartApi,
    session::SessionApi,
    user::login::LoginApi,
    user::registration::RegistrationApi,
    user::recovery::RecoveryApi,
    user::account::AccountApi,
    user::terms::TermsApi,
    user::unsubscribe::UnsubscribeApi,
    user::contact::ContactApi,
    checkout::CheckoutApi,
    order_detail::OrderDetailApi,
);

pub fn service(state: &AppState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi::new(state.clone()),
            catalogue::CatalogueApi::new(state.clone()),
            client_events::ClientEventsApi::new(state.clone()),
            cart::CartApi::new(state.clone()),
            session::SessionApi::new(state.clone()),
            user::login::LoginApi::new(state.clone()),
            user::registration::RegistrationApi::new(state.clone()),
            user::recovery::RecoveryApi::new(state.clone()),
            user::account::AccountApi::new(state.clone()),
            user::terms::TermsApi::new(state.clone()),
            user::unsubscribe::UnsubscribeApi::new(state.clone()),
            user::contact::ContactApi::new(state.clone()),
            checkout::CheckoutApi::new(state.clone()),
            order_detail::OrderDetailApi::new(state.clone()),
        ),
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
