//! The harness every test goes through, so that every `wf` a test starts is started the same
//! way: from the built binary, with the test's own home, without colours, with `WF_HOME`
//! removed and with no input unless the test gives some.
//!
//! A `Test` is one test's world: a temporary folder holding the home (`home/`), the scripts the
//! test writes, the storage root (`root/`) and whatever traces its jobs leave. `Test::args`
//! builds one invocation of `wf` there; `run` carries it out and gives a `Ran`, whose checks
//! panic showing the whole of what `wf` printed.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

pub struct Test {
    dir: tempfile::TempDir,
}

impl Test {
    pub fn new() -> Test {
        // The product's TLS provider, which the tests' HTTP clients need too.
        wf::net::install_tls();
        Test {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A path as text, for scripts, commands and arguments.
    pub fn at(&self, rel: &str) -> String {
        self.path(rel).to_str().unwrap().to_string()
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn write(&self, rel: &str, text: &str) -> &Test {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        self
    }

    /// A file the test or its jobs wrote; empty when there is none (a job that did not run).
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    /// How many times a job appended to the counter file `rel`.
    pub fn count(&self, rel: &str) -> usize {
        self.read(rel).lines().count()
    }

    /// `out=ROOT`, for the storage `out` every workflow of `flow` declares.
    pub fn storage(&self) -> String {
        format!("out={}", self.at("root"))
    }

    /// One invocation of `wf ARGS` in this folder, with this home.
    pub fn args(&self, args: &[&str]) -> Wf<'_> {
        Wf {
            test: self,
            args: args.iter().map(|a| a.to_string()).collect(),
            home: self.home(),
            dir: self.dir().to_path_buf(),
            env: Vec::new(),
            stdin: None,
        }
    }

    /// `wf ARGS`, run to its end.
    pub fn wf(&self, args: &[&str]) -> Ran {
        self.args(args).run()
    }

    /// `wf run SCRIPT --storage out=ROOT --json ARGS`.
    pub fn run_flow(&self, script: &str, args: &[&str]) -> Ran {
        let storage = self.storage();
        let mut all = vec!["run", script, "--storage", &storage, "--json"];
        all.extend_from_slice(args);
        self.wf(&all)
    }
}

/// An invocation of `wf` being put together. Apart from `Test` because a test runs many `wf`s
/// in one home, and each may have its own input, environment, home or folder.
pub struct Wf<'a> {
    test: &'a Test,
    args: Vec<String>,
    home: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    stdin: Option<String>,
}

impl Wf<'_> {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Another home than the test's, for tests of a home that is not usable.
    pub fn home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = home.into();
        self
    }

    /// Another working folder than the test's, for scripts named as the user would name them.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wf"));
        c.args(&self.args)
            .arg("--home")
            .arg(&self.home)
            .current_dir(&self.dir)
            .env("NO_COLOR", "1")
            .env("PATH", crate::tools::path())
            .env_remove("WF_HOME")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        c
    }

    fn shown(&self) -> String {
        format!("wf {}", self.args.join(" "))
    }

    /// Runs `wf` to its end. Whatever else the test expects, `wf` must not panic.
    #[track_caller]
    pub fn run(self) -> Ran {
        let mut command = self.command();
        let out: Output = match &self.stdin {
            None => command.output().expect("wf runs"),
            Some(text) => {
                let mut child = command
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("wf starts");
                // Written beside the reading of stdout, lest both pipes fill up; the handle is
                // dropped at the end, which ends wf's input.
                let mut input = child.stdin.take().unwrap();
                let text = text.clone();
                let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
                let out = child.wait_with_output().expect("wf runs");
                writer.join().unwrap().expect("wf reads its input");
                out
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let ran = Ran {
            command: self.shown(),
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        };
        assert!(!ran.stderr.contains("panicked"), "wf panicked: {ran:?}");
        ran
    }

    /// Starts `wf` in the background, for tests that stop or kill it while it runs. Its
    /// stdout and stderr go to `runner.out` and `runner.err` in the test's folder.
    pub fn spawn(self) -> Runner {
        self.spawn_as("runner")
    }

    /// `spawn`, its output in `NAME.out` and `NAME.err`: runners that run at the same time
    /// each need their own.
    pub fn spawn_as(self, name: &str) -> Runner {
        let out = self.test.path(&format!("{name}.out"));
        let err = self.test.path(&format!("{name}.err"));
        let child = self
            .command()
            .stdout(fs::File::create(out).unwrap())
            .stderr(fs::File::create(&err).unwrap())
            .spawn()
            .expect("wf starts");
        Runner { child, err }
    }

    /// The invocation as a line for `sh`, for a terminal that is not ours to spawn from.
    fn shell_line(&self) -> String {
        assert!(self.stdin.is_none(), "at a terminal, the input is typed");
        let mut words = vec!["exec env -u WF_HOME NO_COLOR=1".to_string()];
        words.push(format!(
            "PATH={}",
            sh(&crate::tools::path().to_string_lossy())
        ));
        words.extend(self.env.iter().map(|(k, v)| format!("{k}={}", sh(v))));
        words.push(sh(env!("CARGO_BIN_EXE_wf")));
        words.extend(self.args.iter().map(|a| sh(a)));
        words.push("--home".into());
        words.push(sh(self.home.to_str().unwrap()));
        words.join(" ")
    }
}

/// A word quoted for `sh`.
fn sh(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// What one `wf` invocation did.
pub struct Ran {
    command: String,
    pub code: i32,
    /// Stdout parsed as JSON, `Null` when it is not.
    pub json: Value,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Debug for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout\n{}\n--- stderr\n{}\n---",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

impl Ran {
    #[track_caller]
    pub fn status(&self, code: i32) -> &Ran {
        assert_eq!(self.code, code, "expected exit status {code}: {self:?}");
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, text: &str) -> &Ran {
        assert_eq!(self.stdout, text, "unexpected stdout: {self:?}");
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, text: &str) -> &Ran {
        assert!(
            self.stdout.contains(text),
            "no {text:?} on stdout: {self:?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, text: &str) -> &Ran {
        assert!(
            self.stderr.contains(text),
            "no {text:?} on stderr: {self:?}"
        );
        self
    }

    /// The status of the execution whose record is on stdout.
    pub fn exec_status(&self) -> &str {
        self.json["status"].as_str().unwrap_or("?")
    }

    pub fn id(&self) -> String {
        self.json["execution_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no execution id: {self:?}"))
            .to_string()
    }

    pub fn step(&self, name: &str) -> &Value {
        step(&self.json, name)
    }

    pub fn step_status(&self, name: &str) -> &str {
        step_status(&self.json, name)
    }

    pub fn output_path(&self, step: &str, output: &str) -> String {
        self.step(step)["outputs"][output]["path"]
            .as_str()
            .unwrap_or_else(|| panic!("no path for {step}.{output}: {self:?}"))
            .to_string()
    }
}

/// A `wf` started in the background; killed when dropped, so a failing test leaves no runner
/// behind.
pub struct Runner {
    child: Child,
    err: PathBuf,
}

impl Runner {
    /// Sends a signal by name (`INT`, `TERM`), as a terminal or a supervisor would.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name} failed");
    }

    /// What the runner wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// SIGKILL: the runner dies without a chance to record anything.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.no_panic();
    }

    /// Waits for the runner to end and gives its exit code; kills it when it takes longer than
    /// `timeout` (then `None`).
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.no_panic();
                return Some(status.code().unwrap_or(-1));
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn no_panic(&self) {
        let err = fs::read_to_string(&self.err).unwrap_or_default();
        assert!(!err.contains("panicked"), "the runner panicked:\n{err}");
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Records and processes

pub fn step<'a>(record: &'a Value, name: &str) -> &'a Value {
    record["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no step `{name}` in the record:\n{record:#}"))
}

pub fn step_status<'a>(record: &'a Value, name: &str) -> &'a str {
    step(record, name)["status"].as_str().unwrap_or("?")
}

pub fn step_names(record: &Value) -> Vec<String> {
    record["steps"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| s["name"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `done` until it holds or `timeout` passes; whether it holds.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

/// Whether a process is still alive (a zombie waiting for its reaper counts as gone).
pub fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            // "pid (comm) S ...": the state follows the last ')'.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A terminal through tmux

/// A private tmux server running one `wf` at a 120×60 terminal; killed when dropped, also when
/// the test fails.
pub struct Tmux {
    tmux: PathBuf,
    socket: String,
    /// The socket file, removed with the server.
    path: Option<PathBuf>,
}

impl Tmux {
    /// Starts the invocation at a terminal. Without tmux (and no way to install it) there is
    /// no terminal to test at: `None`, and the test is skipped, saying so (`tools::skip`).
    pub fn start(wf: Wf) -> Option<Tmux> {
        if !crate::tools::need(crate::tools::Tool::Tmux) {
            return None;
        }
        let tmux = crate::tools::which("tmux");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let mut t = Tmux {
            tmux,
            socket: format!("wf-repl-test-{}-{nanos}", std::process::id()),
            path: None,
        };
        let dir = wf.dir.to_str().unwrap();
        let started = t.cmd(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "60",
            "-c",
            dir,
            &wf.shell_line(),
        ]);
        assert!(
            started.status.success(),
            "tmux new-session failed: {started:?}"
        );
        let path = t.cmd(&["display-message", "-p", "#{socket_path}"]).stdout;
        let path = String::from_utf8_lossy(&path).trim().to_string();
        t.path = (!path.is_empty()).then(|| PathBuf::from(path));
        Some(t)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new(&self.tmux)
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs")
    }

    /// Presses keys by tmux's names for them (`C-c`, `Enter`).
    pub fn keys(&self, keys: &str) {
        assert!(self.cmd(&["send-keys", keys]).status.success());
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-S", "-200"]).stdout).to_string()
    }

    /// Types `text` and Enter. Returns the screen as it was before, for `expect_new`.
    pub fn type_line(&self, text: &str) -> String {
        let before = self.screen();
        assert!(self.cmd(&["send-keys", "-l", text]).status.success());
        self.keys("Enter");
        before
    }

    /// Waits until every text of `wanted` appears more often than on the screen `before`.
    pub fn expect_new(&self, before: &str, wanted: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let now = self.screen();
            if wanted
                .iter()
                .all(|w| now.matches(w).count() > before.matches(w).count())
            {
                return now;
            }
            if start.elapsed() > Duration::from_secs(10) {
                panic!("timed out waiting for {wanted:?}; the screen:\n{now}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types a line and waits for the texts, then for the next prompt. Returns what the
    /// input printed: the screen from the last `wf> TEXT` on.
    pub fn step(&self, text: &str, wanted: &[&str]) -> String {
        let before = self.type_line(text);
        let mut all = wanted.to_vec();
        all.push("wf>");
        let screen = self.expect_new(&before, &all);
        let said = after_last(&screen, &format!("wf> {text}"));
        assert!(
            !said.is_empty(),
            "the input `{text}` is not on the screen:\n{screen}"
        );
        said.to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        if let Some(p) = &self.path {
            let _ = fs::remove_file(p);
        }
    }
}

/// The part of the screen after the last occurrence of `marker` (what one input printed).
pub fn after_last<'a>(screen: &'a str, marker: &str) -> &'a str {
    screen.rfind(marker).map(|i| &screen[i..]).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Golden files

/// `UPDATE_GOLDEN=1`: golden files are (re)written from what `wf` prints, not compared.
pub fn update_golden() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with the golden file `path`, or writes it under `UPDATE_GOLDEN=1`. A
/// missing golden is a failure: a test that compares with nothing proves nothing.
pub fn check_golden(path: &Path, actual: &str) -> Result<(), String> {
    if update_golden() {
        if fs::read_to_string(path).ok().as_deref() != Some(actual) {
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, actual)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            eprintln!("UPDATE_GOLDEN: wrote {}", path.display());
        }
        return Ok(());
    }
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => Ok(()),
        Ok(expected) => Err(format!(
            "{} differs:\n{}",
            path.display(),
            describe_mismatch(&expected, actual)
        )),
        Err(e) => Err(format!(
            "{} is missing ({e}); run with UPDATE_GOLDEN=1 to write it. actual:\n{actual}\n",
            path.display()
        )),
    }
}

/// Renders the first differing line of two texts with both full texts, for a readable failure.
fn describe_mismatch(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let mut msg = match (0..e.len().max(a.len())).find(|&i| e.get(i) != a.get(i)) {
        Some(i) => format!(
            "  first difference at line {}:\n  - expected: {:?}\n  + actual:   {:?}\n",
            i + 1,
            e.get(i).copied().unwrap_or("<end of text>"),
            a.get(i).copied().unwrap_or("<end of text>")
        ),
        None => "  (texts differ only in trailing newlines)\n".to_string(),
    };
    msg += "  --- expected\n";
    for l in &e {
        msg += &format!("  -{l}\n");
    }
    msg += "  +++ actual\n";
    for l in &a {
        msg += &format!("  +{l}\n");
    }
    msg
}

// ---------------------------------------------------------------------------------------------
// Writing workflows
//
// Jobs are tiny `sh -c` commands that leave traces in the test's folder: a counter file gets
// one line per run of a job, so a test can prove what ran and how often.

/// A Rhai string literal.
pub fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A job step, bound to a script variable of its name (so later steps can use its outputs).
/// By default it reads the script's folder as input `data` and writes the directory output `out`
/// under the `out` storage.
pub struct Job {
    name: String,
    command: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    params: Vec<(String, String)>,
    depends: Vec<String>,
    policy: Option<String>,
}

pub fn job(name: &str, command: &str) -> Job {
    Job {
        name: name.into(),
        command: command.into(),
        inputs: vec![input("data", r#"wf.data.OBSPath(".")"#)],
        outputs: vec![dir_output("out", name)],
        params: vec![],
        depends: vec![],
        policy: None,
    }
}

/// `wf.steps.JobInput(NAME, DATA)`.
pub fn input(name: &str, data: &str) -> String {
    format!("wf.steps.JobInput({}, {data})", q(name))
}

/// A directory output at `storage.join(DIR)`.
pub fn dir_output(name: &str, dir: &str) -> String {
    format!(
        "wf.steps.JobOutput({}, #{{ obs_config: wf.data.OBSOutputConfig(storage.join({})) }})",
        q(name),
        q(dir)
    )
}

/// A metrics output `metrics` at `storage.join(FILE, #{ create_dir: false })`.
pub fn metrics_output(file: &str) -> String {
    format!(
        "wf.steps.JobOutput(\"metrics\", #{{ metrics_config: wf.data.MetricsConfig(storage.join({}, #{{ create_dir: false }})) }})",
        q(file)
    )
}

impl Job {
    pub fn inputs(mut self, inputs: &[&str]) -> Job {
        self.inputs = inputs.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn outputs(mut self, outputs: &[&str]) -> Job {
        self.outputs = outputs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// A hyperparameter; `value` is Rhai (a literal or a placeholder variable).
    pub fn param(mut self, name: &str, value: &str) -> Job {
        self.params.push((name.into(), value.into()));
        self
    }

    pub fn after(mut self, steps: &[&str]) -> Job {
        self.depends = steps.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn policy(mut self, policy: &str) -> Job {
        self.policy = Some(policy.into());
        self
    }

    pub fn rhai(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| format!("wf.AlgorithmParameters({}, {v})", q(k)))
            .collect();
        let mut s = format!(
            "let {name} = wf.steps.JobStep(#{{\n    name: {qname},\n    \
             algorithm: wf.BaseAlgorithm(#{{ command: {cmd}, parameters: [{params}] }}),\n    \
             spec: wf.steps.JobSpec(#{{ resource: wf.steps.JobResource(#{{ flavor: \"cpu.small\" }}) }}),\n    \
             inputs: [{inputs}],\n    outputs: [{outputs}],\n",
            name = self.name,
            qname = q(&self.name),
            cmd = q(&self.command),
            params = params.join(", "),
            inputs = self.inputs.join(",\n        "),
            outputs = self.outputs.join(",\n        "),
        );
        if !self.depends.is_empty() {
            s += &format!("    depend_steps: [{}],\n", self.depends.join(", "));
        }
        if let Some(p) = &self.policy {
            s += &format!("    policy: {p},\n");
        }
        s + "});\n"
    }
}

/// The declaration of the output storage `out` every workflow here writes to.
pub const STORAGE: &str = "let storage = wf.data.OutputStorage(#{ name: \"out\" });\n";

/// A whole script: the output storage `out`, then `body` (placeholders, conditions, ...), then
/// the jobs, then the workflow of `steps` (variable names, in order).
pub fn flow(name: &str, body: &str, jobs: &[Job], steps: &[&str]) -> String {
    let mut s = String::from(STORAGE);
    s += body;
    s += "\n";
    for j in jobs {
        s += &j.rhai();
    }
    s += &format!(
        "wf.Workflow(#{{ name: {}, desc: \"test workflow\", steps: [{}], storages: [storage] }})\n",
        q(name),
        steps.join(", ")
    );
    s
}

/// A command that appends one line to the counter file `path`.
pub fn tick(path: &str) -> String {
    format!("echo run >> '{path}'")
}
