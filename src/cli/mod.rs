//! The `wf` command: argument parsing and one module per subcommand.

/// Prints to stdout; a closed stdout (`wf show | head -1`) ends the command quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}

/// `out!` with a newline.
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Prints to stderr; a closed stderr is ignored (the run goes on, its records are kept).
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// `err!` with a newline.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod api;
pub mod check;
mod cluster;
mod data;
mod gallery;
mod graph;
mod kernel;
pub mod load;
mod models;
mod notify;
mod pool;
mod progress;
mod prompt;
pub mod records;
mod release;
pub mod run;
mod services;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use crate::exec::error::exit;

#[derive(Parser, Debug)]
#[command(
    name = "wf",
    version,
    about = "ML workflows as code: write a pipeline in Rhai, check it, draw it, run it here",
    long_about = "ML workflows as code.\n\n\
A .rhai script builds a workflow with the `wf` namespace, which mirrors the ModelArts \
Workflow SDK name for name: wf.steps.JobStep(#{ ... }), wf.Placeholder(#{ ... }), \
wf.data.OBSPath(#{ ... }), ...\n\n\
Start with:  wf run examples/flowers_pipeline.rhai --storage output=runs\n\
Then:        wf show latest    wf repl examples/train_and_branch.rhai\n\
Every name:  wf check --list-api",
    after_help = "Exit status: 0 valid / executed, 1 invalid / failed / stopped, 2 usage error, 3 awaiting input."
)]
pub struct Cli {
    /// State folder (default: $WF_HOME, else ./.wf)
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Evaluate and validate a script (or a JSON definition) and summarise its workflow
    #[command(
        after_help = "Examples:\n  wf check flow.rhai\n  wf check flow.rhai --json\n  wf check --list-api"
    )]
    Check(check::CheckArgs),
    /// Print a workflow's graph: its JSON definition, or Graphviz dot, or Mermaid
    #[command(
        after_help = "Examples:\n  wf graph flow.rhai > flow.json     # the definition `wf run` accepts\n  wf graph flow.rhai --format dot | dot -Tsvg > flow.svg\n  wf graph flow.rhai --format mermaid"
    )]
    Graph(graph::GraphArgs),
    /// Run a workflow to its end, here, with records
    #[command(
        after_help = "Examples:\n  wf run flow.rhai -p lr=0.01 --storage output=./runs\n  wf run flow.rhai --steps train,evaluate     # reuse other steps' outputs\n  wf run flow.json --json > record.json\n\nExit status: 0 executed, 1 failed or stopped (or invalid), 2 usage error, 3 awaiting input."
    )]
    Run(run::RunArgs),
    /// The development-state REPL: build a workflow line by line, debug it phase by phase
    Repl(ReplArgs),
    /// List executions, newest first
    Executions(records::ExecutionsArgs),
    /// Executions side by side: status, start, duration, parameters and every metric
    Compare(records::CompareArgs),
    /// Show one execution: its steps with status, duration and why
    Show(records::ShowArgs),
    /// Print a step's log
    Logs(records::LogsArgs),
    /// Run the failed and stopped steps of an execution again, and carry on
    Retry(run::RetryArgs),
    /// Give a step awaiting input its values, and carry on
    Proceed(run::ProceedArgs),
    /// Stop an execution, or one of its steps
    Stop(records::StopArgs),
    /// Carry on an execution whose runner died; executed steps are not run again
    Resume(run::CarryOnArgs),
    /// This machine's resource flavors
    Flavors(records::FlavorsArgs),
    /// The local algorithm registry
    #[command(subcommand)]
    Algorithm(records::AlgorithmCommand),
    /// List the datasets of this home
    Datasets(data::DatasetsArgs),
    /// A dataset: show it, create it from a folder, export a version
    #[command(subcommand)]
    Dataset(data::DatasetCommand),
    /// A labeling task (DATASET/TASK): show its samples, label them
    Label(data::LabelArgs),
    /// List the models in the local registry
    Models(models::ModelsArgs),
    /// A model version: show it, delete it
    #[command(subcommand)]
    Model(models::ModelCommand),
    /// Release a workflow to the running state: a new version in this home's registry
    Release(release::ReleaseArgs),
    /// List the released workflows
    Workflows(release::WorkflowsArgs),
    /// A released workflow: its versions and configuration
    #[command(subcommand)]
    Workflow(release::WorkflowCommand),
    /// Webhooks for a workflow's status changes: add, list, remove, log
    #[command(subcommand)]
    Notify(notify::NotifyCommand),
    /// The gallery of published workflows: list, show, subscribe
    #[command(subcommand)]
    Gallery(gallery::GalleryCommand),
    /// Serve the web console, the REST API and live events over this home's records
    Serve(release::ServeArgs),
    /// List the inference services of this home
    Services(services::ServicesArgs),
    /// An inference service: show, stop, start, logs, predict
    #[command(subcommand)]
    Service(services::ServiceCommand),
    /// The process behind a service (started by a ServiceStep or `wf service start`)
    #[command(name = "service-supervisor", hide = true)]
    ServiceSupervisor(services::SupervisorArgs),
    /// The process that owns a local job while it runs (started by the runner)
    #[command(name = "job-owner", hide = true)]
    JobOwner(JobOwnerArgs),
    /// The Spark clusters MRS steps submit to
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// The Jupyter kernel for notebooks (`wf kernel install --user` makes it known to Jupyter)
    Kernel(kernel::KernelArgs),
    /// Resource pools: Ray and Slurm clusters that job steps run on
    #[command(subcommand)]
    Pool(pool::PoolCommand),
}

#[derive(clap::Args, Debug)]
pub struct JobOwnerArgs {
    /// The attempt's folder (`HOME/jobs/EXEC/STEP/N`), holding its `spec.json`
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ReplArgs {
    /// A script to load first
    pub script: Option<PathBuf>,
    /// The root folder of a storage, for runs started here (repeatable)
    #[arg(long, value_name = "NAME=ROOT")]
    pub storage: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum GraphFormat {
    #[default]
    Json,
    Dot,
    Mermaid,
}

/// Writes to stdout; when the reader has gone (a closed pipe), leaves quietly, as `cargo`
/// and `rg` do: what a command prints comes after what it records.
pub fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(exit::OK);
        }
    }
}

/// The home's records, or the exit status after saying why they cannot be opened.
pub fn open_store(home: Option<&std::path::Path>) -> Result<crate::store::Store, i32> {
    crate::store::Store::open(&crate::store::home_dir(home)).map_err(|e| {
        errln!("error: {e}");
        exit::FAILED
    })
}

/// A JSON value, pretty, on stdout (the `--json` of the listing commands).
pub fn print_json(v: &serde_json::Value) {
    outln!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A name or text as a table or message shows it: control characters (a newline, a
/// terminal's escape, a DEL) and the characters that reorder a line (bidirectional
/// overrides) are written as escapes (`\n`, `\x1b`, `\u{202e}`), so what a name holds
/// cannot start a line of its own or drive the terminal; anything else is kept as it is.
/// JSON output is exact and never goes through this.
pub fn escape_control(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hidden(c) && (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Whether the home holds no records yet: reading commands then say so without making one.
pub fn no_records(home: Option<&std::path::Path>) -> bool {
    !crate::store::home_dir(home).join("wf.db").exists()
}

/// Whether to colour what goes to stderr.
pub fn stderr_color() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

pub fn main() -> i32 {
    crate::net::install_tls();
    // A job's owner starts once per job: it skips building the whole command line's parser.
    let mut args = std::env::args_os().skip(1);
    if let (Some(cmd), Some(flag), Some(dir), None) =
        (args.next(), args.next(), args.next(), args.next())
    {
        if cmd == "job-owner" && flag == "--dir" {
            return crate::backends::job::owner_main(std::path::Path::new(&dir));
        }
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Run(args) => run::run(cli.home.as_deref(), args),
        Command::Repl(a) => {
            let home = crate::store::home_dir(cli.home.as_deref());
            crate::repl::run(&home, a.script.as_deref(), a.storage)
        }
        Command::Executions(a) => records::executions(cli.home.as_deref(), a),
        Command::Compare(a) => records::compare(cli.home.as_deref(), a),
        Command::Show(a) => records::show(cli.home.as_deref(), a),
        Command::Logs(a) => records::logs(cli.home.as_deref(), a),
        Command::Retry(a) => run::retry(cli.home.as_deref(), a),
        Command::Proceed(a) => run::proceed(cli.home.as_deref(), a),
        Command::Stop(a) => records::stop(cli.home.as_deref(), a),
        Command::Resume(a) => run::resume(cli.home.as_deref(), a),
        Command::Flavors(a) => records::flavors(cli.home.as_deref(), a),
        Command::Algorithm(c) => records::algorithm(cli.home.as_deref(), c),
        Command::Datasets(a) => data::datasets(cli.home.as_deref(), a),
        Command::Dataset(c) => data::dataset(cli.home.as_deref(), c),
        Command::Label(a) => data::label(cli.home.as_deref(), a),
        Command::Models(a) => models::list(cli.home.as_deref(), a),
        Command::Model(c) => models::model(cli.home.as_deref(), c),
        Command::Release(a) => release::release(cli.home.as_deref(), a),
        Command::Workflows(a) => release::workflows(cli.home.as_deref(), a),
        Command::Workflow(c) => release::workflow(cli.home.as_deref(), c),
        Command::Notify(c) => notify::notify(cli.home.as_deref(), c),
        Command::Gallery(c) => gallery::gallery(cli.home.as_deref(), c),
        Command::Serve(a) => release::serve(cli.home.as_deref(), a),
        Command::Services(a) => services::list(cli.home.as_deref(), a),
        Command::Service(c) => services::service(cli.home.as_deref(), c),
        Command::ServiceSupervisor(a) => services::supervisor(cli.home.as_deref(), a),
        Command::JobOwner(a) => crate::backends::job::owner_main(&a.dir),
        Command::Cluster(c) => cluster::cluster(cli.home.as_deref(), c),
        Command::Kernel(a) => kernel::run(cli.home.as_deref(), a),
        Command::Pool(c) => pool::pool(cli.home.as_deref(), c),
    }
}
