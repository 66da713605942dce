//! The real service binary as a child process, for the tests that need a
//! process boundary: signals, exit status, a crash that would kill the
//! process rather than one task.
//!
//! The binary is `startupwebapp` in the same target folder as the test
//! executable, built by `cargo build --workspace` (nextest and `cargo test`
//! build it along with the tests, since the tests depend on the crate).

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// A signing key long enough for the configuration check.
const SECRET_KEY: &str = "fault-injection-tests-secret-key-0123456789";
pub const STOREFRONT: &str = "http://localhost:8080";

pub struct ServiceProcess {
    child: Child,
    pub addr: std::net::SocketAddr,
    pub base_url: String,
    output: Arc<Mutex<String>>,
}

/// Path of the `startupwebapp` binary next to the running test executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/startupwebapp`).
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let found = exe
        .ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join("startupwebapp"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "the service binary `startupwebapp` was not found near {}: build it with \
             `cargo build --workspace` (nextest runs of the workspace build it too)",
            exe.display()
        )
    })
}

impl ServiceProcess {
    /// Starts `startupwebapp serve` on a free loopback port against
    /// `database_url`, with development settings plus `env` (which wins), and
    /// nothing inherited from the test's environment.
    pub async fn spawn(database_url: &str, env: &[(&str, &str)]) -> ServiceProcess {
        let port = crate::free_port();
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .env_clear()
            .env("APP_ENVIRONMENT", "development")
            .env("APP_BIND_ADDRESS", addr.to_string())
            .env("DATABASE_URL", database_url)
            .env("APP_SECRET_KEY", SECRET_KEY)
            .env("APP_STOREFRONT_ORIGINS", STOREFRONT)
            .env("APP_STOREFRONT_URL", STOREFRONT)
            .env("APP_LOG_FORMAT", "pretty")
            .env("RUST_LOG", "info,sqlx=warn")
            .env("RUST_BACKTRACE", "1");
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the service binary");
        let output = Arc::new(Mutex::new(String::new()));
        if let Some(out) = child.stdout.take() {
            collect(out, output.clone());
        }
        if let Some(err) = child.stderr.take() {
            collect(err, output.clone());
        }
        ServiceProcess {
            child,
            addr,
            base_url: format!("http://{addr}"),
            output,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the service is still running")
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until `GET path` answers `status`; panics with the process
    /// output after `within`.
    pub async fn wait_for_status(&mut self, path: &str, status: u16, within: Duration) {
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            assert!(
                self.is_running(),
                "the service exited while waiting for {path} → {status}:\n{}",
                self.output()
            );
            if let Ok(r) = client
                .get(self.url(path))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status() == status
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "GET {path} never answered {status} within {within:?}; service output:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self) {
        self.wait_for_status("/readyz", 200, Duration::from_secs(20))
            .await;
    }

    /// A cookie-keeping browser on this process, with the usual helpers.
    pub fn browser(&self) -> crate::TestApp {
        crate::TestApp::remote(self.addr)
    }

    /// Sends SIGTERM, as a container runtime does on stop. (The workspace
    /// forbids `unsafe`, so not `libc::kill`: the `kill` utility does it.)
    pub fn sigterm(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit; panics with its output after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the service"),
            Err(_) => panic!(
                "the service did not exit within {within:?}; its output:\n{}",
                self.output()
            ),
        }
    }
}

fn collect(stream: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut all) = into.lock() {
                all.push_str(&line);
                all.push('\n');
            }
        }
    });
}
