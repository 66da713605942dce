//! `cargo xtask rollback`: point the service back at the task definition of
//! an earlier succeeded deployment (no new revision), after checking its
//! image is still in ECR. Migrations are not rolled back.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::outputs::TenantApp;
use super::port::Port;
use super::records::{self, Kind, Record, Status};
use super::rollout::{self, Rollout, short_td};
use super::sdk_port::SdkPort;
use crate::util::{note, step};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    tenant: String,
    /// Deployment id (see `cargo xtask deployments`); default: the newest
    /// succeeded deployment before the current one.
    #[arg(long)]
    to: Option<String>,
    /// Longest wait for the service rollout.
    #[arg(long, default_value = "15m", value_parser = super::duration::parse)]
    timeout: Duration,
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    env: super::Env,
}

pub async fn run(args: Args) -> Result<()> {
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let app = TenantApp::load(&sdk, &args.env.stack_prefix, &args.tenant).await?;
    let port = SdkPort::new(&sdk, args.dry_run);
    rollback(&port, &app, args.to.as_deref(), args.timeout).await
}

/// The record to go back to: `to` if given, else the newest succeeded
/// record older than the current one that runs another task definition.
pub fn target<'a>(records: &'a [Record], running: &str, to: Option<&str>) -> Result<&'a Record> {
    if let Some(id) = to {
        let record = records.iter().find(|r| r.id == id).with_context(|| {
            format!("no deployment record {id}: list them with `cargo xtask deployments`")
        })?;
        if record.status != Status::Succeeded {
            bail!(
                "deployment {id} did not succeed ({:?}); roll back to a succeeded one",
                record.status
            );
        }
        return Ok(record);
    }
    // Records are newest first; start below the current one when it is known.
    let start = records::current(records, running)
        .and_then(|current| records.iter().position(|r| r.id == current.id))
        .map_or(0, |i| i + 1);
    records[start..]
        .iter()
        .find(|r| r.status == Status::Succeeded && r.task_definition_arn != running)
        .with_context(|| {
            format!(
                "no earlier succeeded deployment to roll back to (the service runs {}); \
                 see `cargo xtask deployments`",
                short_td(running)
            )
        })
}

pub async fn rollback(
    port: &impl Port,
    app: &TenantApp,
    to: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    step(&format!("rollback tenant {}", app.tenant));
    let service = port.service(&app.cluster, &app.service).await?;
    let running = service.task_definition.clone();
    let history = records::list(port, app).await?;
    let target = target(&history, &running, to)?.clone();
    note(&format!(
        "target: deployment {} ({}, image {})",
        target.id,
        short_td(&target.task_definition_arn),
        target.image
    ));
    if !port
        .image_exists(app.repository_name(), &target.digest)
        .await?
    {
        bail!(
            "cannot roll back to {}: its image {} is no longer in ECR repository {} \
             (expired by the lifecycle rule); deploy a rebuilt image of commit {} instead",
            target.id,
            target.digest,
            app.repository_name(),
            target.commit
        );
    }
    note(
        "WARNING: database migrations are NOT rolled back; the older code must work with the current schema",
    );
    let started_at = records::now_text();
    port.update_service(&app.cluster, &app.service, &target.task_definition_arn)
        .await?;
    if port.dry_run() {
        note("[dry run] would wait for the rollout, GET /healthz and record the rollback");
        return Ok(());
    }
    let rollout = rollout::wait(
        port,
        &app.cluster,
        &app.service,
        &target.task_definition_arn,
        timeout,
    )
    .await?;
    let (status, problem) = match rollout {
        Rollout::Completed => match super::health::smoke_test(port, &app.api_url).await {
            Ok(()) => (Status::Succeeded, None),
            Err(e) => (Status::Failed, Some(format!("{e:#}"))),
        },
        Rollout::RolledBack { reason, running } => (
            Status::RolledBackByCircuitBreaker,
            Some(format!(
                "the circuit breaker put the service back on {}: {reason}",
                short_td(&running)
            )),
        ),
        Rollout::Failed { reason } => (Status::Failed, Some(reason)),
        Rollout::TimedOut { summary } => (
            Status::Failed,
            Some(format!(
                "no steady state within {}s ({summary})",
                timeout.as_secs()
            )),
        ),
    };
    let record = Record {
        id: records::new_id(chrono::Utc::now(), &target.digest),
        tenant: app.tenant.clone(),
        image: target.image.clone(),
        digest: target.digest.clone(),
        task_definition_arn: target.task_definition_arn.clone(),
        migration_task_definition_arn: target.migration_task_definition_arn.clone(),
        commit: target.commit.clone(),
        started_at,
        finished_at: records::now_text(),
        status,
        kind: Kind::Rollback,
        previous_task_definition_arn: running,
        actor: super::actor(),
    };
    records::save(port, app, &record).await?;
    if let Some(problem) = problem {
        bail!(
            "rollback of tenant {} to {} failed: {problem}",
            app.tenant,
            target.id
        );
    }
    note(&format!(
        "tenant {} runs {} again",
        app.tenant, target.image
    ));
    Ok(())
}
