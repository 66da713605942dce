//! Waiting for a service to reach the new task definition.
//!
//! Done = the PRIMARY deployment runs the target revision and its
//! `rolloutState` is COMPLETED. Also accepted: the service names the target
//! revision, no deployment is IN_PROGRESS and running == desired. ECS always
//! creates a deployment on UpdateService, so that second rule only matters
//! for emulators (moto's update-service keeps the old deployment record).

use std::time::Duration;

use anyhow::Result;

use super::port::{Port, ServiceState};
use crate::util::note;

pub const POLL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    Completed,
    /// The deployment failed and the circuit breaker put the service back on
    /// `running` (another revision).
    RolledBack {
        reason: String,
        running: String,
    },
    /// The deployment failed (circuit breaker without rollback).
    Failed {
        reason: String,
    },
    TimedOut {
        summary: String,
    },
}

/// One look at the service: `None` = keep waiting.
pub fn judge(state: &ServiceState, target: &str) -> Option<Rollout> {
    let ours = state
        .deployments
        .iter()
        .find(|d| d.task_definition == target);
    let reason = || {
        ours.and_then(|d| d.rollout_state_reason.clone())
            .unwrap_or_else(|| "no reason given".to_string())
    };
    if state.task_definition != target {
        // The service was moved off the target: the circuit breaker's rollback
        // (or someone else's update).
        return Some(Rollout::RolledBack {
            reason: reason(),
            running: state.task_definition.clone(),
        });
    }
    if let Some(d) = ours {
        match d.rollout_state.as_deref() {
            Some("FAILED") => return Some(Rollout::Failed { reason: reason() }),
            Some("COMPLETED") if d.status == "PRIMARY" => return Some(Rollout::Completed),
            _ => {}
        }
    }
    let in_progress = state
        .deployments
        .iter()
        .any(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"));
    if ours.is_none() && !in_progress && state.running == state.desired && state.pending == 0 {
        return Some(Rollout::Completed);
    }
    None
}

pub fn summary(state: &ServiceState) -> String {
    let deployments: Vec<String> = state
        .deployments
        .iter()
        .map(|d| {
            format!(
                "{} {} {} running {}/{}{}",
                d.status,
                short_td(&d.task_definition),
                d.rollout_state.as_deref().unwrap_or("-"),
                d.running,
                d.desired,
                if d.failed_tasks > 0 {
                    format!(", {} failed tasks", d.failed_tasks)
                } else {
                    String::new()
                }
            )
        })
        .collect();
    format!(
        "service on {}: running {} pending {} desired {}; deployments: [{}]",
        short_td(&state.task_definition),
        state.running,
        state.pending,
        state.desired,
        deployments.join("; ")
    )
}

/// `arn:…:task-definition/swa-prod-main-web:7` → `swa-prod-main-web:7`.
pub fn short_td(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub async fn wait(
    port: &impl Port,
    cluster: &str,
    service: &str,
    target: &str,
    timeout: Duration,
) -> Result<Rollout> {
    let started = port.elapsed();
    let mut shown = String::new();
    loop {
        let state = port.service(cluster, service).await?;
        let now = summary(&state);
        let waited = port.elapsed().saturating_sub(started);
        if now != shown {
            note(&format!("[{}s] {now}", waited.as_secs()));
            shown = now.clone();
        }
        if let Some(outcome) = judge(&state, target) {
            return Ok(outcome);
        }
        if waited >= timeout {
            return Ok(Rollout::TimedOut { summary: now });
        }
        port.sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::port::Deployment;
    use super::*;

    fn deployment(td: &str, status: &str, rollout: &str) -> Deployment {
        Deployment {
            id: format!("ecs-svc/{td}"),
            status: status.into(),
            task_definition: td.into(),
            rollout_state: Some(rollout.into()),
            rollout_state_reason: Some(format!("{rollout} reason")),
            desired: 2,
            running: 2,
            pending: 0,
            failed_tasks: 0,
        }
    }

    fn state(td: &str, deployments: Vec<Deployment>) -> ServiceState {
        ServiceState {
            task_definition: td.into(),
            desired: 2,
            running: 2,
            pending: 0,
            deployments,
        }
    }

    #[test]
    fn in_progress_waits_and_completed_primary_finishes() {
        let waiting = state(
            "new",
            vec![
                deployment("new", "PRIMARY", "IN_PROGRESS"),
                deployment("old", "ACTIVE", "COMPLETED"),
            ],
        );
        assert_eq!(judge(&waiting, "new"), None);
        let done = state("new", vec![deployment("new", "PRIMARY", "COMPLETED")]);
        assert_eq!(judge(&done, "new"), Some(Rollout::Completed));
    }

    #[test]
    fn circuit_breaker_rollback_is_reported() {
        let rolled = state(
            "old",
            vec![
                deployment("old", "PRIMARY", "IN_PROGRESS"),
                deployment("new", "ACTIVE", "FAILED"),
            ],
        );
        assert_eq!(
            judge(&rolled, "new"),
            Some(Rollout::RolledBack {
                reason: "FAILED reason".into(),
                running: "old".into()
            })
        );
    }

    #[test]
    fn emulator_without_new_deployment_counts_when_settled() {
        // moto: the service names the new revision, its only deployment the old one.
        let settled = state("new", vec![deployment("old", "PRIMARY", "COMPLETED")]);
        assert_eq!(judge(&settled, "new"), Some(Rollout::Completed));
        let mut short = settled.clone();
        short.running = 1;
        assert_eq!(judge(&short, "new"), None);
    }
}
