//! `cargo xtask frontend deploy`: uploads the storefront folder to a tenant's
//! bucket and invalidates what changed on its CloudFront distribution.
//!
//! - `plan.rs`: folder → object keys with Content-Type, Cache-Control, MD5
//! - `sync.rs`: what changed against the bucket; PutObject / DeleteObjects
//! - `invalidate.rs`: which viewer paths to invalidate; create and wait
//!
//! AWS actions: cloudformation:DescribeStacks (only with --tenant),
//! s3:ListBucket (ListObjectsV2), s3:GetObject (HeadObject), s3:PutObject,
//! s3:DeleteObject (DeleteObjects), cloudfront:CreateInvalidation,
//! cloudfront:GetInvalidation.

mod invalidate;
mod plan;
mod sync;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed set-up step should fail the test loudly
mod moto_tests;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::aws::{self, Recorder};
use crate::util;
use plan::Plan;
use sync::Reason;

#[derive(Subcommand)]
pub enum FrontendCommand {
    /// Upload the storefront folder to a tenant's bucket (pages as <path>/index.html,
    /// cache headers per type), delete stale objects, invalidate what changed.
    Deploy(DeployArgs),
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The storefront checkout (the folder holding index.html).
    #[arg(long)]
    dir: PathBuf,
    /// Tenant whose `<prefix>-<tenant>-frontend` stack names the bucket and distribution.
    #[arg(long, required_unless_present_all = ["bucket", "distribution_id"])]
    tenant: Option<String>,
    /// Bucket to upload to (default: the stack output FrontendBucketName).
    #[arg(long)]
    bucket: Option<String>,
    /// Distribution to invalidate (default: the stack output DistributionId).
    #[arg(long)]
    distribution_id: Option<String>,
    /// Print every PutObject, DeleteObjects and CreateInvalidation without making it.
    #[arg(long)]
    dry_run: bool,
    /// Uploads (and header checks) in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Seconds to wait for the invalidation to complete (0: do not wait).
    #[arg(long, default_value_t = 600)]
    wait_secs: u64,
    #[command(flatten)]
    env: aws::Env,
}

pub fn run(command: FrontendCommand) -> Result<()> {
    let FrontendCommand::Deploy(args) = command;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(deploy_command(args))
}

async fn deploy_command(args: DeployArgs) -> Result<()> {
    util::step(&format!(
        "planning the storefront upload from {}",
        args.dir.display()
    ));
    let plan = plan::plan(&args.dir)?;
    util::note(&format!(
        "{} files, {} KiB; skipped: {}",
        plan.files.len(),
        plan.total_bytes().div_ceil(1024),
        if plan.skipped.is_empty() {
            "nothing".to_string()
        } else {
            plan.skipped.join(", ")
        }
    ));
    let sdk = aws::sdk_config(args.env.region.as_deref()).await;
    let target = resolve_target(&sdk, &args).await?;
    let options = Options {
        concurrency: usize::from(args.concurrency),
        wait_timeout: Duration::from_secs(args.wait_secs),
        poll_interval: Duration::from_secs(10),
    };
    let recorder = Recorder::new(args.dry_run);
    let outcome = deploy(&Clients::new(&sdk), &plan, &target, &options, &recorder).await?;
    util::note(&format!(
        "{}{} uploaded, {} deleted, {} paths invalidated",
        if args.dry_run {
            "dry run, would have: "
        } else {
            ""
        },
        outcome.uploads.len(),
        outcome.deletes.len(),
        outcome.invalidation_paths.len()
    ));
    Ok(())
}

/// An SDK error in one line: the service's code and message when AWS
/// answered (the full context dumps the raw HTTP response), else the causes
/// (credentials, connection).
fn sdk_error_text<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        aws_sdk_s3::error::SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("no message")
            )
        }
        other => aws_sdk_s3::error::DisplayErrorContext(other).to_string(),
    }
}

/// Where to upload and what to invalidate.
#[derive(Debug, Clone)]
pub struct Target {
    pub bucket: String,
    pub distribution_id: String,
}

/// `--bucket` / `--distribution-id` when given, else the outputs of the
/// tenant's frontend stack.
async fn resolve_target(sdk: &aws_config::SdkConfig, args: &DeployArgs) -> Result<Target> {
    if let (Some(bucket), Some(distribution_id)) = (&args.bucket, &args.distribution_id) {
        return Ok(Target {
            bucket: bucket.clone(),
            distribution_id: distribution_id.clone(),
        });
    }
    let tenant = args
        .tenant
        .as_deref()
        .context("pass --tenant, or both --bucket and --distribution-id")?;
    let stack = format!("{}-{tenant}-frontend", args.env.stack_prefix);
    util::step(&format!("reading the outputs of stack {stack}"));
    let outputs = aws::outputs::stack_outputs(sdk, &stack).await?;
    let output = |name: &str| {
        outputs.get(name).cloned().with_context(|| {
            format!("stack {stack} has no output {name}: deploy the current infra-cdk app")
        })
    };
    Ok(Target {
        bucket: match &args.bucket {
            Some(bucket) => bucket.clone(),
            None => output("FrontendBucketName")?,
        },
        distribution_id: match &args.distribution_id {
            Some(id) => id.clone(),
            None => output("DistributionId")?,
        },
    })
}

pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
}

impl Clients {
    /// With an endpoint override (an emulator such as moto), S3 is addressed
    /// path-style: `bucket.127.0.0.1` does not resolve.
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3),
            cloudfront: aws_sdk_cloudfront::Client::new(sdk),
        }
    }
}

pub struct Options {
    pub concurrency: usize,
    pub wait_timeout: Duration,
    pub poll_interval: Duration,
}

/// What a deploy did (or, in a dry run, would do).
#[derive(Debug, Default)]
pub struct Outcome {
    pub uploads: Vec<(String, Reason)>,
    pub deletes: Vec<String>,
    pub invalidation_paths: Vec<String>,
    pub invalidation_id: Option<String>,
}

pub async fn deploy(
    clients: &Clients,
    plan: &Plan,
    target: &Target,
    options: &Options,
    recorder: &Recorder,
) -> Result<Outcome> {
    let bucket = target.bucket.as_str();
    util::step(&format!(
        "comparing {} files with s3://{bucket}",
        plan.files.len()
    ));
    let listing = sync::list(&clients.s3, bucket).await?;
    let (mut changes, same_content) = sync::compare_listing(plan, &listing);
    util::note(&format!(
        "{} objects in the bucket; checking the headers of {} with unchanged content",
        listing.len(),
        same_content.len()
    ));
    sync::check_headers(
        &clients.s3,
        bucket,
        plan,
        &same_content,
        options.concurrency,
        &mut changes,
    )
    .await?;
    let count = |reason| changes.uploads.iter().filter(|(_, r)| *r == reason).count();
    util::note(&format!(
        "{} new, {} with new content, {} with new headers, {} unchanged, {} stale",
        count(Reason::New),
        count(Reason::Content),
        count(Reason::Headers),
        plan.files.len() - changes.uploads.len(),
        changes.deletes.len()
    ));

    // Assets first, pages last: a new page never points at an asset that
    // is not there yet.
    let (pages, assets): (Vec<_>, Vec<_>) = changes
        .uploads
        .iter()
        .cloned()
        .partition(|(key, _)| plan.get(key).is_some_and(|f| f.is_page()));
    for (label, batch) in [("assets", assets), ("pages", pages)] {
        if batch.is_empty() {
            continue;
        }
        util::step(&format!("uploading {} {label}", batch.len()));
        if recorder.enabled() {
            for (key, reason) in &batch {
                let file = plan.get(key).context("key vanished from the plan")?;
                recorder.skip(format!(
                    "s3:{}",
                    sync::describe_upload(bucket, file, *reason)
                ));
            }
        } else {
            sync::upload(&clients.s3, bucket, plan, &batch, options.concurrency).await?;
        }
    }

    if !changes.deletes.is_empty() {
        // The bucket belongs to this storefront alone, so whatever the folder
        // lacks is stale (the bucket is versioned: deleted objects stay
        // restorable for 30 days).
        util::step(&format!(
            "deleting {} stale objects: {}",
            changes.deletes.len(),
            changes.deletes.join(", ")
        ));
        if !recorder.skip(format!(
            "s3:DeleteObjects s3://{bucket}: {}",
            changes.deletes.join(" ")
        )) {
            sync::delete(&clients.s3, bucket, &changes.deletes).await?;
        }
    }

    let paths = invalidate::paths_for(&changes.stale_keys());
    let mut outcome = Outcome {
        invalidation_paths: paths.clone(),
        ..Outcome::default()
    };
    if paths.is_empty() {
        util::step("nothing replaced or deleted: no invalidation");
    } else {
        let distribution = target.distribution_id.as_str();
        util::step(&format!(
            "invalidating {} paths on {distribution}",
            paths.len()
        ));
        if !recorder.skip(format!(
            "cloudfront:{}",
            invalidate::describe(distribution, &paths)
        )) {
            let id = invalidate::create(&clients.cloudfront, distribution, &paths).await?;
            util::note(&format!("invalidation {id}: {}", paths.join(" ")));
            if options.wait_timeout.is_zero() {
                util::note(&format!(
                    "not waiting; check with: aws cloudfront get-invalidation \
                     --distribution-id {distribution} --id {id}"
                ));
            } else {
                invalidate::wait(
                    &clients.cloudfront,
                    distribution,
                    &id,
                    options.wait_timeout,
                    options.poll_interval,
                )
                .await?;
            }
            outcome.invalidation_id = Some(id);
        }
    }
    outcome.uploads = changes.uploads;
    outcome.deletes = changes.deletes;
    Ok(outcome)
}
