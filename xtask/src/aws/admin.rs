//! `cargo xtask admin --tenant T -- <subcommand ...>`: a subcommand of the
//! service binary as a one-off task of the migration task definition, with
//! only a command override. Secrets (e.g. APP_SUPERUSER_PASSWORD) come from
//! the task definition's `secrets`, never from overrides, and no revision is
//! registered, so nothing of a one-off run stays behind.

use std::time::Duration;

use anyhow::{Result, bail};

use super::one_off;
use super::outputs::TenantApp;
use super::port::Port;
use super::sdk_port::SdkPort;
use crate::util::step;

/// Subcommands of the service binary that may run as admin tasks.
pub const ALLOWED: &[&str] = &["create-superuser", "migrate"];

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    tenant: String,
    /// Longest wait for the task.
    #[arg(long, default_value = "15m", value_parser = super::duration::parse)]
    timeout: Duration,
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    env: super::Env,
    /// The service subcommand and its arguments, after `--`
    /// (e.g. `-- create-superuser --username admin --email a@example.com`).
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

pub async fn run(args: Args) -> Result<()> {
    check(&args.command)?;
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let app = TenantApp::load(&sdk, &args.env.stack_prefix, &args.tenant).await?;
    let port = SdkPort::new(&sdk, args.dry_run);
    admin(&port, &app, &args.command, args.timeout).await
}

pub fn check(command: &[String]) -> Result<()> {
    let Some(first) = command.first() else {
        bail!(
            "give the subcommand after `--`, one of: {}",
            ALLOWED.join(", ")
        );
    };
    if !ALLOWED.contains(&first.as_str()) {
        bail!(
            "`{first}` is not an allowed admin subcommand; allowed: {}",
            ALLOWED.join(", ")
        );
    }
    if command
        .iter()
        .any(|arg| arg.to_ascii_lowercase().contains("password"))
    {
        bail!(
            "do not pass passwords on the command line (they would show in the task's \
             overrides): the task reads APP_SUPERUSER_PASSWORD from its secrets"
        );
    }
    Ok(())
}

pub async fn admin(
    port: &impl Port,
    app: &TenantApp,
    command: &[String],
    timeout: Duration,
) -> Result<()> {
    check(command)?;
    step(&format!("tenant {}: {}", app.tenant, command.join(" ")));
    let task_def = port.task_definition(&app.migration_family).await?;
    let outcome = one_off::run(
        port,
        app,
        &task_def,
        Some(command.to_vec()),
        "admin",
        timeout,
        true,
    )
    .await?;
    if let Some(o) = outcome
        && o.exit_code != 0
    {
        bail!(
            "`{}` failed on tenant {} with exit code {} (log above, stream {})",
            command.join(" "),
            app.tenant,
            o.exit_code,
            o.log_stream
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn only_allowed_subcommands_without_passwords() {
        assert!(check(&words("create-superuser --username a --email a@b.c")).is_ok());
        assert!(check(&words("migrate")).is_ok());
        assert!(check(&words("serve")).is_err());
        assert!(check(&[]).is_err());
        assert!(check(&words("create-superuser --password x")).is_err());
    }
}
