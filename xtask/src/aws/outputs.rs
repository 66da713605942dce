//! CloudFormation stack outputs: the only state the ops commands read (no env
//! file). Every output of this app has an ExportName `<prefix>-<scope>-<Name>`
//! (infra-cdk/lib/base-stack.ts `output()`); the maps here are keyed by `Name`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_cloudformation::types::StackStatus;

/// The outputs of `stack`, keyed by the last `-`-separated part of their
/// ExportName (e.g. `swa-prod-main-RepositoryUri` → `RepositoryUri`), or by
/// their OutputKey when they have no export.
pub async fn stack_outputs(
    sdk: &aws_config::SdkConfig,
    stack: &str,
) -> Result<BTreeMap<String, String>> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let answer = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            let text = super::sdk_error_text(&e);
            if text.contains("does not exist") {
                anyhow!(
                    "CloudFormation stack {stack} does not exist in this account/region: \
                     deploy it with `npm run cdk -- deploy {stack}` in infra-cdk/ \
                     (or check --stack-prefix / SWA_STACK_PREFIX and AWS_REGION)"
                )
            } else {
                anyhow!("cannot read CloudFormation stack {stack}: {text}")
            }
        })?;
    let found = answer
        .stacks()
        .first()
        .with_context(|| format!("CloudFormation returned no stack named {stack}"))?;
    Ok(outputs_by_name(found.outputs()))
}

fn outputs_by_name(outputs: &[aws_sdk_cloudformation::types::Output]) -> BTreeMap<String, String> {
    outputs
        .iter()
        .filter_map(|output| {
            let value = output.output_value()?.to_string();
            let key = match output.export_name() {
                // Output names are CamelCase words without '-', so the last
                // part is the name whatever the prefix and scope contain.
                Some(export) => export.rsplit('-').next().unwrap_or(export).to_string(),
                None => output.output_key()?.to_string(),
            };
            Some((key, value))
        })
        .collect()
}

/// Everything one tenant's commands need, from `<prefix>-<tenant>-app` and
/// `<prefix>-network`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantApp {
    pub prefix: String,
    pub tenant: String,
    pub cluster: String,
    pub service: String,
    pub service_container: String,
    pub service_task_definition_arn: String,
    pub migration_task_definition_arn: String,
    pub migration_family: String,
    pub migration_container: String,
    pub repository_uri: String,
    pub api_url: String,
    pub service_log_group: String,
    pub migration_log_group: String,
    pub private_subnets: Vec<String>,
    pub security_group: String,
    /// Only when the stack publishes one (status shows target health then).
    pub target_group_arn: Option<String>,
}

impl TenantApp {
    pub fn app_stack(prefix: &str, tenant: &str) -> String {
        format!("{prefix}-{tenant}-app")
    }

    pub fn network_stack(prefix: &str) -> String {
        format!("{prefix}-network")
    }

    pub async fn load(sdk: &aws_config::SdkConfig, prefix: &str, tenant: &str) -> Result<Self> {
        let app = stack_outputs(sdk, &Self::app_stack(prefix, tenant)).await?;
        let network = stack_outputs(sdk, &Self::network_stack(prefix)).await?;
        Self::from_outputs(prefix, tenant, &app, &network)
    }

    pub fn from_outputs(
        prefix: &str,
        tenant: &str,
        app: &BTreeMap<String, String>,
        network: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let app_stack = Self::app_stack(prefix, tenant);
        let network_stack = Self::network_stack(prefix);
        let need = |outputs: &BTreeMap<String, String>, stack: &str, name: &str| {
            outputs.get(name).cloned().with_context(|| {
                format!(
                    "stack {stack} has no output {name}: redeploy it with the current \
                     infra-cdk (`npm run cdk -- deploy {stack}`)"
                )
            })
        };
        let a = |name: &str| need(app, &app_stack, name);
        let n = |name: &str| need(network, &network_stack, name);
        let private_subnets: Vec<String> = n("PrivateSubnetIds")?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if private_subnets.is_empty() {
            bail!("output PrivateSubnetIds of {network_stack} lists no subnet");
        }
        Ok(Self {
            prefix: prefix.to_string(),
            tenant: tenant.to_string(),
            cluster: a("ClusterName")?,
            service: a("ServiceName")?,
            service_container: a("ServiceContainerName")?,
            service_task_definition_arn: a("ServiceTaskDefinitionArn")?,
            migration_task_definition_arn: a("MigrationTaskDefinitionArn")?,
            migration_family: a("MigrationTaskFamily")?,
            migration_container: a("MigrationContainerName")?,
            repository_uri: a("RepositoryUri")?,
            api_url: a("ApiUrl")?.trim_end_matches('/').to_string(),
            service_log_group: a("ServiceLogGroupName")?,
            migration_log_group: a("MigrationLogGroupName")?,
            private_subnets,
            security_group: n("ServiceSecurityGroupId")?,
            target_group_arn: app.get("TargetGroupArn").cloned(),
        })
    }

    /// `123.dkr.ecr.us-east-1.amazonaws.com/swa-prod-main-backend` → `swa-prod-main-backend`.
    pub fn repository_name(&self) -> &str {
        self.repository_uri
            .split_once('/')
            .map_or(self.repository_uri.as_str(), |(_, name)| name)
    }
}

/// `--tenant T` → `[T]`; no tenant → every tenant of the environment, which
/// must have at least one (else the error says to deploy the CDK app).
pub async fn selected_tenants(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    one: Option<&str>,
) -> Result<Vec<String>> {
    if let Some(tenant) = one {
        return Ok(vec![tenant.to_string()]);
    }
    let found = tenants(sdk, prefix).await?;
    if found.is_empty() {
        anyhow::bail!("no stack named {prefix}-<tenant>-app exists: deploy the CDK app first");
    }
    Ok(found)
}

/// Tenants of an environment: the `<prefix>-<tenant>-app` stacks that exist.
pub async fn tenants(sdk: &aws_config::SdkConfig, prefix: &str) -> Result<Vec<String>> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let mut pages = client.list_stacks().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow!(
                "cannot list CloudFormation stacks: {}",
                super::sdk_error_text(&e)
            )
        })?;
        for summary in page.stack_summaries() {
            if summary.stack_status() == Some(&StackStatus::DeleteComplete) {
                continue;
            }
            if let Some(name) = summary.stack_name() {
                names.push(name.to_string());
            }
        }
    }
    Ok(tenants_from_stack_names(
        prefix,
        names.iter().map(String::as_str),
    ))
}

pub fn tenants_from_stack_names<'a>(
    prefix: &str,
    names: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let head = format!("{prefix}-");
    let mut found: Vec<String> = names
        .filter_map(|name| name.strip_prefix(&head)?.strip_suffix("-app"))
        .filter(|tenant| !tenant.is_empty())
        .map(str::to_string)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::types::Output;

    #[test]
    fn outputs_are_keyed_by_export_name_suffix() {
        let outputs = [
            Output::builder()
                .output_key("MainRepositoryUri")
                .output_value("1.dkr.ecr.us-east-1.amazonaws.com/swa-prod-main-backend")
                .export_name("swa-prod-main-RepositoryUri")
                .build(),
            Output::builder()
                .output_key("NoExport")
                .output_value("x")
                .build(),
        ];
        let map = outputs_by_name(&outputs);
        assert_eq!(
            map.get("RepositoryUri").map(String::as_str),
            Some("1.dkr.ecr.us-east-1.amazonaws.com/swa-prod-main-backend")
        );
        assert_eq!(map.get("NoExport").map(String::as_str), Some("x"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn tenants_come_from_app_stacks_of_the_prefix_only() {
        let names = [
            "swa-prod-network",
            "swa-prod-main-app",
            "swa-prod-main-frontend",
            "swa-prod-fintech-app",
            "swa-stg-main-app",
            "swa-prod-data",
        ];
        assert_eq!(
            tenants_from_stack_names("swa-prod", names.into_iter()),
            vec!["fintech".to_string(), "main".to_string()]
        );
    }

    #[test]
    fn missing_output_names_the_stack_to_deploy() {
        let app = BTreeMap::new();
        let network = BTreeMap::new();
        let err = TenantApp::from_outputs("swa-prod", "main", &app, &network)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("swa-prod-network"), "{err}");
        assert!(err.contains("cdk -- deploy"), "{err}");
    }
}
