//! `cargo xtask status`: per tenant, the service counts, the revision and
//! image it runs, deployments in progress, target health (when the stack
//! outputs a target group) and `/healthz`.

use anyhow::{Result, anyhow};

use super::health::HEALTH_PATH;
use super::outputs::{self, TenantApp};
use super::port::Port;
use super::rollout::{self, short_td};
use super::sdk_port::SdkPort;
use crate::util::step;

#[derive(clap::Args)]
pub struct Args {
    /// One tenant (default: every tenant of the environment).
    #[arg(long)]
    tenant: Option<String>,
    #[command(flatten)]
    env: super::Env,
}

pub async fn run(args: Args) -> Result<()> {
    let sdk = super::sdk_config(args.env.region.as_deref()).await;
    let prefix = &args.env.stack_prefix;
    let tenants = outputs::selected_tenants(&sdk, prefix, args.tenant.as_deref()).await?;
    let port = SdkPort::new(&sdk, false);
    for tenant in tenants {
        let app = TenantApp::load(&sdk, prefix, &tenant).await?;
        step(&format!("tenant {tenant}"));
        print!("{}", report(&port, &app).await?);
        if let Some(arn) = &app.target_group_arn {
            println!("  targets: {}", target_health(&sdk, arn).await?);
        } else {
            println!("  targets: (no TargetGroupArn output; see the ALB in the console)");
        }
    }
    Ok(())
}

/// The text for one tenant (everything but target health).
pub async fn report(port: &impl Port, app: &TenantApp) -> Result<String> {
    let service = port.service(&app.cluster, &app.service).await?;
    let td = port.task_definition(&service.task_definition).await?;
    let image = td
        .container(&app.service_container)
        .map_or("?", |c| c.image.as_str());
    let mut out = format!(
        "  service {}: desired {} running {} pending {}\n  task definition {}\n  image {image}\n",
        app.service,
        service.desired,
        service.running,
        service.pending,
        short_td(&service.task_definition)
    );
    let moving: Vec<_> = service
        .deployments
        .iter()
        .filter(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS") || d.status != "PRIMARY")
        .collect();
    if moving.is_empty() {
        out.push_str("  no deployment in progress\n");
    } else {
        out.push_str(&format!("  in progress: {}\n", rollout::summary(&service)));
    }
    let url = format!("{}{HEALTH_PATH}", app.api_url);
    match port.http_status(&url).await {
        Ok(code) => out.push_str(&format!("  GET {url} → {code}\n")),
        Err(e) => out.push_str(&format!("  GET {url} failed: {e:#}\n")),
    }
    Ok(out)
}

async fn target_health(sdk: &aws_config::SdkConfig, arn: &str) -> Result<String> {
    let client = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let answer = client
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "elasticloadbalancing:DescribeTargetHealth: {}",
                super::sdk_error_text(&e)
            )
        })?;
    let states: Vec<String> = answer
        .target_health_descriptions()
        .iter()
        .map(|d| {
            format!(
                "{}={}",
                d.target().and_then(|t| t.id()).unwrap_or("?"),
                d.target_health()
                    .and_then(|h| h.state())
                    .map_or("?", |s| s.as_str())
            )
        })
        .collect();
    Ok(if states.is_empty() {
        "none registered".to_string()
    } else {
        states.join(", ")
    })
}
