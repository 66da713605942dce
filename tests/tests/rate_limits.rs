//! Shared rate-limit counters (`db::rate_limits::hit`) against a real
//! PostgreSQL: the limit, the Retry-After value, independence of keys and
//! buckets, atomicity under concurrency, key truncation and clean-up.

use std::time::Duration;

use futures_util::future::join_all;
use sqlx::PgPool;
use startupwebapp::config::RateLimit;
use startupwebapp::db::rate_limits::{Decision, hit};

fn limit(max: u32, secs: u64) -> RateLimit {
    RateLimit {
        max,
        window: Duration::from_secs(secs),
    }
}

async fn hit_ok(pool: &PgPool, bucket: &str, key: &str, limit: RateLimit) -> Decision {
    hit(pool, bucket, key, limit).await.expect("hit counts")
}

fn retry_after(decision: Decision) -> u64 {
    match decision {
        Decision::Limited { retry_after_secs } => retry_after_secs,
        Decision::Allowed => panic!("expected Limited, got Allowed"),
    }
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn max_requests_pass_then_the_next_is_limited(pool: PgPool) {
    // A day-long window: the test cannot straddle a window boundary.
    let l = limit(3, 86_400);
    for n in 1..=3 {
        assert_eq!(
            hit_ok(&pool, "login", "203.0.113.9", l).await,
            Decision::Allowed,
            "hit {n}"
        );
    }
    for _ in 0..2 {
        let secs = retry_after(hit_ok(&pool, "login", "203.0.113.9", l).await);
        assert!((1..=86_400).contains(&secs), "retry after {secs}");
    }
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn retry_after_is_within_a_short_window(pool: PgPool) {
    let l = limit(1, 5);
    // Counting twice within one second either shares a window (limited,
    // 1..=5 seconds left) or crossed into a new one (allowed again).
    assert_eq!(hit_ok(&pool, "b", "k", l).await, Decision::Allowed);
    match hit_ok(&pool, "b", "k", l).await {
        Decision::Limited { retry_after_secs } => {
            assert!((1..=5).contains(&retry_after_secs), "{retry_after_secs}");
        }
        Decision::Allowed => {}
    }
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn windows_are_aligned_to_the_epoch_on_the_database_clock(pool: PgPool) {
    hit_ok(&pool, "aligned", "k", limit(5, 3_600)).await;
    let (start, expected): (i64, i64) = sqlx::query_as(
        "SELECT extract(epoch FROM window_start)::bigint, \
                (floor(extract(epoch FROM now()) / 3600) * 3600)::bigint \
         FROM swa_rate_limit WHERE bucket = 'aligned'",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!(start % 3_600, 0);
    // Equal unless the hour turned between the two statements.
    assert!(expected - start == 0 || expected - start == 3_600);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn keys_and_buckets_are_independent(pool: PgPool) {
    let l = limit(2, 86_400);
    for _ in 0..2 {
        assert_eq!(hit_ok(&pool, "login", "a", l).await, Decision::Allowed);
    }
    retry_after(hit_ok(&pool, "login", "a", l).await);
    // Another key in the same bucket, and the same key in another bucket.
    for _ in 0..2 {
        assert_eq!(hit_ok(&pool, "login", "b", l).await, Decision::Allowed);
        assert_eq!(
            hit_ok(&pool, "create_account", "a", l).await,
            Decision::Allowed
        );
    }
    retry_after(hit_ok(&pool, "login", "b", l).await);
    retry_after(hit_ok(&pool, "create_account", "a", l).await);
    // "a" in login is still limited.
    retry_after(hit_ok(&pool, "login", "a", l).await);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn concurrent_hits_are_counted_exactly(pool: PgPool) {
    let l = limit(10, 86_400);
    let tasks = (0..20).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { hit(&pool, "burst", "203.0.113.9", l).await })
    });
    let decisions: Vec<Decision> = join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("hit counts"))
        .collect();
    let allowed = decisions
        .iter()
        .filter(|d| **d == Decision::Allowed)
        .count();
    assert_eq!(allowed, 10, "{decisions:?}");
    let hits: i32 = sqlx::query_scalar("SELECT hits FROM swa_rate_limit WHERE bucket = 'burst'")
        .fetch_one(&pool)
        .await
        .expect("one row");
    assert_eq!(hits, 20);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn long_keys_are_truncated_to_200_characters(pool: PgPool) {
    let l = limit(1, 86_400);
    // Multi-byte characters: the column counts characters, not bytes.
    let long = "é".repeat(300);
    let same_prefix = format!("{}x", "é".repeat(250));
    assert_eq!(hit_ok(&pool, "reset", &long, l).await, Decision::Allowed);
    // Same first 200 characters: the same counter.
    retry_after(hit_ok(&pool, "reset", &same_prefix, l).await);
    let stored: i32 = sqlx::query_scalar(
        "SELECT char_length(client_key) FROM swa_rate_limit WHERE bucket = 'reset'",
    )
    .fetch_one(&pool)
    .await
    .expect("one row");
    assert_eq!(stored, 200);
}

#[sqlx::test(migrator = "startupwebapp::db::MIGRATOR")]
async fn a_new_window_deletes_the_buckets_old_rows(pool: PgPool) {
    sqlx::query(
        "INSERT INTO swa_rate_limit (bucket, client_key, window_start, hits) VALUES \
         ('login', 'old', now() - interval '3 days', 7), \
         ('login', 'recent', now() - interval '2 hours', 7), \
         ('other', 'old', now() - interval '3 days', 7)",
    )
    .execute(&pool)
    .await
    .expect("seed");
    // A first hit (hits == 1) triggers the clean-up of its bucket only.
    hit_ok(&pool, "login", "new", limit(5, 3_600)).await;
    let keys: Vec<(String, String)> =
        sqlx::query_as("SELECT bucket, client_key FROM swa_rate_limit ORDER BY bucket, client_key")
            .fetch_all(&pool)
            .await
            .expect("rows");
    let keys: Vec<(&str, &str)> = keys.iter().map(|(b, k)| (b.as_str(), k.as_str())).collect();
    assert_eq!(
        keys,
        [("login", "new"), ("login", "recent"), ("other", "old")]
    );
}
