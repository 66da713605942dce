//! `cargo xtask dev`: PostgreSQL + migrations + the service on
//! http://localhost:8000, CORS open to the storefront on http://localhost:8080.
//! Ctrl-C stops the service, then the database, and removes what was created.

use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{postgres, util};

#[derive(clap::Args)]
pub struct Args {
    /// Port of the service.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Build and run the release binary.
    #[arg(long)]
    release: bool,
}

/// Development-only key; real deployments take APP_SECRET_KEY from Secrets Manager.
const DEV_SECRET_KEY: &str = "dev-only-secret-key-not-for-production-use-0123456789";

/// Environment of a development service bound to `port` using `database_url`.
pub fn service_env(port: u16, database_url: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("APP_ENVIRONMENT".into(), "development".into()),
        ("APP_BIND_ADDRESS".into(), format!("127.0.0.1:{port}")),
        ("DATABASE_URL".into(), database_url.into()),
        ("APP_SECRET_KEY".into(), DEV_SECRET_KEY.into()),
        (
            "APP_STOREFRONT_ORIGINS".into(),
            "http://localhost:8080,http://127.0.0.1:8080".into(),
        ),
        ("APP_STOREFRONT_URL".into(), "http://localhost:8080".into()),
    ];
    // Anything the developer set explicitly wins (e.g. SMTP_HOST, RUST_LOG).
    for (key, value) in env.iter_mut() {
        if key != "DATABASE_URL"
            && let Ok(v) = std::env::var(&*key)
        {
            *value = v;
        }
    }
    env
}

pub fn build_service(release: bool) -> Result<std::path::PathBuf> {
    if release {
        // One release build for dev, bench, db and the image (same flags).
        return crate::image::build::release_binary().map(|(binary, _)| binary);
    }
    util::step("building the service (debug)");
    // `--bin` keeps the workspace's feature resolution (a `-p` build would
    // resolve features differently and rebuild shared dependencies).
    util::run(util::cargo_command().args(["build", "--bin", "startupwebapp"]))?;
    Ok(util::target_dir().join("debug").join("startupwebapp"))
}

pub fn run(args: Args) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }

    util::step("starting PostgreSQL");
    let db = postgres::provision("dev")?;
    util::note(&format!("using {}", db.origin));
    let database_url = if db.origin == "DATABASE_URL" {
        db.url.clone()
    } else {
        db.url_for("startupwebapp")
    };

    let binary = build_service(args.release)?;
    let env = service_env(args.port, &database_url);

    util::step("applying migrations and seed data");
    util::run(
        Command::new(&binary)
            .args(["migrate", "--create-database"])
            .envs(env.iter().cloned()),
    )?;

    util::step("starting the service");
    let mut child = Command::new(&binary)
        .arg("serve")
        .envs(env.iter().cloned())
        .spawn()
        .context("cannot start the service")?;
    let addr = format!("127.0.0.1:{}", args.port);
    match util::wait_for_200(&addr, "/readyz", Duration::from_secs(30)) {
        Ok(_) => {
            eprintln!(
                "\n    API      http://localhost:{port}/\n    \
                 docs     http://localhost:{port}/docs\n    \
                 spec     http://localhost:{port}/openapi.json\n    \
                 ready    http://localhost:{port}/readyz\n    \
                 database {database_url}\n    \
                 CORS     open to http://localhost:8080 (serve the storefront there)\n\n    \
                 Ctrl-C stops the service and the database.",
                port = args.port
            );
        }
        Err(e) => {
            terminate(&mut child);
            bail!("the service did not become ready: {e}");
        }
    }

    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if stop.load(Ordering::SeqCst) {
            util::step("stopping");
            terminate(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(db);
    match status {
        Some(s) if !s.success() => bail!("the service exited with {s}"),
        _ => Ok(()),
    }
}

/// SIGTERM, then wait: the service finishes in-flight requests and exits.
pub fn terminate(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
