//! In-memory [`Port`] for the decision tests: scripted task exit codes and
//! service rollouts, a virtual clock, and a log of every call made.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::outputs::TenantApp;
use super::port::{
    ContainerDef, Deployment, Parameter, Port, RunTask, ServiceState, TaskDef, TaskState, task_id,
};

/// What the service does after UpdateService.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// IN_PROGRESS for two polls, then COMPLETED.
    Completes,
    /// IN_PROGRESS for two polls, then FAILED and back on the old revision.
    CircuitBreakerRollback,
    /// IN_PROGRESS for ever.
    NeverSettles,
}

#[derive(Debug)]
struct Rolling {
    polls: u32,
    previous: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub task_defs: Vec<TaskDef>,
    pub services: BTreeMap<String, ServiceState>,
    rolling: BTreeMap<String, Rolling>,
    pub behaviour: BTreeMap<String, Behaviour>,
    /// Exit code of the one-off tasks per cluster (default 0).
    pub exit_codes: BTreeMap<String, i32>,
    /// task arn → (cluster, polls so far)
    tasks: BTreeMap<String, (String, u32)>,
    pub images: BTreeSet<(String, String)>,
    pub logs: BTreeMap<(String, String), Vec<String>>,
    pub parameters: BTreeMap<String, String>,
    pub http: u16,
    pub clock: Duration,
    /// Every call, e.g. "UpdateService swa-t-a-service td".
    pub calls: Vec<String>,
    pub run_requests: Vec<RunTask>,
}

pub struct FakePort {
    pub state: Mutex<State>,
    pub dry_run: bool,
}

pub const REPO_HOST: &str = "111111111111.dkr.ecr.us-east-1.amazonaws.com";

pub fn digest(n: u8) -> String {
    format!("sha256:{}", format!("{n:02x}").repeat(32))
}

pub fn app(tenant: &str) -> TenantApp {
    let name = format!("swa-t-{tenant}");
    TenantApp {
        prefix: "swa-t".into(),
        tenant: tenant.into(),
        cluster: format!("{name}-cluster"),
        service: format!("{name}-service"),
        service_container: "web".into(),
        service_task_definition_arn: td_arn(&format!("{name}-web"), 1),
        migration_task_definition_arn: td_arn(&format!("{name}-migration"), 1),
        migration_family: format!("{name}-migration"),
        migration_container: "migration".into(),
        repository_uri: format!("{REPO_HOST}/{name}-backend"),
        api_url: format!("https://api.{tenant}.example.com"),
        service_log_group: format!("/ecs/{name}/service"),
        migration_log_group: format!("/ecs/{name}/migration"),
        private_subnets: vec!["subnet-1".into(), "subnet-2".into()],
        security_group: "sg-1".into(),
        target_group_arn: None,
    }
}

pub fn td_arn(family: &str, revision: i32) -> String {
    format!("arn:aws:ecs:us-east-1:111111111111:task-definition/{family}:{revision}")
}

fn task_def(family: &str, revision: i32, container: &str, prefix: &str, image: &str) -> TaskDef {
    TaskDef {
        arn: td_arn(family, revision),
        family: family.into(),
        revision,
        network_mode: Some("awsvpc".into()),
        fargate: true,
        containers: vec![ContainerDef {
            name: container.into(),
            image: image.into(),
            log_stream_prefix: Some(prefix.into()),
        }],
    }
}

impl FakePort {
    /// Tenants whose service runs revision 1 of their web family with image digest(1).
    pub fn with_tenants(tenants: &[&str]) -> Self {
        let mut state = State {
            http: 200,
            ..State::default()
        };
        for tenant in tenants {
            let app = app(tenant);
            let image = format!("{}@{}", app.repository_uri, digest(1));
            let web_family = format!("swa-t-{tenant}-web");
            state
                .task_defs
                .push(task_def(&web_family, 1, "web", "web", &image));
            state.task_defs.push(task_def(
                &app.migration_family,
                1,
                "migration",
                "migration",
                &image,
            ));
            state.services.insert(
                app.cluster.clone(),
                ServiceState {
                    task_definition: td_arn(&web_family, 1),
                    desired: 2,
                    running: 2,
                    pending: 0,
                    deployments: vec![deployment(&td_arn(&web_family, 1), "PRIMARY", "COMPLETED")],
                },
            );
            state
                .behaviour
                .insert(app.cluster.clone(), Behaviour::Completes);
            for n in [1, 2, 3] {
                state
                    .images
                    .insert((app.repository_name().to_string(), digest(n)));
            }
        }
        Self {
            state: Mutex::new(state),
            dry_run: false,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    pub fn calls(&self) -> Vec<String> {
        self.with(|s| s.calls.clone())
    }
}

fn deployment(td: &str, status: &str, rollout: &str) -> Deployment {
    Deployment {
        id: format!("ecs-svc/{}", td.len()),
        status: status.into(),
        task_definition: td.into(),
        rollout_state: Some(rollout.into()),
        rollout_state_reason: Some(format!("deployment {rollout}")),
        desired: 2,
        running: 2,
        pending: 0,
        failed_tasks: 0,
    }
}

impl Port for FakePort {
    fn dry_run(&self) -> bool {
        self.dry_run
    }

    async fn task_definition(&self, id: &str) -> Result<TaskDef> {
        self.with(|s| {
            s.calls.push(format!("DescribeTaskDefinition {id}"));
            s.task_defs
                .iter()
                .filter(|t| t.arn == id || t.family == id)
                .max_by_key(|t| t.revision)
                .cloned()
                .with_context(|| format!("no task definition {id}"))
        })
    }

    async fn register_with_image(
        &self,
        base: &str,
        container: &str,
        image: &str,
    ) -> Result<String> {
        let dry = self.dry_run;
        self.with(|s| {
            s.calls
                .push(format!("RegisterTaskDefinition {base} {container} {image}"));
            let base_td = s
                .task_defs
                .iter()
                .find(|t| t.arn == base)
                .cloned()
                .with_context(|| format!("no task definition {base}"))?;
            if dry {
                return Ok(format!("{}:<new revision>", base_td.family));
            }
            let revision = s
                .task_defs
                .iter()
                .filter(|t| t.family == base_td.family)
                .map(|t| t.revision)
                .max()
                .unwrap_or(0)
                + 1;
            let mut td = base_td.clone();
            td.revision = revision;
            td.arn = td_arn(&td.family, revision);
            for c in td.containers.iter_mut().filter(|c| c.name == container) {
                c.image = image.into();
            }
            let arn = td.arn.clone();
            s.task_defs.push(td);
            Ok(arn)
        })
    }

    async fn run_task(&self, request: &RunTask) -> Result<String> {
        let dry = self.dry_run;
        self.with(|s| {
            s.calls.push(format!(
                "RunTask {} {}",
                request.cluster, request.task_definition
            ));
            s.run_requests.push(request.clone());
            let arn = format!(
                "arn:aws:ecs:us-east-1:111111111111:task/{}/task{}",
                request.cluster,
                s.run_requests.len()
            );
            if !dry {
                s.tasks.insert(arn.clone(), (request.cluster.clone(), 0));
                let stream = format!("migration/migration/{}", task_id(&arn));
                let group = format!(
                    "/ecs/{}/migration",
                    request.cluster.trim_end_matches("-cluster")
                );
                let code = s.exit_codes.get(&request.cluster).copied().unwrap_or(0);
                s.logs.insert(
                    (group, stream),
                    vec![format!("running migrations"), format!("exit {code}")],
                );
            }
            Ok(arn)
        })
    }

    async fn task_state(&self, cluster: &str, task_arn: &str) -> Result<TaskState> {
        self.with(|s| {
            s.calls.push(format!("DescribeTasks {task_arn}"));
            let Some((task_cluster, polls)) = s.tasks.get_mut(task_arn) else {
                bail!("no task {task_arn}");
            };
            assert_eq!(task_cluster, cluster);
            *polls += 1;
            if *polls < 3 {
                return Ok(TaskState {
                    last_status: if *polls == 1 { "PENDING" } else { "RUNNING" }.into(),
                    stopped_reason: None,
                    exit_codes: Vec::new(),
                });
            }
            let code = s.exit_codes.get(cluster).copied().unwrap_or(0);
            Ok(TaskState {
                last_status: "STOPPED".into(),
                stopped_reason: Some("Essential container in task exited".into()),
                exit_codes: vec![("migration".into(), code)],
            })
        })
    }

    async fn service(&self, cluster: &str, _service: &str) -> Result<ServiceState> {
        self.with(|s| {
            s.calls.push(format!("DescribeServices {cluster}"));
            let behaviour = s
                .behaviour
                .get(cluster)
                .copied()
                .unwrap_or(Behaviour::Completes);
            let Some(service) = s.services.get_mut(cluster) else {
                bail!("no service in {cluster}");
            };
            if let Some(rolling) = s.rolling.get_mut(cluster) {
                rolling.polls += 1;
                let target = service.task_definition.clone();
                if rolling.polls >= 3 {
                    match behaviour {
                        Behaviour::Completes => {
                            service.deployments = vec![deployment(&target, "PRIMARY", "COMPLETED")];
                            s.rolling.remove(cluster);
                        }
                        Behaviour::CircuitBreakerRollback => {
                            let previous = rolling.previous.clone();
                            service.task_definition = previous.clone();
                            service.deployments = vec![
                                deployment(&previous, "PRIMARY", "IN_PROGRESS"),
                                deployment(&target, "ACTIVE", "FAILED"),
                            ];
                            s.rolling.remove(cluster);
                        }
                        Behaviour::NeverSettles => {}
                    }
                }
            }
            Ok(service.clone())
        })
    }

    async fn update_service(
        &self,
        cluster: &str,
        service: &str,
        task_definition: &str,
    ) -> Result<()> {
        let dry = self.dry_run;
        self.with(|s| {
            s.calls
                .push(format!("UpdateService {service} {task_definition}"));
            if dry {
                return Ok(());
            }
            let state = s.services.get_mut(cluster).context("no service")?;
            let previous = state.task_definition.clone();
            state.task_definition = task_definition.into();
            state.deployments = vec![
                deployment(task_definition, "PRIMARY", "IN_PROGRESS"),
                deployment(&previous, "ACTIVE", "COMPLETED"),
            ];
            s.rolling
                .insert(cluster.into(), Rolling { polls: 0, previous });
            Ok(())
        })
    }

    async fn image_exists(&self, repository: &str, digest: &str) -> Result<bool> {
        self.with(|s| {
            s.calls.push(format!("BatchGetImage {repository} {digest}"));
            Ok(s.images
                .contains(&(repository.to_string(), digest.to_string())))
        })
    }

    async fn image_digest_for_tag(&self, repository: &str, tag: &str) -> Result<Option<String>> {
        self.with(|s| {
            s.calls.push(format!("BatchGetImage {repository}:{tag}"));
            Ok(None)
        })
    }

    async fn log_messages(&self, group: &str, stream: &str) -> Result<Vec<String>> {
        self.with(|s| {
            s.calls.push(format!("GetLogEvents {group} {stream}"));
            Ok(s.logs
                .get(&(group.to_string(), stream.to_string()))
                .cloned()
                .unwrap_or_default())
        })
    }

    async fn put_parameter(&self, name: &str, value: &str) -> Result<()> {
        let dry = self.dry_run;
        self.with(|s| {
            s.calls.push(format!("PutParameter {name}"));
            if dry {
                return Ok(());
            }
            if s.parameters.insert(name.into(), value.into()).is_some() {
                bail!("parameter {name} already exists");
            }
            Ok(())
        })
    }

    async fn parameters_under(&self, path: &str) -> Result<Vec<Parameter>> {
        self.with(|s| {
            let head = format!("{path}/");
            Ok(s.parameters
                .iter()
                .filter(|(name, _)| {
                    name.strip_prefix(&head)
                        .is_some_and(|rest| !rest.contains('/'))
                })
                .map(|(name, value)| Parameter {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect())
        })
    }

    async fn http_status(&self, url: &str) -> Result<u16> {
        self.with(|s| {
            s.calls.push(format!("GET {url}"));
            Ok(s.http)
        })
    }

    fn elapsed(&self) -> Duration {
        self.with(|s| s.clock)
    }

    async fn sleep(&self, duration: Duration) {
        self.with(|s| s.clock += duration);
    }
}
