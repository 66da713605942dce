//! `cargo xtask test`: the one test command, locally and in CI.
//!
//! fmt → clippy → every workspace test (nextest) against a real PostgreSQL
//! (each DB test gets its own fresh migrated database) → schemathesis
//! contract fuzzing of the live service on the same PostgreSQL →
//! infrastructure checks. Every step runs even after a failure, so one run shows everything;
//! the database is torn down on any exit; the last line sums up the tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cdk, fuzz, fuzz_api, image, postgres, util, workflows};

#[derive(clap::Args)]
pub struct Args {
    /// Skip fmt and clippy.
    #[arg(long)]
    no_lint: bool,
    /// Skip the infrastructure checks (CDK tests, cdk-nag, cfn-lint, workflow lint).
    #[arg(long)]
    no_infra: bool,
    /// Skip the schemathesis contract fuzzing of the live service.
    #[arg(long)]
    no_fuzz: bool,
    /// Skip the short cargo fuzz run of the parsers of untrusted input.
    #[arg(long)]
    no_cargo_fuzz: bool,
    /// Skip the production image steps (release build + OCI assembly, the
    /// chroot run as uid 65532, the push to a local registry).
    #[arg(long)]
    no_image: bool,
    /// Extra arguments for nextest, e.g. a test-name filter.
    #[arg(last = true)]
    nextest_args: Vec<String>,
}

struct Outcome {
    name: &'static str,
    seconds: f64,
    error: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    // Ctrl-C reaches cargo/nextest (same process group) and ends the running
    // step; xtask itself stays alive so the database is still torn down.
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let started = Instant::now();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut record = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| {
        if interrupted.load(Ordering::SeqCst) {
            return;
        }
        util::step(name);
        let t = Instant::now();
        let error = f().err().map(|e| format!("{e:#}"));
        if let Some(e) = &error {
            eprintln!("    FAILED: {e}");
        }
        outcomes.push(Outcome {
            name,
            seconds: t.elapsed().as_secs_f64(),
            error,
        });
    };

    if !args.no_lint {
        record("cargo fmt --check", &mut || {
            util::run(util::cargo_command().args(["fmt", "--all", "--", "--check"]))
                .context("formatting differs: run `cargo fmt --all`")
        });
        record(
            "cargo clippy (all targets, warnings are errors)",
            &mut || {
                util::run(util::cargo_command().args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--quiet",
                    "--",
                    "-D",
                    "warnings",
                ]))
            },
        );
    }

    let mut counts = None;
    // Kept for the fuzz step, which needs the same kind of server.
    let mut database = None;
    record("workspace tests against PostgreSQL (nextest)", &mut || {
        // The AWS tests start moto from the tools venv; install it first so a
        // fresh clone does not depend on another step having run before.
        cdk::python_tool("moto_server")?;
        let db = postgres::provision("test")?;
        util::note(&format!("PostgreSQL: {}", db.origin));
        let result = run_nextest(&db.url, &args.nextest_args);
        counts = read_junit();
        database = Some(db);
        result
    });

    if !args.no_fuzz {
        record("API contract fuzzing (schemathesis)", &mut || {
            let db = match database.take() {
                Some(db) => db,
                None => postgres::provision("fuzz")?,
            };
            let result = fuzz_api::fuzz(&db, false);
            drop(db);
            result
        });
    }
    drop(database);

    if !args.no_cargo_fuzz {
        record("parser fuzzing (cargo fuzz, short run)", &mut fuzz::short);
    }

    if !args.no_image {
        let mut built = false;
        record("image: release build + OCI assembly", &mut || {
            image::build_image(true).map(|_| built = true)
        });
        record("image: run from the unpacked root (chroot)", &mut || {
            image::require_built(built)?;
            image::check::run(&image::image_dir()).map(|_| ())
        });
        record(
            "image: push to a local registry and pull back by digest",
            &mut || {
                image::require_built(built)?;
                image::push::to_local_registry(&image::image_dir()).map(|_| ())
            },
        );
    }

    if !args.no_infra && cdk::present() {
        record(
            "infrastructure: CDK unit tests, snapshots and cdk-nag",
            &mut || cdk::test(),
        );
        record("infrastructure: cdk synth + cfn-lint", &mut || {
            let out = cdk::synth()?;
            cdk::cfn_lint(&out)
        });
    }
    if !args.no_infra {
        record("workflows: actionlint + zizmor", &mut workflows::run);
    }

    eprintln!("\n==> summary");
    for o in &outcomes {
        eprintln!(
            "    {:<4} {:<55} {:>7.1}s",
            if o.error.is_some() { "FAIL" } else { "ok" },
            o.name,
            o.seconds
        );
    }
    eprintln!("    total {:.1}s", started.elapsed().as_secs_f64());
    let failed_steps: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .map(|o| o.name)
        .collect();
    // The closing line: the workspace test counts (nextest's JUnit report).
    match counts {
        Some((passed, failed, skipped)) => {
            println!("tests: {passed} passed, {failed} failed, {skipped} skipped")
        }
        None => println!("tests: 0 passed, 0 failed (no test report was produced)"),
    }
    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    if failed_steps.is_empty() {
        Ok(())
    } else {
        bail!("failed: {}", failed_steps.join("; "))
    }
}

fn run_nextest(database_url: &str, extra: &[String]) -> Result<()> {
    if util::cargo_command()
        .args(["nextest", "--version"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        bail!("cargo-nextest is not installed: `cargo install cargo-nextest --locked`");
    }
    let junit = util::target_dir().join("nextest/default/junit.xml");
    let _ = std::fs::remove_file(&junit);
    util::run(
        util::cargo_command()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(extra)
            .env("DATABASE_URL", database_url)
            // The tests build their own apps; keep their logs quiet unless asked.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            ),
    )
}

/// (passed, failed, skipped) from nextest's JUnit report.
fn read_junit() -> Option<(u64, u64, u64)> {
    let xml = std::fs::read_to_string(util::target_dir().join("nextest/default/junit.xml")).ok()?;
    let start = xml.find("<testsuites")?;
    let head = &xml[start..start + xml[start..].find('>')?];
    let attr = |name: &str| -> u64 {
        head.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
            .and_then(|v| v.trim_end_matches('"').parse().ok())
            .unwrap_or(0)
    };
    let (tests, failures, errors) = (attr("tests"), attr("failures"), attr("errors"));
    // nextest omits skipped tests from the report's `tests` count.
    let skipped = xml.matches("<skipped").count() as u64;
    let failed = failures + errors;
    Some((tests.saturating_sub(failed + skipped), failed, skipped))
}
