//! The SDK wiring against a real AWS emulator (moto server): stack outputs,
//! task definition copies, RunTask requests, service updates, ECR checks,
//! SSM records and logs, driven end to end through deploy → status →
//! deployments → rollback → migrate → admin.
//!
//! moto's limits shape the fixture (see /work/shared/tooling-notes.md): task
//! definitions use `bridge` networking (RunTask with awsvpc needs EC2
//! subnets moto lacks here), one-off tasks always exit 0, and UpdateService
//! makes no new deployment (the rollout wait accepts a settled service).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::types::{
    CapacityProviderStrategyItem, ContainerDefinition, KeyValuePair, LogConfiguration, LogDriver,
    Secret,
};

use super::deploy::{self, ImageChoice, Options};
use super::outputs::{self, TenantApp};
use super::port::Port;
use super::records::{self, Kind, Status};
use super::sdk_port::SdkPort;
use super::{admin, migrate, rollback, status};

const PREFIX: &str = "swa-m";
const TENANT: &str = "main";
const DESIRED: i32 = 2;
const FAST: u32 = 100;

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start() -> Result<Self> {
        let binary = crate::cdk::python_tool("moto_server")?;
        let port = crate::util::free_port()?;
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ECS_SERVICE_RUNNING", DESIRED.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let started = std::time::Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("moto_server did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Answers `GET /healthz` with 200 and anything else with 404, on loopback.
fn health_server() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream);
        }
    });
    Ok(format!("http://{addr}"))
}

fn answer(mut stream: TcpStream) {
    let mut buffer = [0u8; 2048];
    let n = stream.read(&mut buffer).unwrap_or(0);
    let request = String::from_utf8_lossy(&buffer[..n]);
    let status = if request.starts_with("GET /healthz ") {
        "200 OK"
    } else {
        "404 Not Found"
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
    );
}

async fn sdk(url: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .test_credentials()
        .load()
        .await
}

fn template(outputs: &[(&str, String)], scope: &str) -> String {
    let outputs: serde_json::Map<String, serde_json::Value> = outputs
        .iter()
        .map(|(name, value)| {
            (
                format!("Out{name}"),
                serde_json::json!({
                    "Value": value,
                    "Export": { "Name": format!("{PREFIX}-{scope}-{name}") }
                }),
            )
        })
        .collect();
    serde_json::json!({
        "Resources": { "Handle": { "Type": "AWS::CloudFormation::WaitConditionHandle" } },
        "Outputs": outputs
    })
    .to_string()
}

fn manifest(n: u8) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 100 + u32::from(n),
            "digest": format!("sha256:{}", format!("{n:02x}").repeat(32))
        },
        "layers": []
    })
    .to_string()
}

fn manifest_digest(manifest: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(manifest.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

struct Fixture {
    sdk: SdkConfig,
    app: TenantApp,
    digests: Vec<String>,
}

/// The resources the stack outputs name, and the stacks themselves.
async fn fixture(url: &str, api_url: &str) -> Result<Fixture> {
    let sdk = sdk(url).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let name = format!("{PREFIX}-{TENANT}");

    // Tasks without a launch type use the cluster's default strategy; a
    // Fargate default keeps moto from asking for container instances.
    let cluster = ecs
        .create_cluster()
        .cluster_name(format!("{name}-cluster"))
        .capacity_providers("FARGATE")
        .default_capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider("FARGATE")
                .weight(1)
                .build()?,
        )
        .send()
        .await?;
    let cluster_name = cluster
        .cluster()
        .and_then(|c| c.cluster_name())
        .context("cluster name")?
        .to_string();

    let repo = ecr
        .create_repository()
        .repository_name(format!("{name}-backend"))
        .send()
        .await?;
    let repo_uri = repo
        .repository()
        .and_then(|r| r.repository_uri())
        .context("repository uri")?
        .to_string();
    let mut digests = Vec::new();
    for n in [1u8, 2] {
        let put = ecr
            .put_image()
            .repository_name(format!("{name}-backend"))
            .image_manifest(manifest(n))
            // moto derives the digest from the layers alone; give the real one.
            .image_digest(manifest_digest(&manifest(n)))
            .image_tag(format!("build-{n}"))
            .send()
            .await?;
        digests.push(
            put.image()
                .and_then(|i| i.image_id())
                .and_then(|i| i.image_digest())
                .context("digest of the put image")?
                .to_string(),
        );
    }

    let service_logs = format!("/ecs/{name}/service");
    let migration_logs = format!("/ecs/{name}/migration");
    for group in [&service_logs, &migration_logs] {
        logs.create_log_group().log_group_name(group).send().await?;
    }

    let log = |group: &str, prefix: &str| {
        LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", group)
            .options("awslogs-region", "us-east-1")
            .options("awslogs-stream-prefix", prefix)
            .build()
    };
    let secret = Secret::builder()
        .name("DATABASE_URL")
        .value_from(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:swa-m/main/database:url::",
        )
        .build()?;
    let env = KeyValuePair::builder()
        .name("APP_ENVIRONMENT")
        .value("production")
        .build();
    let web = ecs
        .register_task_definition()
        .family(format!("{name}-web"))
        .network_mode(aws_sdk_ecs::types::NetworkMode::Bridge)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("web")
                .image(format!("{repo_uri}:none"))
                .cpu(256)
                .memory(512)
                .essential(true)
                .environment(env.clone())
                .secrets(secret.clone())
                .log_configuration(log(&service_logs, "web")?)
                .build(),
        )
        .send()
        .await?;
    let web_arn = web
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .context("web arn")?
        .to_string();
    let migration = ecs
        .register_task_definition()
        .family(format!("{name}-migration"))
        .network_mode(aws_sdk_ecs::types::NetworkMode::Bridge)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("migration")
                .image(format!("{repo_uri}:none"))
                .cpu(256)
                .memory(512)
                .essential(true)
                .entry_point("/app/startupwebapp")
                .command("migrate")
                .environment(env)
                .secrets(secret)
                .log_configuration(log(&migration_logs, "migration")?)
                .build(),
        )
        .send()
        .await?;
    let migration_arn = migration
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .context("migration arn")?
        .to_string();
    ecs.create_service()
        .cluster(&cluster_name)
        .service_name(format!("{name}-service"))
        .task_definition(&web_arn)
        .desired_count(DESIRED)
        .send()
        .await?;

    let network_outputs = [
        ("VpcId", "vpc-0123".to_string()),
        ("PrivateSubnetIds", "subnet-aaa,subnet-bbb".to_string()),
        ("ServiceSecurityGroupId", "sg-0123".to_string()),
    ];
    let app_outputs = [
        ("ClusterName", cluster_name.clone()),
        ("ServiceName", format!("{name}-service")),
        ("ServiceTaskDefinitionArn", web_arn),
        ("ServiceContainerName", "web".to_string()),
        ("MigrationTaskDefinitionArn", migration_arn),
        ("MigrationTaskFamily", format!("{name}-migration")),
        ("MigrationContainerName", "migration".to_string()),
        ("RepositoryUri", repo_uri),
        ("ApiUrl", api_url.to_string()),
        ("ServiceLogGroupName", service_logs),
        ("MigrationLogGroupName", migration_logs),
    ];
    for (stack, body) in [
        (
            format!("{PREFIX}-network"),
            template(&network_outputs, "network"),
        ),
        (format!("{name}-app"), template(&app_outputs, TENANT)),
    ] {
        cfn.create_stack()
            .stack_name(stack)
            .template_body(body)
            .send()
            .await?;
    }
    let app = TenantApp::load(&sdk, PREFIX, TENANT).await?;
    Ok(Fixture { sdk, app, digests })
}

async fn revisions(sdk: &SdkConfig, family: &str) -> Result<Vec<String>> {
    let answer = aws_sdk_ecs::Client::new(sdk)
        .list_task_definitions()
        .family_prefix(family)
        .send()
        .await?;
    Ok(answer.task_definition_arns().to_vec())
}

/// (task definition, overrides of the migration container) of every task in the cluster.
async fn tasks(
    sdk: &SdkConfig,
    cluster: &str,
) -> Result<Vec<(String, Option<aws_sdk_ecs::types::ContainerOverride>)>> {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let arns = ecs
        .list_tasks()
        .cluster(cluster)
        .send()
        .await?
        .task_arns()
        .to_vec();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let described = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await?;
    Ok(described
        .tasks()
        .iter()
        .map(|t| {
            (
                t.task_definition_arn().unwrap_or_default().to_string(),
                t.overrides()
                    .and_then(|o| o.container_overrides().first().cloned()),
            )
        })
        .collect())
}

fn image_of(td: &aws_sdk_ecs::types::TaskDefinition) -> String {
    td.container_definitions()
        .first()
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

async fn describe(sdk: &SdkConfig, id: &str) -> Result<aws_sdk_ecs::types::TaskDefinition> {
    aws_sdk_ecs::Client::new(sdk)
        .describe_task_definition()
        .task_definition(id)
        .send()
        .await?
        .task_definition()
        .cloned()
        .context("task definition")
}

async fn service_td(sdk: &SdkConfig, app: &TenantApp) -> Result<String> {
    Ok(SdkPort::new(sdk, false)
        .service(&app.cluster, &app.service)
        .await?
        .task_definition)
}

#[test]
fn deploy_status_deployments_rollback_migrate_admin_against_moto() -> Result<()> {
    let moto = Moto::start()?;
    let api_url = health_server()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let Fixture { sdk, app, digests } = fixture(&moto.url, &api_url).await?;
        let port = SdkPort::new(&sdk, false).fast(FAST);
        let web_family = format!("{PREFIX}-{TENANT}-web");
        let migration_family = app.migration_family.clone();

        // Outputs and tenant discovery.
        assert_eq!(
            outputs::tenants(&sdk, PREFIX).await?,
            vec![TENANT.to_string()]
        );
        let raw = outputs::stack_outputs(&sdk, &format!("{PREFIX}-network")).await?;
        assert_eq!(
            raw.get("ServiceSecurityGroupId").map(String::as_str),
            Some("sg-0123")
        );
        assert_eq!(app.private_subnets, vec!["subnet-aaa", "subnet-bbb"]);
        assert_eq!(app.repository_name(), "swa-m-main-backend");

        // A dry run reads but changes nothing.
        let dry = SdkPort::new(&sdk, true).fast(FAST);
        let opts = |digest: &str| Options {
            image: ImageChoice::Digest(digest.to_string()),
            timeout: Duration::from_secs(600),
        };
        deploy::deploy_tenant(&dry, &app, &opts(&digests[0])).await?;
        let recorded = dry.recorded();
        for call in [
            "ecs:RegisterTaskDefinition",
            "ecs:RunTask",
            "ecs:UpdateService",
        ] {
            assert!(
                recorded.iter().any(|c| c.starts_with(call)),
                "{call} in {recorded:?}"
            );
        }
        assert_eq!(revisions(&sdk, &web_family).await?.len(), 1);
        assert!(tasks(&sdk, &app.cluster).await?.is_empty());

        // Deploy image 1 (by tag, resolved through ECR).
        let by_tag = Options {
            image: ImageChoice::Tag("build-1".into()),
            timeout: Duration::from_secs(600),
        };
        deploy::deploy_tenant(&port, &app, &by_tag).await?;
        let web2 = service_td(&sdk, &app).await?;
        assert!(web2.ends_with(&format!("{web_family}:2")), "{web2}");
        let image1 = format!("{}@{}", app.repository_uri, digests[0]);
        let web2_td = describe(&sdk, &web2).await?;
        assert_eq!(image_of(&web2_td), image1);
        // Everything else was copied.
        let web_container = &web2_td.container_definitions()[0];
        assert_eq!(web_container.environment().len(), 1);
        assert_eq!(web_container.secrets().len(), 1);
        assert_eq!(
            web_container
                .log_configuration
                .as_ref()
                .and_then(|l| l.options.as_ref())
                .and_then(|o| o.get("awslogs-stream-prefix").cloned())
                .as_deref(),
            Some("web")
        );
        assert_eq!(web2_td.cpu(), Some("256"));
        let migration2 = describe(&sdk, &format!("{migration_family}:2")).await?;
        assert_eq!(image_of(&migration2), image1);
        assert_eq!(
            migration2.container_definitions()[0].command(),
            ["migrate".to_string()]
        );
        assert_eq!(
            migration2.container_definitions()[0].entry_point(),
            ["/app/startupwebapp".to_string()]
        );
        // The migration ran that revision with no overrides at all.
        let ran = tasks(&sdk, &app.cluster).await?;
        assert_eq!(ran.len(), 1);
        assert!(
            ran[0].0.ends_with(&format!("{migration_family}:2")),
            "{:?}",
            ran[0]
        );
        assert!(ran[0].1.is_none(), "{:?}", ran[0]);

        // Status.
        let report = status::report(&port, &app).await?;
        assert!(
            report.contains(&format!("desired {DESIRED} running {DESIRED}")),
            "{report}"
        );
        assert!(report.contains(&image1), "{report}");
        assert!(report.contains("/healthz → 200"), "{report}");

        // Deploy image 2.
        deploy::deploy_tenant(&port, &app, &opts(&digests[1])).await?;
        let web3 = service_td(&sdk, &app).await?;
        assert!(web3.ends_with(&format!("{web_family}:3")), "{web3}");

        // Deployments: two records in SSM, newest first, the current one marked.
        let history = records::list(&port, &app).await?;
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].digest, digests[1]);
        assert!(
            history
                .iter()
                .all(|r| r.status == Status::Succeeded && r.kind == Kind::Deploy)
        );
        assert_eq!(history[0].previous_task_definition_arn, web2);
        let table = records::table(&history, &web3);
        assert!(
            table.starts_with(&format!("* {}", history[0].id)),
            "{table}"
        );

        // Rollback: back to revision 2, no new revision, a rollback record.
        rollback::rollback(&port, &app, None, Duration::from_secs(600)).await?;
        assert_eq!(service_td(&sdk, &app).await?, web2);
        assert_eq!(revisions(&sdk, &web_family).await?.len(), 3);
        let history = records::list(&port, &app).await?;
        assert_eq!(history.len(), 3);
        assert_eq!(history[0].kind, Kind::Rollback);
        assert_eq!(history[0].previous_task_definition_arn, web3);

        // Migrate: the family's latest revision (3), as it is.
        migrate::migrate(&port, &app, Duration::from_secs(600)).await?;
        // Admin: only a command override.
        let command: Vec<String> = [
            "create-superuser",
            "--username",
            "admin",
            "--email",
            "ops@example.com",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        admin::admin(&port, &app, &command, Duration::from_secs(600)).await?;
        assert_eq!(revisions(&sdk, &migration_family).await?.len(), 3);
        let ran = tasks(&sdk, &app.cluster).await?;
        assert_eq!(ran.len(), 4, "{ran:?}");
        let with_override: Vec<_> = ran.iter().filter_map(|(_, o)| o.clone()).collect();
        assert_eq!(with_override.len(), 1, "{ran:?}");
        assert_eq!(with_override[0].name(), Some("migration"));
        assert_eq!(with_override[0].command(), command.as_slice());
        assert!(with_override[0].environment().is_empty());
        let latest = format!("{migration_family}:3");
        assert_eq!(
            ran.iter().filter(|(td, _)| td.ends_with(&latest)).count(),
            3
        );

        // An image expired from ECR cannot be rolled back to.
        aws_sdk_ecr::Client::new(&sdk)
            .batch_delete_image()
            .repository_name(app.repository_name())
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(&digests[1])
                    .build(),
            )
            .send()
            .await?;
        let deploy2 = history
            .iter()
            .find(|r| r.digest == digests[1])
            .map(|r| r.id.clone())
            .context("record of image 2")?;
        let refused =
            rollback::rollback(&port, &app, Some(&deploy2), Duration::from_secs(600)).await;
        let text = format!("{:#}", refused.err().context("rollback must be refused")?);
        assert!(text.contains(&digests[1]), "{text}");
        assert_eq!(service_td(&sdk, &app).await?, web2);
        // Deploying it is refused too, before anything is registered.
        assert!(
            deploy::deploy_tenant(&port, &app, &opts(&digests[1]))
                .await
                .is_err()
        );
        assert_eq!(revisions(&sdk, &web_family).await?.len(), 3);
        Ok::<(), anyhow::Error>(())
    })
}

#[test]
fn missing_stack_says_which_cdk_deploy_to_run() -> Result<()> {
    let moto = Moto::start()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sdk = sdk(&moto.url).await;
        let err = TenantApp::load(&sdk, PREFIX, "nobody")
            .await
            .err()
            .context("no stacks exist")?;
        let text = format!("{err:#}");
        assert!(text.contains("swa-m-nobody-app"), "{text}");
        assert!(text.contains("cdk -- deploy"), "{text}");
        Ok(())
    })
}
