//! Deployment records: one SSM parameter per deploy or rollback,
//! `/<prefix>/<tenant>/deployments/<id>`, holding JSON. Ids start with the
//! UTC time, so name order is time order.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::outputs::TenantApp;
use super::port::Port;
use super::rollout::short_td;
use super::sdk_port::SdkPort;
use crate::util::{note, step};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Succeeded,
    Failed,
    RolledBackByCircuitBreaker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Deploy,
    Rollback,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub tenant: String,
    /// Full image reference `<repository uri>@sha256:…`.
    pub image: String,
    pub digest: String,
    pub task_definition_arn: String,
    pub migration_task_definition_arn: String,
    pub commit: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: Status,
    pub kind: Kind,
    pub previous_task_definition_arn: String,
    pub actor: String,
}

/// `20261126T153012.345Z-0123456789ab`: sortable UTC time (ms, so a quick
/// rollback never reuses a deploy's name) + short image digest.
pub fn new_id(now: chrono::DateTime<chrono::Utc>, digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let short: String = hex.chars().take(12).collect();
    format!("{}-{short}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

pub fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn path(app: &TenantApp) -> String {
    format!("/{}/{}/deployments", app.prefix, app.tenant)
}

pub async fn save(port: &impl Port, app: &TenantApp, record: &Record) -> Result<()> {
    let name = format!("{}/{}", path(app), record.id);
    let json = serde_json::to_string(record).context("cannot serialise the deployment record")?;
    port.put_parameter(&name, &json).await.with_context(|| {
        format!("the deployment itself is done, but its record {name} could not be written")
    })?;
    note(&format!("recorded {name} ({:?})", record.status));
    Ok(())
}

/// Every record of the tenant, newest first. Unreadable parameters are
/// reported and skipped rather than hiding the others.
pub async fn list(port: &impl Port, app: &TenantApp) -> Result<Vec<Record>> {
    let mut records: Vec<Record> = Vec::new();
    for parameter in port.parameters_under(&path(app)).await? {
        match serde_json::from_str::<Record>(&parameter.value) {
            Ok(record) => records.push(record),
            Err(e) => note(&format!(
                "skipping {}: not a deployment record ({e})",
                parameter.name
            )),
        }
    }
    records.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(records)
}

/// The record of what the service runs now: the newest record whose task
/// definition the service runs and that did not fail.
pub fn current<'a>(records: &'a [Record], running_task_definition: &str) -> Option<&'a Record> {
    records
        .iter()
        .find(|r| r.task_definition_arn == running_task_definition && r.status == Status::Succeeded)
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    tenant: String,
    #[command(flatten)]
    env: super::Env,
}

pub async fn run(args: Args) -> Result<()> {
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let app = TenantApp::load(&sdk, &args.env.stack_prefix, &args.tenant).await?;
    let port = SdkPort::new(&sdk, false);
    step(&format!("deployments of {} ({})", app.tenant, path(&app)));
    let service = port.service(&app.cluster, &app.service).await?;
    let records = list(&port, &app).await?;
    print!("{}", table(&records, &service.task_definition));
    Ok(())
}

pub fn table(records: &[Record], running: &str) -> String {
    if records.is_empty() {
        return "no deployment recorded yet\n".to_string();
    }
    let current_id = current(records, running).map(|r| r.id.clone());
    let mut out = String::new();
    for r in records {
        let mark = if Some(&r.id) == current_id.as_ref() {
            "*"
        } else {
            " "
        };
        out.push_str(&format!(
            "{mark} {}  {:<8} {:<30} {:<28} {} {}\n",
            r.id,
            format!("{:?}", r.kind).to_lowercase(),
            serde_json::to_value(r.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            short_td(&r.task_definition_arn),
            &r.commit.chars().take(10).collect::<String>(),
            r.actor
        ));
    }
    out.push_str("(* = what the service runs now)\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_carry_the_digest() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-26T15:30:12Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .expect("valid time");
        assert_eq!(
            new_id(at, "sha256:0123456789abcdef0000"),
            "20261126T153012.000Z-0123456789ab"
        );
    }

    #[test]
    fn status_serialises_as_documented() {
        let text = serde_json::to_string(&Status::RolledBackByCircuitBreaker).ok();
        assert_eq!(text.as_deref(), Some("\"rolled-back-by-circuit-breaker\""));
    }
}
