//! A backend whose every step does what its test scripts: succeed after a while, fail a
//! number of times (or for good), hang until stopped, wait for company, need a flavor. It
//! keeps a log of what it was asked and how many of its steps ran at once.
//!
//! Tests run side by side in one process, each in a home of its own: a [`Fake`] is found by
//! the home of the execution that plans with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Map;

use crate::exec::backend::{Attempt, Backend, BoxFuture, Plan, PlanCtx, StepEnd, Work};
use crate::model::kind::StepKind;
use crate::model::workflow::Step;
use crate::pools::flavors::Flavor;

/// What one step does, on every attempt.
#[derive(Debug, Clone, Default)]
pub struct Act {
    /// How long an attempt takes; 0 ends it on its first poll.
    ms: u64,
    /// Attempts that fail before one succeeds.
    fail_first: u32,
    /// Its failures say retrying cannot help.
    permanent: bool,
    /// It runs until its token is cancelled.
    hang: bool,
    /// It ends only once this many of the fake's steps ran at once (then after `ms`).
    company: usize,
    /// A flavor id of this machine, or `huge` (more than the machine has).
    flavor: Option<String>,
    /// Planning it fails with this.
    plan_error: Option<String>,
    /// Each attempt tells the person watching this, and keeps `{"attempt": n}` as its
    /// detail, when it starts.
    say: Option<String>,
}

/// A step that succeeds after `ms` milliseconds.
pub fn ok(ms: u64) -> Act {
    Act {
        ms,
        ..Act::default()
    }
}

/// A step that runs until it is stopped.
pub fn hang() -> Act {
    Act {
        hang: true,
        ..Act::default()
    }
}

impl Act {
    /// Its first `n` attempts fail.
    pub fn fails(mut self, n: u32) -> Act {
        self.fail_first = n;
        self
    }

    /// Its failures say retrying cannot help.
    pub fn permanently(mut self) -> Act {
        self.permanent = true;
        self
    }

    pub fn flavor(mut self, id: &str) -> Act {
        self.flavor = Some(id.to_string());
        self
    }

    /// It waits until `n` of the fake's steps ran at once.
    pub fn with_company(mut self, n: usize) -> Act {
        self.company = n;
        self
    }

    pub fn saying(mut self, text: &str) -> Act {
        self.say = Some(text.to_string());
        self
    }

    pub fn refused(mut self, why: &str) -> Act {
        self.plan_error = Some(why.to_string());
        self
    }
}

/// One test's backend: what each step does, and what happened.
#[derive(Default)]
pub struct Fake {
    acts: Mutex<HashMap<String, Act>>,
    /// `a planned`, `a#1 start`, `a#1 executed`, `a#2 failed`, `a#1 stopped`, ...
    log: Mutex<Vec<String>>,
    changed: Condvar,
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Each home with its fake.
type Homes = Mutex<Vec<(PathBuf, Arc<Fake>)>>;

fn homes() -> &'static Homes {
    static HOMES: OnceLock<Homes> = OnceLock::new();
    HOMES.get_or_init(Mutex::default)
}

impl Fake {
    /// The fake that plans the steps of every execution in `home`.
    pub fn install(home: &Path) -> Arc<Fake> {
        let fake = Arc::new(Fake::default());
        homes()
            .lock()
            .unwrap()
            .push((home.to_path_buf(), fake.clone()));
        fake
    }

    fn of(home: &Path) -> Arc<Fake> {
        homes()
            .lock()
            .unwrap()
            .iter()
            .find(|(h, _)| h == home)
            .map(|(_, f)| f.clone())
            .unwrap_or_else(|| panic!("no fake backend installed for {}", home.display()))
    }

    /// Clean-ups and sweeps of `exec` (which name no home) are this fake's too.
    pub fn adopt(self: &Arc<Fake>, exec: &str) {
        homes()
            .lock()
            .unwrap()
            .push((PathBuf::from(exec), self.clone()));
    }

    fn of_exec(exec: &str) -> Option<Arc<Fake>> {
        homes()
            .lock()
            .unwrap()
            .iter()
            .find(|(h, _)| h.as_os_str() == exec)
            .map(|(_, f)| f.clone())
    }

    pub fn script(&self, step: &str, act: Act) -> &Fake {
        self.acts.lock().unwrap().insert(step.to_string(), act);
        self
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// The log entries about `step`, without the step's name.
    pub fn of_step(&self, step: &str) -> Vec<String> {
        self.log()
            .iter()
            .filter_map(|l| {
                l.strip_prefix(step)
                    .filter(|r| r.starts_with(' ') || r.starts_with('#'))
                    .map(|r| r.trim_start().to_string())
            })
            .collect()
    }

    /// The most of its steps that ran at once.
    pub fn most_at_once(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Waits until `entry` is in the log.
    pub fn wait_for(&self, entry: &str) {
        self.wait_until(|e| e == entry);
    }

    /// Waits until an entry of the log passes `test` (a guard of 10 s keeps a broken
    /// scheduler from hanging the test run; it is not a measure).
    pub fn wait_until(&self, test: impl Fn(&str) -> bool) {
        let log = self.log.lock().unwrap();
        let (log, _) = self
            .changed
            .wait_timeout_while(log, Duration::from_secs(10), |l| !l.iter().any(|e| test(e)))
            .unwrap();
        assert!(log.iter().any(|e| test(e)), "never happened: {log:?}");
    }

    fn write(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
        self.changed.notify_all();
    }

    fn act(&self, step: &str) -> Act {
        self.acts
            .lock()
            .unwrap()
            .get(step)
            .cloned()
            .unwrap_or_else(|| ok(0))
    }

    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

struct FakeBackend;

static FAKE: FakeBackend = FakeBackend;

/// The registry tests give the engine: the fake runs every kind but conditions, which their
/// own backend evaluates (branches are decided from its result).
pub fn backends(kind: StepKind) -> Option<&'static dyn Backend> {
    match kind {
        StepKind::Condition => crate::backends::backend(kind),
        _ => Some(&FAKE),
    }
}

/// A registry with no backend at all.
pub fn no_backends(_: StepKind) -> Option<&'static dyn Backend> {
    None
}

impl Backend for FakeBackend {
    fn plan(&self, step: &Step, ctx: &PlanCtx) -> Result<Plan, crate::exec::backend::StepError> {
        let fake = Fake::of(ctx.home());
        fake.write(format!("{} planned", step.name));
        let act = fake.act(&step.name);
        if let Some(why) = &act.plan_error {
            return Err(why.clone().into());
        }
        let flavor = act.flavor.as_deref().map(|id| match id {
            "huge" => Flavor {
                id: "huge".into(),
                cpu: ctx.machine.cpus * 4,
                memory_mib: ctx.machine.memory_mib * 4,
                gpu: 0,
                description: "more than any machine".into(),
            },
            id => ctx
                .machine
                .flavor(id)
                .unwrap_or_else(|| panic!("no flavor {id} here")),
        });
        Ok(Plan {
            inputs: Map::new(),
            flavor,
            work: Arc::new(FakeWork { fake, act }),
        })
    }

    fn clean_up(&self, exec_id: &str, step: &str, detail: &Map<String, serde_json::Value>) {
        if let Some(fake) = Fake::of_exec(exec_id) {
            fake.write(format!(
                "{step} cleaned up {}",
                serde_json::Value::Object(detail.clone())
            ));
        }
    }

    fn sweep(&self, exec_id: &str) {
        if let Some(fake) = Fake::of_exec(exec_id) {
            fake.write("swept".to_string());
        }
    }
}

struct FakeWork {
    fake: Arc<Fake>,
    act: Act,
}

impl Work for FakeWork {
    fn run(self: Arc<Self>, attempt: Attempt) -> BoxFuture<StepEnd> {
        Box::pin(async move {
            let (fake, act) = (&self.fake, &self.act);
            let at = format!("{}#{}", attempt.step, attempt.number);
            fake.enter();
            fake.write(format!("{at} start"));
            if let Some(text) = &act.say {
                attempt.say(text.clone());
                attempt.record_detail(serde_json::json!({ "attempt": attempt.number }));
            }
            let waited = async {
                if act.hang {
                    std::future::pending::<()>().await;
                }
                // Company is waited for a short while at least, so that steps started
                // together are seen together.
                if act.company > 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    let mut guard = 0;
                    while fake.most_at_once() < act.company && guard < 5000 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        guard += 1;
                    }
                }
                if act.ms > 0 {
                    tokio::time::sleep(Duration::from_millis(act.ms)).await;
                }
            };
            let stopped = if act.hang || act.ms > 0 || act.company > 0 {
                tokio::select! {
                    _ = waited => false,
                    _ = attempt.cancel.cancelled() => true,
                }
            } else {
                false
            };
            let (end, word) = if stopped {
                (StepEnd::Stopped, "stopped")
            } else if attempt.number <= act.fail_first && act.permanent {
                (
                    StepEnd::Permanent(format!("{} cannot work: its input is wrong", attempt.step)),
                    "failed for good",
                )
            } else if attempt.number <= act.fail_first {
                (StepEnd::Failed(format!("{at} failed")), "failed")
            } else {
                (
                    StepEnd::Executed {
                        outputs: IndexMap::new(),
                        metrics: IndexMap::new(),
                        detail: Map::new(),
                        note: None,
                    },
                    "executed",
                )
            };
            fake.leave();
            fake.write(format!("{at} {word}"));
            end
        })
    }
}
