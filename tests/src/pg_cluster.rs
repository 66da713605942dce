//! A throwaway PostgreSQL cluster owned by one test, for fault injection:
//! unlike the shared test server it can be stopped (even killed) and started
//! again on the same data directory and port while the service keeps running.
//!
//! The server binaries (initdb, pg_ctl, postgres) must be on PATH or under
//! `pg_config --bindir`. initdb refuses to run as root, so as root the
//! cluster runs as the `postgres` user (as `cargo xtask` does). Trust auth on
//! 127.0.0.1 only. The cluster is stopped and its folder removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct PgCluster {
    bindir: PathBuf,
    root: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

/// How `pg_ctl stop` ends the server.
#[derive(Clone, Copy, Debug)]
pub enum StopMode {
    /// Disconnects clients, shuts down cleanly.
    Fast,
    /// Kills every server process at once: crash recovery at the next start.
    Immediate,
}

impl PgCluster {
    /// initdb into a fresh temporary folder and start on a free loopback port.
    pub async fn start() -> PgCluster {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let bindir = find_bindir().expect(
            "PostgreSQL server binaries not found: install them (Debian: apt-get install \
             postgresql) so that initdb, pg_ctl and postgres are on PATH or under pg_config --bindir",
        );
        let root = std::env::temp_dir().join(format!(
            "swa-faults-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the cluster folder");
        let as_postgres_user = is_root();
        let cluster = PgCluster {
            bindir,
            root,
            port: crate::free_port(),
            as_postgres_user,
        };
        if as_postgres_user {
            let status = Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(&cluster.root)
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "cannot hand {} to the `postgres` user (does it exist?)",
                cluster.root.display()
            );
        }
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.start_again().await;
        cluster
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `dbname` as the `postgres` superuser.
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    /// Creates database `dbname`, applies the service's migrations to it and
    /// returns its URL.
    pub async fn migrated_database(&self, dbname: &str) -> String {
        use sqlx::Connection;
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .expect("connect to the throwaway cluster");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{dbname}\"")))
            .execute(&mut admin)
            .await
            .expect("create the database");
        let _ = admin.close().await;
        let url = self.url(dbname);
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        startupwebapp::db::MIGRATOR
            .run(&pool)
            .await
            .expect("apply the migrations");
        pool.close().await;
        url
    }

    /// Stops the server (waits until it is down).
    pub async fn stop(&self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let mut stop = tokio::process::Command::from(self.command("pg_ctl"));
        let out = stop
            .arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "stop"])
            .output()
            .await
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the server on the same data folder and port (waits until it
    /// accepts connections).
    pub async fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
             -c max_connections=100 -c fsync=off -c full_page_writes=off",
            self.port
        );
        let log = self.root.join("postgres.log");
        let mut start = tokio::process::Command::from(self.command("pg_ctl"));
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C meant for the test run must not
            // reach the server through the terminal.
            .process_group(0);
        let out = start.output().await.expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}\nits log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bindir.join(program);
        if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(binary);
            c
        } else {
            Command::new(binary)
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn find_bindir() -> Option<PathBuf> {
    let has_all = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_all(&dir) {
            return Some(dir);
        }
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).find(|dir| has_all(dir))
}
