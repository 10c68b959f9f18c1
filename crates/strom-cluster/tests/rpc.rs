//! The JobManager's gRPC services over loopback: a TaskManager of another protocol version or
//! with a wrong secret is refused, task updates from an unknown or stale JobMaster are refused,
//! heartbeats of unknown TaskManagers ask them to register again.
#![allow(clippy::unwrap_used)] // a test may unwrap

use std::time::Duration;
use strom_cluster::job_manager_runner::start_job_manager;
use strom_cluster::rpc::proto::job_master_service_client::JobMasterServiceClient;
use strom_cluster::rpc::proto::resource_manager_service_client::ResourceManagerServiceClient;
use strom_cluster::rpc::proto::{
    Hardware, RegisterTaskExecutorRequest, TaskExecutionState, TaskExecutorHeartbeat,
};
use strom_cluster::rpc::{channel, SecretAttach, PROTOCOL_VERSION};
use strom_common::Configuration;
use strom_runtime::ConnectorRegistry;
use tonic::Code;

fn registration(version: u32, id: &str) -> RegisterTaskExecutorRequest {
    RegisterTaskExecutorRequest {
        protocol_version: version,
        resource_id: id.into(),
        rpc_address: "127.0.0.1:1".into(),
        data_address: "127.0.0.1:2".into(),
        slots: 2,
        hardware: Some(Hardware {
            cpu_cores: 2,
            physical_memory: 1 << 30,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_wrong_versions_secrets_and_stale_job_masters() {
    let mut config = Configuration::new();
    config.set("jobmanager.rpc.port", "0");
    config.set("cluster.secret", "right");
    config.set("heartbeat.timeout", "60 s");
    let jm = start_job_manager(config, ConnectorRegistry::new())
        .await
        .expect("JobManager starts");
    let addr = jm.rpc_address.to_string();
    let ch = channel(&addr, Duration::from_secs(5), None).expect("channel");
    let mut rm = ResourceManagerServiceClient::with_interceptor(
        ch.clone(),
        SecretAttach::new(Some("right")),
    );

    // another protocol version: refused, naming both versions
    let e = rm
        .register_task_executor(registration(PROTOCOL_VERSION + 1, "tm-a"))
        .await
        .expect_err("other version refused");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(
        e.message()
            .contains(&format!("protocol version {}", PROTOCOL_VERSION + 1))
            && e.message().contains(&PROTOCOL_VERSION.to_string()),
        "{}",
        e.message()
    );

    // wrong and missing secrets: refused before anything else
    for secret in [Some("wrong"), None] {
        let mut bad =
            ResourceManagerServiceClient::with_interceptor(ch.clone(), SecretAttach::new(secret));
        let e = bad
            .register_task_executor(registration(PROTOCOL_VERSION, "tm-b"))
            .await
            .expect_err("bad secret refused");
        assert_eq!(e.code(), Code::Unauthenticated, "{e:?}");
        assert!(e.message().contains("cluster secret"), "{}", e.message());
    }
    assert_eq!(jm.dispatcher.rm.slot_counts(), (0, 0));

    // the right version and secret: registered with its slots; the same registration again
    // (its answer was lost) is answered again, once; another one under the same id is refused
    let ok = rm
        .register_task_executor(registration(PROTOCOL_VERSION, "tm-c"))
        .await
        .expect("registered")
        .into_inner();
    assert_eq!(jm.dispatcher.rm.slot_counts(), (2, 2));
    let again = rm
        .register_task_executor(registration(PROTOCOL_VERSION, "tm-c"))
        .await
        .expect("the same registration again")
        .into_inner();
    assert_eq!(again.resource_manager_id, ok.resource_manager_id);
    assert_eq!(jm.dispatcher.rm.slot_counts(), (2, 2));
    let mut other = registration(PROTOCOL_VERSION, "tm-c");
    other.rpc_address = "127.0.0.1:3".into();
    let e = rm
        .register_task_executor(other)
        .await
        .expect_err("duplicate");
    assert_eq!(e.code(), Code::AlreadyExists);

    // heartbeats: known with the right ResourceManager id, unknown otherwise
    let hb = |id: &str, rm_id: &str| TaskExecutorHeartbeat {
        resource_id: id.into(),
        resource_manager_id: rm_id.into(),
        running_tasks: 0,
        rss_bytes: 12 << 20,
        ..Default::default()
    };
    let known = rm
        .heartbeat(hb("tm-c", &ok.resource_manager_id))
        .await
        .expect("heartbeat")
        .into_inner()
        .known;
    assert!(known);
    for (id, rm_id) in [("tm-x", ok.resource_manager_id.as_str()), ("tm-c", "stale")] {
        let known = rm
            .heartbeat(hb(id, rm_id))
            .await
            .expect("heartbeat")
            .into_inner()
            .known;
        assert!(!known, "{id} {rm_id}");
    }

    // a task update for a job without a JobMaster here is refused
    let mut jms = JobMasterServiceClient::with_interceptor(ch, SecretAttach::new(Some("right")));
    let e = jms
        .update_task_execution_state(TaskExecutionState {
            job_id: format!("{:032x}", 7),
            job_master_id: format!("{:032x}", 9),
            attempt_id: format!("{:032x}", 1),
            vertex_id: format!("{:032x}", 2),
            subtask: 0,
            state: "RUNNING".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown job");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
}
