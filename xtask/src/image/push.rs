//! `cargo xtask push`: `target/image` to a registry with the distribution
//! API. Blobs the registry has are skipped (HEAD), the others uploaded; the
//! manifest is put under a tag (default: the image's commit), its
//! `Docker-Content-Digest` checked, and then pulled back by digest and
//! compared byte for byte.
//!
//! `--to host[:port]/repo` for a plain registry (`--insecure`: http on
//! loopback), `--ecr <account>.dkr.ecr.<region>.amazonaws.com/<repo>` signs
//! in with an ECR authorization token from the AWS SDK (credentials and
//! AWS_ENDPOINT_URL as the SDK reads them). `--dry-run` prints the requests.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::oci;
use super::registry::{Client, Registry};
use crate::util;

#[derive(clap::Args)]
pub struct Args {
    /// A registry and repository, `host[:port]/repository`.
    #[arg(long, value_name = "HOST/REPO", group = "target")]
    to: Option<String>,
    /// An ECR repository URI, `<account>.dkr.ecr.<region>.amazonaws.com/<repo>`.
    #[arg(long, value_name = "URI", group = "target")]
    ecr: Option<String>,
    /// The ECR repository of this tenant (stack output `RepositoryUri`).
    #[arg(long, value_name = "TENANT", group = "target")]
    tenant: Option<String>,
    /// The ECR repository of every tenant of the environment.
    #[arg(long, group = "target")]
    all: bool,
    #[command(flatten)]
    env: crate::aws::Env,
    /// Plain http (only for a registry on loopback).
    #[arg(long)]
    insecure: bool,
    /// Tag of the manifest; defaults to the commit the image was built from.
    #[arg(long)]
    tag: Option<String>,
    /// Print each request instead of sending it.
    #[arg(long)]
    dry_run: bool,
    /// The OCI image layout to push.
    #[arg(long, value_name = "DIR")]
    image: Option<PathBuf>,
}

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    /// The manifest digest, as the registry confirmed it.
    pub digest: String,
    /// `host[:port]/repository`.
    pub repository: String,
    pub tag: String,
    /// Blob digests uploaded, and those the registry already had.
    pub uploaded: Vec<String>,
    pub skipped: Vec<String>,
}

pub fn run(args: Args) -> Result<()> {
    let dir = args.image.clone().unwrap_or_else(super::image_dir);
    let tag = match &args.tag {
        Some(tag) => tag.clone(),
        None => default_tag(&dir)?,
    };
    let runtime = runtime()?;
    if args.tenant.is_some() || args.all {
        // The repository of each tenant comes from its app stack's outputs.
        let uris = runtime.block_on(tenant_repositories(&args))?;
        for uri in uris {
            push_one(&runtime, &args, &dir, &tag, &uri, None)?;
        }
        return Ok(());
    }
    let uri = args.ecr.clone().unwrap_or_default();
    push_one(&runtime, &args, &dir, &tag, &uri, args.to.as_deref())
}

/// `RepositoryUri` of `--tenant`, or of every tenant with `--all`.
async fn tenant_repositories(args: &Args) -> Result<Vec<String>> {
    let sdk = crate::aws::sdk_config(args.env.region.as_deref()).await;
    let prefix = &args.env.stack_prefix;
    let tenants =
        crate::aws::outputs::selected_tenants(&sdk, prefix, args.tenant.as_deref()).await?;
    let mut uris = Vec::new();
    for tenant in tenants {
        let stack = crate::aws::outputs::TenantApp::app_stack(prefix, &tenant);
        let outputs = crate::aws::outputs::stack_outputs(&sdk, &stack).await?;
        let uri = outputs
            .get("RepositoryUri")
            .with_context(|| format!("stack {stack} has no RepositoryUri output"))?;
        uris.push(uri.clone());
    }
    Ok(uris)
}

/// Pushes to `to` (a plain registry) or else to the ECR repository `uri`.
fn push_one(
    runtime: &tokio::runtime::Runtime,
    args: &Args,
    dir: &Path,
    tag: &str,
    uri: &str,
    to: Option<&str>,
) -> Result<()> {
    let target = match (to, uri) {
        (Some(to), _) => Registry::parse(to, args.insecure)?,
        (None, uri) if args.dry_run => {
            util::note(&format!(
                "would call ecr:GetAuthorizationToken (region {}) for Basic auth",
                ecr_region(uri).unwrap_or("from the AWS configuration")
            ));
            Registry::parse(uri, false)?
        }
        (None, "") => bail!("give --to HOST/REPO, --ecr URI, --tenant T or --all"),
        (None, uri) => runtime.block_on(ecr_registry(uri))?,
    };
    let started = Instant::now();
    let pushed = runtime.block_on(push_async(dir, &target, tag, args.dry_run))?;
    if !args.dry_run {
        util::note(&format!(
            "pushed {}:{} = {} in {:.1}s ({} blobs uploaded, {} already there)",
            pushed.repository,
            pushed.tag,
            pushed.digest,
            started.elapsed().as_secs_f64(),
            pushed.uploaded.len(),
            pushed.skipped.len()
        ));
        println!("{}@{}", pushed.repository, pushed.digest);
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The tag recorded in index.json at assembly (the commit), else HEAD.
pub fn default_tag(dir: &Path) -> Result<String> {
    let layout = oci::read_layout(dir)?;
    match layout.ref_name {
        Some(name) => Ok(name),
        None => super::git(&util::workspace_root(), &["rev-parse", "HEAD"]),
    }
}

/// Pushes from synchronous code (creates its own runtime; from async code
/// call `push_async`).
pub fn push(image_dir: &Path, target: &Registry, tag: &str) -> Result<Pushed> {
    runtime()?.block_on(push_async(image_dir, target, tag, false))
}

pub async fn push_async(
    image_dir: &Path,
    target: &Registry,
    tag: &str,
    dry_run: bool,
) -> Result<Pushed> {
    let valid_tag = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !valid_tag {
        bail!("'{tag}' is not a valid tag (letters, digits, . _ -; at most 128)");
    }
    let layout = oci::read_layout(image_dir)?;
    let name = target.name();
    util::step(&format!(
        "pushing {} to {name}:{tag}",
        layout.manifest.digest
    ));
    let mut blobs: Vec<(String, Blobbed)> = layout
        .layers
        .iter()
        .map(|(d, path)| (d.digest.clone(), Blobbed::File(path.clone())))
        .collect();
    blobs.push((
        layout.config.digest.clone(),
        Blobbed::Bytes(layout.config.bytes.clone()),
    ));

    if dry_run {
        for (digest, _) in &blobs {
            println!("HEAD {}", target.url(&format!("blobs/{digest}"))?);
            println!(
                "  if 404: POST {}, then PUT <Location>?digest={digest}",
                target.url("blobs/uploads/")?
            );
        }
        println!(
            "PUT {} ({})",
            target.url(&format!("manifests/{tag}"))?,
            oci::MANIFEST_MEDIA_TYPE
        );
        println!(
            "GET {}",
            target.url(&format!("manifests/{}", layout.manifest.digest))?
        );
        return Ok(Pushed {
            digest: layout.manifest.digest,
            repository: name,
            tag: tag.to_owned(),
            uploaded: Vec::new(),
            skipped: Vec::new(),
        });
    }

    let client = Client::new(target.clone())?;
    let (mut uploaded, mut skipped) = (Vec::new(), Vec::new());
    for (digest, blob) in blobs {
        if client.blob_exists(&digest).await? {
            util::note(&format!("{digest}: already there"));
            skipped.push(digest);
            continue;
        }
        let bytes = match blob {
            Blobbed::Bytes(b) => b,
            Blobbed::File(path) => {
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?
            }
        };
        let size = bytes.len();
        let t = Instant::now();
        client.upload_blob(&digest, bytes).await?;
        util::note(&format!(
            "{digest}: uploaded {:.1} MB in {:.1}s",
            size as f64 / 1e6,
            t.elapsed().as_secs_f64()
        ));
        uploaded.push(digest);
    }
    let confirmed = client.put_manifest(tag, &layout.manifest.bytes).await?;
    if confirmed != layout.manifest.digest {
        bail!(
            "the registry stored the manifest as {confirmed}, not {}",
            layout.manifest.digest
        );
    }
    util::note(&format!("manifest {tag}: {confirmed}"));
    let pulled = client.get_manifest(&confirmed).await?;
    if pulled != layout.manifest.bytes {
        bail!("the manifest pulled back by digest differs from the one pushed");
    }
    util::note("pulled back by digest: byte-identical");
    Ok(Pushed {
        digest: confirmed,
        repository: name,
        tag: tag.to_owned(),
        uploaded,
        skipped,
    })
}

/// `cargo xtask test`'s step: a throwaway docker-registry on loopback, the
/// image pushed under its commit tag, then pulled back by tag as well (the
/// push itself compares the pull by digest).
pub fn to_local_registry(image_dir: &Path) -> Result<Pushed> {
    util::note("starting docker-registry on a free loopback port");
    let registry = super::registry::LocalRegistry::start()?;
    let target = Registry::parse(&format!("{}/startupwebapp", registry.addr), true)?;
    let tag = default_tag(image_dir)?;
    let started = Instant::now();
    let pushed = push(image_dir, &target, &tag)?;
    let by_tag = runtime()?.block_on(Client::new(target)?.get_manifest(&tag))?;
    if by_tag != oci::read_layout(image_dir)?.manifest.bytes {
        bail!("the manifest pulled back by tag {tag} differs from the one pushed");
    }
    util::note(&format!(
        "pushed {} blobs, pulled back by digest and by tag in {:.1}s: {}@{}",
        pushed.uploaded.len(),
        started.elapsed().as_secs_f64(),
        pushed.repository,
        pushed.digest
    ));
    Ok(pushed)
}

enum Blobbed {
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/...` → the region.
fn ecr_region(uri: &str) -> Option<&str> {
    let host = uri.split('/').next()?;
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [_, "dkr", "ecr", region, "amazonaws", ..] => Some(region),
        _ => None,
    }
}

/// The ECR repository with Basic auth from `GetAuthorizationToken` (the
/// token is base64 `AWS:<password>`, valid 12 hours).
pub async fn ecr_registry(uri: &str) -> Result<Registry> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = ecr_region(uri) {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    ecr_registry_with(uri, &loader.load().await).await
}

/// `ecr_registry` with a given SDK configuration.
pub async fn ecr_registry_with(uri: &str, config: &aws_config::SdkConfig) -> Result<Registry> {
    let mut registry = Registry::parse(uri, false)?;
    util::step("ecr: GetAuthorizationToken");
    let output = aws_sdk_ecr::Client::new(config)
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ecr:GetAuthorizationToken failed: {}\n  check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID) and region",
                aws_sdk_ecr::error::DisplayErrorContext(&e)
            )
        })?;
    let token = output
        .authorization_data()
        .iter()
        .find_map(|d| d.authorization_token())
        .context("ecr:GetAuthorizationToken returned no token")?;
    registry.authorization = Some(format!("Basic {token}"));
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::oci::{ContainerConfig, Entry, ImageSpec, Layer};
    use crate::image::registry::LocalRegistry;

    fn synthetic_image(dir: &Path) -> oci::Assembled {
        let spec = ImageSpec {
            layers: vec![
                Layer {
                    created_by: "base".into(),
                    entries: vec![Entry::file("etc/hello", 0o644, b"hello\n".to_vec())],
                },
                Layer {
                    created_by: "app".into(),
                    entries: vec![Entry::file("app/run", 0o755, vec![42; 70_000])],
                },
            ],
            config: ContainerConfig {
                cmd: vec!["/app/run".into()],
                ..ContainerConfig::default()
            },
            epoch: 1_700_000_000,
            ref_name: Some("synthetic".into()),
        };
        let image = oci::assemble(&spec).expect("assemble");
        oci::write_layout(&image, dir).expect("write");
        image
    }

    #[test]
    fn pushes_to_a_real_registry_pulls_back_and_skips_present_blobs() {
        let registry = LocalRegistry::start().expect("a local docker-registry");
        let dir = tempfile::tempdir().expect("tmp");
        let image = synthetic_image(dir.path());
        let target = Registry::parse(&format!("{}/test/app", registry.addr), true).expect("target");

        let first = push(dir.path(), &target, "v1").expect("first push");
        assert_eq!(first.digest, image.manifest.digest);
        assert_eq!(first.uploaded.len(), 3, "two layers and the config");
        assert!(first.skipped.is_empty());

        let rt = runtime().expect("runtime");
        let client = Client::new(target.clone()).expect("client");
        let by_digest = rt
            .block_on(client.get_manifest(&image.manifest.digest))
            .expect("by digest");
        let by_tag = rt.block_on(client.get_manifest("v1")).expect("by tag");
        assert_eq!(by_digest, image.manifest.bytes);
        assert_eq!(by_tag, image.manifest.bytes);
        for layer in &image.layers {
            assert!(
                rt.block_on(client.blob_exists(&layer.blob.digest))
                    .expect("head")
            );
        }

        let second = push(dir.path(), &target, "v2").expect("second push");
        assert!(second.uploaded.is_empty(), "{second:?}");
        assert_eq!(second.skipped.len(), 3);
        assert_eq!(second.digest, first.digest);
        assert_eq!(
            rt.block_on(client.get_manifest("v2")).expect("v2"),
            image.manifest.bytes
        );
        // An unknown manifest is an error that names the request.
        let err = rt
            .block_on(client.get_manifest("no-such-tag"))
            .expect_err("404");
        assert!(format!("{err:#}").contains("404"), "{err:#}");
    }

    #[test]
    fn ecr_token_from_the_sdk_becomes_basic_auth() {
        let binary = crate::cdk::python_tool("moto_server").expect("moto_server installs");
        let port = util::free_port().expect("port");
        let mut moto = std::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("moto_server");
        let url = format!("http://127.0.0.1:{port}");
        let ready = util::wait_for_200(
            &format!("127.0.0.1:{port}"),
            "/moto-api/",
            std::time::Duration::from_secs(30),
        );
        let result = ready.and_then(|_| {
            runtime()?.block_on(async {
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new("eu-west-1"))
                    .endpoint_url(&url)
                    .test_credentials()
                    .load()
                    .await;
                ecr_registry_with(
                    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/swa/app",
                    &config,
                )
                .await
            })
        });
        let _ = moto.kill();
        let _ = moto.wait();
        let registry = result.expect("token from moto");
        let auth = registry.authorization.clone().expect("authorization");
        assert!(auth.starts_with("Basic ") && auth.len() > 10, "{auth}");
        assert_eq!(
            registry.base.as_str(),
            "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
        );
        assert_eq!(registry.repository, "swa/app");
        // The token never reaches a log line.
        assert!(!format!("{registry:?}").contains(&auth[6..]));
    }

    #[test]
    fn dry_run_sends_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let image = synthetic_image(dir.path());
        // Nothing listens on port 1: any real request would fail.
        let target = Registry::parse("127.0.0.1:1/test/app", true).expect("target");
        let pushed = runtime()
            .expect("runtime")
            .block_on(push_async(dir.path(), &target, "v1", true))
            .expect("dry run");
        assert_eq!(pushed.digest, image.manifest.digest);
        assert!(pushed.uploaded.is_empty() && pushed.skipped.is_empty());
    }

    #[test]
    fn bad_tags_and_the_ecr_region() {
        let dir = tempfile::tempdir().expect("tmp");
        synthetic_image(dir.path());
        let target = Registry::parse("127.0.0.1:1/test/app", true).expect("target");
        assert!(push(dir.path(), &target, "-bad").is_err());
        assert!(push(dir.path(), &target, "a/b").is_err());
        assert_eq!(
            ecr_region("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app"),
            Some("eu-west-1")
        );
        assert_eq!(ecr_region("127.0.0.1:5000/app"), None);
        assert_eq!(default_tag(dir.path()).expect("tag"), "synthetic");
    }
}
