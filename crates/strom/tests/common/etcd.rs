//! An etcd server of the test's own (Debian's `etcd-server`, which `scripts/test.sh` installs):
//! a fresh data directory in a temporary dir, client and peer URLs on free loopback ports;
//! killed (SIGKILL) on drop.

use super::processes::{free_port, Proc};
use super::*;
use std::process::Command;
use std::time::Duration;

pub struct Etcd {
    pub port: u16,
    pub proc: Proc,
    _dir: TempDir,
}

impl Etcd {
    pub fn start() -> Self {
        let dir = TempDir::new("etcd");
        let (port, peer) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new("etcd");
        cmd.arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--name", "test", "--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("test={peer_url}")]);
        let proc = Proc::spawn("etcd", &mut cmd);
        proc.wait_for_line("ready to serve client requests", Duration::from_secs(30));
        Etcd {
            port,
            proc,
            _dir: dir,
        }
    }

    /// The `-D` settings of a highly available cluster `cluster` on this etcd, with a lease of
    /// `ttl_secs` (its JobGraphs in this server's temporary directory).
    pub fn ha_conf(&self, cluster: &str, ttl_secs: u32) -> Vec<String> {
        vec![
            "high-availability.type=etcd".into(),
            format!(
                "high-availability.storageDir={}",
                self._dir.join(&format!("ha-{cluster}")).display()
            ),
            format!("high-availability.etcd.endpoints=127.0.0.1:{}", self.port),
            format!("high-availability.cluster-id={cluster}"),
            format!("high-availability.etcd.lease-ttl={ttl_secs}s"),
        ]
    }
}
