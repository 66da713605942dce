//! What the service needs at run time, and nothing else: the binary, the
//! shared libraries `ldd` names (the dynamic loader at its own path), a
//! passwd/group with the non-root user, nsswitch.conf, the CA bundle and an
//! empty /tmp. Migrations and the password list are compiled into the binary
//! (`sqlx::migrate!`, `include_bytes!`), so no other file is read.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::oci::{Entry, Layer};

/// The non-root user the process runs as (distroless' `nonroot` numbers).
pub const APP_UID: u32 = 65532;
pub const BINARY_PATH: &str = "/app/startupwebapp";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Two layers: the runtime files (change with the base system) and the app
/// (changes with every commit), so a new commit uploads only the second.
pub fn layers(binary: &Path) -> Result<Vec<Layer>> {
    let mut runtime = Vec::new();
    for lib in shared_libraries(binary)? {
        let bytes =
            std::fs::read(&lib).with_context(|| format!("cannot read the library {lib}"))?;
        runtime.push(Entry::file(&lib, 0o755, bytes));
    }
    runtime.extend(etc_files()?);
    runtime.push(Entry::dir("tmp", 0o1777));
    let app = vec![
        Entry::dir("app", 0o755),
        Entry::file(
            BINARY_PATH,
            0o755,
            std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?,
        ),
    ];
    Ok(vec![
        Layer {
            created_by: "cargo xtask image: shared libraries, /etc, /tmp".into(),
            entries: runtime,
        },
        Layer {
            created_by: format!("cargo xtask image: {BINARY_PATH}"),
            entries: app,
        },
    ])
}

fn etc_files() -> Result<Vec<Entry>> {
    let ca = std::fs::read(CA_BUNDLE).with_context(|| {
        format!("cannot read the CA bundle {CA_BUNDLE}: apt-get install ca-certificates")
    })?;
    Ok(vec![
        Entry::file(
            "etc/passwd",
            0o644,
            format!(
                "root:x:0:0:root:/root:/sbin/nologin\napp:x:{APP_UID}:{APP_UID}:app:/app:/sbin/nologin\n"
            )
            .into_bytes(),
        ),
        Entry::file(
            "etc/group",
            0o644,
            format!("root:x:0:\napp:x:{APP_UID}:\n").into_bytes(),
        ),
        Entry::file(
            "etc/nsswitch.conf",
            0o644,
            b"passwd: files\ngroup: files\nhosts: files dns\n".to_vec(),
        ),
        Entry::file(CA_BUNDLE, 0o644, ca),
    ])
}

/// Absolute paths of the shared objects the binary loads, loader included.
fn shared_libraries(binary: &Path) -> Result<Vec<String>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("cannot run ldd (apt-get install libc-bin)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        bail!(
            "ldd {} failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_ldd(&text)
}

/// `libc.so.6 => /lib/…/libc.so.6 (0x…)` gives the path after `=>`; a line
/// that starts with a path is the loader; vdso has no file.
pub fn parse_ldd(text: &str) -> Result<Vec<String>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("not found") {
            bail!("a shared library is missing on this machine: {line}");
        }
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        match path {
            Some(p) if p.starts_with('/') => libs.push(p.to_owned()),
            _ => {} // linux-vdso.so.1: provided by the kernel
        }
    }
    if libs.is_empty() {
        bail!("ldd listed no libraries:\n{text}");
    }
    libs.sort();
    libs.dedup();
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_the_libraries_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        assert_eq!(
            parse_ldd(text).expect("parse"),
            vec![
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib64/ld-linux-x86-64.so.2",
            ]
        );
    }

    #[test]
    fn a_missing_library_is_an_error() {
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").expect_err("error");
        assert!(err.to_string().contains("libfoo"), "{err}");
    }
}
