//! `strom`: the command line. Cluster processes (`standalone`) and clients (`sql`, `run`, `list`,
//! `info`, `cancel`, `savepoint`, `stop`, `checkpoint`) that talk REST to any Strom cluster, or
//! run on an embedded one.

mod client;
mod collect_client;
mod conf;
mod logging;
mod progress;
mod savepoint_cmd;
mod sql_cmd;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// mimalloc, as DataFusion's own CLI: batch stages allocate and free Arrow buffers at a high
/// rate, and the system allocator hands their pages back and faults them in again (a fifth of a
/// Parquet scan's time went to page faults with it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Start a JobManager process: Dispatcher, ResourceManager, JobMasters, REST (rest.port, 8081)
    /// and the RPC port TaskManagers register at (jobmanager.rpc.address:jobmanager.rpc.port,
    /// 127.0.0.1:6123).
    Jobmanager {
        #[arg(short = 'D', value_name = "KEY=VALUE")]
        dynamic: Vec<String>,
    },
    /// Start a TaskManager process that registers its slots at a JobManager.
    Taskmanager {
        /// RPC address of the JobManager (HOST:PORT).
        #[arg(long, default_value = "127.0.0.1:6123")]
        jobmanager: String,
        /// Slots (taskmanager.numberOfTaskSlots).
        #[arg(long)]
        slots: Option<u32>,
        #[arg(short = 'D', value_name = "KEY=VALUE")]
        dynamic: Vec<String>,
    },
    /// Run a SQL script: SET, CREATE TABLE, INSERT INTO ... SELECT. `${NAME}` in the script is
    /// replaced by the environment variable NAME.
    Sql {
        /// SQL files, run as one script in the order given.
        #[arg(short = 'f', long = "file", required = true)]
        files: Vec<PathBuf>,
        /// REST address of a cluster (e.g. http://127.0.0.1:8081), or
        /// etcd://HOST:PORT/CLUSTER-ID for the leader of a highly available cluster; without
        /// it, an embedded cluster runs the job in this process, or, with
        /// high-availability.type: etcd, the leader found in etcd does (the client follows each
        /// new leader).
        #[arg(long)]
        jobmanager: Option<String>,
        /// Parallelism (parallelism.default), at least 1.
        #[arg(short = 'p', long, value_parser = clap::value_parser!(u32).range(1..))]
        parallelism: Option<u32>,
        /// Submit and return without waiting for the job to end.
        #[arg(long)]
        detached: bool,
        #[command(flatten)]
        restore: RestoreArgs,
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
        #[command(flatten)]
        restore: RestoreArgs,
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
    /// Trigger a savepoint of a running streaming job and wait for it (Flink's `flink savepoint
    /// JOB_ID [TARGET_DIR]`); prints its path. Start a job from it with --from-savepoint.
    Savepoint {
        job_id: String,
        /// Directory the savepoint goes to (a savepoint-... directory is made in it); default:
        /// the cluster's state.savepoints.dir.
        target_dir: Option<String>,
        #[arg(short = 'm', long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
        /// Give up waiting for the savepoint after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
    },
    /// Stop a streaming job with a savepoint (Flink's `flink stop [-p DIR] JOB_ID`): the sources
    /// stop, a final savepoint is taken, and the job ends FINISHED; prints the savepoint's path.
    Stop {
        job_id: String,
        /// Directory the savepoint goes to; without a value (or without the option): the
        /// cluster's state.savepoints.dir.
        #[arg(
            short = 'p',
            long = "savepoint",
            visible_alias = "savepointPath",
            value_name = "DIR",
            num_args = 0..=1,
            default_missing_value = ""
        )]
        savepoint: Option<String>,
        /// Advance event time to the end before the savepoint (every window fires, every timer
        /// runs; for a job that is not meant to resume), as Flink's `stop --drain`.
        #[arg(short = 'd', long)]
        drain: bool,
        #[arg(short = 'm', long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
        /// Give up waiting for the savepoint after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
    },
    /// Trigger one checkpoint of a running streaming job now, outside its periodic schedule, and
    /// wait for it (Flink's `flink checkpoint [-full] JOB_ID`); prints its id. It counts as a
    /// regular checkpoint (retained, restored from after a failure).
    Checkpoint {
        job_id: String,
        /// Ask for a full checkpoint (Strom's checkpoints are always full).
        #[arg(long)]
        full: bool,
        #[arg(short = 'm', long, default_value = "http://127.0.0.1:8081")]
        jobmanager: String,
        /// Give up waiting for the checkpoint after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
    },
    /// Write the benchmark's bids as CSV (the rows of shared/bench/gen_bids.rs).
    GenBids { rows: u64, out: PathBuf },
}

/// Starting a job from a savepoint (Flink's `run -s PATH [-n]`).
#[derive(clap::Args, Debug, Default)]
struct RestoreArgs {
    /// Start the job from this savepoint (or retained checkpoint) directory
    /// (execution.state-recovery.path).
    #[arg(
        short = 's',
        long = "from-savepoint",
        visible_alias = "fromSavepoint",
        value_name = "PATH"
    )]
    from_savepoint: Option<String>,
    /// Drop savepoint state that belongs to no operator of the job instead of refusing to start
    /// (execution.state-recovery.ignore-unclaimed-state = true).
    #[arg(
        short = 'n',
        long = "allow-non-restored-state",
        visible_alias = "allowNonRestoredState"
    )]
    allow_non_restored_state: bool,
}

impl RestoreArgs {
    fn config(&self) -> Vec<(String, String)> {
        savepoint_cmd::restore_config(
            self.from_savepoint.as_deref(),
            self.allow_non_restored_state,
        )
    }
}

fn main() {
    let started = Instant::now();
    let cli = Cli::parse();
    // cluster processes log what they do; clients only what goes wrong
    let cluster_process = matches!(
        cli.cmd,
        Cmd::Standalone { .. } | Cmd::Jobmanager { .. } | Cmd::Taskmanager { .. }
    );
    logging::init(
        if cluster_process { "info" } else { "warn" },
        cluster_process,
    );
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
            logging::open_file(&config, logging::Role::JobManager);
            if let Some(s) = slots {
                config.set(strom_common::config::keys::NUM_TASK_SLOTS, s.to_string());
            }
            standalone(config, taskmanagers, started)
        }
        Cmd::Jobmanager { dynamic } => {
            let config = conf::load(&dynamic)?;
            logging::open_file(&config, logging::Role::JobManager);
            jobmanager(config, started)
        }
        Cmd::Taskmanager {
            jobmanager,
            slots,
            dynamic,
        } => {
            let config = conf::load(&dynamic)?;
            logging::open_file(&config, logging::Role::TaskManager);
            let slots = match slots {
                Some(s) => s,
                None => strom_common::config::options::NUM_TASK_SLOTS.get(&config)?,
            };
            taskmanager(config, jobmanager, slots)
        }
        Cmd::Sql {
            files,
            jobmanager,
            parallelism,
            detached,
            restore,
            dynamic,
        } => {
            let mut config = conf::load(&dynamic)?;
            if let Some(p) = parallelism {
                config.set(
                    strom_common::config::keys::PARALLELISM_DEFAULT,
                    p.to_string(),
                );
            }
            for (k, v) in restore.config() {
                config.set(k, v);
            }
            sql_cmd::run(&files, jobmanager.as_deref(), detached, config, started)
        }
        Cmd::Run {
            file,
            jobmanager,
            detached,
            restore,
        } => run_job_graph(&file, &jobmanager, detached, &restore, started),
        Cmd::List { jobmanager } => client::list(&client::Rest::new(&jobmanager)?),
        Cmd::Info { job_id, jobmanager } => client::info(&client::Rest::new(&jobmanager)?, &job_id),
        Cmd::Cancel { job_id, jobmanager } => {
            client::cancel(&client::Rest::new(&jobmanager)?, &job_id)
        }
        cmd @ (Cmd::Savepoint { .. } | Cmd::Stop { .. } | Cmd::Checkpoint { .. }) => {
            checkpoint_cmd(cmd)
        }
        Cmd::GenBids { rows, out } => gen_bids(rows, &out, started),
    }
}

/// `strom savepoint`, `strom stop` and `strom checkpoint`.
fn checkpoint_cmd(cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Savepoint {
            job_id,
            target_dir,
            jobmanager,
            timeout,
        } => savepoint_cmd::savepoint(
            &client::Rest::new(&jobmanager)?,
            &job_id,
            target_dir.as_deref(),
            std::time::Duration::from_secs(timeout),
        ),
        Cmd::Stop {
            job_id,
            savepoint,
            drain,
            jobmanager,
            timeout,
        } => savepoint_cmd::stop(
            &client::Rest::new(&jobmanager)?,
            &job_id,
            savepoint.as_deref().filter(|s| !s.is_empty()),
            drain,
            std::time::Duration::from_secs(timeout),
        ),
        Cmd::Checkpoint {
            job_id,
            full,
            jobmanager,
            timeout,
        } => savepoint_cmd::checkpoint(
            &client::Rest::new(&jobmanager)?,
            &job_id,
            full,
            std::time::Duration::from_secs(timeout),
        ),
        _ => anyhow::bail!("not a savepoint, stop or checkpoint command"),
    }
}

/// `strom gen-bids`: the benchmark's bids as a CSV file.
fn gen_bids(rows: u64, out: &std::path::Path, started: Instant) -> Result<i32> {
    strom_connectors::write_bids_csv(rows, out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {rows} bids to {} in {:.2} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(0)
}

/// `strom run job.json`: submits a JobGraph (restoring as asked) and, unless detached, watches
/// it to its end.
fn run_job_graph(
    file: &std::path::Path,
    jobmanager: &str,
    detached: bool,
    restore: &RestoreArgs,
    started: Instant,
) -> Result<i32> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut graph: strom_plan::JobGraph = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid JobGraph", file.display()))?;
    graph.config.extend(restore.config());
    let rest = client::Rest::new(jobmanager)?;
    let id = rest.submit(&graph)?;
    println!("Job has been submitted with JobID {id}");
    if detached {
        return Ok(0);
    }
    sql_cmd::watch_remote(&rest, &id, started, None)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn jobmanager(config: strom_common::Configuration, started: Instant) -> Result<i32> {
    use strom_cluster::ha::{etcd, HaMode, LeaderRecord};
    runtime()?.block_on(async move {
        let ha = HaMode::from_config(&config)?;
        let storage_dir = strom_common::config::options::HA_STORAGE_DIR.get(&config)?;
        if matches!(ha, HaMode::Etcd(_)) && storage_dir.is_none() {
            anyhow::bail!(
                "high-availability.storageDir is required with high-availability.type: etcd (where the leader keeps the JobGraphs of its jobs)"
            );
        }
        let name = strom_cluster::ha::process_name();
        // with high availability: stand by until elected (see strom_cluster::ha), the REST
        // port redirecting to the leader meanwhile
        let mut config = config;
        let leadership = match &ha {
            HaMode::Etcd(e) => {
                let listener = strom_rest::bind_config(&config)
                    .await
                    .context("cannot bind the REST port (rest.port)")?;
                let rest = listener.local_addr()?;
                let rest_url = listener.url()?;
                // the leader this one becomes serves on the same port
                config.set(
                    strom_common::config::keys::REST_PORT,
                    rest.port().to_string(),
                );
                println!(
                    "JobManager {name} campaigning to lead the cluster '{}' (etcd {}); REST {rest_url} redirects to the leader meanwhile",
                    e.cluster_id,
                    e.endpoints.join(",")
                );
                let (seen, leader) = tokio::sync::watch::channel(LeaderRecord::default());
                let (elected, until) = tokio::sync::oneshot::channel::<()>();
                let standby = tokio::spawn(strom_rest::standby::serve(listener, leader, async {
                    let _ = until.await;
                }));
                let won = etcd::campaign(e, &name, &seen).await;
                let _ = elected.send(());
                standby.await??;
                Some(won)
            }
            HaMode::None => None,
        };
        let jm = strom_cluster::job_manager_runner::start_job_manager(
            config,
            strom_connectors::default_registry(),
        )
        .await?;
        let listener = strom_rest::bind(&jm.dispatcher)
            .await
            .context("cannot bind the REST port (rest.port)")?;
        let url = listener.url()?;
        let mut leads = String::new();
        if let (Some(l), HaMode::Etcd(e)) = (&leadership, &ha) {
            // the jobs the leaders before kept, resumed from their latest checkpoints
            let dir = storage_dir.clone().unwrap_or_default();
            let (e, token, d) = (e.clone(), l.token, jm.dispatcher.clone());
            let store = tokio::task::spawn_blocking(move || {
                strom_cluster::ha::job_store::EtcdJobStore::open(&e, token, &dir)
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            let store = std::sync::Arc::new(store);
            d.set_job_store(store.clone());
            let recovered = tokio::task::spawn_blocking(move || store.recover(&d))
                .await?
                .map_err(anyhow::Error::msg)?;
            if !recovered.is_empty() {
                println!("JobManager resumed {} job(s) of the leaders before: {}", recovered.len(),
                    recovered.iter().map(|j| j.to_string()).collect::<Vec<_>>().join(", "));
            }
        }
        if let (Some(mut l), HaMode::Etcd(e)) = (leadership, &ha) {
            let record = LeaderRecord {
                rest: url.clone(),
                rpc: jm.rpc_address.to_string(),
                name,
                token: l.token,
            };
            l.publish(&record).await?;
            jm.dispatcher.set_leader(record.clone());
            leads = format!(", leader (fencing token {})", l.token);
            let ttl = Duration::from_secs(e.lease_ttl_secs as u64);
            tokio::spawn(step_down_when_lost(l, record, jm.dispatcher.clone(), ttl));
        }
        println!(
            "Strom JobManager ready in {:.1} ms: REST {url}, RPC {} (TaskManagers: strom taskmanager --jobmanager {}){leads}",
            started.elapsed().as_secs_f64() * 1e3,
            jm.rpc_address,
            jm.rpc_address
        );
        strom_rest::serve(listener, jm.dispatcher, interrupted()).await?;
        Ok(0)
    })
}

/// Once the leadership `l` is lost: suspends the jobs (their tasks canceled while the lease,
/// of `ttl`, still holds for a third of its time, before a standby can be elected and deploy
/// them again) and exits.
async fn step_down_when_lost(
    mut l: strom_cluster::ha::etcd::Leadership,
    record: strom_cluster::ha::LeaderRecord,
    d: std::sync::Arc<strom_cluster::Dispatcher>,
    ttl: Duration,
) {
    let why = l.lost().await;
    let n = d.suspend_all();
    eprintln!(
        "JobManager {} is no longer the leader: {why}; suspended {n} job(s) and canceled their tasks; exiting so that a standby takes over",
        record.name
    );
    tokio::time::sleep(ttl / 6).await;
    std::process::exit(3);
}

fn taskmanager(config: strom_common::Configuration, jobmanager: String, slots: u32) -> Result<i32> {
    runtime()?.block_on(async move {
        strom_cluster::task_manager_runner::run_task_manager(
            config,
            strom_cluster::task_manager_runner::TaskManagerOptions { jobmanager, slots },
            strom_connectors::default_registry(),
            interrupted(),
        )
        .await?;
        Ok(0)
    })
}

fn standalone(
    config: strom_common::Configuration,
    taskmanagers: u32,
    started: Instant,
) -> Result<i32> {
    runtime()?.block_on(async move {
        let d = strom_cluster::start_embedded(config, taskmanagers, strom_connectors::default_registry())?;
        let listener = strom_rest::bind(&d).await.context("cannot bind the REST port (rest.port)")?;
        let url = listener.url()?;
        let (total, _) = d.rm.slot_counts();
        println!(
            "Strom standalone cluster ready in {:.1} ms: REST {url}, {} TaskManager(s), {total} slots",
            started.elapsed().as_secs_f64() * 1e3,
            d.rm.task_executors().len()
        );
        strom_rest::serve(listener, d, interrupted()).await?;
        Ok(0)
    })
}
