//! The one way the release binary is built, shared by `image` and `bench`.
//!
//! Paths of the checkout and of the cargo home are remapped, so the binary
//! (panic locations, debug paths) does not depend on where the repository was
//! cloned. The flags are part of cargo's cache key: every release build of
//! the service must use these same flags, or they rebuild each other's
//! dependencies.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::util;

/// `CARGO_ENCODED_RUSTFLAGS` for the release build (flags separated by 0x1f).
pub fn release_rustflags(root: &Path) -> String {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut flags = vec![format!("--remap-path-prefix={}=/build", root.display())];
    if let Some(home) = cargo_home {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    flags.join("\x1f")
}

/// `cargo build --release --bin startupwebapp` from the workspace root (so
/// features resolve as in every other workspace build); returns the binary
/// and how long the build took.
pub fn release_binary() -> Result<(PathBuf, Duration)> {
    let root = util::workspace_root();
    util::step("building the release binary (cargo build --release --bin startupwebapp)");
    let started = Instant::now();
    util::run(
        util::cargo_command()
            .args(["build", "--release", "--bin", "startupwebapp"])
            // Overrides RUSTFLAGS and build.rustflags on purpose: one set of
            // flags for every release build.
            .env("CARGO_ENCODED_RUSTFLAGS", release_rustflags(&root)),
    )?;
    let elapsed = started.elapsed();
    let binary = util::target_dir().join("release/startupwebapp");
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    util::note(&format!("built in {:.1}s", elapsed.as_secs_f64()));
    Ok((binary, elapsed))
}
