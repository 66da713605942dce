//! `cargo xtask tenant create`: first-time set-up of a tenant that was added
//! to infra-cdk/lib/config.ts and deployed with `cdk deploy`: checks its
//! stacks, migrates its database, creates the first superuser (password from
//! the task's APP_SUPERUSER_PASSWORD secret) and prints what is left to do.

use std::time::Duration;

use anyhow::{Result, bail};
use clap::Subcommand;

use super::outputs::{self, TenantApp};
use super::port::Port;
use super::sdk_port::SdkPort;
use crate::util::{note, step};

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Migrate a freshly deployed tenant and create its first superuser.
    Create(CreateArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    superuser_email: String,
    #[arg(long, default_value = "admin")]
    superuser_username: String,
    /// Longest wait for each one-off task.
    #[arg(long, default_value = "15m", value_parser = super::duration::parse)]
    timeout: Duration,
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    env: super::Env,
}

pub async fn run(command: TenantCommand) -> Result<()> {
    let TenantCommand::Create(args) = command;
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let prefix = &args.env.stack_prefix;
    step(&format!("check the stacks of tenant {}", args.tenant));
    let frontend_stack = format!("{prefix}-{}-frontend", args.tenant);
    let frontend = outputs::stack_outputs(&sdk, &frontend_stack).await?;
    let app = TenantApp::load(&sdk, prefix, &args.tenant).await?;
    note(&format!(
        "{} and {frontend_stack} found",
        TenantApp::app_stack(prefix, &args.tenant)
    ));
    let port = SdkPort::new(&sdk, args.dry_run);
    create(
        &port,
        &app,
        &args.superuser_username,
        &args.superuser_email,
        args.timeout,
    )
    .await?;
    println!("{}", remaining_steps(&app, &frontend));
    Ok(())
}

pub async fn create(
    port: &impl Port,
    app: &TenantApp,
    username: &str,
    email: &str,
    timeout: Duration,
) -> Result<()> {
    let migration = port.task_definition(&app.migration_family).await?;
    let image = migration
        .container(&app.migration_container)
        .map(|c| c.image.clone())
        .unwrap_or_default();
    if image.ends_with(":none") {
        bail!(
            "tenant {t} has no image yet (its migration task definition points at the \
             placeholder tag `none`): run `cargo xtask image && cargo xtask push --tenant {t}`, \
             then `npm run cdk -- deploy {p}-{t}-app --parameters {p}-{t}-app:MigrationImageTag=<git sha>` \
             in infra-cdk/ (see docs/operations.md), then run this again",
            t = app.tenant,
            p = app.prefix,
        );
    }
    super::migrate::migrate(port, app, timeout).await?;
    let command: Vec<String> = ["create-superuser", "--username", username, "--email", email]
        .iter()
        .map(|s| s.to_string())
        .collect();
    super::admin::admin(port, app, &command, timeout).await
}

fn remaining_steps(
    app: &TenantApp,
    frontend: &std::collections::BTreeMap<String, String>,
) -> String {
    let tenant = &app.tenant;
    let prefix = &app.prefix;
    let get = |name: &str| {
        frontend
            .get(name)
            .map_or("<see the frontend stack outputs>", String::as_str)
    };
    format!(
        "\nTenant {tenant} is migrated and has a superuser. Left to do by hand:\n\
         1. Stripe and SMTP: set stripe_secret_key, stripe_webhook_secrets, smtp_username and \
            smtp_password in the secret {prefix}/{tenant}/app, then roll the service \
            (`cargo xtask deploy --tenant {tenant}` or `aws ecs update-service --force-new-deployment`).\n\
         2. DNS: CNAME of the API domain ({}) → the ALB ({}); CNAME of the storefront domain → \
            the distribution ({}); plus the ACM validation CNAMEs shown in the ACM console.\n\
         3. Storefront: `cargo xtask frontend deploy` for tenant {tenant} (bucket {}).\n\
         4. Check: `cargo xtask status --tenant {tenant}`.",
        app.api_url,
        app_output_hint(app),
        get("DistributionDomainName"),
        get("FrontendBucketName"),
    )
}

fn app_output_hint(app: &TenantApp) -> String {
    format!(
        "output LoadBalancerDnsName of {}",
        TenantApp::app_stack(&app.prefix, &app.tenant)
    )
}
