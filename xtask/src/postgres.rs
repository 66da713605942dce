//! A real PostgreSQL for `dev` and `test`, in this order of preference:
//! 1. `DATABASE_URL` when set (the caller owns that server);
//! 2. a throwaway local cluster from the PostgreSQL server binaries
//!    (initdb into `target/xtask-pg/`, a free loopback port, trust auth);
//! 3. a testcontainers Postgres when a Docker engine answers.
//!
//! Whatever was started is stopped and removed when the handle drops, also
//! when the command fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::util;

pub struct Database {
    /// Server URL with the `postgres` database, e.g. `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
    pub origin: String,
    _guard: Guard,
}

enum Guard {
    External,
    Local { _cluster: LocalCluster },
    Container { _container: Box<dyn std::any::Any> },
}

impl Database {
    /// URL of another database on the same server.
    pub fn url_for(&self, dbname: &str) -> String {
        match self.url.rfind('/') {
            Some(i) => format!("{}/{dbname}", &self.url[..i]),
            None => self.url.clone(),
        }
    }
}

pub fn provision(purpose: &str) -> Result<Database> {
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.trim().is_empty()
    {
        return Ok(Database {
            origin: "DATABASE_URL".into(),
            url,
            _guard: Guard::External,
        });
    }
    if let Some(bindir) = find_bindir() {
        let cluster = LocalCluster::start(&bindir, purpose)?;
        return Ok(Database {
            url: format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port),
            origin: format!("throwaway cluster in {}", cluster.root.display()),
            _guard: Guard::Local { _cluster: cluster },
        });
    }
    if docker_engine_answers() {
        return start_container();
    }
    bail!(
        "no PostgreSQL available. Do one of:\n\
         - install the PostgreSQL server binaries (Debian: `apt-get install postgresql`; \
           initdb/pg_ctl/postgres must be on PATH or found by `pg_config --bindir`),\n\
         - start a Docker engine (a testcontainers Postgres is used then),\n\
         - set DATABASE_URL to a server you run (the user must be allowed to create databases)."
    )
}

/// The directory holding initdb, pg_ctl and postgres.
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
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            if has_all(&dir) {
                return Some(dir);
            }
        }
    }
    // Debian keeps server binaries off PATH.
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| has_all(p))
        .collect();
    versions.sort();
    versions.pop()
}

fn docker_engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn start_container() -> Result<Database> {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::runners::SyncRunner;
    util::note("starting a PostgreSQL container (testcontainers)");
    let container = Postgres::default()
        .start()
        .context("cannot start the PostgreSQL container")?;
    let port = container
        .get_host_port_ipv4(5432)
        .context("cannot read the container's port")?;
    Ok(Database {
        url: format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres"),
        origin: "testcontainers Postgres".into(),
        _guard: Guard::Container {
            _container: Box::new(container),
        },
    })
}

/// A cluster in `target/xtask-pg/<purpose>-<pid>`, removed on drop.
pub struct LocalCluster {
    bindir: PathBuf,
    root: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Stops and removes clusters left behind by an xtask that was killed
/// outright (SIGKILL leaves no chance to clean up): their folder names end
/// in the pid of an xtask process that no longer runs.
fn reap_stale_clusters(bindir: &Path) {
    let Ok(entries) = std::fs::read_dir(util::target_dir().join("xtask-pg")) else {
        return;
    };
    for entry in entries.flatten() {
        let root = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        util::note(&format!(
            "removing a cluster left by a killed run: {}",
            root.display()
        ));
        drop(LocalCluster {
            bindir: bindir.to_path_buf(),
            root,
            port: 0,
            as_postgres_user: is_root(),
        });
    }
}

impl LocalCluster {
    fn start(bindir: &Path, purpose: &str) -> Result<LocalCluster> {
        reap_stale_clusters(bindir);
        let root = util::target_dir()
            .join("xtask-pg")
            .join(format!("{purpose}-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        // initdb refuses to run as root: run the cluster as the `postgres` user.
        let as_postgres_user = is_root();
        let cluster = LocalCluster {
            bindir: bindir.to_path_buf(),
            root,
            port: util::free_port()?,
            as_postgres_user,
        };
        if as_postgres_user {
            util::run(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(&cluster.root),
            )
            .context("cannot hand the cluster folder to the `postgres` user (does it exist?)")?;
        }
        let data = cluster.root.join("data");
        util::note(&format!(
            "initdb {} (PostgreSQL binaries in {})",
            data.display(),
            bindir.display()
        ));
        let out = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
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
            .context("cannot run initdb")?;
        if !out.status.success() {
            bail!("initdb failed:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' \
             -c max_connections=300 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c shared_buffers=128MB",
            cluster.port
        );
        let log = cluster.root.join("postgres.log");
        let mut start = cluster.command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null());
        // Its own process group: a Ctrl-C in the terminal must not stop the
        // database before the service has shut down.
        use std::os::unix::process::CommandExt;
        start.process_group(0);
        let status = start.status().context("cannot run pg_ctl")?;
        if !status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("PostgreSQL did not start; its log:\n{tail}");
        }
        util::note(&format!(
            "PostgreSQL listening on 127.0.0.1:{}",
            cluster.port
        ));
        Ok(cluster)
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

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let data = self.root.join("data");
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Give the postmaster a moment to release its files.
        std::thread::sleep(Duration::from_millis(100));
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("xtask: could not remove {}: {e}", self.root.display());
        } else {
            eprintln!("    PostgreSQL stopped and {} removed", self.root.display());
        }
    }
}
