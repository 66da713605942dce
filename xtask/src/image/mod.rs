//! `cargo xtask image`: the production container image, built without a
//! Docker daemon, as an OCI image layout in `target/image/`.
//!
//! - `cargo xtask image [--no-build]`: release build, then two reproducible
//!   layers (runtime files; the binary) + config + manifest; prints the
//!   manifest digest and the compressed size, writes `target/image/digest`.
//! - `cargo xtask image check`: unpacks the layers into a temporary root
//!   and runs the service from it with chroot as uid 65532 against a
//!   throwaway PostgreSQL (root only).
//! - `cargo xtask push`: see `push.rs`.
//!
//! The same commit and the same binary give the same digest: times come
//! from the commit (or SOURCE_DATE_EPOCH), never from the clock.

pub mod build;
pub mod check;
pub mod oci;
pub mod push;
pub mod registry;
mod rootfs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::util;
use oci::{ContainerConfig, Empty, Healthcheck, ImageSpec};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Option<ImageCommand>,
    /// Assemble from the existing target/release/startupwebapp, without
    /// running cargo build.
    #[arg(long)]
    no_build: bool,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Unpack target/image and run the service from it (chroot, uid 65532)
    /// against a throwaway PostgreSQL: proves the image is self-contained.
    Check,
}

pub fn run(args: Args) -> Result<()> {
    match args.command {
        Some(ImageCommand::Check) => check::run(&image_dir()).map(|_| ()),
        None => build_image(!args.no_build).map(|_| ()),
    }
}

/// For steps that use the image just built: never a stale one.
pub fn require_built(built: bool) -> Result<()> {
    if built {
        Ok(())
    } else {
        bail!("skipped: the image was not built in this run")
    }
}

/// Where `cargo xtask image` writes the layout.
pub fn image_dir() -> PathBuf {
    util::target_dir().join("image")
}

pub struct Built {
    pub digest: String,
    pub compressed_size: u64,
    pub build_time: Option<Duration>,
    pub assembly_time: Duration,
}

/// Builds the release binary (unless `build` is false), assembles the image
/// into `target/image/` and prints its digest and size.
pub fn build_image(build: bool) -> Result<Built> {
    let (binary, build_time) = if build {
        let (binary, took) = build::release_binary()?;
        (binary, Some(took))
    } else {
        let binary = util::target_dir().join("release/startupwebapp");
        if !binary.is_file() {
            bail!(
                "{} does not exist: run `cargo xtask image` without --no-build",
                binary.display()
            );
        }
        (binary, None)
    };
    util::step("assembling the OCI image");
    let started = Instant::now();
    let root = util::workspace_root();
    let commit = git(&root, &["rev-parse", "HEAD"])?;
    if !git(&root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        util::note(&format!(
            "the working tree has uncommitted changes: the image is labelled with HEAD ({commit}) but holds the changed code"
        ));
    }
    let epoch = source_epoch(&root)?;
    let source = git(&root, &["config", "--get", "remote.origin.url"]).ok();
    let spec = ImageSpec {
        layers: rootfs::layers(&binary)?,
        config: container_config(&commit, source.as_deref()),
        epoch,
        ref_name: Some(commit.clone()),
    };
    let image = oci::assemble(&spec)?;
    let dir = image_dir();
    oci::write_layout(&image, &dir)?;
    let assembly_time = started.elapsed();
    let compressed_size = image.compressed_size();
    util::note(&format!("layout      {}", dir.display()));
    for (layer, spec) in image.layers.iter().zip(&spec.layers) {
        util::note(&format!(
            "layer       {} {:>6.1} MB  {}",
            &layer.blob.digest[..19],
            layer.blob.bytes.len() as f64 / 1e6,
            spec.created_by
        ));
    }
    util::note(&format!(
        "created     {} (commit time)",
        oci::rfc3339(epoch)?
    ));
    let built = Built {
        digest: image.manifest.digest,
        compressed_size,
        build_time,
        assembly_time,
    };
    util::note(&built.summary());
    println!("{}", built.digest);
    Ok(built)
}

impl Built {
    pub fn summary(&self) -> String {
        let build = match self.build_time {
            Some(t) => format!("release build {:.1}s, ", t.as_secs_f64()),
            None => String::new(),
        };
        format!(
            "digest {}, {:.1} MB compressed (layers + config), {build}assembly {:.1}s",
            self.digest,
            self.compressed_size as f64 / 1e6,
            self.assembly_time.as_secs_f64()
        )
    }
}

/// The image's runtime settings; the Dockerfile at the repository root says
/// the same for Docker builds.
fn container_config(commit: &str, source: Option<&str>) -> ContainerConfig {
    let mut labels = BTreeMap::from([
        (
            "org.opencontainers.image.revision".to_owned(),
            commit.to_owned(),
        ),
        (
            "org.opencontainers.image.title".to_owned(),
            "startupwebapp".to_owned(),
        ),
        (
            "org.opencontainers.image.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ]);
    if let Some(source) = source {
        labels.insert("org.opencontainers.image.source".into(), source.to_owned());
    }
    let seconds = |s: u64| s * 1_000_000_000;
    ContainerConfig {
        user: Some(format!("{0}:{0}", rootfs::APP_UID)),
        exposed_ports: BTreeMap::from([("8000/tcp".to_owned(), Empty {})]),
        env: vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            "APP_BIND_ADDRESS=0.0.0.0:8000".into(),
        ],
        entrypoint: vec![rootfs::BINARY_PATH.into()],
        cmd: vec!["serve".into()],
        working_dir: Some("/app".into()),
        labels,
        healthcheck: Some(Healthcheck {
            test: vec![
                "CMD".into(),
                rootfs::BINARY_PATH.into(),
                "healthcheck".into(),
            ],
            interval: seconds(30),
            timeout: seconds(5),
            start_period: seconds(10),
            retries: 3,
        }),
    }
}

/// SOURCE_DATE_EPOCH when set, else the time of the HEAD commit.
fn source_epoch(root: &Path) -> Result<i64> {
    if let Ok(value) = std::env::var("SOURCE_DATE_EPOCH") {
        return value
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={value} is not a number of seconds"));
    }
    git(root, &["log", "-1", "--format=%ct"])?
        .parse()
        .context("git log gave no commit time: set SOURCE_DATE_EPOCH")
}

/// The trimmed stdout of `git args` in `root`.
pub fn git(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .current_dir(root)
        .args(args)
        .output()
        .context("cannot run git (the image is labelled with the commit)")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
