//! The catalogue: `/order/` (index), `/order/products` and
//! `/order/product/{identifier}`, in the legacy JSON shapes (contract
//! api-order.md §1, §3, §4.1–4.3).

use poem_openapi::param::Path;
use poem_openapi::{Object, OpenApi, Union};

use super::ApiTags;
use super::failure::{Failure, RouteErrors, ServerErrors};
use super::wire::{IndexPage, KeyedMap, ORDER_API_VERSION};
use crate::app::AppState;
use crate::cache::{JsonBody, Lookup};
use crate::db::catalogue::{self as db, ProductUnavailable};
use crate::error::AppError;

pub struct CatalogueApi {
    state: AppState,
}

impl CatalogueApi {
    pub fn new(state: AppState) -> Self {
        CatalogueApi { state }
    }
}

pub const INDEX_TEXT: &str =
    "Hello, you're at the order API (version 0.0.1) root. Nothing to see here...";

/// `/order/products`.
#[derive(Object, Debug)]
pub struct CatalogueProducts {
    /// Products keyed by their identifier, in catalogue order.
    pub products_data: KeyedMap<CatalogueProductSummary>,
    /// Always `0.0.1`.
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CatalogueProductSummary {
    pub title: String,
    /// The product's name in storefront links (`/product?name=<title_url>&id=<identifier>`).
    pub title_url: String,
    pub identifier: String,
    #[oai(nullable)]
    pub headline: Option<String>,
    /// HTML.
    #[oai(nullable)]
    pub description_part_1: Option<String>,
    /// HTML.
    #[oai(nullable)]
    pub description_part_2: Option<String>,
    /// Lowest current SKU price, two decimals (`"3.99"`); null when the product has no SKUs.
    #[oai(nullable)]
    pub price_low: Option<String>,
    /// Highest current SKU price, two decimals (`"5.99"`); null when the product has no SKUs.
    #[oai(nullable)]
    pub price_high: Option<String>,
    /// Site-relative URL of the main product image, or null.
    #[oai(nullable)]
    pub product_image_url: Option<String>,
}

/// `/order/product/{identifier}`: found, or the legacy error object.
#[derive(Union, Debug)]
#[oai(one_of)]
pub enum CatalogueProductReply {
    Found(CatalogueProductFound),
    NotFound(CatalogueProductNotFound),
}

#[derive(Object, Debug)]
pub struct CatalogueProductFound {
    /// `success`.
    pub product: String,
    /// The identifier from the path.
    pub product_identifier: String,
    pub product_data: CatalogueProductData,
    /// Always `0.0.1`.
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CatalogueProductNotFound {
    /// `error`.
    pub product: String,
    /// `{"error": "product-identifier-not-found"}`.
    pub errors: CatalogueErrorCode,
    /// The identifier from the path.
    pub product_identifier: String,
    /// Always `0.0.1`.
    #[oai(rename = "order-api-version")]
    pub order_api_version: String,
}

#[derive(Object, Debug)]
pub struct CatalogueErrorCode {
    /// `product-identifier-not-found`: no product has this identifier, or
    /// one of its SKUs has no price.
    pub error: String,
}

#[derive(Object, Debug)]
pub struct CatalogueProductData {
    pub title: String,
    pub title_url: String,
    pub identifier: String,
    #[oai(nullable)]
    pub headline: Option<String>,
    /// HTML.
    #[oai(nullable)]
    pub description_part_1: Option<String>,
    /// HTML.
    #[oai(nullable)]
    pub description_part_2: Option<String>,
    /// Keyed by image id; the main image first.
    pub product_images: KeyedMap<CatalogueImage>,
    /// Keyed by video id; the newest first.
    pub product_videos: KeyedMap<CatalogueVideo>,
    /// Keyed by SKU id, ascending (the storefront preselects the first).
    pub skus: KeyedMap<CatalogueSku>,
}

#[derive(Object, Debug)]
pub struct CatalogueImage {
    pub image_url: String,
    /// Whether this is the image shown by default.
    pub main: bool,
    #[oai(nullable)]
    pub caption: Option<String>,
}

#[derive(Object, Debug)]
pub struct CatalogueVideo {
    pub video_url: String,
    pub video_thumbnail_url: String,
    #[oai(nullable)]
    pub caption: Option<String>,
}

#[derive(Object, Debug)]
pub struct CatalogueSku {
    #[oai(nullable)]
    pub color: Option<String>,
    #[oai(nullable)]
    pub size: Option<String>,
    #[oai(nullable)]
    pub description: Option<String>,
    /// Current price, two decimals (`"3.50"`).
    pub price: String,
    /// `in-stock`, `back-ordered` or `out-of-stock`; only `in-stock` can be added to a cart.
    pub inventory_status_identifier: String,
    pub inventory_status_title: String,
    #[oai(nullable)]
    pub inventory_status_description: Option<String>,
    /// Keyed by image id; the main image first.
    pub sku_images: KeyedMap<CatalogueImage>,
}

fn image(i: db::Image) -> (i32, CatalogueImage) {
    (
        i.id,
        CatalogueImage {
            image_url: i.image_url,
            main: i.main,
            caption: i.caption,
        },
    )
}

impl From<db::ProductDetail> for CatalogueProductData {
    fn from(p: db::ProductDetail) -> Self {
        CatalogueProductData {
            title: p.title,
            title_url: p.title_url,
            identifier: p.identifier,
            headline: p.headline,
            description_part_1: p.description_part_1,
            description_part_2: p.description_part_2,
            product_images: p.images.into_iter().map(image).collect(),
            product_videos: p
                .videos
                .into_iter()
                .map(|v| {
                    (
                        v.id,
                        CatalogueVideo {
                            video_url: v.video_url,
                            video_thumbnail_url: v.video_thumbnail_url,
                            caption: v.caption,
                        },
                    )
                })
                .collect(),
            skus: p
                .skus
                .into_iter()
                .map(|s| {
                    (
                        s.id,
                        CatalogueSku {
                            color: s.color,
                            size: s.size,
                            description: s.description,
                            price: s.price.to_string(),
                            inventory_status_identifier: s.inventory_identifier,
                            inventory_status_title: s.inventory_title,
                            inventory_status_description: s.inventory_description,
                            sku_images: s.images.into_iter().map(image).collect(),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// The product route only matches `[A-Za-z0-9]+` (legacy URL pattern).
fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[OpenApi(tag = "ApiTags::Catalogue")]
impl CatalogueApi {
    /// Order API index: a plain greeting, never cached. The legacy path is
    /// `/order/` (with the slash), which serves the same page.
    #[oai(path = "/order", method = "get")]
    async fn order_index(&self) -> IndexPage {
        IndexPage::new(INDEX_TEXT)
    }

    /// All products with their price range and main image, keyed by product
    /// identifier in catalogue order.
    ///
    /// A product with a SKU that has no price is left out (the legacy service
    /// failed the whole list with a 500). Also used as the load balancer's
    /// health check, so it reads the catalogue in a single query.
    #[oai(path = "/order/products", method = "get")]
    async fn products(&self) -> Result<JsonBody<CatalogueProducts>, Failure<ServerErrors>> {
        let cache = &self.state.reference_cache;
        let ticket = match cache.products() {
            Lookup::Hit(body) => return Ok(JsonBody::from_encoded(body)),
            Lookup::Miss(ticket) => ticket,
        };
        let products = db::list_products(&self.state.pool).await?;
        let products_data = products
            .into_iter()
            .map(|p| {
                (
                    p.identifier.clone(),
                    CatalogueProductSummary {
                        title: p.title,
                        title_url: p.title_url,
                        identifier: p.identifier,
                        headline: p.headline,
                        description_part_1: p.description_part_1,
                        description_part_2: p.description_part_2,
                        price_low: p.price_low.map(|c| c.to_string()),
                        price_high: p.price_high.map(|c| c.to_string()),
                        product_image_url: p.product_image_url,
                    },
                )
            })
            .collect();
        let body = JsonBody::encode(&CatalogueProducts {
            products_data,
            order_api_version: ORDER_API_VERSION.to_owned(),
        })
        .map_err(encoding_failed)?;
        if let Some(ticket) = ticket {
            cache.store_products(ticket, body.bytes());
        }
        Ok(body)
    }

    /// One product with its images, videos and SKUs (current price and
    /// inventory status each).
    ///
    /// An unknown identifier, or a product with a SKU that has no price, is
    /// answered 200 with `"product": "error"` and the code
    /// `product-identifier-not-found`. An identifier that is not
    /// `[A-Za-z0-9]+` matches no route: 404 `not-found`.
    #[oai(path = "/order/product/:identifier", method = "get")]
    async fn product(
        &self,
        /// The product identifier, one or more ASCII letters and digits.
        identifier: Path<String>,
    ) -> Result<JsonBody<CatalogueProductReply>, Failure<RouteErrors>> {
        let identifier = identifier.0;
        if !is_identifier(&identifier) {
            return Err(AppError::RouteNotFound {
                method: "GET".to_owned(),
                path: format!("/order/product/{identifier}"),
            }
            .into());
        }
        let cache = &self.state.reference_cache;
        let ticket = match cache.product_page(&identifier) {
            Lookup::Hit(body) => return Ok(JsonBody::from_encoded(body)),
            Lookup::Miss(ticket) => ticket,
        };
        let reply = match db::product_by_identifier(&self.state.pool, &identifier).await? {
            Ok(product) => CatalogueProductReply::Found(CatalogueProductFound {
                product: "success".to_owned(),
                product_identifier: identifier.clone(),
                product_data: product.into(),
                order_api_version: ORDER_API_VERSION.to_owned(),
            }),
            Err(reason) => {
                if reason == ProductUnavailable::SkuWithoutPrice {
                    tracing::warn!(%identifier, "product has a SKU without a price; reported as not found");
                }
                CatalogueProductReply::NotFound(CatalogueProductNotFound {
                    product: "error".to_owned(),
                    errors: CatalogueErrorCode {
                        error: "product-identifier-not-found".to_owned(),
                    },
                    product_identifier: identifier.clone(),
                    order_api_version: ORDER_API_VERSION.to_owned(),
                })
            }
        };
        let body = JsonBody::encode(&reply).map_err(encoding_failed)?;
        // Only pages that exist are kept: unknown identifiers are unbounded.
        if let (CatalogueProductReply::Found(_), Some(ticket)) = (&reply, ticket) {
            cache.store_product_page(ticket, &identifier, body.bytes());
        }
        Ok(body)
    }
}

fn encoding_failed(err: serde_json::Error) -> AppError {
    AppError::Internal(anyhow::Error::new(err).context("encoding a catalogue response"))
}
