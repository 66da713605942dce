//! The one binary: `serve` (default), `migrate`, `healthcheck`,
//! `create-superuser`, `openapi`.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use startupwebapp::{Application, Config, admin, app, db, healthcheck, telemetry};

#[derive(Parser)]
#[command(
    name = "startupwebapp",
    version,
    about = "StartUpWebApp storefront API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate {
        /// Create the database named in DATABASE_URL first if it does not exist.
        #[arg(long)]
        create_database: bool,
        /// Adopt a database created by the Django backend: check its schema,
        /// record the baseline migrations as applied, then migrate.
        #[arg(long)]
        adopt_django: bool,
        /// With --adopt-django: print the report and the plan, change nothing.
        #[arg(long, requires = "adopt_django")]
        dry_run: bool,
    },
    /// Exit 0 when the local service answers GET /healthz with 200, else 1.
    Healthcheck {
        /// Address to probe; defaults to APP_BIND_ADDRESS (wildcard → loopback).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
    },
    /// Create the superuser, or reset its password, email and rights when it
    /// exists. The password comes only from APP_SUPERUSER_PASSWORD (a
    /// task-definition secret), never from an argument.
    CreateSuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document generated from the code.
    Openapi,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve().await,
            Command::Migrate {
                create_database,
                adopt_django,
                dry_run,
            } => migrate(create_database, adopt_django.then_some(dry_run)).await,
            Command::Healthcheck { addr } => health(addr).await,
            Command::CreateSuperuser { username, email } => {
                create_superuser(&username, &email).await
            }
            Command::Openapi => {
                println!(
                    "{}",
                    startupwebapp::openapi_json(startupwebapp::placeholder_config())
                );
                ExitCode::SUCCESS
            }
        }
    })
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env().map_err(|e| {
        eprintln!("startupwebapp: {e}");
        ExitCode::from(2)
    })
}

async fn serve() -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(config.log_json);
    let bind = config.bind_address;
    let application = match Application::build(config).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, address = %bind, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until(app::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

/// `adopt`: `None` for the ordinary migrate, `Some(dry_run)` for adoption.
async fn migrate(create_database: bool, adopt: Option<bool>) -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(config.log_json);
    if create_database && let Err(e) = db::create_database_if_missing(&config.database).await {
        tracing::error!(error = %e, "cannot create the database");
        return ExitCode::FAILURE;
    }
    let Some(pool) = one_off_pool(&config).await else {
        return ExitCode::FAILURE;
    };
    if let Some(dry_run) = adopt {
        return adopt_django(pool, dry_run).await;
    }
    let result = db::MIGRATOR.run(&pool).await;
    pool.close().await;
    match result {
        Ok(()) => {
            tracing::info!("migrations are current");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "migration failed");
            ExitCode::FAILURE
        }
    }
}

/// One connection for a one-off command; logs why when it cannot connect.
async fn one_off_pool(config: &Config) -> Option<sqlx::PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(config.database.connect_options.clone())
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot connect to the database"))
        .ok()
}

async fn create_superuser(username: &str, email: &str) -> ExitCode {
    let config = match load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    telemetry::init(config.log_json);
    let password = std::env::var(admin::SUPERUSER_PASSWORD_ENV).ok();
    // Refuse bad input before opening a connection.
    if let Err(e) = admin::check_superuser_input(username, email, password.as_deref()) {
        tracing::error!(error = %e, "create-superuser refused");
        return ExitCode::from(2);
    }
    let Some(pool) = one_off_pool(&config).await else {
        return ExitCode::FAILURE;
    };
    let result = admin::create_superuser(&pool, username, email, password.as_deref()).await;
    pool.close().await;
    match result {
        Ok(outcome) => {
            // The password is never logged; the username and outcome are.
            tracing::info!(username, ?outcome, "superuser is in place");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "create-superuser failed");
            ExitCode::FAILURE
        }
    }
}

/// Prints the adoption report on stdout (the operator reads it); exit 1
/// when refused or failed.
async fn adopt_django(pool: sqlx::PgPool, dry_run: bool) -> ExitCode {
    let result = db::adopt::adopt(&pool, dry_run).await;
    pool.close().await;
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(db::adopt::AdoptError::Refused(report)) => {
            println!("{report}");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = %e, "adoption failed");
            ExitCode::FAILURE
        }
    }
}

async fn health(addr: Option<std::net::SocketAddr>) -> ExitCode {
    let addr = addr.unwrap_or_else(|| {
        std::env::var("APP_BIND_ADDRESS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8000)))
    });
    match healthcheck::check(healthcheck::probe_address(addr), Duration::from_secs(3)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("startupwebapp healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}
