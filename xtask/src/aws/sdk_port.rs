//! [`Port`] over the AWS SDK. Mutating calls (RegisterTaskDefinition,
//! RunTask, UpdateService, PutParameter) go through the dry-run [`Recorder`].

use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerOverride, LaunchType,
    NetworkConfiguration, TaskDefinition, TaskDefinitionField, TaskOverride,
};

use super::Recorder;
use super::port::{
    ContainerDef, Deployment, Parameter, Port, RunTask, ServiceState, TaskDef, TaskState,
};
use super::sdk_error_text;

pub struct SdkPort {
    ecs: aws_sdk_ecs::Client,
    ecr: aws_sdk_ecr::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    ssm: aws_sdk_ssm::Client,
    recorder: Recorder,
    started: Instant,
    /// Tests against moto run the poll loops this many times faster.
    time_scale: u32,
}

impl SdkPort {
    pub fn new(sdk: &aws_config::SdkConfig, dry_run: bool) -> Self {
        Self {
            ecs: aws_sdk_ecs::Client::new(sdk),
            ecr: aws_sdk_ecr::Client::new(sdk),
            logs: aws_sdk_cloudwatchlogs::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            recorder: Recorder::new(dry_run),
            started: Instant::now(),
            time_scale: 1,
        }
    }

    /// Polls `scale` times as often (and counts time that much faster), so
    /// tests against an emulator do not wait for real ECS timings.
    #[cfg(test)]
    pub fn fast(mut self, scale: u32) -> Self {
        self.time_scale = scale.max(1);
        self
    }

    #[cfg(test)]
    pub fn recorded(&self) -> Vec<String> {
        self.recorder.calls()
    }

    async fn describe(&self, id: &str) -> Result<(TaskDefinition, Vec<aws_sdk_ecs::types::Tag>)> {
        let answer = self
            .ecs
            .describe_task_definition()
            .task_definition(id)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| anyhow!("ecs:DescribeTaskDefinition {id}: {}", sdk_error_text(&e)))?;
        let td = answer.task_definition().cloned().with_context(|| {
            format!("ecs:DescribeTaskDefinition {id} returned no task definition")
        })?;
        Ok((td, answer.tags().to_vec()))
    }
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn to_task_def(td: &TaskDefinition) -> TaskDef {
    TaskDef {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        network_mode: td.network_mode().map(|m| m.as_str().to_string()),
        fargate: td
            .requires_compatibilities()
            .contains(&Compatibility::Fargate),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| ContainerDef {
                name: c.name.clone().unwrap_or_default(),
                image: c.image.clone().unwrap_or_default(),
                log_stream_prefix: c
                    .log_configuration
                    .as_ref()
                    .and_then(|l| l.options.as_ref())
                    .and_then(|o| o.get("awslogs-stream-prefix").cloned()),
            })
            .collect(),
    }
}

/// The RunTask overrides: at most a command for one container. Built here
/// only, with no way to add environment variables (secrets stay in the task
/// definition's `secrets`).
pub fn task_override(command: Option<&(String, Vec<String>)>) -> Option<TaskOverride> {
    let (container, command) = command?;
    Some(
        TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(container)
                    .set_command(Some(command.clone()))
                    .build(),
            )
            .build(),
    )
}

impl Port for SdkPort {
    fn dry_run(&self) -> bool {
        self.recorder.enabled()
    }

    async fn task_definition(&self, id: &str) -> Result<TaskDef> {
        let (td, _) = self.describe(id).await?;
        Ok(to_task_def(&td))
    }

    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String> {
        let (td, tags) = self.describe(base).await?;
        let family = td.family().unwrap_or_default().to_string();
        if !td
            .container_definitions()
            .iter()
            .any(|c| c.name.as_deref() == Some(container))
        {
            bail!("task definition {base} has no container named {container}");
        }
        if self.recorder.skip(format!(
            "ecs:RegisterTaskDefinition family={family} (copy of revision {}) with {container} image={image}",
            td.revision()
        )) {
            return Ok(format!("{family}:<new revision>"));
        }
        let containers: Vec<_> = td
            .container_definitions()
            .iter()
            .cloned()
            .map(|mut c| {
                if c.name.as_deref() == Some(container) {
                    c.image = Some(image.to_string());
                }
                c
            })
            .collect();
        // Every writable field is copied; the read-only ones (arn, revision,
        // status, requiresAttributes, compatibilities, registered*/deregistered*)
        // have no setter here and so are dropped. Inference accelerators are
        // retired by ECS (the SDK setter is deprecated) and never used here.
        let answer = self
            .ecs
            .register_task_definition()
            .family(&family)
            .set_task_role_arn(td.task_role_arn().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(non_empty(td.volumes()))
            .set_placement_constraints(non_empty(td.placement_constraints()))
            .set_requires_compatibilities(non_empty(td.requires_compatibilities()))
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_tags(non_empty(&tags))
            .set_pid_mode(td.pid_mode().cloned())
            .set_ipc_mode(td.ipc_mode().cloned())
            .set_proxy_configuration(td.proxy_configuration().cloned())
            .set_ephemeral_storage(td.ephemeral_storage().cloned())
            .set_runtime_platform(td.runtime_platform().cloned())
            .set_enable_fault_injection(td.enable_fault_injection())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "ecs:RegisterTaskDefinition {family}: {}",
                    sdk_error_text(&e)
                )
            })?;
        answer
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .with_context(|| format!("ecs:RegisterTaskDefinition {family} returned no ARN"))
    }

    async fn run_task(&self, request: &RunTask) -> Result<String> {
        let overrides = task_override(request.command_override.as_ref());
        let shown_command = request
            .command_override
            .as_ref()
            .map(|(c, cmd)| format!(" command[{c}]={cmd:?}"))
            .unwrap_or_default();
        if self.recorder.skip(format!(
            "ecs:RunTask cluster={} taskDefinition={}{} subnets={:?} securityGroups={:?} assignPublicIp=DISABLED",
            request.cluster, request.task_definition, shown_command, request.subnets, request.security_groups
        )) {
            return Ok(format!("arn:aws:ecs:dry-run:task/{}/dry-run", request.cluster));
        }
        let network = if request.awsvpc {
            let vpc = AwsVpcConfiguration::builder()
                .set_subnets(Some(request.subnets.clone()))
                .set_security_groups(Some(request.security_groups.clone()))
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .context("cannot build the awsvpc configuration")?;
            Some(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
        } else {
            None
        };
        let answer = self
            .ecs
            .run_task()
            .cluster(&request.cluster)
            .task_definition(&request.task_definition)
            .count(1)
            .set_launch_type(request.fargate.then_some(LaunchType::Fargate))
            .set_network_configuration(network)
            .set_overrides(overrides)
            .started_by(&request.started_by)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "ecs:RunTask {}: {}",
                    request.task_definition,
                    sdk_error_text(&e)
                )
            })?;
        if let Some(failure) = answer.failures().first() {
            bail!(
                "ecs:RunTask {} could not start a task: {} {}",
                request.task_definition,
                failure.reason().unwrap_or_default(),
                failure.detail().unwrap_or_default()
            );
        }
        answer
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .map(str::to_string)
            .with_context(|| format!("ecs:RunTask {} started no task", request.task_definition))
    }

    async fn task_state(&self, cluster: &str, task_arn: &str) -> Result<TaskState> {
        let answer = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(task_arn)
            .send()
            .await
            .map_err(|e| anyhow!("ecs:DescribeTasks {task_arn}: {}", sdk_error_text(&e)))?;
        let task = answer
            .tasks()
            .first()
            .with_context(|| format!("ecs:DescribeTasks does not know task {task_arn}"))?;
        Ok(TaskState {
            last_status: task.last_status().unwrap_or("UNKNOWN").to_string(),
            stopped_reason: task.stopped_reason().map(str::to_string),
            exit_codes: task
                .containers()
                .iter()
                .filter_map(|c| Some((c.name()?.to_string(), c.exit_code()?)))
                .collect(),
        })
    }

    async fn service(&self, cluster: &str, service: &str) -> Result<ServiceState> {
        let answer = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| anyhow!("ecs:DescribeServices {service}: {}", sdk_error_text(&e)))?;
        let s = answer.services().first().with_context(|| {
            format!(
                "ECS service {service} not found in cluster {cluster}: is the app stack deployed?"
            )
        })?;
        Ok(ServiceState {
            task_definition: s.task_definition().unwrap_or_default().to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
            deployments: s
                .deployments()
                .iter()
                .map(|d| Deployment {
                    id: d.id().unwrap_or_default().to_string(),
                    status: d.status().unwrap_or_default().to_string(),
                    task_definition: d.task_definition().unwrap_or_default().to_string(),
                    rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                    rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                    desired: d.desired_count(),
                    running: d.running_count(),
                    pending: d.pending_count(),
                    failed_tasks: d.failed_tasks(),
                })
                .collect(),
        })
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<()> {
        if self.recorder.skip(format!(
            "ecs:UpdateService cluster={cluster} service={service} taskDefinition={task_definition}"
        )) {
            return Ok(());
        }
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| anyhow!("ecs:UpdateService {service}: {}", sdk_error_text(&e)))?;
        Ok(())
    }

    async fn image_exists(&self, repository: &str, digest: &str) -> Result<bool> {
        let answer = self
            .ecr
            .batch_get_image()
            .repository_name(repository)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| anyhow!("ecr:BatchGetImage {repository}: {}", sdk_error_text(&e)))?;
        Ok(answer
            .images()
            .iter()
            .any(|i| i.image_id().and_then(|id| id.image_digest()) == Some(digest)))
    }

    async fn image_digest_for_tag(&self, repository: &str, tag: &str) -> Result<Option<String>> {
        let answer = self
            .ecr
            .batch_get_image()
            .repository_name(repository)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_tag(tag)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "ecr:BatchGetImage {repository}:{tag}: {}",
                    sdk_error_text(&e)
                )
            })?;
        Ok(answer
            .images()
            .iter()
            .find_map(|i| i.image_id()?.image_digest().map(str::to_string)))
    }

    async fn log_messages(&self, group: &str, stream: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let answer = self
                .logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .start_from_head(true)
                .set_next_token(token.clone())
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    let text = sdk_error_text(&e);
                    // No stream yet: the task never started its container.
                    if text.contains("ResourceNotFound") || text.contains("does not exist") {
                        return Ok(lines);
                    }
                    bail!("logs:GetLogEvents {group} {stream}: {text}");
                }
            };
            let events = answer.events();
            lines.extend(
                events
                    .iter()
                    .filter_map(|e| e.message().map(str::to_string)),
            );
            let next = answer.next_forward_token().map(str::to_string);
            // The forward token repeats once the end is reached.
            if events.is_empty() || next == token {
                return Ok(lines);
            }
            token = next;
        }
    }

    async fn put_parameter(&self, name: &str, value: &str) -> Result<()> {
        if self
            .recorder
            .skip(format!("ssm:PutParameter name={name} value={value}"))
        {
            return Ok(());
        }
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(false)
            .send()
            .await
            .map_err(|e| anyhow!("ssm:PutParameter {name}: {}", sdk_error_text(&e)))?;
        Ok(())
    }

    async fn parameters_under(&self, path: &str) -> Result<Vec<Parameter>> {
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(false)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| anyhow!("ssm:GetParametersByPath {path}: {}", sdk_error_text(&e)))?;
            for p in page.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value()) {
                    found.push(Parameter {
                        name: name.to_string(),
                        value: value.to_string(),
                    });
                }
            }
        }
        Ok(found)
    }

    async fn http_status(&self, url: &str) -> Result<u16> {
        http_status(url).await
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed() * self.time_scale
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration / self.time_scale).await;
    }
}

/// `GET url` with a short timeout; the status code.
pub async fn http_status(url: &str) -> Result<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .context("cannot build an HTTP client")?;
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_carry_a_command_and_never_environment() {
        let command = (
            "migration".to_string(),
            vec!["create-superuser".to_string()],
        );
        let overrides = task_override(Some(&command));
        let container = overrides
            .as_ref()
            .and_then(|o| o.container_overrides().first())
            .cloned();
        let container = container.expect("one container override");
        assert_eq!(container.name(), Some("migration"));
        assert_eq!(container.command(), ["create-superuser".to_string()]);
        assert!(container.environment().is_empty());
        assert!(container.environment_files().is_empty());
        assert!(task_override(None).is_none());
    }
}
