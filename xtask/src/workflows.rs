//! `cargo xtask lint-workflows`: the GitHub Actions workflows must pass
//! actionlint (syntax, expressions, runner labels, and ShellCheck on `run:`
//! scripts when `shellcheck` is installed) and zizmor's offline security
//! audits (template injection, unpinned actions, credential persistence,
//! excessive permissions, ...) with zero findings. The helper scripts in
//! `.github/scripts/` also go through ShellCheck when it is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

use crate::{cdk, util};

pub fn workflows_dir() -> PathBuf {
    util::workspace_root().join(".github/workflows")
}

fn scripts_dir() -> PathBuf {
    util::workspace_root().join(".github/scripts")
}

/// The command: lints the repository's workflows and helper scripts.
pub fn run() -> Result<()> {
    util::step("workflows: actionlint + zizmor");
    lint(&workflows_dir())?;
    shellcheck_scripts(&scripts_dir())?;
    util::note("workflows: no findings");
    Ok(())
}

/// The `.yml`/`.yaml` files directly in `dir`, sorted.
fn workflow_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the workflow folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no workflow files (*.yml, *.yaml) in {}", dir.display());
    }
    Ok(files)
}

/// Runs both linters over every workflow file in `dir`; an error names each
/// linter that reported findings and carries its output.
pub fn lint(dir: &Path) -> Result<()> {
    let files = workflow_files(dir)?;
    util::note(&format!(
        "{} workflow files in {}",
        files.len(),
        dir.display()
    ));
    if !util::on_path("shellcheck") {
        util::note(
            "shellcheck is not installed: actionlint skips the run: scripts \
             (Debian: apt-get install shellcheck)",
        );
    }
    let mut failures = Vec::new();

    let actionlint = cdk::python_tool("actionlint")?;
    let out = capture(
        Command::new(&actionlint)
            .args(["-no-color"])
            .args(&files)
            .current_dir(dir),
        "actionlint",
    )?;
    if !out.status.success() {
        failures.push(format!("actionlint ({}):\n{}", out.status, text(&out)));
    }

    // --offline: no GitHub API calls (the online audits need a token and the
    // network); the offline audits include template injection and pinning.
    let zizmor = cdk::python_tool("zizmor")?;
    let out = capture(
        Command::new(&zizmor)
            .args(["--offline", "--no-progress", "--color", "never"])
            .args(&files)
            .current_dir(dir),
        "zizmor",
    )?;
    if !out.status.success() {
        failures.push(format!("zizmor ({}):\n{}", out.status, text(&out)));
    }

    if failures.is_empty() {
        Ok(())
    } else {
        bail!(
            "the workflows in {} have findings; fix them (do not silence them):\n{}",
            dir.display(),
            failures.join("\n")
        )
    }
}

/// ShellCheck on `.github/scripts/*.sh`, when shellcheck is installed.
fn shellcheck_scripts(dir: &Path) -> Result<()> {
    if !util::on_path("shellcheck") || !dir.is_dir() {
        return Ok(());
    }
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("sh"))
        .collect();
    scripts.sort();
    if scripts.is_empty() {
        return Ok(());
    }
    let out = capture(Command::new("shellcheck").args(&scripts), "shellcheck")?;
    if !out.status.success() {
        bail!(
            "shellcheck found problems in {}:\n{}",
            dir.display(),
            text(&out)
        );
    }
    Ok(())
}

fn capture(cmd: &mut Command, name: &str) -> Result<Output> {
    cmd.output()
        .with_context(|| format!("cannot start {name} ({cmd:?})"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim_end()
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKOUT: &str = "actions/checkout@8e8c483db84b4bee98b60c0593521ed34d9990e8";

    /// A workflow that is clean apart from the given steps.
    fn workflow(steps: &str) -> String {
        format!(
            "name: t\non: pull_request\npermissions: {{}}\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    \
             timeout-minutes: 5\n    permissions:\n      contents: read\n    steps:\n{steps}"
        )
    }

    fn lint_one(yaml: &str) -> Result<()> {
        let dir = tempdir();
        std::fs::write(dir.join("ci.yml"), yaml).expect("write the workflow");
        let result = lint(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn tempdir() -> PathBuf {
        let dir = util::target_dir().join(format!(
            "workflow-lint-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        dir
    }

    // One test, run in sequence: the linters live in a shared venv that the
    // first use may still be installing.
    #[test]
    fn lint_passes_clean_workflows_and_fails_injection_unpinned_actions_and_typos() {
        let checkout = format!(
            "      - uses: {CHECKOUT}\n        with:\n          persist-credentials: false\n"
        );

        let clean = workflow(&format!("{checkout}      - run: echo hello\n"));
        lint_one(&clean).expect("a clean workflow passes");
        lint(&workflows_dir()).expect("the repository's workflows have no findings");

        // An attacker-controlled PR title expanded straight into a shell script.
        let injection = workflow(&format!(
            "{checkout}      - run: echo \"${{{{ github.event.pull_request.title }}}}\"\n"
        ));
        let err = format!(
            "{:#}",
            lint_one(&injection).expect_err("template injection fails")
        );
        assert!(err.contains("zizmor"), "{err}");
        assert!(err.contains("template-injection"), "{err}");

        // A moving tag instead of a commit SHA.
        let unpinned = workflow(
            "      - uses: actions/checkout@v6\n        with:\n          persist-credentials: false\n",
        );
        let err = format!(
            "{:#}",
            lint_one(&unpinned).expect_err("an unpinned action fails")
        );
        assert!(err.contains("unpinned-uses"), "{err}");

        // A syntax error is actionlint's to find.
        let broken = workflow(&format!("{checkout}      - rn: echo typo\n"));
        let err = format!("{:#}", lint_one(&broken).expect_err("an unknown key fails"));
        assert!(err.contains("actionlint"), "{err}");
    }

    #[test]
    fn an_empty_folder_is_an_error_not_a_pass() {
        let dir = tempdir();
        let err = format!("{:#}", lint(&dir).expect_err("no workflows must fail"));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(err.contains("no workflow files"), "{err}");
    }
}
