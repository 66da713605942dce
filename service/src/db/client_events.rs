//! Client events: append-only analytics rows, one `INSERT` per request.
//!
//! The storefront sends an unverified user id (`client_event_id`) or the
//! marketing codes of a link; each is resolved inside the same statement by
//! a sub-select on an indexed column, so an unknown value becomes NULL
//! without an extra round trip and without tripping the foreign keys.
//! Values arrive already fitted to their columns (see `api::client_events`).

use sqlx::PgPool;

/// Fields common to every event.
#[derive(Debug, Clone, Default)]
pub struct EventSource {
    /// `auth_user.id` as the client claims it; stored only if it exists.
    pub user_id: Option<i32>,
    pub anonymous_id: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, Default)]
pub struct PageView {
    pub source: EventSource,
    pub page_width: Option<i32>,
    pub remote_addr: Option<String>,
    pub http_user_agent: Option<String>,
}

pub async fn insert_page_view(pool: &PgPool, event: &PageView) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO clientevent_pageview \
             (user_id, anonymous_id, url, page_width, remote_addr, http_user_agent, created_date_time) \
         VALUES ((SELECT id FROM auth_user WHERE id = $1), $2, $3, $4, $5, $6, now())",
    )
    .bind(event.source.user_id)
    .bind(&event.source.anonymous_id)
    .bind(&event.source.url)
    .bind(event.page_width)
    .bind(&event.remote_addr)
    .bind(&event.http_user_agent)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn insert_ajax_error(
    pool: &PgPool,
    source: &EventSource,
    error_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO clientevent_ajax_error \
             (user_id, anonymous_id, url, error_id, created_date_time) \
         VALUES ((SELECT id FROM auth_user WHERE id = $1), $2, $3, $4, now())",
    )
    .bind(source.user_id)
    .bind(&source.anonymous_id)
    .bind(&source.url)
    .bind(error_id)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn insert_button_click(
    pool: &PgPool,
    source: &EventSource,
    button_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO clientevent_button_click \
             (user_id, anonymous_id, url, button_id, created_date_time) \
         VALUES ((SELECT id FROM auth_user WHERE id = $1), $2, $3, $4, now())",
    )
    .bind(source.user_id)
    .bind(&source.anonymous_id)
    .bind(&source.url)
    .bind(button_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// The marketing codes of a link event; `None` means "not sent".
#[derive(Debug, Clone, Default)]
pub struct LinkCodes {
    /// `user_member.mb_cd` → that member's user.
    pub mb_cd: Option<String>,
    /// `user_prospect.pr_cd`.
    pub pr_cd: Option<String>,
    /// `user_email.em_cd`.
    pub em_cd: Option<String>,
    /// `user_ad.ad_cd`.
    pub ad_cd: Option<String>,
}

/// Which of the sent codes matched a row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkResolution {
    pub user: bool,
    pub prospect: bool,
    pub email: bool,
    pub ad: bool,
}

pub async fn insert_link_event(
    pool: &PgPool,
    anonymous_id: Option<&str>,
    url: &str,
    codes: &LinkCodes,
) -> Result<LinkResolution, sqlx::Error> {
    let (user, prospect, email, ad): (bool, bool, bool, bool) = sqlx::query_as(
        "INSERT INTO clientevent_linkevent \
             (user_id, prospect_id, anonymous_id, email_id, ad_id, url, created_date_time) \
         VALUES ((SELECT user_id FROM user_member WHERE mb_cd = $1), \
                 (SELECT id FROM user_prospect WHERE pr_cd = $2), \
                 $3, \
                 (SELECT id FROM user_email WHERE em_cd = $4), \
                 (SELECT id FROM user_ad WHERE ad_cd = $5), \
                 $6, now()) \
         RETURNING user_id IS NOT NULL, prospect_id IS NOT NULL, \
                   email_id IS NOT NULL, ad_id IS NOT NULL",
    )
    .bind(&codes.mb_cd)
    .bind(&codes.pr_cd)
    .bind(anonymous_id)
    .bind(&codes.em_cd)
    .bind(&codes.ad_cd)
    .bind(url)
    .fetch_one(pool)
    .await?;
    Ok(LinkResolution {
        user,
        prospect,
        email,
        ad,
    })
}

/// The global switch the storefront reads from `/user/logged-in`. The legacy
/// failed without its row; a missing row here means logging stays on (the
/// column's default).
pub async fn logging_enabled(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let enabled: Option<bool> = sqlx::query_scalar(
        "SELECT log_client_events FROM clientevent_configuration ORDER BY id LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(enabled.unwrap_or(true))
}
