//! `cargo xtask logs`: the tenant's service logs, one task's log, or the
//! migration/admin logs, from the streams the task definitions write:
//! `web/web/<task id>` and `migration/migration/<task id>`.

use std::time::Duration;

use anyhow::{Result, anyhow};
use aws_sdk_cloudwatchlogs::Client;

use super::outputs::TenantApp;
use super::sdk_error_text;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["service", "task", "migrations"])))]
pub struct Args {
    #[arg(long)]
    tenant: String,
    /// Every web task of the service.
    #[arg(long)]
    service: bool,
    /// One task (web, migration or admin) by id.
    #[arg(long)]
    task: Option<String>,
    /// Every migration/admin task.
    #[arg(long)]
    migrations: bool,
    /// How far back to start.
    #[arg(long, default_value = "30m", value_parser = super::duration::parse)]
    since: Duration,
    /// Keep printing new events (Ctrl-C stops).
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    env: super::Env,
}

/// Where to read: group and, for one task, its stream names.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    pub group: String,
    pub streams: Vec<String>,
}

pub fn sources(app: &TenantApp, service: bool, task: Option<&str>) -> Vec<Source> {
    let web = &app.service_container;
    let migration = &app.migration_container;
    match task {
        // A task id alone does not say which kind it was: look in both.
        Some(id) => vec![
            Source {
                group: app.service_log_group.clone(),
                streams: vec![format!("{web}/{web}/{id}")],
            },
            Source {
                group: app.migration_log_group.clone(),
                streams: vec![format!("{migration}/{migration}/{id}")],
            },
        ],
        None if service => vec![Source {
            group: app.service_log_group.clone(),
            streams: Vec::new(),
        }],
        None => vec![Source {
            group: app.migration_log_group.clone(),
            streams: Vec::new(),
        }],
    }
}

pub async fn run(args: Args) -> Result<()> {
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let app = TenantApp::load(&sdk, &args.env.stack_prefix, &args.tenant).await?;
    let client = Client::new(&sdk);
    let sources = sources(&app, args.service, args.task.as_deref());
    let since = chrono::Utc::now().timestamp_millis()
        - i64::try_from(args.since.as_millis()).unwrap_or(i64::MAX);
    let mut from = vec![since; sources.len()];
    let mut seen = std::collections::HashSet::new();
    loop {
        let mut printed = 0;
        for (source, start) in sources.iter().zip(from.iter_mut()) {
            for (time, stream, message, id) in events(&client, source, *start).await? {
                if !seen.insert(id) {
                    continue;
                }
                *start = (*start).max(time);
                let at = chrono::DateTime::from_timestamp_millis(time)
                    .map(|t| t.format("%H:%M:%S").to_string())
                    .unwrap_or_default();
                println!("{at} {stream} {message}");
                printed += 1;
            }
        }
        if !args.follow {
            if printed == 0 {
                eprintln!(
                    "    no log events in the last {}s ({})",
                    args.since.as_secs(),
                    sources
                        .iter()
                        .map(|s| format!("{} {}", s.group, s.streams.join(",")))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
}

/// (timestamp ms, stream, message, event id) from `start` on.
async fn events(
    client: &Client,
    source: &Source,
    start: i64,
) -> Result<Vec<(i64, String, String, String)>> {
    let mut pages = client
        .filter_log_events()
        .log_group_name(&source.group)
        .set_log_stream_names((!source.streams.is_empty()).then(|| source.streams.clone()))
        .start_time(start)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                let text = sdk_error_text(&e);
                // Looking for a task in both groups: the other group lacks its stream.
                if !source.streams.is_empty() && text.contains("ResourceNotFound") {
                    return Ok(out);
                }
                return Err(anyhow!("logs:FilterLogEvents {}: {text}", source.group));
            }
        };
        for e in page.events() {
            out.push((
                e.timestamp().unwrap_or_default(),
                e.log_stream_name().unwrap_or_default().to_string(),
                e.message().unwrap_or_default().trim_end().to_string(),
                e.event_id().unwrap_or_default().to_string(),
            ));
        }
    }
    Ok(out)
}
