//! `cargo xtask image check`: the image's layers unpacked in order into an
//! empty folder, as a runtime would, and the service run from that root
//! with chroot as uid/gid 65532, in production mode, against a throwaway
//! PostgreSQL. Nothing of the host is visible to it, so a missing library,
//! CA bundle or user entry fails here rather than in ECS.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::oci::{self, Layout};
use super::rootfs::APP_UID;
use crate::{postgres, util};

/// Dummy production secrets: real ones come from Secrets Manager.
const CHECK_SECRET_KEY: &str = "image-check-only-secret-key-0123456789abcdef";
const CHECK_ORIGIN: &str = "https://www.example.com";

pub fn run(image_dir: &Path) -> Result<Duration> {
    let started = Instant::now();
    if std::fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
        bail!(
            "`cargo xtask image check` runs chroot and must run as root (e.g. sudo -E cargo xtask image check)"
        );
    }
    if !util::on_path("chroot") {
        bail!("chroot is not on PATH (apt-get install coreutils)");
    }
    util::step(&format!("image check: unpacking {}", image_dir.display()));
    let layout = oci::read_layout(image_dir)?;
    let root = tempfile::Builder::new()
        .prefix("xtask-image-root-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    // tempfile makes it 0700; as `/` it must be traversable by uid 65532.
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755))?;
    unpack(&layout, root.path())?;
    let tmp_mode = std::fs::metadata(root.path().join("tmp"))
        .context("the image has no /tmp")?
        .mode()
        & 0o7777;
    if tmp_mode != 0o1777 {
        bail!("/tmp in the image has mode {tmp_mode:o}, expected 1777");
    }
    util::note(&format!(
        "{} layers unpacked into {} (digests and diff_ids verified)",
        layout.layers.len(),
        root.path().display()
    ));

    util::step("image check: starting PostgreSQL");
    let db = postgres::provision("image-check")?;
    util::note(&format!("using {}", db.origin));
    let database_url = if db.origin == "DATABASE_URL" {
        db.url.clone()
    } else {
        db.url_for("startupwebapp")
    };
    let port = util::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let env = environment(&layout, &database_url, &addr)?;
    let image = Image {
        root: root.path().to_path_buf(),
        entrypoint: layout.image_config.config.entrypoint.clone(),
        env,
    };

    util::step("image check: migrate --create-database from the image (uid 65532)");
    let status = image
        .command(&["migrate", "--create-database"])
        .status()
        .context("cannot run chroot")?;
    if !status.success() {
        bail!("`startupwebapp migrate` from the image failed ({status})");
    }

    util::step(&format!(
        "image check: serve from the image on {addr} (production mode)"
    ));
    let log_path = util::target_dir().join("image-check.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let cmd_args: Vec<&str> = layout
        .image_config
        .config
        .cmd
        .iter()
        .map(String::as_str)
        .collect();
    let child = image
        .command(&cmd_args)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot run chroot")?;
    let mut service = Running { child };
    let result = prove(&image, &mut service, root.path(), &addr);
    if let Err(e) = result {
        drop(service);
        let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(20).collect();
        eprintln!("    service log (last lines, {}):", log_path.display());
        for line in tail.iter().rev() {
            eprintln!("      {line}");
        }
        return Err(e);
    }

    util::note("stopping the service (SIGTERM)");
    let status = service.stop(Duration::from_secs(35))?;
    if !status.success() {
        bail!("the service did not exit cleanly on SIGTERM ({status})");
    }
    util::note(&format!("exited {status} after SIGTERM"));
    let down = image
        .command(&["healthcheck", "--addr", &addr])
        .stderr(Stdio::null())
        .status()?;
    if down.success() {
        bail!("`startupwebapp healthcheck` exited 0 with the service stopped");
    }
    util::note("healthcheck fails once the service is down (exit non-zero)");
    drop(db);
    let root_path = root.path().display().to_string();
    root.close()
        .with_context(|| format!("cannot remove {root_path}"))?;
    let took = started.elapsed();
    util::note(&format!(
        "proven in {:.1}s: the image's root alone runs the service as uid/gid {APP_UID} in production mode \
         (migrations, /healthz, /readyz against PostgreSQL, the healthcheck subcommand, clean SIGTERM exit)",
        took.as_secs_f64()
    ));
    Ok(took)
}

/// The checks while the service runs.
fn prove(image: &Image, service: &mut Running, root: &Path, addr: &str) -> Result<()> {
    let started = Instant::now();
    for path in ["/healthz", "/readyz"] {
        util::note(&format!("waiting for GET {path} = 200"));
        loop {
            if util::http_status(addr, path) == Some(200) {
                break;
            }
            if let Some(status) = service.child.try_wait()? {
                bail!("the service exited during start-up ({status})");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("http://{addr}{path} did not answer 200 within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    util::note(&format!(
        "/healthz and /readyz answered 200 after {:.2}s",
        started.elapsed().as_secs_f64()
    ));
    let pid = service.child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for field in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .map(|v| v.split_whitespace().collect())
            .unwrap_or_default();
        if ids.len() != 4 || ids.iter().any(|id| *id != APP_UID.to_string()) {
            bail!("the service runs with {field} {ids:?}, expected {APP_UID} throughout");
        }
    }
    let seen_root = std::fs::read_link(format!("/proc/{pid}/root"))?;
    if seen_root != root {
        bail!(
            "the service's root is {}, not the image's {}",
            seen_root.display(),
            root.display()
        );
    }
    util::note(&format!(
        "process {pid}: uid/gid {APP_UID}, root = the unpacked image"
    ));
    let health = image
        .command(&["healthcheck", "--addr", addr])
        .status()
        .context("cannot run chroot")?;
    if !health.success() {
        bail!("`startupwebapp healthcheck --addr {addr}` from the image failed ({health})");
    }
    util::note("`startupwebapp healthcheck` from the image exited 0");
    Ok(())
}

/// The image config's Env, then what a task definition would add.
fn environment(layout: &Layout, database_url: &str, addr: &str) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = Vec::new();
    for pair in &layout.image_config.config.env {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("image Env entry '{pair}' has no '='"))?;
        env.push((k.to_owned(), v.to_owned()));
    }
    for (k, v) in [
        ("APP_ENVIRONMENT", "production"),
        ("APP_BIND_ADDRESS", addr),
        ("DATABASE_URL", database_url),
        ("APP_SECRET_KEY", CHECK_SECRET_KEY),
        ("APP_STOREFRONT_ORIGINS", CHECK_ORIGIN),
        ("APP_STOREFRONT_URL", CHECK_ORIGIN),
        ("RUST_LOG", "info"),
    ] {
        env.retain(|(key, _)| key != k);
        env.push((k.to_owned(), v.to_owned()));
    }
    Ok(env)
}

/// Applies the layers in order, checking each blob's diff_id on the way.
fn unpack(layout: &Layout, root: &Path) -> Result<()> {
    let diff_ids = &layout.image_config.rootfs.diff_ids;
    if diff_ids.len() != layout.layers.len() {
        bail!(
            "the config lists {} diff_ids for {} layers",
            diff_ids.len(),
            layout.layers.len()
        );
    }
    for ((descriptor, path), diff_id) in layout.layers.iter().zip(diff_ids) {
        let gz = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut tar)
            .with_context(|| format!("layer {} is not gzip", descriptor.digest))?;
        if oci::sha256_digest(&tar) != *diff_id {
            bail!(
                "layer {} does not match its diff_id {diff_id}",
                descriptor.digest
            );
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        archive.set_preserve_permissions(true);
        archive.set_preserve_ownerships(true);
        archive.set_preserve_mtime(true);
        archive.set_overwrite(true);
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            // Our layers never delete; a runtime would apply whiteouts.
            if name
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".wh."))
            {
                bail!(
                    "layer {} has a whiteout ({name}), which this check does not apply",
                    descriptor.digest
                );
            }
            if !entry.unpack_in(root)? {
                bail!(
                    "layer {} has an entry outside the root: {name}",
                    descriptor.digest
                );
            }
        }
    }
    Ok(())
}

struct Image {
    root: PathBuf,
    entrypoint: Vec<String>,
    env: Vec<(String, String)>,
}

impl Image {
    /// `chroot --userspec=65532:65532 ROOT ENTRYPOINT ARGS` with exactly the
    /// image's environment (none of the host's).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("chroot");
        cmd.arg(format!("--userspec={APP_UID}:{APP_UID}"))
            .arg(&self.root)
            .args(&self.entrypoint)
            .args(args)
            .env_clear()
            .envs(self.env.iter().cloned());
        cmd
    }
}

/// The service process; SIGTERM and wait on drop.
struct Running {
    child: Child,
}

impl Running {
    fn stop(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("the service did not stop within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stop(Duration::from_secs(10));
        }
    }
}
