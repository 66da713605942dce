//! `cargo xtask deploy`: one image to one or every tenant.
//!
//! Per tenant: check the image is in the tenant's ECR repository; register
//! one new revision of the web and of the migration task definition with
//! only the image changed; run the migration revision as it is (no
//! overrides) and stop on a non-zero exit (the service is not touched);
//! UpdateService; wait for the rollout; GET /healthz; write a record.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::one_off;
use super::outputs::{self, TenantApp};
use super::port::{Port, TaskDef};
use super::records::{self, Kind, Record, Status};
use super::rollout::{self, Rollout, short_td};
use super::sdk_port::SdkPort;
use crate::util::{note, step};

#[derive(clap::Args)]
pub struct Args {
    /// Tenant to deploy.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    tenant: Option<String>,
    /// Deploy every tenant of the environment, one after another.
    #[arg(long)]
    all: bool,
    /// Image digest (sha256:…). Default: target/image/digest from `cargo xtask image`.
    #[arg(long, conflicts_with = "image_tag")]
    image: Option<String>,
    /// Image tag in the tenant's repository, resolved to its digest.
    #[arg(long)]
    image_tag: Option<String>,
    /// Longest wait for the migration task and for the service rollout, each.
    #[arg(long, default_value = "15m", value_parser = super::duration::parse)]
    timeout: Duration,
    /// Print the calls that would change anything instead of making them.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    env: super::Env,
}

/// Which image to deploy, before it is resolved per tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChoice {
    Digest(String),
    Tag(String),
}

pub struct Options {
    pub image: ImageChoice,
    pub timeout: Duration,
}

pub async fn run(args: Args) -> Result<()> {
    let image = match (args.image, args.image_tag) {
        (Some(digest), _) => ImageChoice::Digest(check_digest(&digest)?),
        (None, Some(tag)) => ImageChoice::Tag(tag),
        (None, None) => ImageChoice::Digest(built_digest()?),
    };
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let prefix = &args.env.stack_prefix;
    let tenants = outputs::selected_tenants(&sdk, prefix, args.tenant.as_deref()).await?;
    let mut apps = Vec::new();
    for tenant in &tenants {
        apps.push(TenantApp::load(&sdk, prefix, tenant).await?);
    }
    let port = SdkPort::new(&sdk, args.dry_run);
    let options = Options {
        image,
        timeout: args.timeout,
    };
    deploy_all(&port, &apps, &options).await.map(|_| ())
}

fn check_digest(text: &str) -> Result<String> {
    let text = text.trim();
    let hex = text.strip_prefix("sha256:").unwrap_or(text);
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "--image takes an image digest like sha256:<64 hex digits>, not {text:?} (use --image-tag for a tag)"
        );
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// The digest `cargo xtask image` wrote for the image it built and pushed.
fn built_digest() -> Result<String> {
    let file = crate::util::target_dir().join("image").join("digest");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "no --image given and {} cannot be read: build and push the image first \
             (`cargo xtask image ...`) or pass --image sha256:<digest>",
            file.display()
        )
    })?;
    check_digest(&text).with_context(|| format!("{} holds no image digest", file.display()))
}

/// Deploys the tenants one after another and stops at the first failure
/// (the same image would most likely fail the next tenant too).
pub async fn deploy_all(
    port: &impl Port,
    apps: &[TenantApp],
    options: &Options,
) -> Result<Vec<Record>> {
    let mut done = Vec::new();
    for (index, app) in apps.iter().enumerate() {
        if let Err(e) = deploy_tenant(port, app, options).await {
            let deployed: Vec<&str> = apps[..index].iter().map(|a| a.tenant.as_str()).collect();
            let skipped: Vec<&str> = apps[index + 1..]
                .iter()
                .map(|a| a.tenant.as_str())
                .collect();
            if apps.len() > 1 {
                return Err(e.context(format!(
                    "deploy of tenant {} failed (deployed before it: [{}]; not attempted: [{}])",
                    app.tenant,
                    deployed.join(", "),
                    skipped.join(", ")
                )));
            }
            return Err(e);
        }
        if let Some(record) = records::list(port, app).await?.into_iter().next() {
            done.push(record);
        }
    }
    Ok(done)
}

/// A copy of `base` as the revision registered from it with a new image.
fn as_registered(base: &TaskDef, arn: &str, container: &str, image: &str) -> TaskDef {
    let mut td = base.clone();
    td.arn = arn.to_string();
    td.revision = base.revision + 1;
    for c in td.containers.iter_mut().filter(|c| c.name == container) {
        c.image = image.to_string();
    }
    td
}

pub async fn deploy_tenant(port: &impl Port, app: &TenantApp, options: &Options) -> Result<()> {
    step(&format!("deploy tenant {} ({})", app.tenant, app.prefix));
    let repository = app.repository_name();
    let digest = match &options.image {
        ImageChoice::Digest(digest) => digest.clone(),
        ImageChoice::Tag(tag) => port
            .image_digest_for_tag(repository, tag)
            .await?
            .with_context(|| {
                format!("no image tagged {tag} in ECR repository {repository}: push it first")
            })?,
    };
    if !port.image_exists(repository, &digest).await? {
        bail!(
            "image {digest} is not in ECR repository {repository} of tenant {}: \
             push it first (`cargo xtask image push ...`), then deploy again",
            app.tenant
        );
    }
    let image = format!("{}@{digest}", app.repository_uri);
    note(&format!("image {image}"));

    let service = port.service(&app.cluster, &app.service).await?;
    let previous = service.task_definition.clone();
    let web = port.task_definition(&previous).await?;
    let migration = port.task_definition(&app.migration_family).await?;
    note(&format!(
        "service runs {}; migration family at {}",
        short_td(&web.arn),
        short_td(&migration.arn)
    ));
    let started_at = records::now_text();
    let new_web = port
        .register_with_image(&web.arn, &app.service_container, &image)
        .await?;
    let new_migration = port
        .register_with_image(&migration.arn, &app.migration_container, &image)
        .await?;
    note(&format!(
        "registered {} and {}",
        short_td(&new_web),
        short_td(&new_migration)
    ));
    let record = |status| Record {
        id: records::new_id(chrono::Utc::now(), &digest),
        tenant: app.tenant.clone(),
        image: image.clone(),
        digest: digest.clone(),
        task_definition_arn: new_web.clone(),
        migration_task_definition_arn: new_migration.clone(),
        commit: super::commit(),
        started_at: started_at.clone(),
        finished_at: records::now_text(),
        status,
        kind: Kind::Deploy,
        previous_task_definition_arn: previous.clone(),
        actor: super::actor(),
    };

    step(&format!("migrate tenant {}", app.tenant));
    let migration_td = as_registered(&migration, &new_migration, &app.migration_container, &image);
    let outcome = one_off::run(
        port,
        app,
        &migration_td,
        None,
        "migration",
        options.timeout,
        false,
    )
    .await;
    match outcome {
        Ok(Some(o)) if o.exit_code != 0 => {
            records::save(port, app, &record(Status::Failed)).await?;
            bail!(
                "migration of tenant {} failed with exit code {} (log above, stream {}); \
                 the service was not changed and still runs {}",
                app.tenant,
                o.exit_code,
                o.log_stream,
                short_td(&previous)
            );
        }
        Ok(_) => {}
        Err(e) => {
            records::save(port, app, &record(Status::Failed)).await?;
            return Err(e.context(format!(
                "migration of tenant {} did not complete; the service was not changed",
                app.tenant
            )));
        }
    }

    step(&format!(
        "roll service {} to {}",
        app.service,
        short_td(&new_web)
    ));
    port.update_service(&app.cluster, &app.service, &new_web)
        .await?;
    if port.dry_run() {
        note("[dry run] would wait for the rollout, GET /healthz and record the deployment");
        return Ok(());
    }
    let rollout =
        rollout::wait(port, &app.cluster, &app.service, &new_web, options.timeout).await?;
    match rollout {
        Rollout::Completed => {}
        Rollout::RolledBack { reason, running } => {
            records::save(port, app, &record(Status::RolledBackByCircuitBreaker)).await?;
            bail!(
                "the deployment of {} failed and the ECS circuit breaker rolled the service \
                 back to {}: {reason}. Look at the new tasks' logs \
                 (`cargo xtask logs --tenant {} --service`); the migrations already ran",
                short_td(&new_web),
                short_td(&running),
                app.tenant
            );
        }
        Rollout::Failed { reason } => {
            records::save(port, app, &record(Status::Failed)).await?;
            bail!(
                "the deployment of {} failed: {reason}. See `cargo xtask status --tenant {}`",
                short_td(&new_web),
                app.tenant
            );
        }
        Rollout::TimedOut { summary } => {
            records::save(port, app, &record(Status::Failed)).await?;
            bail!(
                "the service did not reach a steady state on {} within {}s ({summary}); \
                 ECS keeps trying: follow it with `cargo xtask status --tenant {}` and roll \
                 back with `cargo xtask rollback --tenant {}` if needed",
                short_td(&new_web),
                options.timeout.as_secs(),
                app.tenant,
                app.tenant
            );
        }
    }

    step(&format!("smoke test {}", app.api_url));
    if let Err(e) = super::health::smoke_test(port, &app.api_url).await {
        records::save(port, app, &record(Status::Failed)).await?;
        return Err(e);
    }
    records::save(port, app, &record(Status::Succeeded)).await?;
    note(&format!("tenant {} now runs {image}", app.tenant));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_must_be_a_sha256() -> Result<()> {
        let hex = "A".repeat(64);
        assert_eq!(
            check_digest(&format!("sha256:{hex}"))?,
            format!("sha256:{}", "a".repeat(64))
        );
        assert!(check_digest("latest").is_err());
        assert!(check_digest("sha256:abc").is_err());
        Ok(())
    }
}
