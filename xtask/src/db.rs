//! `cargo xtask db adopt [--dry-run]`: adopt the Django-created database at
//! `DATABASE_URL` by running the service binary's own
//! `migrate --adopt-django`, so the check and the migrations are exactly the
//! ones the deployed binary embeds.

use std::process::Command;

use anyhow::{Context, Result};

use crate::{dev, util};

#[derive(clap::Subcommand)]
pub enum DbCommand {
    /// Adopt an existing Django StartUpWebApp database in place (DATABASE_URL).
    Adopt {
        /// Print the adoption report and the plan; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Build and run the release binary.
        #[arg(long)]
        release: bool,
    },
}

pub fn run(command: DbCommand) -> Result<()> {
    match command {
        DbCommand::Adopt { dry_run, release } => adopt(dry_run, release),
    }
}

fn adopt(dry_run: bool, release: bool) -> Result<()> {
    // Required: adopting "whatever database is lying around" would be unsafe.
    let database_url =
        std::env::var("DATABASE_URL").context("set DATABASE_URL to the database to adopt")?;
    let binary = dev::build_service(release)?;
    util::step(if dry_run {
        "adoption dry run (nothing is changed)"
    } else {
        "adopting the Django database"
    });
    let mut cmd = Command::new(&binary);
    cmd.args(["migrate", "--adopt-django"]);
    if dry_run {
        cmd.arg("--dry-run");
    }
    // The binary's configuration needs a few more variables than the
    // database; the development defaults fill them unless set explicitly.
    util::run(cmd.envs(dev::service_env(0, &database_url)))
}
