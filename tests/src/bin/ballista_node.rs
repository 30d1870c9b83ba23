//! A Ballista scheduler or executor in a process of its own, for tests that need a
//! cluster whose executor can be killed: the library code the stock `ballista-scheduler`
//! and `ballista-executor` binaries run, with heartbeats of a second so that a lost
//! executor is noticed in seconds (the stock defaults wait minutes).
//!
//!     ballista_node scheduler <port> [<executor timeout s, default 3>]
//!     ballista_node executor <flight port> <grpc port> <scheduler port> <work dir>
//!
//! `tests/bench/scale.py --ballista-node` runs its cluster on it too, built with the same
//! profile as `riskfn`.

use std::sync::Arc;

use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;

const USAGE: &str = "usage: ballista_node scheduler <port> [<executor timeout s>] | \
    executor <flight port> <grpc port> <scheduler port> <work dir>";

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = |s: &str| s.parse::<u16>().map_err(|e| format!("port {s:?}: {e}"));
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["scheduler", p, ref timeout @ ..] if timeout.len() <= 1 => {
            let timeout = match timeout.first() {
                Some(t) => t.parse().map_err(|e| format!("timeout {t:?}: {e}"))?,
                None => 3,
            };
            let config = SchedulerConfig {
                bind_port: port(p)?,
                executor_timeout_seconds: timeout,
                expire_dead_executor_interval_seconds: 1,
                // Fail the running jobs as soon as the last executor is found lost.
                no_executors_grace_period_seconds: 0,
                ..Default::default()
            };
            let cluster = BallistaCluster::new_from_config(&config)
                .await
                .map_err(|e| e.to_string())?;
            let addr = format!("127.0.0.1:{p}")
                .parse()
                .map_err(|e| format!("{e}"))?;
            start_server(cluster, addr, Arc::new(config))
                .await
                .map_err(|e| e.to_string())
        }
        ["executor", flight, grpc, scheduler, work_dir] => {
            let config = ExecutorProcessConfig {
                bind_host: "127.0.0.1".into(),
                external_host: Some("127.0.0.1".into()),
                port: port(flight)?,
                grpc_port: port(grpc)?,
                scheduler_host: "127.0.0.1".into(),
                scheduler_port: port(scheduler)?,
                work_dir: Some(work_dir.into()),
                vcores: 2,
                executor_heartbeat_interval_seconds: 1,
                ..Default::default()
            };
            start_executor_process(Arc::new(config))
                .await
                .map_err(|e| e.to_string())
        }
        _ => Err(USAGE.into()),
    }
}
