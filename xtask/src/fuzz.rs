//! `cargo xtask fuzz`: libFuzzer (`cargo fuzz`) on the service's parsers of
//! untrusted input: signed cookies, mailed tokens, `Stripe-Signature`, form
//! bodies and `X-Forwarded-For` (the targets live in fuzz/fuzz_targets/).
//!
//! `cargo xtask test` runs every target briefly; longer runs are by hand,
//! e.g. `cargo xtask fuzz --target stripe_signature --seconds 600`. A crash
//! (a panic, a failed property assertion, a timeout or, with ASan, a memory
//! error) fails the run and names the input libFuzzer saved, which replays
//! with `cargo +nightly fuzz run <target> <file>`.
//!
//! cargo fuzz needs the nightly toolchain; both it and cargo-fuzz are
//! installed when missing. The fuzz crate is its own workspace with its own
//! target dir (fuzz/target/<sanitizer>/), since every crate there is built
//! with coverage instrumentation.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::util;

/// Every target in fuzz/Cargo.toml.
pub const TARGETS: &[&str] = &[
    "signed_cookie",
    "tokens",
    "stripe_signature",
    "form_decoding",
    "forwarded_for",
];

/// Seconds per target inside `cargo xtask test`: five targets stay under two
/// minutes of fuzzing, on top of the build.
pub const SHORT_SECONDS: u64 = 20;

/// Longest a single input may take before libFuzzer reports it as a hang.
const INPUT_TIMEOUT_SECS: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Sanitizer {
    /// No sanitizer: the service forbids `unsafe`, so the properties and
    /// Rust's own checks (panics, overflow) find what there is to find.
    None,
    /// AddressSanitizer, for the unsafe code in dependencies; the build of
    /// the service's whole dependency tree takes longer.
    Address,
}

impl Sanitizer {
    fn name(self) -> &'static str {
        match self {
            Sanitizer::None => "none",
            Sanitizer::Address => "address",
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Fuzz only this target (default: every target in turn).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(TARGETS))]
    target: Option<String>,
    /// Seconds of fuzzing per target.
    #[arg(long, default_value_t = 300)]
    seconds: u64,
    /// Sanitizer to build with.
    #[arg(long, value_enum, default_value_t = Sanitizer::Address)]
    sanitizer: Sanitizer,
}

/// `cargo xtask fuzz [--target NAME] [--seconds N] [--sanitizer S]`.
pub fn run(args: Args) -> Result<()> {
    let targets: Vec<&str> = match &args.target {
        Some(name) => vec![name.as_str()],
        None => TARGETS.to_vec(),
    };
    fuzz(&targets, args.seconds, args.sanitizer)
}

/// The short run of every target for `cargo xtask test`.
pub fn short() -> Result<()> {
    fuzz(TARGETS, SHORT_SECONDS, Sanitizer::None)
}

fn fuzz(targets: &[&str], seconds: u64, sanitizer: Sanitizer) -> Result<()> {
    ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let dir = fuzz_dir();
    let target_dir = dir.join("target").join(sanitizer.name());

    util::note(&format!(
        "building {} fuzz target(s) (sanitizer: {})",
        targets.len(),
        sanitizer.name()
    ));
    let started = Instant::now();
    let mut build = cargo_fuzz(&dir);
    build
        .arg("build")
        .args(common_flags(sanitizer, &target_dir));
    if let [only] = targets {
        build.arg(only);
    }
    util::run(&mut build).context("the fuzz targets do not build")?;
    util::note(&format!(
        "built in {:.0} s",
        started.elapsed().as_secs_f64()
    ));

    let mut failures = Vec::new();
    for target in targets {
        match run_target(&dir, &target_dir, target, seconds, sanitizer) {
            Ok(stats) => util::note(&format!(
                "{target}: {} runs in {seconds} s ({} exec/s), corpus {} inputs, no crash",
                stats.runs, stats.execs_per_sec, stats.corpus
            )),
            Err(e) => {
                eprintln!("    {target}: {e:#}");
                failures.push(*target);
            }
        }
    }
    if !failures.is_empty() {
        bail!("fuzz target(s) crashed: {}", failures.join(", "));
    }
    Ok(())
}

/// What libFuzzer's final statistics report.
#[derive(Default)]
struct Stats {
    runs: u64,
    execs_per_sec: u64,
    corpus: u64,
}

fn run_target(
    dir: &Path,
    target_dir: &Path,
    target: &str,
    seconds: u64,
    sanitizer: Sanitizer,
) -> Result<Stats> {
    util::note(&format!("fuzzing {target} for {seconds} s"));
    let log_dir = util::target_dir().join("fuzz");
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create {}", log_dir.display()))?;
    let log_path = log_dir.join(format!("{target}.log"));

    // The corpus dir is given explicitly so it is the same whatever the
    // current directory; libFuzzer adds the inputs it finds there (only the
    // committed seed-* files are tracked by git).
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;
    let mut cmd = cargo_fuzz(dir);
    cmd.arg("run")
        .args(common_flags(sanitizer, target_dir))
        .arg(target)
        .arg(&corpus)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg("-print_final_stats=1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // libFuzzer reports on stderr; cargo's own lines go to stdout.
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start cargo fuzz run {target}"))?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let stdout_thread = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let mut log = Vec::new();
    let mut stats = Stats::default();
    let mut artifact = None;
    let mut last_pulse = Instant::now();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(value) = stat(&line, "stat::number_of_executed_units:") {
            stats.runs = value;
        } else if let Some(value) = stat(&line, "stat::average_exec_per_sec:") {
            stats.execs_per_sec = value;
        } else if let Some(path) = line.split("Test unit written to ").nth(1) {
            artifact = Some(path.trim().to_owned());
        }
        // libFuzzer's pulses: "#1234 pulse cov: 300 ft: 900 corp: 80/2Kb ...".
        if let Some(corp) = line.split(" corp: ").nth(1) {
            stats.corpus = corp
                .split('/')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(stats.corpus);
            if last_pulse.elapsed().as_secs() >= 10 {
                util::note(&format!("  {target}: {}", line.trim()));
                last_pulse = Instant::now();
            }
        }
        log.push(line);
    }
    let status = child
        .wait()
        .with_context(|| format!("cargo fuzz run {target} did not finish"))?;
    let stdout_lines = stdout_thread.join().unwrap_or_default();
    log.extend(stdout_lines);
    std::fs::write(&log_path, log.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", log_path.display()))?;

    if status.success() && artifact.is_none() {
        return Ok(stats);
    }
    let tail: Vec<&str> = log
        .iter()
        .rev()
        .take(40)
        .rev()
        .map(String::as_str)
        .collect();
    eprintln!("{}", tail.join("\n"));
    match artifact {
        Some(path) => {
            let path = dir.join(path);
            bail!(
                "crashed ({status}); the input is {} — replay it with \
                 `cd fuzz && cargo +nightly fuzz run {target} {}`; full log: {}",
                path.display(),
                path.display(),
                log_path.display()
            )
        }
        None => bail!(
            "cargo fuzz run {target} failed ({status}) without saving an input; \
             log: {}",
            log_path.display()
        ),
    }
}

fn stat(line: &str, key: &str) -> Option<u64> {
    line.strip_prefix(key)?.trim().parse().ok()
}

/// Build flags shared by `build` and `run`, so `run` reuses the build.
fn common_flags(sanitizer: Sanitizer, target_dir: &Path) -> Vec<String> {
    vec![
        format!("--sanitizer={}", sanitizer.name()),
        // Sixteen codegen units instead of cargo fuzz's one: the build of the
        // service's dependency tree is most of the time on two cores, and the
        // targets lose little speed.
        "--codegen-units=16".to_owned(),
        format!("--target-dir={}", target_dir.display()),
    ]
}

fn fuzz_dir() -> PathBuf {
    util::workspace_root().join("fuzz")
}

/// `cargo +nightly fuzz …` in fuzz/. Through `rustup run`, since `cargo`
/// here may be the stable toolchain's binary rather than rustup's proxy.
fn cargo_fuzz(dir: &Path) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "fuzz"])
        .current_dir(dir);
    cmd
}

fn ensure_nightly() -> Result<()> {
    let list = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .context("rustup is needed for the nightly toolchain cargo fuzz uses")?;
    let installed = String::from_utf8_lossy(&list.stdout)
        .lines()
        .any(|l| l.starts_with("nightly"));
    if !installed {
        util::note("installing the nightly toolchain (cargo fuzz needs it)");
        util::run(Command::new("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))
        .context(
            "cannot install nightly: run `rustup toolchain install nightly --profile minimal`",
        )?;
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> Result<()> {
    let present = cargo_fuzz(&util::workspace_root())
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !present {
        util::note("installing cargo-fuzz from crates.io (about 2 minutes)");
        util::run(util::cargo_command().args(["install", "cargo-fuzz", "--locked"]))
            .context("cannot install cargo-fuzz: run `cargo install cargo-fuzz --locked`")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_declared_in_the_fuzz_manifest() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml"))
            .expect("fuzz/Cargo.toml is readable");
        for target in TARGETS {
            assert!(
                manifest.contains(&format!("name = \"{target}\"")),
                "{target} missing from fuzz/Cargo.toml"
            );
            assert!(
                fuzz_dir()
                    .join("fuzz_targets")
                    .join(format!("{target}.rs"))
                    .is_file()
            );
            let seeds = std::fs::read_dir(fuzz_dir().join("corpus").join(target))
                .expect("a seed corpus per target")
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
                .count();
            assert!(seeds > 0, "no committed seed-* input for {target}");
        }
    }

    #[test]
    fn final_stats_are_read_from_libfuzzer_lines() {
        assert_eq!(
            stat(
                "stat::average_exec_per_sec:   8123",
                "stat::average_exec_per_sec:"
            ),
            Some(8123)
        );
        assert_eq!(
            stat(
                "stat::number_of_executed_units: 5",
                "stat::average_exec_per_sec:"
            ),
            None
        );
    }
}
