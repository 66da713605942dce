//! Contract fuzzing: schemathesis against the live service's `/openapi.json`.
//!
//! The debug service runs against its own fresh database on the PostgreSQL
//! the caller provides (`cargo xtask test` reuses the one its nextest step
//! started), with the abuse limits lifted. schemathesis (pinned in
//! xtask/python-tools.txt, installed into target/tools-venv) then exercises
//! every operation, including its stateful phase that follows links between
//! operations, and checks two things: no 5xx, and every response matches
//! the documented schema. POSTs carry the storefront's `Origin` and a CSRF
//! secret in both the `csrftoken` cookie and `X-CSRFToken`, so they reach
//! the handlers instead of stopping at the CSRF check.
//!
//! Output (report, service log, the example database that lets a failure
//! replay on the next run) stays in target/fuzz-api/.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{bench, cdk, postgres, util};

#[derive(clap::Args)]
pub struct Args {
    /// A deeper run: many more examples per operation and a random seed.
    #[arg(long)]
    long: bool,
}

/// Examples per operation inside `cargo xtask test`: keeps the step under
/// three minutes on a 2-core machine (15 took 7 s for all 52 operations;
/// the build is most of the step); the fixed seed makes a failure
/// reproduce on the next run instead of flickering.
const BOUNDED_EXAMPLES: u32 = 50;
const BOUNDED_SEED: &str = "20240808";
/// Examples per operation for `cargo xtask fuzz-api --long`.
const LONG_EXAMPLES: u32 = 1000;

/// `cargo xtask fuzz-api [--long]`: its own PostgreSQL, then the fuzz run.
pub fn run(args: Args) -> Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        // schemathesis and the service stop on Ctrl-C themselves (same
        // process group); xtask lives on to stop the database.
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    util::step("starting PostgreSQL");
    let db = postgres::provision("fuzz")?;
    util::note(&format!("using {}", db.origin));
    let result = fuzz(&db, args.long);
    drop(db);
    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    result
}

/// Builds and starts the debug service on a fresh database of `db`'s
/// server and runs schemathesis over every operation.
pub fn fuzz(db: &postgres::Database, long: bool) -> Result<()> {
    let started = Instant::now();
    let binary = bench::build_workspace_bins(false)?;
    util::step("schemathesis (Python venv in target/tools-venv)");
    let schemathesis = cdk::python_tool("schemathesis")?;
    let version = Command::new(&schemathesis)
        .arg("--version")
        .output()
        .context("cannot run schemathesis")?;
    util::note(String::from_utf8_lossy(&version.stdout).trim());

    let work = util::target_dir().join("fuzz-api");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    // Its own database: the fuzzer creates accounts and carts at random.
    let env = bench::service_env(util::free_port()?, &db.url_for("startupwebapp_fuzz_api"));
    bench::migrate(&binary, &env)?;
    util::step("starting the service (debug build)");
    let log = work.join("service.log");
    let mut service = bench::Service::start(&binary, &env, Some(&log))?;
    util::note(&format!(
        "http://{} ready; its log: {}",
        service.addr,
        log.display()
    ));
    let mut jar = bench::Jar::default();
    let token = bench::csrf_token(&service.addr, &mut jar)?;

    let examples = if long {
        LONG_EXAMPLES
    } else {
        BOUNDED_EXAMPLES
    };
    util::step(&format!(
        "schemathesis: every operation, {examples} examples each, checks \
         not_a_server_error + response_schema_conformance"
    ));
    let mut cmd = Command::new(&schemathesis);
    cmd.current_dir(&work)
        .arg("run")
        .arg(format!("http://{}/openapi.json", service.addr))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            &examples.to_string(),
            "--workers",
            "2",
            "--request-timeout",
            "15",
            // Argon2id on create-account/login is slow on purpose.
            "--suppress-health-check",
            "too_slow",
            "--report",
            "junit",
            "--report-dir",
        ])
        .arg(work.join("report"))
        .arg("--header")
        .arg(format!("X-CSRFToken: {token}"))
        .arg("--header")
        .arg(format!("Cookie: csrftoken={token}"))
        .arg("--header")
        .arg(format!("Origin: {}", bench::STOREFRONT_ORIGIN))
        // The service's URLs are plain http on loopback: no TLS, no proxy.
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env("NO_PROXY", "127.0.0.1,localhost");
    if !long {
        cmd.args(["--seed", BOUNDED_SEED]);
    }
    let result = util::run(&mut cmd);
    let alive = service.alive();
    drop(service);
    util::note(&format!(
        "fuzzing took {:.0} s; service log: {}",
        started.elapsed().as_secs_f64(),
        log.display()
    ));
    if !alive {
        bail!("the service died during fuzzing; see {}", log.display());
    }
    result.context(
        "schemathesis found server errors or responses that break the documented schema \
         (each failure above shows the operation, the request and a curl to replay it)",
    )
}
