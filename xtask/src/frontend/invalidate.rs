//! CloudFront invalidation of what a deploy replaced or removed, and the wait
//! for it. Pages are not cached at the edge (CachingDisabled), so they cost
//! nothing to include and stay correct if that policy ever changes.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow};
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};

use crate::util;

/// Above this many paths one `/*` is sent instead: each path is billed (after
/// 1000 a month) and a wildcard counts as one.
pub const MAX_PATHS: usize = 15;

/// Viewer paths of the stale keys: `x/index.html` → `/x` and `/x/index.html`,
/// `index.html` → `/` and `/index.html`, others `/key`; `/*` when there are
/// more than [`MAX_PATHS`]; empty when nothing is stale.
pub fn paths_for(stale_keys: &[String]) -> Vec<String> {
    let mut paths = Vec::new();
    for key in stale_keys {
        let encoded = encode(key);
        if key == "index.html" {
            paths.push("/".to_string());
        } else if let Some(dir) = encoded.strip_suffix("/index.html") {
            paths.push(format!("/{dir}"));
        }
        paths.push(format!("/{encoded}"));
    }
    paths.sort();
    paths.dedup();
    if paths.len() > MAX_PATHS {
        vec!["/*".to_string()]
    } else {
        paths
    }
}

/// Percent-encodes what CloudFront requires encoded in an invalidation path
/// (anything outside unreserved characters and `/`); `*` would be a wildcard.
fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub fn describe(distribution_id: &str, paths: &[String]) -> String {
    format!("CreateInvalidation {distribution_id}: {}", paths.join(" "))
}

/// Creates the invalidation and returns its id.
pub async fn create(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
    paths: &[String],
) -> Result<String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let batch = InvalidationBatch::builder()
        .paths(
            Paths::builder()
                .quantity(i32::try_from(paths.len()).context("too many invalidation paths")?)
                .set_items(Some(paths.to_vec()))
                .build()?,
        )
        // Unique per request: CloudFront treats a repeated reference as a retry.
        .caller_reference(format!("xtask-frontend-deploy-{nanos}"))
        .build()?;
    let answer = cloudfront
        .create_invalidation()
        .distribution_id(distribution_id)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot invalidate on distribution {distribution_id} (needs \
                 cloudfront:CreateInvalidation; check --distribution-id / the frontend stack): {}",
                super::sdk_error_text(&e)
            )
        })?;
    Ok(answer
        .invalidation()
        .context("CloudFront returned no invalidation")?
        .id()
        .to_string())
}

/// Polls GetInvalidation every `interval` until it is completed or `timeout`
/// passes. A timeout is only a warning: the files are uploaded, and the edge
/// catches up on its own.
pub async fn wait(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
    id: &str,
    timeout: Duration,
    interval: Duration,
) -> Result<bool> {
    let started = Instant::now();
    loop {
        let answer = cloudfront
            .get_invalidation()
            .distribution_id(distribution_id)
            .id(id)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot read invalidation {id} (needs cloudfront:GetInvalidation): {}",
                    super::sdk_error_text(&e)
                )
            })?;
        let status = answer
            .invalidation()
            .map(|i| i.status().to_string())
            .unwrap_or_default();
        // CloudFront says "Completed"; moto says "COMPLETED".
        if status.eq_ignore_ascii_case("completed") {
            util::note(&format!(
                "invalidation {id} completed after {}s",
                started.elapsed().as_secs()
            ));
            return Ok(true);
        }
        if started.elapsed() >= timeout {
            util::note(&format!(
                "warning: invalidation {id} is still {status} after {}s; the upload is done and \
                 the edge will catch up. Check it with: aws cloudfront get-invalidation \
                 --distribution-id {distribution_id} --id {id}",
                timeout.as_secs()
            ));
            return Ok(false);
        }
        util::note(&format!(
            "waiting for invalidation {id}: {status} ({}s of at most {}s)",
            started.elapsed().as_secs(),
            timeout.as_secs()
        ));
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly
mod tests {
    use super::*;

    fn keys(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn pages_are_invalidated_under_both_paths() {
        assert_eq!(
            paths_for(&keys(&[
                "index.html",
                "about/index.html",
                "js/a-1.js",
                "account/index.html"
            ])),
            [
                "/",
                "/about",
                "/about/index.html",
                "/account",
                "/account/index.html",
                "/index.html",
                "/js/a-1.js"
            ]
        );
    }

    #[test]
    fn nothing_stale_means_no_paths_and_many_mean_one_wildcard() {
        assert!(paths_for(&[]).is_empty());
        let fifteen: Vec<String> = (0..15).map(|i| format!("img/{i}.png")).collect();
        assert_eq!(paths_for(&fifteen).len(), 15);
        let eight_pages: Vec<String> = (0..8).map(|i| format!("p{i}/index.html")).collect();
        assert_eq!(paths_for(&eight_pages), ["/*"]);
    }

    #[test]
    fn special_characters_are_percent_encoded() {
        assert_eq!(paths_for(&keys(&["img/a b*.png"])), ["/img/a%20b%2A.png"]);
    }
}
