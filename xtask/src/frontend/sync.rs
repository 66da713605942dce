//! Brings the bucket in line with the plan: decides what changed, uploads
//! it with its headers in one pass, and deletes what the folder no longer has.
//!
//! Change detection: ListObjectsV2 gives every key with its ETag, which for a
//! single-part upload to an SSE-S3 bucket is the MD5 of the content. A
//! different ETag means new content. An equal ETag can still hide wrong
//! headers (an older deploy, a hand edit in the console), and listings carry
//! no headers, so those objects get a HeadObject each and are re-uploaded when
//! Content-Type or Cache-Control differ. HeadObject reads the real headers, so
//! no side record (a stored hash in metadata, a manifest object) can drift.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::plan::{Plan, PlannedFile};
use crate::util;

/// Why a file is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    New,
    Content,
    Headers,
}

impl Reason {
    fn label(self) -> &'static str {
        match self {
            Reason::New => "new",
            Reason::Content => "content changed",
            Reason::Headers => "headers changed",
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Sorted by key.
    pub uploads: Vec<(String, Reason)>,
    /// Keys in the bucket that the plan lacks, sorted.
    pub deletes: Vec<String>,
}

impl Changes {
    /// Keys whose old copy a cache may hold: replaced or deleted objects.
    /// New keys had no copy to go stale.
    pub fn stale_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .uploads
            .iter()
            .filter(|(_, reason)| *reason != Reason::New)
            .map(|(key, _)| key.clone())
            .chain(self.deletes.iter().cloned())
            .collect();
        keys.sort();
        keys
    }
}

/// First pass, pure: compares the plan with the listing (key → ETag).
/// Returns the changes known from ETags alone and the keys whose ETag
/// matches, which still need their headers checked.
pub fn compare_listing(plan: &Plan, listing: &BTreeMap<String, String>) -> (Changes, Vec<String>) {
    let mut changes = Changes::default();
    let mut same_content = Vec::new();
    for file in &plan.files {
        match listing.get(&file.key) {
            None => changes.uploads.push((file.key.clone(), Reason::New)),
            // Multipart ETags ("…-3") are not an MD5: such an object is replaced.
            Some(etag) if etag.trim_matches('"') != file.md5_hex => {
                changes.uploads.push((file.key.clone(), Reason::Content));
            }
            Some(_) => same_content.push(file.key.clone()),
        }
    }
    changes.deletes = listing
        .keys()
        .filter(|key| plan.get(key).is_none())
        .cloned()
        .collect();
    (changes, same_content)
}

pub async fn list(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<BTreeMap<String, String>> {
    let mut listing = BTreeMap::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "cannot list s3://{bucket} (needs s3:ListBucket; check --bucket / the \
                 frontend stack and your AWS credentials): {}",
                super::sdk_error_text(&e)
            )
        })?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                listing.insert(
                    key.to_string(),
                    object.e_tag().unwrap_or_default().to_string(),
                );
            }
        }
    }
    Ok(listing)
}

/// Second pass: HeadObject on the keys whose content is unchanged; adds the
/// ones whose headers differ from the plan to `changes`.
pub async fn check_headers(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    plan: &Plan,
    same_content: &[String],
    concurrency: usize,
    changes: &mut Changes,
) -> Result<()> {
    let differing: Vec<Option<String>> = stream::iter(same_content)
        .map(|key| async move {
            let head = s3
                .head_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read the headers of s3://{bucket}/{key} (needs s3:GetObject): {}",
                        super::sdk_error_text(&e)
                    )
                })?;
            let file = plan.get(key).context("key vanished from the plan")?;
            let same = head.content_type() == Some(file.content_type)
                && head.cache_control() == Some(file.cache_control);
            Ok::<_, anyhow::Error>((!same).then(|| key.clone()))
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    changes.uploads.extend(
        differing
            .into_iter()
            .flatten()
            .map(|key| (key, Reason::Headers)),
    );
    changes.uploads.sort();
    Ok(())
}

pub fn describe_upload(bucket: &str, file: &PlannedFile, reason: Reason) -> String {
    format!(
        "PutObject s3://{bucket}/{} ({}; Content-Type: {}; Cache-Control: {}; {} bytes)",
        file.key,
        reason.label(),
        file.content_type,
        file.cache_control,
        file.size
    )
}

/// PutObject for every upload, `concurrency` at a time, each with its final
/// Content-Type and Cache-Control.
pub async fn upload(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    plan: &Plan,
    uploads: &[(String, Reason)],
    concurrency: usize,
) -> Result<()> {
    let total = uploads.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    stream::iter(uploads)
        .map(|(key, reason)| {
            let done = &done;
            async move {
                let file = plan.get(key).context("key vanished from the plan")?;
                let body = tokio::fs::read(&file.source)
                    .await
                    .with_context(|| format!("cannot read {}", file.source.display()))?;
                s3.put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body))
                    .content_type(file.content_type)
                    .cache_control(file.cache_control)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "cannot upload s3://{bucket}/{key} (needs s3:PutObject): {}",
                            super::sdk_error_text(&e)
                        )
                    })?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                util::note(&format!(
                    "[{n}/{total}] {}",
                    describe_upload(bucket, file, *reason)
                ));
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await
}

/// DeleteObjects in batches of 1000 (the API's limit).
pub async fn delete(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[String]) -> Result<()> {
    for batch in keys.chunks(1000) {
        let objects = batch
            .iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()?;
        let answer = s3
            .delete_objects()
            .bucket(bucket)
            .delete(
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot delete stale objects from s3://{bucket} (needs s3:DeleteObject): {}",
                    super::sdk_error_text(&e)
                )
            })?;
        if !answer.errors().is_empty() {
            let failed: Vec<String> = answer
                .errors()
                .iter()
                .map(|e| {
                    format!(
                        "{} ({})",
                        e.key().unwrap_or("?"),
                        e.message().or(e.code()).unwrap_or("unknown error")
                    )
                })
                .collect();
            bail!("S3 did not delete {}: {}", failed.len(), failed.join(", "));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly
mod tests {
    use super::super::plan::{plan, tests::sample_storefront};
    use super::*;

    #[test]
    fn listing_comparison_finds_new_changed_same_and_stale_keys() {
        let dir = sample_storefront();
        let plan = plan(&dir.0).unwrap();
        let md5 = |key: &str| plan.get(key).unwrap().md5_hex.clone();
        let mut listing = BTreeMap::new();
        for file in &plan.files {
            listing.insert(file.key.clone(), format!("\"{}\"", file.md5_hex));
        }
        listing.remove("about/index.html");
        listing.insert("index.html".into(), "\"0123\"".into());
        listing.insert(
            "js/index-0.0.2.js".into(),
            format!("\"{}-2\"", md5("js/index-0.0.2.js")),
        );
        listing.insert("about".into(), "\"legacy\"".into());
        listing.insert("js/old-0.0.1.js".into(), "\"old\"".into());

        let (changes, same) = compare_listing(&plan, &listing);
        assert_eq!(
            changes.uploads,
            [
                ("about/index.html".to_string(), Reason::New),
                ("index.html".to_string(), Reason::Content),
                ("js/index-0.0.2.js".to_string(), Reason::Content),
            ]
        );
        assert_eq!(changes.deletes, ["about", "js/old-0.0.1.js"]);
        assert_eq!(same.len(), plan.files.len() - 3);
        assert!(same.contains(&"robots.txt".to_string()));
        assert_eq!(
            changes.stale_keys(),
            [
                "about",
                "index.html",
                "js/index-0.0.2.js",
                "js/old-0.0.1.js"
            ]
        );
    }
}
