//! `cargo xtask migrate`: the tenant's current migration task definition,
//! run as it is (its command is `migrate`), one tenant after another.

use std::time::Duration;

use anyhow::{Result, bail};

use super::one_off;
use super::outputs::{self, TenantApp};
use super::port::Port;
use super::sdk_port::SdkPort;
use crate::util::step;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    tenant: Option<String>,
    /// Migrate every tenant of the environment, one after another.
    #[arg(long)]
    all: bool,
    /// Longest wait for each migration task.
    #[arg(long, default_value = "15m", value_parser = super::duration::parse)]
    timeout: Duration,
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    env: super::Env,
}

pub async fn run(args: Args) -> Result<()> {
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let prefix = &args.env.stack_prefix;
    let tenants = outputs::selected_tenants(&sdk, prefix, args.tenant.as_deref()).await?;
    let mut apps = Vec::new();
    for tenant in &tenants {
        apps.push(TenantApp::load(&sdk, prefix, tenant).await?);
    }
    let port = SdkPort::new(&sdk, args.dry_run);
    migrate_all(&port, &apps, args.timeout).await
}

/// Migrates every tenant, one after another; every tenant is tried, and
/// the error lists the ones that failed.
pub async fn migrate_all(port: &impl Port, apps: &[TenantApp], timeout: Duration) -> Result<()> {
    let mut failed = Vec::new();
    for app in apps {
        if let Err(e) = migrate(port, app, timeout).await {
            eprintln!("    tenant {}: {e:#}", app.tenant);
            failed.push(app.tenant.clone());
        }
    }
    if !failed.is_empty() {
        bail!(
            "migration failed for tenant(s) {} (logs above); the others are migrated",
            failed.join(", ")
        );
    }
    Ok(())
}

pub async fn migrate(port: &impl Port, app: &TenantApp, timeout: Duration) -> Result<()> {
    step(&format!("migrate tenant {}", app.tenant));
    // The family name resolves to its latest ACTIVE revision, which deploy
    // moves to each new image.
    let task_def = port.task_definition(&app.migration_family).await?;
    let outcome = one_off::run(port, app, &task_def, None, "migration", timeout, true).await?;
    if let Some(o) = outcome
        && o.exit_code != 0
    {
        bail!(
            "migration of tenant {} failed with exit code {} (log above, stream {})",
            app.tenant,
            o.exit_code,
            o.log_stream
        );
    }
    Ok(())
}
