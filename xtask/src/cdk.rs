//! The infrastructure checks: the CDK app's jest tests (assertions, snapshots,
//! cdk-nag) and cfn-lint over the synthesized templates.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::util;

pub fn cdk_dir() -> PathBuf {
    util::workspace_root().join("infra-cdk")
}

pub fn present() -> bool {
    cdk_dir().join("package.json").is_file()
}

fn npm(args: &[&str]) -> Command {
    let mut cmd = Command::new("npm");
    cmd.current_dir(cdk_dir())
        .args(args)
        // Keep the CDK's state out of the home folder.
        .env("CDK_HOME", cdk_dir().join(".cdk-home"))
        .env("CDK_DISABLE_VERSION_CHECK", "1")
        .env("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1");
    cmd
}

/// `npm ci` when node_modules is missing or older than the lockfile.
pub fn install() -> Result<()> {
    if !util::on_path("npm") {
        bail!("npm is not on PATH: install Node.js 20 (Debian: `apt-get install nodejs npm`)");
    }
    let modules = cdk_dir().join("node_modules/.package-lock.json");
    let lock = cdk_dir().join("package-lock.json");
    let fresh = match (modules.metadata(), lock.metadata()) {
        (Ok(m), Ok(l)) => m.modified()? >= l.modified()?,
        _ => false,
    };
    if !fresh {
        util::note("npm ci (infra-cdk)");
        util::run(&mut npm(&["ci", "--no-audit", "--no-fund"]))?;
    }
    Ok(())
}

pub fn test() -> Result<()> {
    install()?;
    util::run(&mut npm(&["test", "--silent"]))
}

pub fn synth() -> Result<PathBuf> {
    install()?;
    let out = util::target_dir().join("cdk.out");
    util::step(&format!("cdk synth → {}", out.display()));
    let out_arg = out.to_string_lossy().into_owned();
    util::run(&mut npm(&[
        "run", "synth", "--silent", "--", "-o", &out_arg,
    ]))?;
    Ok(out)
}

/// The Python tools (cfn-lint, …) live in a venv under target/.
pub fn python_tool(tool: &str) -> Result<PathBuf> {
    let venv = util::target_dir().join("tools-venv");
    let requirements = util::workspace_root().join("xtask/python-tools.txt");
    let stamp = venv.join(".installed-requirements");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("cannot read {}", requirements.display()))?;
    // Tests run as parallel processes (nextest) and may all ask at once: one
    // installs, the others wait on the lock and then find the stamp.
    std::fs::create_dir_all(util::target_dir())?;
    let lock = std::fs::File::create(util::target_dir().join("tools-venv.lock"))?;
    lock.lock().context("cannot lock target/tools-venv.lock")?;
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        util::note(&format!(
            "installing Python tools into {} ({})",
            venv.display(),
            requirements.display()
        ));
        if !venv.join("bin/python").is_file() {
            util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                .context("cannot create a Python venv (Debian: apt-get install python3-venv)")?;
        }
        util::run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(&requirements),
        )?;
        std::fs::write(&stamp, wanted)?;
    }
    Ok(venv.join("bin").join(tool))
}

pub fn cfn_lint(dir: &std::path::Path) -> Result<()> {
    let tool = python_tool("cfn-lint")?;
    let templates: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".template.json"))
        .collect();
    if templates.is_empty() {
        bail!("no templates in {}", dir.display());
    }
    util::note(&format!("cfn-lint on {} templates", templates.len()));
    let status = Command::new(tool).args(&templates).status()?;
    // cfn-lint's exit code is a bit set: 2 errors, 4 warnings, 8 informational;
    // 1 means it could not run. Only errors (or a crash) fail the check.
    match status.code() {
        Some(c) if c & 0b11 == 0 => Ok(()),
        _ => bail!("cfn-lint found errors ({status})"),
    }
}
