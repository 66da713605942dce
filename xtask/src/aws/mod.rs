//! AWS operations of a deployed environment: deploy, rollback, migrate,
//! admin commands, tenant set-up, status and logs.
//!
//! Everything is found through CloudFormation stack outputs
//! (`outputs.rs`); the decisions (`deploy.rs`, `rollback.rs`, ...) talk to
//! AWS only through the [`port::Port`] trait, implemented with the SDK in
//! `sdk_port.rs` and by an in-memory fake in the tests.
//!
//! Credentials and region come from the usual AWS chain (env, profile, SSO,
//! GitHub OIDC web identity); `AWS_ENDPOINT_URL` points every client at an
//! emulator (the tests use moto).

pub mod outputs;

mod admin;
mod deploy;
mod duration;
mod health;
mod logs;
mod migrate;
mod one_off;
mod port;
mod records;
mod rollback;
mod rollout;
mod sdk_port;
mod status;
mod tenant;

#[cfg(test)]
mod decision_tests;
#[cfg(test)]
mod fake_port;
#[cfg(test)]
mod moto_tests;

use std::sync::Mutex;

use anyhow::{Context, Result};
use aws_config::{BehaviorVersion, Region};
use clap::{Args, Subcommand};

/// Region of both environments (infra-cdk/lib/config.ts); used when neither
/// `--region` nor the AWS configuration names one.
const DEFAULT_REGION: &str = "us-east-1";

/// Options every AWS command takes.
#[derive(Args, Debug, Clone)]
pub struct Env {
    /// Stack name prefix of the environment (`swa-prod`, `swa-stg`).
    #[arg(long, env = "SWA_STACK_PREFIX", default_value = "swa-prod")]
    pub stack_prefix: String,
    /// AWS region (default: AWS_REGION / the profile's, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Deploy an image to one or all tenants: migrate, roll the service, smoke-test, record.
    Deploy(deploy::Args),
    /// List a tenant's deployment records, newest first.
    Deployments(records::Args),
    /// Point a tenant's service back at an earlier deployment's task definition.
    Rollback(rollback::Args),
    /// Run the database migrations of one or all tenants (one-off ECS task).
    Migrate(migrate::Args),
    /// Run an admin subcommand of the service binary as a one-off ECS task.
    Admin(admin::Args),
    /// Tenant set-up after `cdk deploy` (migrate + first superuser).
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Service, task definition, image, deployments and /healthz per tenant.
    Status(status::Args),
    /// Print a tenant's service, task or migration logs.
    Logs(logs::Args),
}

pub fn run(command: Command) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Deploy(args) => deploy::run(args).await,
            Command::Deployments(args) => records::run(args).await,
            Command::Rollback(args) => rollback::run(args).await,
            Command::Migrate(args) => migrate::run(args).await,
            Command::Admin(args) => admin::run(args).await,
            Command::Tenant(command) => tenant::run(command).await,
            Command::Status(args) => status::run(args).await,
            Command::Logs(args) => logs::run(args).await,
        }
    })
}

/// The SDK configuration from the standard chain. `AWS_ENDPOINT_URL` is
/// honoured by `aws_config::defaults` itself.
pub async fn sdk_config(region: Option<&str>) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest());
    let loader = match region {
        Some(region) => loader.region(Region::new(region.to_string())),
        None => loader.region(
            aws_config::meta::region::RegionProviderChain::default_provider()
                .or_else(Region::from_static(DEFAULT_REGION)),
        ),
    };
    loader.load().await
}

/// An SDK error with its causes, so a message says e.g. which credential
/// provider failed instead of only "dispatch failure".
pub fn sdk_error_text<E: std::error::Error>(error: &E) -> String {
    aws_sdk_ecs::error::DisplayErrorContext(error).to_string()
}

/// Records (and prints) the mutating calls a `--dry-run` skips. Reads still
/// go to AWS so a dry run shows what would really happen.
#[derive(Debug, Default)]
pub struct Recorder {
    enabled: bool,
    calls: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            calls: Mutex::new(Vec::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// In a dry run, records and prints `call` and returns true (= skip it).
    pub fn skip(&self, call: String) -> bool {
        if !self.enabled {
            return false;
        }
        crate::util::note(&format!("[dry run] would call {call}"));
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        true
    }

    #[cfg(test)]
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// `GITHUB_ACTOR` in CI, else the local user.
pub fn actor() -> String {
    ["GITHUB_ACTOR", "USER", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// `GITHUB_SHA` in CI, else `git rev-parse HEAD` of the work tree.
pub fn commit() -> String {
    if let Ok(sha) = std::env::var("GITHUB_SHA")
        && !sha.is_empty()
    {
        return sha;
    }
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(crate::util::workspace_root())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_only_skips_in_dry_run() {
        let live = Recorder::new(false);
        assert!(!live.skip("ecs:UpdateService".into()));
        assert!(live.calls().is_empty());
        let dry = Recorder::new(true);
        assert!(dry.skip("ecs:UpdateService x".into()));
        assert_eq!(dry.calls(), vec!["ecs:UpdateService x".to_string()]);
    }
}
