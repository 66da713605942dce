//! One-off tasks (migrations, admin commands): RunTask of the migration task
//! definition in the private subnets, wait until it stops, read the exit
//! code, print its log from `<prefix>/<container>/<task id>`.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::outputs::TenantApp;
use super::port::{Port, RunTask, TaskDef, task_id};
use crate::util::note;

/// How often a running task is polled.
pub const POLL: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub task_arn: String,
    pub exit_code: i32,
    pub log_stream: String,
    pub log: Vec<String>,
}

/// The RunTask request for `task_def`: awsvpc networking (private subnets,
/// service security group, no public IP) when the task definition uses it;
/// only a command override, never environment overrides.
pub fn request(
    app: &TenantApp,
    task_def: &TaskDef,
    command: Option<Vec<String>>,
    what: &str,
) -> RunTask {
    RunTask {
        cluster: app.cluster.clone(),
        task_definition: task_def.arn.clone(),
        awsvpc: task_def.network_mode.as_deref() == Some("awsvpc"),
        fargate: task_def.fargate,
        subnets: app.private_subnets.clone(),
        security_groups: vec![app.security_group.clone()],
        command_override: command.map(|c| (app.migration_container.clone(), c)),
        started_by: format!("xtask-{what}"),
    }
}

/// Log stream of a task's container: `<awslogs-stream-prefix>/<container>/<task id>`.
pub fn log_stream(task_def: &TaskDef, container: &str, task_arn: &str) -> String {
    let prefix = task_def
        .container(container)
        .and_then(|c| c.log_stream_prefix.clone())
        .unwrap_or_else(|| container.to_string());
    format!("{prefix}/{container}/{}", task_id(task_arn))
}

/// Starts the task and waits for it. `Ok(None)` in a dry run. The log is
/// printed when the task fails, or always with `print_log`.
pub async fn run(
    port: &impl Port,
    app: &TenantApp,
    task_def: &TaskDef,
    command: Option<Vec<String>>,
    what: &str,
    timeout: Duration,
    print_log: bool,
) -> Result<Option<Outcome>> {
    let request = request(app, task_def, command, what);
    let task_arn = port.run_task(&request).await?;
    if port.dry_run() {
        note(&format!(
            "[dry run] would wait for the {what} task to stop and check its exit code"
        ));
        return Ok(None);
    }
    note(&format!(
        "{what} task {} started ({}:{})",
        task_id(&task_arn),
        task_def.family,
        task_def.revision
    ));
    let started = port.elapsed();
    let mut shown = String::new();
    let state = loop {
        let state = port.task_state(&app.cluster, &task_arn).await?;
        let waited = port.elapsed().saturating_sub(started);
        if state.last_status != shown {
            note(&format!(
                "{what} task is {} ({}s)",
                state.last_status,
                waited.as_secs()
            ));
            shown = state.last_status.clone();
        }
        if state.last_status == "STOPPED" {
            break state;
        }
        if waited >= timeout {
            bail!(
                "the {what} task {} is still {} after {}s; it was not stopped. \
                 Follow it with `cargo xtask logs --tenant {} --task {}` or stop it with \
                 `aws ecs stop-task --cluster {} --task {}`",
                task_id(&task_arn),
                state.last_status,
                waited.as_secs(),
                app.tenant,
                task_id(&task_arn),
                app.cluster,
                task_arn
            );
        }
        port.sleep(POLL).await;
    };
    let container = &app.migration_container;
    let stream = log_stream(task_def, container, &task_arn);
    let exit_code = state
        .exit_codes
        .iter()
        .find(|(name, _)| name == container)
        .map(|(_, code)| *code);
    let failed = exit_code != Some(0);
    let log = if failed || print_log {
        let log = read_log(port, &app.migration_log_group, &stream).await;
        print_task_log(&app.migration_log_group, &stream, &log);
        log
    } else {
        Vec::new()
    };
    let exit_code = exit_code.with_context(|| {
        format!(
            "the {what} task {} stopped without an exit code for container {container}: {} \
             (image pull or secret errors show here; check the task definition and the image)",
            task_id(&task_arn),
            state.stopped_reason.as_deref().unwrap_or("no reason given")
        )
    })?;
    note(&format!("{what} task exited with code {exit_code}"));
    Ok(Some(Outcome {
        task_arn,
        exit_code,
        log_stream: stream,
        log,
    }))
}

/// The stream's messages; CloudWatch may lag a few seconds behind a stopped
/// task, so an empty stream is read again a few times.
async fn read_log(port: &impl Port, group: &str, stream: &str) -> Vec<String> {
    for attempt in 0..4 {
        match port.log_messages(group, stream).await {
            Ok(lines) if !lines.is_empty() => return lines,
            Ok(_) => {}
            Err(e) => {
                note(&format!("cannot read log {group} {stream}: {e:#}"));
                return Vec::new();
            }
        }
        if attempt < 3 {
            port.sleep(Duration::from_secs(3)).await;
        }
    }
    Vec::new()
}

fn print_task_log(group: &str, stream: &str, log: &[String]) {
    eprintln!("    --- log {group} {stream} ---");
    if log.is_empty() {
        eprintln!("    (no log events)");
    }
    for line in log {
        eprintln!("    | {line}");
    }
    eprintln!("    --- end of log ---");
}
