//! The AWS calls the deploy/rollback/migrate/admin decisions need, as a trait,
//! so the decisions can be tested against an in-memory fake (moto cannot make
//! a migration fail or a circuit breaker roll back) and run against the SDK.

use std::time::Duration;

use anyhow::Result;

/// What the decisions need to know about a task definition revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDef {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    /// `awsvpc`, `bridge`, ... (`None` = ECS default). RunTask only sends a
    /// network configuration for `awsvpc`.
    pub network_mode: Option<String>,
    /// Whether the revision is registered for Fargate (RunTask launch type).
    pub fargate: bool,
    pub containers: Vec<ContainerDef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerDef {
    pub name: String,
    pub image: String,
    /// `awslogs-stream-prefix` of the container's log configuration.
    pub log_stream_prefix: Option<String>,
}

impl TaskDef {
    pub fn container(&self, name: &str) -> Option<&ContainerDef> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// A one-off task to start. There is deliberately no way to pass environment
/// overrides: secrets reach tasks only through the task definition's `secrets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTask {
    pub cluster: String,
    pub task_definition: String,
    pub awsvpc: bool,
    pub fargate: bool,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Container whose command is overridden, with the command (admin runs only).
    pub command_override: Option<(String, Vec<String>)>,
    /// `startedBy` (ECS allows 128 characters), to find xtask's tasks later.
    pub started_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub last_status: String,
    pub stopped_reason: Option<String>,
    /// Exit code of each container that has one.
    pub exit_codes: Vec<(String, i32)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceState {
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<Deployment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    /// IN_PROGRESS, COMPLETED or FAILED (set when the circuit breaker is on).
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
}

/// One SSM parameter: full name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: String,
}

/// The AWS operations of the ops commands. Mutating calls go through the
/// dry-run recorder in the SDK implementation.
#[allow(async_fn_in_trait)]
pub trait Port {
    fn dry_run(&self) -> bool;

    async fn task_definition(&self, id: &str) -> Result<TaskDef>;
    /// Registers a new revision of `base` with only `container`'s image changed.
    async fn register_with_image(&self, base: &str, container: &str, image: &str)
    -> Result<String>;
    async fn run_task(&self, request: &RunTask) -> Result<String>;
    async fn task_state(&self, cluster: &str, task_arn: &str) -> Result<TaskState>;
    async fn service(&self, cluster: &str, service: &str) -> Result<ServiceState>;
    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<()>;

    /// Whether the repository holds an image with this digest.
    async fn image_exists(&self, repository: &str, digest: &str) -> Result<bool>;
    /// Digest of the image tagged `tag`, if any.
    async fn image_digest_for_tag(&self, repository: &str, tag: &str) -> Result<Option<String>>;

    /// Every message of one log stream, oldest first (empty if no stream yet).
    async fn log_messages(&self, group: &str, stream: &str) -> Result<Vec<String>>;

    async fn put_parameter(&self, name: &str, value: &str) -> Result<()>;
    /// Parameters directly under `path`.
    async fn parameters_under(&self, path: &str) -> Result<Vec<Parameter>>;

    /// HTTP status of `GET url` (an error when nothing answers).
    async fn http_status(&self, url: &str) -> Result<u16>;

    /// Monotonic time since the port was made; the fake advances it in `sleep`.
    fn elapsed(&self) -> Duration;
    async fn sleep(&self, duration: Duration);
}

/// The short task id from a task ARN (`arn:…:task/<cluster>/<id>` → `<id>`).
pub fn task_id(task_arn: &str) -> &str {
    task_arn.rsplit('/').next().unwrap_or(task_arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_id_is_the_last_arn_part() {
        assert_eq!(
            task_id("arn:aws:ecs:us-east-1:1:task/swa-prod-main/0123abcd"),
            "0123abcd"
        );
        assert_eq!(task_id("0123abcd"), "0123abcd");
    }
}
