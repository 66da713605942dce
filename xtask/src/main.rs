//! `cargo xtask`: everything a developer or CI does, in one Rust tool.
//!
//! - `dev`: run the service against a real PostgreSQL (local throwaway
//!   cluster, `DATABASE_URL`, or a testcontainers Postgres)
//! - `test`: fmt, clippy, every test against a real PostgreSQL, OpenAPI
//!   sync, infrastructure checks; one summary line
//! - `bench`: load-test the release service with wrk; writes
//!   `docs/benchmarks.md` and `docs/benchmarks.svg`
//! - `fuzz`: cargo fuzz (libFuzzer) on the parsers of untrusted input
//! - `fuzz-api`: schemathesis contract fuzzing of the live service
//! - `openapi`: regenerate `openapi/openapi.json` from the code
//! - `synth`: synthesize the CDK app into `target/cdk.out`
//! - `lint-workflows`: actionlint + zizmor on `.github/workflows`
//! - `image [check]`, `push`: the production OCI image without a Docker
//!   daemon, its chroot run as non-root, and its push to a registry
//! - `frontend deploy`: upload the storefront to a tenant's S3 bucket and
//!   invalidate what changed on CloudFront

mod aws;
mod bench;
mod cdk;
mod db;
mod dev;
mod frontend;
mod fuzz;
mod fuzz_api;
mod image;
mod openapi;
mod postgres;
mod test;
mod util;
mod workflows;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "StartUpWebApp project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service on http://localhost:8000 with a real PostgreSQL.
    Dev(dev::Args),
    /// Run every check and test; exits non-zero on any failure.
    Test(test::Args),
    /// Load-test the release service (wrk) and write docs/benchmarks.md + .svg.
    Bench(bench::Args),
    /// Fuzz the parsers of untrusted input with cargo fuzz (needs nightly).
    Fuzz(fuzz::Args),
    /// Fuzz every API operation with schemathesis against the live service.
    FuzzApi(fuzz_api::Args),
    /// Write the OpenAPI document generated from the code to openapi/openapi.json.
    Openapi,
    /// Synthesize the CDK app (infra-cdk/) into target/cdk.out.
    Synth,
    /// Lint .github/workflows with actionlint and zizmor (offline); zero findings allowed.
    LintWorkflows,
    /// Database operations on DATABASE_URL (adopt a Django database).
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Build the production OCI image into target/image/ (no Docker daemon);
    /// `image check` runs it from its unpacked root as uid 65532.
    Image(image::Args),
    /// Push target/image to a registry (--to HOST/REPO or --ecr URI).
    Push(image::push::Args),
    /// AWS operations: deploy, deployments, rollback, migrate, admin, tenant, status, logs.
    #[command(flatten)]
    Aws(aws::Command),
    /// The storefront: `frontend deploy` uploads it to a tenant's bucket and CDN.
    #[command(subcommand)]
    Frontend(frontend::FrontendCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::FuzzApi(args) => fuzz_api::run(args),
        Command::Openapi => openapi::write(),
        Command::LintWorkflows => workflows::run(),
        Command::Db(command) => db::run(command),
        Command::Image(args) => image::run(args),
        Command::Push(args) => image::push::run(args),
        Command::Aws(command) => aws::run(command),
        Command::Frontend(command) => frontend::run(command),
        Command::Synth => cdk::synth().map(|dir| {
            util::note(&format!("templates written to {}", dir.display()));
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
