//! Catalogue reads: the product list and one product with its images,
//! videos and SKUs. Each is a single statement; prices are read as integer
//! cents (`(price * 100)::int8`), the current price of a SKU being its price
//! row with the latest `created_date_time` (ties broken by the newer id).

use serde::Deserialize;
use sqlx::PgPool;
use sqlx::types::Json;

use crate::domain::money::Cents;

/// One entry of the product list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSummary {
    pub title: String,
    pub title_url: String,
    pub identifier: String,
    pub headline: Option<String>,
    pub description_part_1: Option<String>,
    pub description_part_2: Option<String>,
    /// Lowest and highest current price over the product's SKUs; `None`
    /// when the product has no SKUs.
    pub price_low: Option<Cents>,
    pub price_high: Option<Cents>,
    /// The main product image (the lowest id if several are marked main).
    pub product_image_url: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ProductSummaryRow {
    title: String,
    title_url: String,
    identifier: String,
    headline: Option<String>,
    description_part_1: Option<String>,
    description_part_2: Option<String>,
    price_low: Option<i64>,
    price_high: Option<i64>,
    product_image_url: Option<String>,
}

/// Every product that can be shown, in id order (the legacy listed them in
/// database order; ids make that stable).
///
/// A product with a SKU that has no price row is left out: the legacy list
/// answered 500 for the whole catalogue, and its product page reports such a
/// product as not found, so listing it would only link to an error.
pub async fn list_products(pool: &PgPool) -> Result<Vec<ProductSummary>, sqlx::Error> {
    let rows: Vec<ProductSummaryRow> = sqlx::query_as(
        r#"
        SELECT p.title, p.title_url, p.identifier, p.headline,
               p.description_part_1, p.description_part_2,
               prices.price_low, prices.price_high,
               image.image_url AS product_image_url
        FROM order_product p
        CROSS JOIN LATERAL (
            SELECT min(current.cents) AS price_low,
                   max(current.cents) AS price_high,
                   count(*) FILTER (WHERE current.cents IS NULL) AS unpriced
            FROM order_product_sku ps
            LEFT JOIN LATERAL (
                SELECT (sp.price * 100)::int8 AS cents
                FROM order_sku_price sp
                WHERE sp.sku_id = ps.sku_id
                ORDER BY sp.created_date_time DESC, sp.id DESC
                LIMIT 1
            ) current ON true
            WHERE ps.product_id = p.id
        ) prices
        LEFT JOIN LATERAL (
            SELECT i.image_url
            FROM order_product_image i
            WHERE i.product_id = p.id AND i.main_image
            ORDER BY i.id
            LIMIT 1
        ) image ON true
        WHERE prices.unpriced = 0
        ORDER BY p.id
        "#,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ProductSummary {
            title: r.title,
            title_url: r.title_url,
            identifier: r.identifier,
            headline: r.headline,
            description_part_1: r.description_part_1,
            description_part_2: r.description_part_2,
            price_low: r.price_low.map(Cents),
            price_high: r.price_high.map(Cents),
            product_image_url: r.product_image_url,
        })
        .collect())
}

/// An image of a product or a SKU.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Image {
    pub id: i32,
    pub image_url: String,
    pub main: bool,
    pub caption: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Video {
    pub id: i32,
    pub video_url: String,
    pub video_thumbnail_url: String,
    pub caption: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku {
    pub id: i32,
    pub color: Option<String>,
    pub size: Option<String>,
    pub description: Option<String>,
    pub price: Cents,
    pub inventory_identifier: String,
    pub inventory_title: String,
    pub inventory_description: Option<String>,
    /// Main image first, then by id.
    pub images: Vec<Image>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDetail {
    pub title: String,
    pub title_url: String,
    pub identifier: String,
    pub headline: Option<String>,
    pub description_part_1: Option<String>,
    pub description_part_2: Option<String>,
    /// Main image first, then by id.
    pub images: Vec<Image>,
    /// Newest id first.
    pub videos: Vec<Video>,
    /// Ascending SKU id.
    pub skus: Vec<Sku>,
}

#[derive(Deserialize)]
struct SkuJson {
    id: i32,
    color: Option<String>,
    size: Option<String>,
    description: Option<String>,
    price_cents: Option<i64>,
    inventory_identifier: String,
    inventory_title: String,
    inventory_description: Option<String>,
    images: Vec<Image>,
}

#[derive(sqlx::FromRow)]
struct ProductDetailRow {
    title: String,
    title_url: String,
    identifier: String,
    headline: Option<String>,
    description_part_1: Option<String>,
    description_part_2: Option<String>,
    images: Json<Vec<Image>>,
    videos: Json<Vec<Video>>,
    skus: Json<Vec<SkuJson>>,
}

/// Why a product cannot be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductUnavailable {
    /// No product has this identifier.
    Unknown,
    /// One of its SKUs has no price row, so the page cannot be built.
    SkuWithoutPrice,
}

/// One product by its identifier (the unique, indexed column), with
/// everything its page shows, in one statement.
pub async fn product_by_identifier(
    pool: &PgPool,
    identifier: &str,
) -> Result<Result<ProductDetail, ProductUnavailable>, sqlx::Error> {
    let row: Option<ProductDetailRow> = sqlx::query_as(
        r#"
        SELECT p.title, p.title_url, p.identifier, p.headline,
               p.description_part_1, p.description_part_2,
               (SELECT COALESCE(json_agg(json_build_object(
                           'id', i.id, 'image_url', i.image_url,
                           'main', i.main_image, 'caption', i.caption)
                       ORDER BY i.main_image DESC, i.id), '[]'::json)
                FROM order_product_image i
                WHERE i.product_id = p.id) AS images,
               (SELECT COALESCE(json_agg(json_build_object(
                           'id', v.id, 'video_url', v.video_url,
                           'video_thumbnail_url', v.video_thumbnail_url,
                           'caption', v.caption)
                       ORDER BY v.id DESC), '[]'::json)
                FROM order_product_video v
                WHERE v.product_id = p.id) AS videos,
               (SELECT COALESCE(json_agg(json_build_object(
                           'id', s.id, 'color', s.color, 'size', s.size,
                           'description', s.description,
                           'price_cents', (
                               SELECT (sp.price * 100)::int8
                               FROM order_sku_price sp
                               WHERE sp.sku_id = s.id
                               ORDER BY sp.created_date_time DESC, sp.id DESC
                               LIMIT 1),
                           'inventory_identifier', inv.identifier,
                           'inventory_title', inv.title,
                           'inventory_description', inv.description,
                           'images', (
                               SELECT COALESCE(json_agg(json_build_object(
                                           'id', si.id, 'image_url', si.image_url,
                                           'main', si.main_image, 'caption', si.caption)
                                       ORDER BY si.main_image DESC, si.id), '[]'::json)
                               FROM order_sku_image si
                               WHERE si.sku_id = s.id))
                       ORDER BY s.id), '[]'::json)
                FROM order_product_sku ps
                JOIN order_sku s ON s.id = ps.sku_id
                JOIN order_sku_inventory inv ON inv.id = s.sku_inventory_id
                WHERE ps.product_id = p.id) AS skus
        FROM order_product p
        WHERE p.identifier = $1
        "#,
    )
    .bind(identifier)
    .fetch_optional(pool)
    .await?;

    let Some(row) = row else {
        return Ok(Err(ProductUnavailable::Unknown));
    };
    let mut skus = Vec::with_capacity(row.skus.0.len());
    for sku in row.skus.0 {
        let Some(cents) = sku.price_cents else {
            return Ok(Err(ProductUnavailable::SkuWithoutPrice));
        };
        skus.push(Sku {
            id: sku.id,
            color: sku.color,
            size: sku.size,
            description: sku.description,
            price: Cents(cents),
            inventory_identifier: sku.inventory_identifier,
            inventory_title: sku.inventory_title,
            inventory_description: sku.inventory_description,
            images: sku.images,
        });
    }
    Ok(Ok(ProductDetail {
        title: row.title,
        title_url: row.title_url,
        identifier: row.identifier,
        headline: row.headline,
        description_part_1: row.description_part_1,
        description_part_2: row.description_part_2,
        images: row.images.0,
        videos: row.videos.0,
        skus,
    }))
}
