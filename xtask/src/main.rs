//! `cargo xtask`: everything a developer or CI does, in one Rust tool.
//!
//! - `dev`: run the service against a real PostgreSQL (local throwaway
//!   cluster, `DATABASE_URL`, or a testcontainers Postgres)
//! - `test`: fmt, clippy, every test against a real PostgreSQL, OpenAPI
//!   sync, infrastructure checks; one summary line
//! - `bench`: load-test the release service with wrk; writes
//!   `docs/benchmarks.md` and `docs/benchmarks.svg`
//! - `fuzz-api`: schemathesis contract fuzzing of the live service
//! - `openapi`: regenerate `openapi/openapi.json` from the code
//! - `synth`: synthesize the CDK app into `target/cdk.out`

mod bench;
mod cdk;
mod db;
mod dev;
mod fuzz_api;
mod openapi;
mod postgres;
mod test;
mod util;

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
    /// Fuzz every API operation with schemathesis against the live service.
    FuzzApi(fuzz_api::Args),
    /// Write the OpenAPI document generated from the code to openapi/openapi.json.
    Openapi,
    /// Synthesize the CDK app (infra-cdk/) into target/cdk.out.
    Synth,
    /// Database operations on DATABASE_URL (adopt a Django database).
    #[command(subcommand)]
    Db(db::DbCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Test(args) => test::run(args),
        Command::Bench(args) => bench::run(args),
        Command::FuzzApi(args) => fuzz_api::run(args),
        Command::Openapi => openapi::write(),
        Command::Db(command) => db::run(command),
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
