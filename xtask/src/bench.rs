//! `cargo xtask bench`: the release service against a real PostgreSQL,
//! driven by `wrk` on loopback, one scenario at a time.
//!
//! PostgreSQL comes up the way `dev` starts it, the release binary is built
//! (`--workspace`, so features match every other build), migrated and
//! started; the time from spawn to the first `/readyz` 200 is measured. A
//! member with a one-item cart and a CSRF secret are seeded through the API
//! itself, every scenario is checked once by hand (so a mis-seeded run fails
//! loudly instead of measuring error pages), then warmed up and measured.
//! The service's resident memory is sampled from /proc while that happens.
//!
//! A full run writes `docs/benchmarks.md` and `docs/benchmarks.svg`;
//! `--quick` (a smoke run) writes its report to `target/bench/` only, unless
//! `--write` is given. Ctrl-C stops wrk, the service and the database.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{dev, postgres, util};

#[derive(clap::Args)]
pub struct Args {
    /// Smoke run: 2 s per scenario with 8 connections; the report goes to
    /// target/bench/ only (docs/ keeps the published full-run figures).
    #[arg(long)]
    quick: bool,
    /// Also write docs/benchmarks.md and docs/benchmarks.svg after a --quick
    /// or --only run (a full run always writes them).
    #[arg(long)]
    write: bool,
    /// Run only the scenarios whose name contains TEXT (repeatable), e.g.
    /// `--only products` while profiling one endpoint.
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,
}

/// The storefront origin the benchmarked and fuzzed service trusts; POSTs
/// send it as `Origin` like a browser would.
pub const STOREFRONT_ORIGIN: &str = "http://localhost:8080";

/// Environment of a service under measurement or fuzzing: production-like
/// (`staging`: Secure cookies, JSON logs at `warn`) with the abuse limits
/// lifted, so the load measures the work and not the limiter.
pub fn service_env(port: u16, database_url: &str) -> Vec<(String, String)> {
    let mut env = dev::service_env(port, database_url);
    let mut set = |key: &str, value: &str| {
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    };
    set("APP_ENVIRONMENT", "staging");
    set("APP_BIND_ADDRESS", &format!("127.0.0.1:{port}"));
    set("APP_STOREFRONT_ORIGINS", STOREFRONT_ORIGIN);
    set("APP_LOG_FORMAT", "json");
    set("RUST_LOG", "warn");
    for name in [
        "LOGIN",
        "CREATE_ACCOUNT",
        "RESET_PASSWORD",
        "SET_NEW_PASSWORD",
        "FORGOT_USERNAME",
        "PUT_CHAT_MESSAGE",
        "PYTHONABOT_NOTIFY_ME",
    ] {
        set(&format!("APP_RATE_LIMIT_{name}"), "1000000/3600");
    }
    env
}

/// `cargo build --workspace --bins` (release or debug) and the service's path.
pub fn build_workspace_bins(release: bool) -> Result<PathBuf> {
    util::step(&format!(
        "building the workspace binaries ({})",
        if release { "release" } else { "debug" }
    ));
    let mut cmd = util::cargo_command();
    cmd.args(["build", "--workspace", "--bins"]);
    if release {
        cmd.arg("--release");
    }
    util::run(&mut cmd)?;
    let binary = util::target_dir()
        .join(if release { "release" } else { "debug" })
        .join("startupwebapp");
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    Ok(binary)
}

/// `startupwebapp migrate --create-database` with `env`.
pub fn migrate(binary: &Path, env: &[(String, String)]) -> Result<()> {
    util::step("applying migrations and seed data");
    util::run(
        Command::new(binary)
            .args(["migrate", "--create-database"])
            .envs(env.iter().cloned()),
    )
}

/// A running service; SIGTERM and wait on drop, so every exit path (error,
/// Ctrl-C, success) stops it before the database goes.
pub struct Service {
    child: Child,
    pub addr: String,
    /// Spawn to the first `/readyz` 200.
    pub ready_after: Duration,
}

impl Service {
    /// Spawns `binary serve` and waits (polling every 2 ms, so the start-up
    /// time is measured finely) for `/readyz` to answer 200.
    pub fn start(binary: &Path, env: &[(String, String)], log: Option<&Path>) -> Result<Service> {
        let addr = env
            .iter()
            .find(|(k, _)| k == "APP_BIND_ADDRESS")
            .map(|(_, v)| v.clone())
            .context("APP_BIND_ADDRESS is not set")?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve").envs(env.iter().cloned());
        if let Some(log) = log {
            let file = std::fs::File::create(log)
                .with_context(|| format!("cannot create {}", log.display()))?;
            cmd.stdout(file.try_clone()?).stderr(file);
        }
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut service = Service {
            child,
            addr,
            ready_after: Duration::ZERO,
        };
        loop {
            if util::http_status(&service.addr, "/readyz") == Some(200) {
                service.ready_after = spawned.elapsed();
                return Ok(service);
            }
            if let Some(status) = service.child.try_wait()? {
                bail!("the service exited during start-up ({status})");
            }
            if spawned.elapsed() > Duration::from_secs(30) {
                bail!(
                    "http://{}/readyz did not answer 200 within 30 s",
                    service.addr
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        dev::terminate(&mut self.child);
    }
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client for seeding (the load itself is wrk's job).

pub struct Response {
    pub status: u16,
    head: String,
    pub body: String,
}

impl Response {
    /// Values of every header called `name` (case-insensitive).
    pub fn headers<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.head.lines().skip(1).filter_map(move |line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

/// One request with `Connection: close`; a form body when `body` is given.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
) -> Result<Response> {
    let what = format!("{method} http://{addr}{path}");
    let mut stream = TcpStream::connect(addr).with_context(|| format!("{what}: cannot connect"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(request, "{k}: {v}\r\n");
    }
    if method != "GET" {
        let body = body.unwrap_or("");
        let _ = write!(
            request,
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    } else {
        request.push_str("\r\n");
    }
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("{what}: cannot send"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("{what}: cannot read the response"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{what}: malformed response"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{what}: no status line"))?;
    let mut response = Response {
        status,
        head: head.to_owned(),
        body: String::new(),
    };
    let chunked = response
        .headers("transfer-encoding")
        .any(|v| v.eq_ignore_ascii_case("chunked"));
    response.body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok(response)
}

fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// `application/x-www-form-urlencoded` from pairs.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Cookies by name, fed from `Set-Cookie` (a cleared cookie is dropped).
#[derive(Default, Clone)]
pub struct Jar(BTreeMap<String, String>);

impl Jar {
    pub fn absorb(&mut self, response: &Response) {
        for value in response.headers("set-cookie") {
            let Some((name, val)) = value.split(';').next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let cleared = val.trim().is_empty() || value.to_ascii_lowercase().contains("max-age=0");
            if cleared {
                self.0.remove(name.trim());
            } else {
                self.0.insert(name.trim().to_owned(), val.trim().to_owned());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// GET `/user/token` and return the `csrftoken` secret it sets.
pub fn csrf_token(addr: &str, jar: &mut Jar) -> Result<String> {
    let r = http(addr, "GET", "/user/token", &[], None)?;
    if r.status != 200 {
        bail!("GET /user/token answered {}: {}", r.status, r.body);
    }
    jar.absorb(&r);
    jar.get("csrftoken")
        .map(str::to_owned)
        .context("GET /user/token set no csrftoken cookie")
}

// ---------------------------------------------------------------------------
// Scenarios, targets, results.

/// What the issue asks of a scenario.
#[derive(Clone, Copy)]
enum Target {
    /// At least this many requests/s (and a p99 bound in ms, if any).
    Rps(f64, Option<f64>),
    /// The Argon2id ceiling measured in this run (see `login_ceiling`).
    ArgonCeiling,
    /// No target (the `/healthz` ceiling, the member `/user/logged-in`).
    None,
}

struct Scenario {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    target: Target,
    /// The legacy Django service's figure from the issue, when it gave one.
    legacy: Option<&'static str>,
    /// A substring the correct response body contains (checked once before the load).
    expect: &'static str,
}

struct Measured {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: u64,
    requests: u64,
    rss_peak_kb: u64,
}

struct Row<'a> {
    scenario: &'a Scenario,
    measured: Measured,
    verdict: Verdict,
    target_text: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    Met,
    Missed,
    NoTarget,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::NoTarget => "—",
        }
    }
}

struct Seed {
    token: String,
    member_cookie: String,
    product_id: String,
    username: String,
    password: String,
}

const BENCH_USER: &str = "benchmember";
const BENCH_PASSWORD: &str = "Bench!Password1";

/// A member with a one-item cart, a CSRF secret and a product identifier.
fn seed(addr: &str) -> Result<Seed> {
    util::step("seeding: a member with a one-item cart, a CSRF secret");
    let mut jar = Jar::default();
    let token = csrf_token(addr, &mut jar)?;
    let post = |jar: &mut Jar, path: &str, body: &str| -> Result<Response> {
        let token = jar.get("csrftoken").unwrap_or_default().to_owned();
        let r = http(
            addr,
            "POST",
            path,
            &[
                ("Cookie", jar.header()),
                ("X-CSRFToken", token),
                ("Origin", STOREFRONT_ORIGIN.to_owned()),
            ],
            Some(body),
        )?;
        jar.absorb(&r);
        Ok(r)
    };
    let created = post(
        &mut jar,
        "/user/create-account",
        &form(&[
            ("firstname", "Bench"),
            ("lastname", "Member"),
            ("username", BENCH_USER),
            ("email_address", "bench.member@example.com"),
            ("password", BENCH_PASSWORD),
            ("confirm_password", BENCH_PASSWORD),
            ("newsletter", "false"),
            ("remember_me", "true"),
        ]),
    )?;
    if !(created.status == 200 && created.body.contains("\"true\"")) {
        // A database kept from an earlier run (DATABASE_URL) has the member.
        util::note("create-account refused (member exists?); logging in instead");
        let login = post(
            &mut jar,
            "/user/login",
            &form(&[
                ("username", BENCH_USER),
                ("password", BENCH_PASSWORD),
                ("remember_me", "true"),
            ]),
        )?;
        if !(login.status == 200 && login.body.contains("\"true\"")) {
            bail!(
                "cannot create or log in the bench member: create-account {} {}; login {} {}",
                created.status,
                created.body,
                login.status,
                login.body
            );
        }
    }
    if jar.get("sessionid").is_none() {
        bail!("no sessionid cookie after creating the bench member");
    }
    // An empty cart first (a kept database may hold an earlier run's line).
    let _ = post(&mut jar, "/order/cart-delete-cart", "")?;
    let added = post(
        &mut jar,
        "/order/cart-add-product-sku",
        &form(&[("sku_id", "1"), ("quantity", "1")]),
    )?;
    if !(added.status == 200 && added.body.contains("success")) {
        bail!(
            "cannot add SKU 1 to the member's cart: {} {}",
            added.status,
            added.body
        );
    }
    let products = http(addr, "GET", "/order/products", &[], None)?;
    let json: serde_json::Value = serde_json::from_str(&products.body)
        .with_context(|| format!("/order/products is not JSON: {}", products.body))?;
    let product_id = json
        .get("products_data")
        .and_then(|p| p.as_object())
        .and_then(|p| p.keys().next().cloned())
        .context("/order/products lists no product (is the catalogue seeded?)")?;
    util::note(&format!(
        "member `{BENCH_USER}` with SKU 1 in the cart; product `{product_id}`"
    ));
    Ok(Seed {
        member_cookie: format!(
            "sessionid={}; csrftoken={}",
            jar.get("sessionid").unwrap_or_default(),
            jar.get("csrftoken").unwrap_or(&token)
        ),
        token: jar.get("csrftoken").unwrap_or(&token).to_owned(),
        product_id,
        username: BENCH_USER.to_owned(),
        password: BENCH_PASSWORD.to_owned(),
    })
}

fn scenarios(seed: &Seed) -> Vec<Scenario> {
    let get = |name, path: &str, target, legacy, expect| Scenario {
        name,
        method: "GET",
        path: path.to_owned(),
        headers: Vec::new(),
        body: None,
        target,
        legacy,
        expect,
    };
    let member = |mut s: Scenario| {
        s.headers.push(("Cookie", seed.member_cookie.clone()));
        s
    };
    // POSTs as the storefront sends them: the csrftoken cookie echoed in
    // X-CSRFToken, the storefront Origin; no session, so cart-add creates
    // a new anonymous cart per request (many visitors, no line at its cap).
    let post = |name, path: &str, body: String, target, expect| Scenario {
        name,
        method: "POST",
        path: path.to_owned(),
        headers: vec![
            ("Cookie", format!("csrftoken={}", seed.token)),
            ("X-CSRFToken", seed.token.clone()),
            ("Origin", STOREFRONT_ORIGIN.to_owned()),
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ],
        body: Some(body),
        target,
        legacy: None,
        expect,
    };
    vec![
        get(
            "GET /order/products",
            "/order/products",
            Target::Rps(8000.0, Some(15.0)),
            Some("84/s, p99 580 ms"),
            "products_data",
        ),
        get(
            "GET /order/product/{id}",
            &format!("/order/product/{}", seed.product_id),
            Target::Rps(6000.0, None),
            None,
            "product_identifier",
        ),
        member(get(
            "GET /order/cart-items (member)",
            "/order/cart-items",
            Target::Rps(5000.0, None),
            Some("157/s"),
            "sku_id",
        )),
        get(
            "GET /user/logged-in (anonymous)",
            "/user/logged-in",
            Target::Rps(15000.0, None),
            Some("870/s"),
            "logged_in",
        ),
        member(get(
            "GET /user/logged-in (member)",
            "/user/logged-in",
            Target::None,
            None,
            "member_initials",
        )),
        get(
            "GET /user/token",
            "/user/token",
            Target::Rps(20000.0, None),
            Some("2,200/s"),
            "token",
        ),
        get(
            "GET /clientevent/pageview",
            "/clientevent/pageview?url=/bench&pageWidth=1024",
            Target::Rps(4000.0, None),
            None,
            "",
        ),
        post(
            "POST /order/cart-add-product-sku (anon)",
            "/order/cart-add-product-sku",
            form(&[("sku_id", "1"), ("quantity", "1")]),
            Target::Rps(2500.0, None),
            "success",
        ),
        // Before login: Argon2id leaves the allocator holding memory.
        get("GET /healthz (ceiling)", "/healthz", Target::None, None, ""),
        post(
            "POST /user/login",
            "/user/login",
            form(&[
                ("username", &seed.username),
                ("password", &seed.password),
                ("remember_me", "false"),
            ]),
            Target::ArgonCeiling,
            "\"true\"",
        ),
    ]
}

/// Sends the scenario's request once and insists on a 200 with the
/// expected body, so the load never measures error pages by mistake.
fn preflight(addr: &str, s: &Scenario) -> Result<()> {
    let headers: Vec<(&str, String)> = s
        .headers
        .iter()
        .filter(|(k, _)| *k != "Content-Type")
        .cloned()
        .collect();
    let r = http(addr, s.method, &s.path, &headers, s.body.as_deref())?;
    if r.status != 200 || !r.body.contains(s.expect) {
        bail!(
            "{}: the seeded request answered {} {} (expected 200 with `{}`)",
            s.name,
            r.status,
            r.body.chars().take(300).collect::<String>(),
            s.expect
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// wrk.

struct Load {
    seconds: u64,
    warmup_seconds: u64,
    connections: u32,
    threads: u32,
}

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The wrk script: method, headers and body of the scenario, and a `done`
/// hook printing one machine-readable line (latencies in µs).
fn lua_script(s: &Scenario) -> String {
    let mut lua = format!("wrk.method = {}\n", lua_string(s.method));
    if let Some(body) = &s.body {
        let _ = writeln!(lua, "wrk.body = {}", lua_string(body));
    }
    for (k, v) in &s.headers {
        let _ = writeln!(lua, "wrk.headers[{}] = {}", lua_string(k), lua_string(v));
    }
    lua.push_str(
        r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "XTASK-RESULT requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#,
    );
    lua
}

fn wrk(
    addr: &str,
    s: &Scenario,
    script: &Path,
    seconds: u64,
    connections: u32,
    threads: u32,
) -> Result<BTreeMap<String, u64>> {
    let url = format!("http://{addr}{}", s.path);
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "5s", "-s"])
        .arg(script)
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .context("cannot run wrk")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("XTASK-RESULT "))
        .with_context(|| {
            format!(
                "wrk printed no result ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    Ok(line
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect())
}

fn measured_from(fields: &BTreeMap<String, u64>, rss_peak_kb: u64) -> Measured {
    let f = |k: &str| fields.get(k).copied().unwrap_or(0);
    let seconds = (f("duration_us") as f64 / 1e6).max(1e-9);
    Measured {
        rps: f("requests") as f64 / seconds,
        p50_ms: f("p50_us") as f64 / 1000.0,
        p99_ms: f("p99_us") as f64 / 1000.0,
        max_ms: f("max_us") as f64 / 1000.0,
        errors: f("connect") + f("read") + f("write") + f("status") + f("timeout"),
        requests: f("requests"),
        rss_peak_kb,
    }
}

/// Makes sure wrk is there: installs the Debian package when running as
/// root with apt, else says how to get it.
fn ensure_wrk() -> Result<()> {
    if util::on_path("wrk") {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if root && util::on_path("apt-get") {
        util::step("installing wrk (Debian package)");
        let _ = util::run(Command::new("apt-get").args(["update", "-qq"]));
        util::run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends", "wrk"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
        .context("cannot install wrk")?;
        return Ok(());
    }
    bail!("wrk is not installed: `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk`")
}

// ---------------------------------------------------------------------------
// Memory.

/// A `kB` field of /proc/<pid>/status (VmRSS, VmHWM).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Samples VmRSS every 20 ms into `peak` until `stop`.
fn rss_sampler(
    pid: u32,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if let Some(kb) = proc_status_kb(pid, "VmRSS") {
                peak.fetch_max(kb, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

// ---------------------------------------------------------------------------
// The run.

pub fn run(args: Args) -> Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        // wrk, cargo and the service share our process group and stop on
        // Ctrl-C themselves; xtask lives on to stop the database.
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .context("cannot install the Ctrl-C handler")?;
    }
    let load = if args.quick {
        Load {
            seconds: 2,
            warmup_seconds: 1,
            connections: 8,
            threads: 2,
        }
    } else {
        Load {
            seconds: 10,
            warmup_seconds: 2,
            connections: 32,
            threads: 2,
        }
    };
    ensure_wrk()?;

    util::step("starting PostgreSQL");
    let db = postgres::provision("bench")?;
    util::note(&format!("using {}", db.origin));
    let database_url = if db.origin == "DATABASE_URL" {
        db.url.clone()
    } else {
        db.url_for("startupwebapp")
    };

    // The image's release build (same flags, so the two share one cache).
    let (binary, _) = crate::image::build::release_binary()?;
    let env = service_env(util::free_port()?, &database_url);
    migrate(&binary, &env)?;

    util::step("starting the release service");
    let mut service = Service::start(&binary, &env, None)?;
    util::note(&format!(
        "ready after {:.1} ms (spawn → /readyz 200) on http://{}",
        service.ready_after.as_secs_f64() * 1000.0,
        service.addr
    ));
    let pid = service.pid();
    let seed = seed(&service.addr)?;
    let mut all = scenarios(&seed);
    if !args.only.is_empty() {
        all.retain(|s| args.only.iter().any(|o| s.name.contains(o.as_str())));
        if all.is_empty() {
            bail!("no scenario matches --only {:?}", args.only);
        }
    }
    for s in &all {
        preflight(&service.addr, s)?;
    }

    // Idle: after start-up and seeding, once the process has settled.
    std::thread::sleep(Duration::from_secs(1));
    let idle_kb = proc_status_kb(pid, "VmRSS").unwrap_or(0);
    let peak = Arc::new(AtomicU64::new(idle_kb));
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(pid, peak.clone(), stop_sampler.clone());

    let scripts = util::target_dir().join("bench");
    std::fs::create_dir_all(&scripts)
        .with_context(|| format!("cannot create {}", scripts.display()))?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut login_ceiling = None;
    let mut results: Vec<(usize, Measured)> = Vec::new();
    let total = all.len();
    for (i, s) in all.iter().enumerate() {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let script = scripts.join(format!("scenario-{i}.lua"));
        std::fs::write(&script, lua_script(s))
            .with_context(|| format!("cannot write {}", script.display()))?;
        util::step(&format!(
            "[{}/{total}] {} — warm-up {} s, then {} s at {} connections",
            i + 1,
            s.name,
            load.warmup_seconds,
            load.seconds,
            load.connections
        ));
        if matches!(s.target, Target::ArgonCeiling) {
            // One connection: the mean time per login is one Argon2id hash
            // plus its queries; `cores` of them at once is the ceiling.
            let secs = load.seconds.div_ceil(3).max(1);
            let one = measured_from(&wrk(&service.addr, s, &script, secs, 1, 1)?, 0);
            if one.rps > 0.0 {
                let ceiling = one.rps * cores as f64;
                util::note(&format!(
                    "one connection: {:.1} logins/s ({:.1} ms each) → ceiling on {cores} cores ≈ {ceiling:.0}/s",
                    one.rps,
                    1000.0 / one.rps
                ));
                login_ceiling = Some(ceiling);
            }
        }
        wrk(
            &service.addr,
            s,
            &script,
            load.warmup_seconds,
            load.connections,
            load.threads,
        )?;
        peak.store(proc_status_kb(pid, "VmRSS").unwrap_or(0), Ordering::SeqCst);
        let scenario_peak = Arc::new(AtomicU64::new(0));
        let stop_one = Arc::new(AtomicBool::new(false));
        let one_sampler = rss_sampler(pid, scenario_peak.clone(), stop_one.clone());
        let fields = wrk(
            &service.addr,
            s,
            &script,
            load.seconds,
            load.connections,
            load.threads,
        );
        stop_one.store(true, Ordering::SeqCst);
        let _ = one_sampler.join();
        let m = measured_from(&fields?, scenario_peak.load(Ordering::SeqCst));
        util::note(&format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} errors of {} requests, RSS peak {:.1} MB",
            m.rps,
            m.p50_ms,
            m.p99_ms,
            m.max_ms,
            m.errors,
            m.requests,
            mb(m.rss_peak_kb)
        ));
        results.push((i, m));
        if !service.alive() {
            bail!("the service died during `{}`", s.name);
        }
    }
    stop_sampler.store(true, Ordering::SeqCst);
    let _ = sampler.join();
    if interrupted.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    // VmHWM: the kernel's own high-water mark, which no sampling can miss.
    let peak_kb = proc_status_kb(pid, "VmHWM")
        .unwrap_or(0)
        .max(peak.load(Ordering::SeqCst))
        .max(
            results
                .iter()
                .map(|(_, m)| m.rss_peak_kb)
                .max()
                .unwrap_or(0),
        );
    let ready_ms = service.ready_after.as_secs_f64() * 1000.0;
    util::step("stopping the service and PostgreSQL");
    drop(service);
    drop(db);

    let rows: Vec<Row> = results
        .into_iter()
        .map(|(i, measured)| {
            let scenario = &all[i];
            let (verdict, target_text) = judge(scenario.target, &measured, login_ceiling);
            Row {
                scenario,
                measured,
                verdict,
                target_text,
            }
        })
        .collect();
    let summary = Summary {
        rows,
        idle_kb,
        peak_kb,
        ready_ms,
        login_ceiling,
        cores,
        quick: args.quick,
        load,
        filtered: !args.only.is_empty(),
    };
    print_table(&summary);

    let out_dir = util::target_dir().join("bench");
    write_report(
        &summary,
        &out_dir.join("benchmarks.md"),
        &out_dir.join("benchmarks.svg"),
    )?;
    util::note(&format!("report in {}", out_dir.display()));
    if (!args.quick && args.only.is_empty()) || args.write {
        let docs = util::workspace_root().join("docs");
        std::fs::create_dir_all(&docs)?;
        write_report(
            &summary,
            &docs.join("benchmarks.md"),
            &docs.join("benchmarks.svg"),
        )?;
        util::note("wrote docs/benchmarks.md and docs/benchmarks.svg");
    } else {
        util::note("docs/ left as it is (smoke or partial run; --write to publish it)");
    }
    Ok(())
}

/// Login must reach this share of the measured Argon2id ceiling: the load
/// generator, PostgreSQL and the rest of the request share the two cores.
const LOGIN_SHARE: f64 = 0.8;

fn judge(target: Target, m: &Measured, login_ceiling: Option<f64>) -> (Verdict, String) {
    let errors_ok = m.errors == 0;
    match target {
        Target::Rps(rps, p99) => {
            let mut ok = m.rps >= rps && errors_ok;
            let mut text = format!("≥ {} req/s", thousands(rps));
            if let Some(p99) = p99 {
                ok &= m.p99_ms <= p99;
                let _ = write!(text, ", p99 ≤ {p99} ms");
            }
            (if ok { Verdict::Met } else { Verdict::Missed }, text)
        }
        Target::ArgonCeiling => match login_ceiling {
            Some(c) => {
                let want = c * LOGIN_SHARE;
                let ok = m.rps >= want && errors_ok;
                (
                    if ok { Verdict::Met } else { Verdict::Missed },
                    format!(
                        "≥ {} req/s ({:.0} % of the Argon2id ceiling {})",
                        thousands(want),
                        LOGIN_SHARE * 100.0,
                        thousands(c)
                    ),
                )
            }
            None => (Verdict::NoTarget, "Argon2id ceiling (not measured)".into()),
        },
        Target::None => (Verdict::NoTarget, "—".into()),
    }
}

fn thousands(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Summary<'a> {
    rows: Vec<Row<'a>>,
    idle_kb: u64,
    peak_kb: u64,
    ready_ms: f64,
    login_ceiling: Option<f64>,
    cores: usize,
    quick: bool,
    load: Load,
    filtered: bool,
}

impl Summary<'_> {
    /// (what, measured, target, verdict) for memory and start-up.
    fn process_rows(&self) -> Vec<(&'static str, String, &'static str, Verdict)> {
        let v = |ok: bool| if ok { Verdict::Met } else { Verdict::Missed };
        vec![
            (
                "resident memory, idle",
                format!("{:.1} MB", mb(self.idle_kb)),
                "≤ 25 MB",
                v(mb(self.idle_kb) <= 25.0),
            ),
            (
                "resident memory, peak under load",
                format!("{:.1} MB", mb(self.peak_kb)),
                "≤ 60 MB",
                v(mb(self.peak_kb) <= 60.0),
            ),
            (
                "start to ready (spawn → /readyz 200)",
                format!("{:.1} ms", self.ready_ms),
                "≤ 100 ms",
                v(self.ready_ms <= 100.0),
            ),
        ]
    }
}

fn print_table(s: &Summary) {
    util::step("results");
    eprintln!(
        "    {:<40} {:>9} {:>8} {:>8} {:>8} {:>7} {:>8}  {:<44} result",
        "scenario", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "RSS MB", "target"
    );
    for r in &s.rows {
        let m = &r.measured;
        eprintln!(
            "    {:<40} {:>9} {:>8.2} {:>8.2} {:>8.1} {:>7} {:>8.1}  {:<44} {}",
            r.scenario.name,
            thousands(m.rps),
            m.p50_ms,
            m.p99_ms,
            m.max_ms,
            m.errors,
            mb(m.rss_peak_kb),
            r.target_text,
            r.verdict.label()
        );
    }
    eprintln!();
    for (what, value, target, verdict) in s.process_rows() {
        eprintln!(
            "    {what:<40} {value:>9}   {target:<10} {}",
            verdict.label()
        );
    }
    let missed = s
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Missed)
        .count()
        + s.process_rows()
            .iter()
            .filter(|r| r.3 == Verdict::Missed)
            .count();
    eprintln!("\n    targets missed: {missed}");
}

fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|x| x.1.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} × {model}, {:.1} GiB memory, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

fn write_report(s: &Summary, md_path: &Path, svg_path: &Path) -> Result<()> {
    let date =
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into());
    let commit =
        command_line("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let wrk_version = command_line("wrk", &["-v"])
        .or_else(|| {
            // wrk -v prints its banner and exits 1.
            let out = Command::new("wrk").arg("-v").output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "wrk".into());
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Benchmarks\n\n\
         Generated by `cargo xtask bench`{} — do not edit by hand; run it again.\n",
        if s.quick {
            " --quick (a smoke run: short and light, not comparable)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        md,
        "- **Date:** {date}\n- **Commit:** `{commit}`\n- **Machine:** {}\n\
         - **Load:** {} connections, {} wrk threads, {} s per scenario after a {} s warm-up, \
         on loopback; `{}`, the service (release build) and PostgreSQL share the machine\n\
         - **Service:** `APP_ENVIRONMENT=staging`, JSON logs at `warn`, default pool size, \
         rate limits lifted (`APP_RATE_LIMIT_*=1000000/3600`) so login measures hashing, not the limiter\n",
        machine(),
        s.load.connections,
        s.load.threads,
        s.load.seconds,
        s.load.warmup_seconds,
        wrk_version
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if s.filtered {
        md.push_str("Only some scenarios were run (`--only`).\n\n");
    }
    md.push_str(
        "| Scenario | Requests/s | p50 | p99 | max | Errors | Peak RSS | Target | Legacy Django | Result |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n",
    );
    for r in &s.rows {
        let m = &r.measured;
        let _ = writeln!(
            md,
            "| `{}` | {} | {:.2} ms | {:.2} ms | {:.1} ms | {} | {:.1} MB | {} | {} | {} |",
            r.scenario.name,
            thousands(m.rps),
            m.p50_ms,
            m.p99_ms,
            m.max_ms,
            m.errors,
            mb(m.rss_peak_kb),
            r.target_text,
            r.scenario.legacy.unwrap_or("—"),
            r.verdict.label()
        );
    }
    md.push_str("\n| Process | Measured | Target | Legacy Django | Result |\n| --- | ---: | --- | --- | --- |\n");
    for (what, value, target, verdict) in s.process_rows() {
        let legacy = if what.starts_with("resident") {
            "≈ 200 MB"
        } else {
            "—"
        };
        let _ = writeln!(
            md,
            "| {what} | {value} | {target} | {legacy} | {} |",
            verdict.label()
        );
    }
    let _ = writeln!(
        md,
        "\n**Notes**\n\n\
         - *Errors* counts wrk's socket errors, timeouts and responses with status ≥ 400; \
         a target counts as met only with zero errors.\n\
         - *Login ceiling*: one connection logging in back to back takes one Argon2id hash plus \
         its queries per request; {} cores doing that in parallel is the most Argon2id allows. \
         Measured ceiling this run: {}. Login is judged against {:.0} % of it, the rest going \
         to wrk and PostgreSQL on the same cores.\n\
         - *Anonymous cart-add* sends no session cookie, so every request creates a new \
         anonymous cart (many visitors, none at the 99-per-line cap).\n\
         - *Peak RSS* per scenario is sampled from `/proc/<pid>/status` every 20 ms; the \
         process peak is the kernel's `VmHWM`.\n\
         - Legacy figures are from issue 8 (3 gunicorn workers on a similar 2-core machine).\n\n\
         ![Throughput and p99 latency per scenario](benchmarks.svg)",
        s.cores,
        s.login_ceiling
            .map(|c| format!("≈ {} logins/s", thousands(c)))
            .unwrap_or_else(|| "not measured".into()),
        LOGIN_SHARE * 100.0
    );
    if let Some(dir) = md_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(md_path, md).with_context(|| format!("cannot write {}", md_path.display()))?;
    chart(s, svg_path)
}

/// Two horizontal bar panels: throughput (target as a tick) and p99.
fn chart(s: &Summary, path: &Path) -> Result<()> {
    use plotters::prelude::*;

    let n = s.rows.len();
    let panel_height = 90 + 34 * n as u32;
    let root = SVGBackend::new(path, (1100, 2 * panel_height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (top, bottom) = root.split_vertically(panel_height);
    let colour = |v: Verdict| match v {
        Verdict::Met => RGBColor(46, 139, 87),
        Verdict::Missed => RGBColor(200, 60, 50),
        Verdict::NoTarget => RGBColor(120, 120, 140),
    };
    // Index 0 at the top: segments count upwards.
    let slot = |i: usize| n - 1 - i;

    type Panel<'p> = (&'p str, &'p str, Vec<(f64, Option<f64>)>);
    let rps_target = |r: &Row| match r.scenario.target {
        Target::Rps(t, _) => Some(t),
        Target::ArgonCeiling => s.login_ceiling.map(|c| c * LOGIN_SHARE),
        Target::None => None,
    };
    let panels: [(&DrawingArea<SVGBackend, plotters::coord::Shift>, Panel); 2] = [
        (
            &top,
            (
                "Throughput (requests/s; black tick = target)",
                "requests/s",
                s.rows
                    .iter()
                    .map(|r| (r.measured.rps, rps_target(r)))
                    .collect(),
            ),
        ),
        (
            &bottom,
            (
                "p99 latency (ms; black tick = target)",
                "milliseconds",
                s.rows
                    .iter()
                    .map(|r| {
                        let t = match r.scenario.target {
                            Target::Rps(_, p99) => p99,
                            _ => None,
                        };
                        (r.measured.p99_ms, t)
                    })
                    .collect(),
            ),
        ),
    ];
    for (area, (title, unit, values)) in panels {
        let max = values
            .iter()
            .map(|(v, t)| v.max(t.unwrap_or(0.0)))
            .fold(0.0_f64, f64::max)
            .max(1.0)
            * 1.18;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(300)
            .build_cartesian_2d(0.0..max, (0..n).into_segmented())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) if *i < n => s.rows[slot(*i)].scenario.name.to_owned(),
                _ => String::new(),
            })
            .x_desc(unit)
            .x_label_formatter(&|v| thousands(*v))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, (v, _))| {
                let mut bar = Rectangle::new(
                    [
                        (0.0, SegmentValue::Exact(slot(i))),
                        (*v, SegmentValue::Exact(slot(i) + 1)),
                    ],
                    colour(s.rows[i].verdict).filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                bar
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(values.iter().enumerate().filter_map(|(i, (_, t))| {
                t.map(|t| {
                    PathElement::new(
                        vec![
                            (t, SegmentValue::Exact(slot(i))),
                            (t, SegmentValue::Exact(slot(i) + 1)),
                        ],
                        BLACK.stroke_width(3),
                    )
                })
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, (v, _))| {
                let label = if *v >= 100.0 {
                    thousands(*v)
                } else {
                    format!("{v:.2}")
                };
                Text::new(
                    format!("  {label}"),
                    (*v, SegmentValue::CenterOf(slot(i))),
                    ("sans-serif", 12).into_font(),
                )
            }))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
