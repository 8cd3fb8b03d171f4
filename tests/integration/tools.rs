//! The tools some suites need beyond Rust and Python 3, provided by the test run itself, so
//! that `cargo test` passes on a fresh machine and says plainly what it could not test.
//!
//! A test that needs a tool asks `need(Tool::X)` first. When the tool is missing it is
//! installed, once per test binary and under a file lock (parallel tests and test binaries do
//! not race):
//!
//! - what pip provides (Ray, PySpark, jupyter_client and nbconvert) into a virtual environment
//!   under the target folder, `target/wf-test-venv`, made with `--system-site-packages` so that
//!   its `python3` is the system's plus those packages; once it exists, every `wf` the harness
//!   starts has its `bin/` first on PATH;
//! - what needs root (Debian's tmux, chromium and chromium-driver, a Java runtime, slurm-wlm)
//!   with `apt-get install -y` when the tests run as root.
//!
//! When that is not possible (no network, not root, `WF_TEST_INSTALL=0`) the test is skipped:
//! it says so on stderr at once, past the test harness's capture, and the skip is written to
//! `target/wf-test-skips.txt` (or `$WF_TEST_SKIP_FILE`). The test binary ends with a summary
//! of every skipped suite and the line that installs its tool, unless `WF_TEST_SUMMARY=0`:
//! `scripts/test` sets it and prints the summary from the file after all of `cargo test`.
//!
//! `WF_NO_SKIP=1` (CI sets it) turns every skip into a failure. `WF_TEST_INSTALL` chooses what
//! the tests may install: unset, pip packages and, as root, Debian packages; `pip`, only pip
//! packages (as a user who is not root would); `0`, nothing. `WF_SKIP_MISSING_TOOLS=1`, the
//! older name, means `WF_TEST_INSTALL=0`.

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

/// The pins, the same as `.ci/install-pools` and `.ci/install-spark`.
pub const RAY: &str = "ray[default]==2.60.0";
pub const PYSPARK: &str = "pyspark==4.3.0";

/// What a suite needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tool {
    /// A terminal to drive the REPL at.
    Tmux,
    /// Headless Chromium and chromedriver, for the console.
    Browser,
    /// PySpark's spark-submit and a Java runtime.
    Spark,
    /// jupyter_client and nbconvert, which drive the notebook kernel.
    Jupyter,
    /// Ray with its dashboard, for Ray pools.
    Ray,
    /// Slurm's daemons and commands, for Slurm pools (started by `.ci/slurm-up`, as root).
    Slurm,
    /// Root, for what only root may do (bind mounts).
    Root,
}

const ALL: [Tool; 7] = [
    Tool::Tmux,
    Tool::Browser,
    Tool::Spark,
    Tool::Jupyter,
    Tool::Ray,
    Tool::Slurm,
    Tool::Root,
];

impl Tool {
    /// The suite that needs it, as the summary names it.
    pub fn suite(self) -> &'static str {
        match self {
            Tool::Tmux => "the REPL at a terminal (tmux)",
            Tool::Browser => "the console in a browser (Chromium, chromedriver)",
            Tool::Spark => "Spark on the local cluster (PySpark, Java)",
            Tool::Jupyter => "the notebook kernel (jupyter_client, nbconvert)",
            Tool::Ray => "Ray pools (Ray)",
            Tool::Slurm => "Slurm pools (slurm-wlm, munge)",
            Tool::Root => "what only root may do (bind mounts)",
        }
    }

    /// Debian's packages for it, installed as root.
    fn apt(self) -> &'static [&'static str] {
        match self {
            Tool::Tmux => &["tmux"],
            Tool::Browser => &["chromium", "chromium-driver"],
            Tool::Spark => &["openjdk-17-jre-headless"],
            Tool::Slurm => &["slurm-wlm", "munge"],
            Tool::Jupyter | Tool::Ray | Tool::Root => &[],
        }
    }

    /// PyPI's packages for it, installed into the tests' virtual environment.
    fn pip(self) -> &'static [&'static str] {
        match self {
            Tool::Spark => &[PYSPARK],
            Tool::Jupyter => &["jupyter_client", "nbconvert"],
            Tool::Ray => &[RAY],
            Tool::Tmux | Tool::Browser | Tool::Slurm | Tool::Root => &[],
        }
    }

    /// The one line that gives this machine the tool.
    pub fn install_line(self) -> String {
        let mut parts = Vec::new();
        if !self.apt().is_empty() {
            parts.push(format!("sudo apt-get install -y {}", self.apt().join(" ")));
        }
        if !self.pip().is_empty() {
            let pkgs: Vec<String> = self.pip().iter().map(|p| shell_word(p)).collect();
            parts.push(format!(
                "python3 -m pip install {} (the tests put it into {} themselves when PyPI answers)",
                pkgs.join(" "),
                venv_dir().display()
            ));
        }
        match self {
            Tool::Slurm => parts.push("and run the tests as root, which start it".into()),
            Tool::Root => {
                parts.push("nothing; run the tests as root (sudo -E scripts/test)".into())
            }
            _ => {}
        }
        parts.join("; ")
    }

    /// Why it is not usable here, or `None` when it is.
    fn missing(self) -> Option<String> {
        match self {
            Tool::Tmux => which_opt("tmux")
                .is_none()
                .then(|| "tmux is not on PATH".into()),
            Tool::Browser => {
                let chromium =
                    std::env::var_os("CHROMIUM").is_some() || which_opt("chromium").is_some();
                let driver = std::env::var_os("CHROMEDRIVER").is_some()
                    || which_opt("chromedriver").is_some();
                match (chromium, driver) {
                    (true, true) => None,
                    (false, false) => Some("chromium and chromedriver are not on PATH".into()),
                    (false, true) => Some("chromium is not on PATH".into()),
                    (true, false) => Some("chromedriver is not on PATH".into()),
                }
            }
            Tool::Spark => {
                let java = std::env::var_os("JAVA_HOME")
                    .is_some_and(|h| Path::new(&h).join("bin/java").is_file())
                    || which_opt("java").is_some();
                let pyspark = python_imports("pyspark");
                match (java, pyspark) {
                    (true, true) => None,
                    (false, false) => {
                        Some("neither a Java runtime nor PySpark is installed".into())
                    }
                    (false, true) => Some("no Java runtime (`java`) is on PATH".into()),
                    (true, false) => Some("PySpark is not installed".into()),
                }
            }
            Tool::Jupyter => {
                if !python_imports("jupyter_client") {
                    Some("jupyter_client is not installed".into())
                } else if !python_imports("nbconvert") || which_opt("jupyter").is_none() {
                    Some("nbconvert (`jupyter nbconvert`) is not installed".into())
                } else {
                    None
                }
            }
            Tool::Ray => (which_opt("ray").is_none() || !python_imports("ray.dashboard"))
                .then(|| "Ray with its dashboard (`ray[default]`) is not installed".into()),
            Tool::Slurm => ["slurmctld", "slurmd", "munged", "sbatch", "sinfo"]
                .iter()
                .find(|c| which_opt(c).is_none())
                .map(|c| format!("Slurm is not installed (no `{c}` on PATH)")),
            Tool::Root => (!is_root()).then(|| format!("the tests run as uid {}, not root", uid())),
        }
    }

    fn index(self) -> usize {
        ALL.iter().position(|t| *t == self).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Asking for a tool

/// Whether `tool` is usable, installing it first when it is missing and that is allowed. When
/// it is not usable the test is skipped (said and recorded, see `skip`): the caller returns.
#[must_use]
pub fn need(tool: Tool) -> bool {
    match provide(tool) {
        Ok(()) => true,
        Err(why) => {
            skip(tool, &why);
            false
        }
    }
}

/// The tool, installed when missing and allowed (once per test binary); else why it is not.
pub fn provide(tool: Tool) -> Result<(), String> {
    static CELLS: [OnceLock<Result<(), String>>; ALL.len()] =
        [const { OnceLock::new() }; ALL.len()];
    CELLS[tool.index()]
        .get_or_init(|| {
            let Some(why) = tool.missing() else {
                return Ok(());
            };
            if tool == Tool::Root {
                return Err(why);
            }
            if allowed() == Allowed::Nothing {
                let var = if std::env::var("WF_SKIP_MISSING_TOOLS").as_deref() == Ok("1") {
                    "WF_SKIP_MISSING_TOOLS=1"
                } else {
                    "WF_TEST_INSTALL=0"
                };
                return Err(format!("{why}, and {var} installs nothing"));
            }
            let _lock = InstallLock::take();
            // Another test binary may have installed it while this one waited.
            let Some(why) = tool.missing() else {
                return Ok(());
            };
            install(tool, &why)?;
            match tool.missing() {
                None => Ok(()),
                Some(still) => Err(format!("{why}; after installing, still: {still}")),
            }
        })
        .clone()
}

/// What the tests may install (`WF_TEST_INSTALL`, `WF_SKIP_MISSING_TOOLS`).
#[derive(PartialEq, Eq)]
enum Allowed {
    Nothing,
    Pip,
    PipAndApt,
}

fn allowed() -> Allowed {
    if std::env::var("WF_SKIP_MISSING_TOOLS").as_deref() == Ok("1") {
        return Allowed::Nothing;
    }
    match std::env::var("WF_TEST_INSTALL").as_deref() {
        Ok("0") | Ok("none") | Ok("no") => Allowed::Nothing,
        Ok("pip") => Allowed::Pip,
        _ if is_root() => Allowed::PipAndApt,
        _ => Allowed::Pip,
    }
}

/// Installs what `tool` lacks, or says why it cannot.
fn install(tool: Tool, why: &str) -> Result<(), String> {
    let allowed = allowed();
    if !tool.apt().is_empty() && apt_needed(tool) {
        if allowed != Allowed::PipAndApt {
            return Err(if is_root() {
                format!("{why}, and WF_TEST_INSTALL=pip installs no Debian package")
            } else {
                format!(
                    "{why}, and installing it needs root (the tests run as uid {})",
                    uid()
                )
            });
        }
        apt_install(tool.apt())?;
    }
    if !tool.pip().is_empty() {
        pip_install(tool.pip())?;
    }
    Ok(())
}

/// Whether the Debian part of `tool` is what is missing (Spark's Java, say, and not PySpark).
fn apt_needed(tool: Tool) -> bool {
    match tool {
        Tool::Spark => {
            !(std::env::var_os("JAVA_HOME")
                .is_some_and(|h| Path::new(&h).join("bin/java").is_file())
                || which_opt("java").is_some())
        }
        _ => tool.missing().is_some(),
    }
}

/// `apt-get install -y PKGS`, after one `apt-get update` per test binary.
fn apt_install(pkgs: &[&str]) -> Result<(), String> {
    if which_opt("apt-get").is_none() {
        return Err(format!(
            "there is no apt-get here to install {}",
            pkgs.join(" ")
        ));
    }
    say(&format!(
        "installing {} with apt-get for the tests (once)",
        pkgs.join(" ")
    ));
    static UPDATED: OnceLock<()> = OnceLock::new();
    UPDATED.get_or_init(|| {
        let _ = quiet(Command::new("apt-get").args(["update", "-qq"]));
    });
    let out = quiet(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(pkgs)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("apt-get cannot be run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`apt-get install -y {}` failed: {}",
            pkgs.join(" "),
            tail(&out.stderr)
        ))
    }
}

/// `pip install PKGS` into the tests' virtual environment, made first when there is none.
fn pip_install(pkgs: &[&str]) -> Result<(), String> {
    let venv = make_venv()?;
    say(&format!(
        "installing {} into {} for the tests (once; this takes minutes)",
        pkgs.join(" "),
        venv.display()
    ));
    let out = quiet(
        Command::new(venv.join("bin/python3"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(pkgs),
    )
    .map_err(|e| format!("the virtual environment's python3 cannot be run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`pip install {}` into {} failed (is PyPI reachable?): {}",
            pkgs.join(" "),
            venv.display(),
            tail(&out.stderr)
        ))
    }
}

/// The tests' virtual environment, made (under the install lock) when it is not there yet.
fn make_venv() -> Result<PathBuf, String> {
    let dir = venv_dir();
    if venv_ready().is_some() {
        return Ok(dir);
    }
    // Left half made by an interrupted run: made again.
    let _ = fs::remove_dir_all(&dir);
    let Some(python) = which_opt("python3") else {
        return Err("there is no python3 on PATH to make a virtual environment with".into());
    };
    say(&format!(
        "making the tests' virtual environment {} (once)",
        dir.display()
    ));
    let venv = || {
        let out = quiet(
            Command::new(&python)
                .args(["-m", "venv", "--system-site-packages"])
                .arg(&dir),
        )
        .map_err(|e| format!("{} cannot be run: {e}", python.display()))?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&dir);
        }
        Ok::<_, String>(out)
    };
    let mut out = venv()?;
    // Debian's python3 makes virtual environments only with python3-venv.
    if !out.status.success() && allowed() == Allowed::PipAndApt && which_opt("apt-get").is_some() {
        apt_install(&["python3-venv"])?;
        out = venv()?;
    }
    if !out.status.success() {
        return Err(format!(
            "`python3 -m venv {}` failed (Debian: apt-get install python3-venv): {}",
            dir.display(),
            tail(&out.stderr)
        ));
    }
    fs::write(dir.join(READY), "made by the wf tests\n")
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    Ok(dir)
}

// ---------------------------------------------------------------------------------------------
// Where things are

/// The marker of a finished virtual environment.
const READY: &str = "wf-test-ready";

/// Cargo's target folder (`target/`, or `$CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).to_path_buf()
}

pub fn venv_dir() -> PathBuf {
    target_dir().join("wf-test-venv")
}

/// The virtual environment's `bin/`, once it is finished.
fn venv_ready() -> Option<PathBuf> {
    let dir = venv_dir();
    dir.join(READY)
        .is_file()
        .then(|| dir.join("bin"))
        .filter(|b| b.join("python3").exists())
}

/// PATH for the processes the tests start: the virtual environment's `bin/` first, when there
/// is one.
pub fn path() -> OsString {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let Some(bin) = venv_ready() else {
        return current;
    };
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&current));
    std::env::join_paths(dirs).unwrap_or(current)
}

/// The command `name` as the tests' processes find it (see `path`), else the bare name.
pub fn which(name: &str) -> PathBuf {
    which_opt(name).unwrap_or_else(|| PathBuf::from(name))
}

fn which_opt(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&path())
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The `python3` of the tests: the virtual environment's when there is one.
pub fn python() -> PathBuf {
    which("python3")
}

fn python_imports(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn is_root() -> bool {
    uid() == 0
}

/// A command run to its end with its output kept (not shown), and no input.
fn quiet(c: &mut Command) -> std::io::Result<Output> {
    c.stdin(Stdio::null()).output()
}

/// The last lines of a command's stderr, for an error.
fn tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" / ")
}

fn shell_word(w: &str) -> String {
    if w.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.=/".contains(c))
    {
        w.to_string()
    } else {
        format!("\"{w}\"")
    }
}

/// Writes a line to stderr past the test harness's capture, so that it is seen.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "wf tests: {line}");
}

/// Serialises installs between the tests of this binary and other test binaries.
struct InstallLock(#[allow(dead_code)] fs::File);

impl InstallLock {
    fn take() -> Option<InstallLock> {
        let dir = target_dir();
        fs::create_dir_all(&dir).ok()?;
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("wf-test-install.lock"))
            .ok()?;
        file.lock().ok()?;
        Some(InstallLock(file))
    }
}

// ---------------------------------------------------------------------------------------------
// Skips

struct Skip {
    suite: &'static str,
    test: String,
    why: String,
    install: String,
}

static SKIPS: Mutex<Vec<Skip>> = Mutex::new(Vec::new());

/// The file the skips are written to: `$WF_TEST_SKIP_FILE`, else `target/wf-test-skips.txt`.
pub fn skip_file() -> PathBuf {
    std::env::var_os("WF_TEST_SKIP_FILE")
        .filter(|f| !f.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("wf-test-skips.txt"))
}

/// Skips the running test for want of `tool`: says so on stderr now, writes it to the skip
/// file and to the binary's closing summary. Under `WF_NO_SKIP=1` it fails the test instead.
pub fn skip(tool: Tool, why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let install = tool.install_line();
    if std::env::var("WF_NO_SKIP").as_deref() == Ok("1") {
        panic!("{test} cannot run: {why}. WF_NO_SKIP=1 allows no skip; to install: {install}");
    }
    say(&format!(
        "SKIPPED {test}: {why}. It tests nothing here; to install: {install}"
    ));
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let line = format!(
        "{}\t{}\t{}\t{}\n",
        tool.suite(),
        clean(&test),
        clean(why),
        clean(&install)
    );
    let file = skip_file();
    if let Some(dir) = file.parent() {
        let _ = fs::create_dir_all(dir);
    }
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&file) {
        let _ = f.write_all(line.as_bytes());
    }
    let mut skips = SKIPS.lock().unwrap_or_else(|e| e.into_inner());
    if skips.is_empty() && std::env::var("WF_TEST_SUMMARY").as_deref() != Ok("0") {
        // SAFETY: registers a plain function to run when the test binary exits.
        unsafe {
            libc::atexit(print_summary);
        }
    }
    skips.push(Skip {
        suite: tool.suite(),
        test,
        why: why.to_string(),
        install,
    });
}

/// The closing summary of the skips: each suite, how many of its tests, why and the install
/// line. The same text as `scripts/test` prints from the skip file.
fn summary(skips: &[Skip]) -> String {
    let mut suites: Vec<&'static str> = Vec::new();
    for s in skips {
        if !suites.contains(&s.suite) {
            suites.push(s.suite);
        }
    }
    let mut out = format!(
        "\n==== wf tests: {} suite(s) SKIPPED, not tested on this machine ====\n",
        suites.len()
    );
    for suite in suites {
        let mine: Vec<&Skip> = skips.iter().filter(|s| s.suite == suite).collect();
        let mut tests: Vec<&str> = mine.iter().map(|s| s.test.as_str()).collect();
        tests.sort();
        tests.dedup();
        out += &format!("SKIPPED {suite}: {} test(s)\n", tests.len());
        out += &format!("    why: {}\n", mine[0].why);
        out += &format!("    install: {}\n", mine[0].install);
    }
    out += "WF_NO_SKIP=1 turns a skip into a failure.\n";
    out
}

extern "C" fn print_summary() {
    let Ok(skips) = SKIPS.try_lock() else {
        return;
    };
    if !skips.is_empty() {
        let _ = std::io::stderr().write_all(summary(&skips).as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Tests of the above

/// Runs `c` with stdout and stderr in one file, as a terminal shows them: its exit status and
/// what it printed, in order.
fn merged(c: &mut Command, out: &Path) -> (i32, String) {
    let f = fs::File::create(out).unwrap();
    let status = c
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .status()
        .expect("the command runs");
    (
        status.code().unwrap_or(-1),
        fs::read_to_string(out).unwrap_or_default(),
    )
}

/// This test binary run on the REPL's terminal test alone, with a PATH that has no tmux, no
/// install allowed unless `env` says otherwise, and the skips written to `dir/skips.txt`.
fn run_repl_test_without_tmux(dir: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let empty = dir.join("bin");
    fs::create_dir_all(&empty).unwrap();
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "repl::repl_at_a_terminal_debugs_a_workflow_phase_by_phase",
        "--exact",
        "--test-threads=1",
    ])
    .env("PATH", &empty)
    .env("WF_TEST_INSTALL", "0")
    .env("WF_TEST_SKIP_FILE", dir.join("skips.txt"))
    .env_remove("WF_NO_SKIP")
    .env_remove("WF_TEST_SUMMARY")
    .env_remove("WF_SKIP_MISSING_TOOLS")
    .envs(env.iter().copied());
    merged(&mut c, &dir.join("out.txt"))
}

const REPL_TEST: &str = "repl::repl_at_a_terminal_debugs_a_workflow_phase_by_phase";

#[test]
fn a_test_whose_tool_is_missing_says_it_is_skipped_and_the_run_ends_with_a_summary() {
    let t = crate::test::Test::new();
    let (code, out) = run_repl_test_without_tmux(t.dir(), &[]);
    assert_eq!(code, 0, "{out}");
    // At once, past the capture: the test, why, and how to install.
    assert!(
        out.contains(&format!(
            "wf tests: SKIPPED {REPL_TEST}: tmux is not on PATH, and WF_TEST_INSTALL=0 installs \
             nothing. It tests nothing here; to install: sudo apt-get install -y tmux"
        )),
        "{out}"
    );
    // At the end, after libtest's result: the suite, its count, why and the install line.
    let result = out.find("test result: ok. 1 passed").expect(&out);
    let summary = out
        .find("==== wf tests: 1 suite(s) SKIPPED, not tested on this machine ====")
        .expect(&out);
    assert!(summary > result, "the summary is not at the end:\n{out}");
    assert!(
        out[summary..].contains(
            "SKIPPED the REPL at a terminal (tmux): 1 test(s)\n    why: tmux is not on PATH, \
             and WF_TEST_INSTALL=0 installs nothing\n    install: sudo apt-get install -y tmux\n"
        ),
        "{out}"
    );
    // And in the skip file, for scripts/test.
    assert_eq!(
        t.read("skips.txt"),
        format!(
            "the REPL at a terminal (tmux)\t{REPL_TEST}\ttmux is not on PATH, and \
             WF_TEST_INSTALL=0 installs nothing\tsudo apt-get install -y tmux\n"
        )
    );
}

#[test]
fn under_wf_no_skip_a_missing_tool_fails_its_test() {
    let t = crate::test::Test::new();
    let (code, out) = run_repl_test_without_tmux(t.dir(), &[("WF_NO_SKIP", "1")]);
    assert_eq!(code, 101, "{out}");
    assert!(
        out.contains(&format!(
            "{REPL_TEST} cannot run: tmux is not on PATH, and WF_TEST_INSTALL=0 installs \
             nothing. WF_NO_SKIP=1 allows no skip; to install: sudo apt-get install -y tmux"
        )),
        "{out}"
    );
    assert!(
        out.contains("test result: FAILED. 0 passed; 1 failed"),
        "{out}"
    );
    assert!(!out.contains("SKIPPED"), "{out}");
    assert!(!t.path("skips.txt").exists());
}

#[test]
fn without_root_apt_tools_are_skipped_naming_what_is_needed() {
    // As a user who is not root: pip only. The summary is left to the caller.
    let t = crate::test::Test::new();
    let (code, out) = run_repl_test_without_tmux(
        t.dir(),
        &[("WF_TEST_INSTALL", "pip"), ("WF_TEST_SUMMARY", "0")],
    );
    assert_eq!(code, 0, "{out}");
    let why = if is_root() {
        "tmux is not on PATH, and WF_TEST_INSTALL=pip installs no Debian package".to_string()
    } else {
        format!(
            "tmux is not on PATH, and installing it needs root (the tests run as uid {})",
            uid()
        )
    };
    assert!(
        out.contains(&format!("wf tests: SKIPPED {REPL_TEST}: {why}.")),
        "{out}"
    );
    assert!(
        !out.contains("===="),
        "WF_TEST_SUMMARY=0 prints no summary:\n{out}"
    );
    assert!(t.read("skips.txt").contains(&why), "{out}");
}

#[test]
fn scripts_test_runs_cargo_test_then_lists_the_skipped_suites_and_keeps_its_status() {
    use std::os::unix::fs::PermissionsExt;
    let t = crate::test::Test::new();
    // A stand-in cargo that says how it was called and skips three tests of two suites, one
    // of them twice.
    t.write(
        "bin/cargo",
        "#!/bin/sh\n\
         echo \"cargo $* summary=$WF_TEST_SUMMARY\"\n\
         printf 'suite A\\tm::one\\tno a\\tapt-get install a\\n' >> \"$WF_TEST_SKIP_FILE\"\n\
         printf 'suite B\\tm::two\\tno b\\tpip install b\\n' >> \"$WF_TEST_SKIP_FILE\"\n\
         printf 'suite A\\tm::three\\tno a\\tapt-get install a\\n' >> \"$WF_TEST_SKIP_FILE\"\n\
         printf 'suite A\\tm::one\\tno a\\tapt-get install a\\n' >> \"$WF_TEST_SKIP_FILE\"\n\
         exit \"$FAKE_STATUS\"\n",
    );
    fs::set_permissions(t.path("bin/cargo"), fs::Permissions::from_mode(0o755)).unwrap();
    // A skip file left by an earlier run is not this run's.
    t.write(
        "target/wf-test-skips.txt",
        "old suite\tm::old\tgone\tnothing\n",
    );
    let path = std::env::join_paths(std::iter::once(t.path("bin")).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let script = Path::new(crate::test::MANIFEST_DIR).join("scripts/test");
    for status in [0, 101] {
        let (code, out) = merged(
            Command::new(&script)
                .args(["--test", "integration"])
                .env("PATH", &path)
                .env("CARGO_TARGET_DIR", t.path("target"))
                .env("FAKE_STATUS", status.to_string()),
            &t.path("out.txt"),
        );
        assert_eq!(code, status, "{out}");
        let ran = out
            .find("cargo test --test integration summary=0")
            .expect(&out);
        let summary = out
            .find("==== wf tests: 2 suite(s) SKIPPED, not tested on this machine ====\n")
            .expect(&out);
        assert!(ran < summary, "{out}");
        assert!(
            out[summary..].ends_with(
                "SKIPPED suite A: 2 test(s)\n    why: no a\n    install: apt-get install a\n\
                 SKIPPED suite B: 1 test(s)\n    why: no b\n    install: pip install b\n\
                 WF_NO_SKIP=1 turns a skip into a failure.\n"
            ),
            "{out}"
        );
        assert!(!out.contains("old suite"), "{out}");
    }
    // A run that skipped nothing says so.
    t.write("bin/cargo", "#!/bin/sh\nexit 0\n");
    let (code, out) = merged(
        Command::new(&script)
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", t.path("target")),
        &t.path("out.txt"),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, "wf tests: nothing was skipped.\n");
}

#[test]
fn every_skip_goes_through_the_harness() {
    // A test that passes without testing must say so where it is seen and in the summary:
    // through `skip`, not a print of its own and an early return.
    let dir = Path::new(crate::test::MANIFEST_DIR).join("tests/integration");
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir).unwrap().flatten() {
        let p = entry.path();
        if p.file_name().is_some_and(|n| n == "tools.rs") || p.extension().is_none_or(|x| x != "rs")
        {
            continue;
        }
        let text = fs::read_to_string(&p).unwrap();
        if text.contains("WF_SKIP_MISSING_TOOLS") {
            found.push(format!("{} reads WF_SKIP_MISSING_TOOLS", p.display()));
        }
        for print in ["eprintln!(", "writeln!(std::io::stderr()"] {
            for (at, _) in text.match_indices(print) {
                let statement = &text[at..text[at..].find(';').map_or(text.len(), |e| at + e)];
                if statement.to_lowercase().contains("skip") {
                    found.push(format!("{}: {statement}", p.display()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "skips that bypass crate::tools::skip:\n{}",
        found.join("\n")
    );
}
