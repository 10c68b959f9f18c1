//! `strom`: the command line. Cluster processes (`standalone`) and clients (`sql`, `run`, `list`,
//! `info`, `cancel`) that talk REST to any Strom cluster, or run on an embedded one.

mod client;
mod conf;
mod sql_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "strom",
    version,
    about = "Strom: a Flink-class stream and batch processing engine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start an embedded cluster (Dispatcher, ResourceManager, TaskManagers, REST) and serve
    /// until interrupted.
    Standalone {
        /// Number of in-process TaskManagers.
        #[arg(long, default_value_t = 1)]
        taskmanagers: u32,
        /// Slots per TaskManager (taskmanager.numberOfTaskSlots).
        #[arg(long)]
        slots: Option<u32>,
        /// Configuration override, key=value (repeatable).
        #[arg(short = 'D', value_name = "KEY=VALUE")]
        dynamic: Vec<String>,
    },
    /// Run a SQL script: SET, CREATE TABLE, INSERT INTO ... SELECT. `${NAME}` in the script is
    /// replaced by the environment variable NAME.
    Sql {
        /// SQL files, run as one script in the order given.
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
        /// REST address of a cluster (e.g. http://127.0.0.1:8081); without it, an embedded
        /// cluster runs the job in this process.
        #[arg(long)]
        jobmanager: Option<String>,
        /// Parallelism (parallelism.default).
        #[arg(short = 'p', long)]
        parallelism: Option<u32>,
        /// Submit and return without waiting for the job to end.
        #[arg(long)]
        detached: bool,
        #[arg(short = 'D', value_name = "KEY=VALUE")]
        dynamic: Vec<String>,
    },
    /// Submit a JobGraph given as JSON.
    Run {
        file: PathBuf,
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
        #[arg(long)]
        detached: bool,
    },
    /// List the cluster's jobs.
    List {
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
    },
    /// Show one job.
    Info {
        job_id: String,
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
    },
    /// Cancel a job.
    Cancel {
        job_id: String,
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
    },
    /// Write the benchmark's bids as CSV (the rows of shared/bench/gen_bids.rs).
    GenBids { rows: u64, out: PathBuf },
}

fn main() {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STROM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let code = match run(cli, started) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli, started: Instant) -> Result<i32> {
    match cli.cmd {
        Cmd::Standalone {
            taskmanagers,
            slots,
            dynamic,
        } => {
            let mut config = conf::load(&dynamic)?;
            if let Some(s) = slots {
                config.set(strom_common::config::keys::NUM_TASK_SLOTS, s.to_string());
            }
            standalone(config, taskmanagers, started)
        }
        Cmd::Sql {
            files,
            jobmanager,
            parallelism,
            detached,
            dynamic,
        } => {
            let mut config = conf::load(&dynamic)?;
            if let Some(p) = parallelism {
                config.set(
                    strom_common::config::keys::PARALLELISM_DEFAULT,
                    p.to_string(),
                );
            }
            sql_cmd::run(&files, jobmanager.as_deref(), detached, config, started)
        }
        Cmd::Run {
            file,
            jobmanager,
            detached,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let graph: strom_plan::JobGraph = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a valid JobGraph", file.display()))?;
            let rest = client::Rest::new(&jobmanager);
            let id = rest.submit(&graph)?;
            println!("Job has been submitted with JobID {id}");
            if detached {
                return Ok(0);
            }
            sql_cmd::watch_remote(&rest, &id, started)
        }
        Cmd::List { jobmanager } => client::list(&client::Rest::new(&jobmanager)),
        Cmd::Info { job_id, jobmanager } => client::info(&client::Rest::new(&jobmanager), &job_id),
        Cmd::Cancel { job_id, jobmanager } => {
            client::cancel(&client::Rest::new(&jobmanager), &job_id)
        }
        Cmd::GenBids { rows, out } => {
            strom_connectors::write_bids_csv(rows, &out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!(
                "wrote {rows} bids to {} in {:.2} s",
                out.display(),
                started.elapsed().as_secs_f64()
            );
            Ok(0)
        }
    }
}

fn standalone(
    config: strom_common::Configuration,
    taskmanagers: u32,
    started: Instant,
) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let d = strom_cluster::start_embedded(config, taskmanagers, strom_connectors::default_registry())?;
        let listener = strom_rest::bind(&d).await.context("cannot bind the REST port (rest.port)")?;
        let addr = listener.local_addr()?;
        let (total, _) = d.rm.slot_counts();
        println!(
            "Strom standalone cluster ready in {:.1} ms: REST http://{addr}, {} TaskManager(s), {total} slots",
            started.elapsed().as_secs_f64() * 1e3,
            d.rm.task_executors().len()
        );
        strom_rest::serve(listener, d, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
        Ok(0)
    })
}
