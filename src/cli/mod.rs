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

mod algorithm;
mod api;
pub mod check;
mod cluster;
mod compare;
mod data;
pub mod error;
mod executions;
mod flavors;
mod gallery;
mod graph;
mod kernel;
mod logs;
mod models;
mod notify;
mod pool;
mod progress;
mod prompt;
mod records;
mod release;
pub mod run;
mod services;
mod show;
mod stop;

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
    Executions(executions::ExecutionsArgs),
    /// Executions side by side: status, start, duration, parameters and every metric
    Compare(compare::CompareArgs),
    /// Show one execution: its steps with status, duration and why
    Show(show::ShowArgs),
    /// Print a step's log
    Logs(logs::LogsArgs),
    /// Run the failed and stopped steps of an execution again, and carry on
    Retry(run::RetryArgs),
    /// Give a step awaiting input its values, and carry on
    Proceed(run::ProceedArgs),
    /// Stop an execution, or one of its steps
    Stop(stop::StopArgs),
    /// Carry on an execution whose runner died; executed steps are not run again
    Resume(run::CarryOnArgs),
    /// This machine's resource flavors
    Flavors(flavors::FlavorsArgs),
    /// The local algorithm registry
    #[command(subcommand)]
    Algorithm(algorithm::AlgorithmCommand),
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

pub use crate::present::term::{escape_control, stderr_color, write_stdout};

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

/// Whether the home holds no records yet: reading commands then say so without making one.
pub fn no_records(home: Option<&std::path::Path>) -> bool {
    !crate::store::home_dir(home).join("wf.db").exists()
}

/// The command line: runs the command and prints how it failed, if it did; the exit status.
/// This is the one place a command's error is printed.
pub fn main() -> i32 {
    crate::net::install_tls();
    match run() {
        Ok(()) => exit::OK,
        Err(e) => {
            if let Some(m) = &e.message {
                errln!("error: {m}");
            }
            e.code
        }
    }
}

fn run() -> error::Result {
    use error::from_status as status;
    // A job's owner starts once per job: it skips building the whole command line's parser.
    let mut args = std::env::args_os().skip(1);
    if let (Some(cmd), Some(flag), Some(dir), None) =
        (args.next(), args.next(), args.next(), args.next())
    {
        if cmd == "job-owner" && flag == "--dir" {
            return status(crate::backends::job::owner_main(std::path::Path::new(&dir)));
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
            return status(code);
        }
    };
    let home = cli.home.as_deref();
    match cli.command {
        Command::Check(args) => status(check::run(args)),
        Command::Graph(args) => graph::run(args),
        Command::Run(args) => status(run::run(home, args)),
        Command::Repl(a) => {
            let home = crate::store::home_dir(home);
            status(crate::repl::run(&home, a.script.as_deref(), a.storage))
        }
        Command::Executions(a) => executions::executions(home, a),
        Command::Compare(a) => compare::compare(home, a),
        Command::Show(a) => show::show(home, a),
        Command::Logs(a) => logs::logs(home, a),
        Command::Retry(a) => status(run::retry(home, a)),
        Command::Proceed(a) => status(run::proceed(home, a)),
        Command::Stop(a) => stop::stop(home, a),
        Command::Resume(a) => status(run::resume(home, a)),
        Command::Flavors(a) => flavors::flavors(home, a),
        Command::Algorithm(c) => algorithm::algorithm(home, c),
        Command::Datasets(a) => status(data::datasets(home, a)),
        Command::Dataset(c) => status(data::dataset(home, c)),
        Command::Label(a) => status(data::label(home, a)),
        Command::Models(a) => models::list(home, a),
        Command::Model(c) => models::model(home, c),
        Command::Release(a) => release::release(home, a),
        Command::Workflows(a) => release::workflows(home, a),
        Command::Workflow(c) => release::workflow(home, c),
        Command::Notify(c) => notify::notify(home, c),
        Command::Gallery(c) => gallery::gallery(home, c),
        Command::Serve(a) => status(release::serve(home, a)),
        Command::Services(a) => services::list(home, a),
        Command::Service(c) => services::service(home, c),
        Command::ServiceSupervisor(a) => status(services::supervisor(home, a)),
        Command::JobOwner(a) => status(crate::backends::job::owner_main(&a.dir)),
        Command::Cluster(c) => cluster::cluster(home, c),
        Command::Kernel(a) => kernel::run(home, a),
        Command::Pool(c) => pool::pool(home, c),
    }
}
