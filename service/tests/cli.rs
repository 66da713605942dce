//! The binary's command line: start-up refuses bad configuration with a
//! message naming each variable; `healthcheck` reports a live service with
//! exit 0 and anything else with exit 1.

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_startupwebapp");

/// The binary with an empty environment but for PATH.
fn bare() -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn serve_with_missing_configuration_names_every_variable_and_exits_2() {
    let out = bare().arg("serve").output().expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for var in [
        "APP_ENVIRONMENT: missing; expected one of development, staging, production",
        "DATABASE_URL: missing; expected a PostgreSQL URL",
        "APP_SECRET_KEY: missing",
        "APP_STOREFRONT_ORIGINS: missing",
        "APP_STOREFRONT_URL: missing",
    ] {
        assert!(stderr.contains(var), "{var} not in:\n{stderr}");
    }
}

#[test]
fn serve_with_a_malformed_value_says_what_it_expects() {
    let out = bare()
        .arg("serve")
        .env("APP_ENVIRONMENT", "production")
        .env("DATABASE_URL", "mysql://nope")
        .env("APP_SECRET_KEY", "0123456789abcdef0123456789abcdef")
        .env("APP_STOREFRONT_ORIGINS", "https://www.example.com")
        .env("APP_STOREFRONT_URL", "https://www.example.com")
        .env("APP_DB_MAX_CONNECTIONS", "lots")
        .output()
        .expect("run binary");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DATABASE_URL: malformed; expected a PostgreSQL URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("APP_DB_MAX_CONNECTIONS: malformed; expected a whole number"),
        "{stderr}"
    );
    assert!(!stderr.contains("APP_SECRET_KEY"), "{stderr}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[test]
fn healthcheck_passes_against_a_running_service_and_fails_without_one() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");

    let none = bare()
        .args(["healthcheck", "--addr", &addr])
        .output()
        .expect("run healthcheck");
    assert_eq!(none.status.code(), Some(1), "nothing listens yet");

    // The service starts and answers /healthz with its database unreachable.
    let mut service = bare()
        .arg("serve")
        .env("APP_ENVIRONMENT", "development")
        .env("APP_BIND_ADDRESS", &addr)
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("APP_SECRET_KEY", "0123456789abcdef0123456789abcdef")
        .env("APP_STOREFRONT_ORIGINS", "http://localhost:8080")
        .env("APP_STOREFRONT_URL", "http://localhost:8080")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start service");
    let mut healthy = false;
    for _ in 0..100 {
        let status = bare()
            .arg("healthcheck")
            .env("APP_BIND_ADDRESS", format!("0.0.0.0:{port}"))
            .status()
            .expect("run healthcheck");
        if status.success() {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // SIGTERM: the service shuts down cleanly with exit 0.
    let _ = Command::new("kill")
        .args(["-TERM", &service.id().to_string()])
        .status();
    let exit = service.wait().expect("service exits");
    assert!(healthy, "healthcheck never passed");
    assert!(exit.success(), "graceful exit on SIGTERM, got {exit}");
}
