//! Hosts of a test's own: Linux network namespaces joined by veth pairs on a bridge (iproute2, as
//! root), made by [`Net::new`] and removed when it is dropped. The bridge lives in a namespace of
//! its own too, so nothing of the machine's own network is touched; every host gets 10.99.0.N/24
//! (the same addresses in another test's namespaces are another network).
//!
//! A link is cut ([`Net::cut`]) by taking its bridge end down, and healed by bringing it up.
//! Traffic of a host is captured on its bridge end ([`Net::capture`]).
#![allow(dead_code)] // each test binary uses a part

use super::processes::{Proc, Stream};
use super::strom_bin;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub struct Host {
    pub name: String,
    pub ns: String,
    pub ip: String,
    /// The veth end on the bridge (in the switch namespace).
    bridge_end: String,
    /// The veth end in the host.
    pub dev: String,
}

pub struct Net {
    switch: String,
    pub hosts: Vec<Host>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (iproute2 is needed)"));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    /// Namespaces for `hosts` (10.99.0.1, .2, ... in order) on one bridge.
    pub fn new(hosts: &[&str]) -> Net {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!(
            "s{}{}",
            std::process::id() % 100_000,
            (b'a' + (NEXT.fetch_add(1, Ordering::Relaxed) % 26) as u8) as char
        );
        let switch = format!("{prefix}sw");
        ip(&["netns", "add", &switch]);
        let mut net = Net {
            switch,
            hosts: Vec::new(),
        };
        let sw = net.switch.clone();
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for (i, name) in hosts.iter().enumerate() {
            let ns = format!("{prefix}{name}");
            ip(&["netns", "add", &ns]);
            let host = Host {
                name: name.to_string(),
                ns: ns.clone(),
                ip: format!("10.99.0.{}", i + 1),
                bridge_end: format!("{prefix}{i}b"),
                dev: format!("{prefix}{i}h"),
            };
            net.hosts.push(host);
            let h = net.hosts.last().unwrap_or_else(|| unreachable!());
            ip(&[
                "link",
                "add",
                &h.dev,
                "type",
                "veth",
                "peer",
                "name",
                &h.bridge_end,
            ]);
            ip(&["link", "set", &h.dev, "netns", &ns]);
            ip(&["link", "set", &h.bridge_end, "netns", &sw]);
            ip(&["-n", &sw, "link", "set", &h.bridge_end, "master", "br0"]);
            ip(&["-n", &sw, "link", "set", &h.bridge_end, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", h.ip),
                "dev",
                &h.dev,
            ]);
            ip(&["-n", &ns, "link", "set", &h.dev, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        net
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// `program` run on host `name`.
    pub fn cmd(&self, name: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host(name).ns, program]);
        c
    }

    /// `strom` on host `name` (isolated from any conf/config.yaml, as `common::strom`).
    pub fn strom(&self, name: &str) -> Command {
        let mut c = self.cmd(name, strom_bin());
        c.env("STROM_CONF_DIR", "/nonexistent-strom-e2e-conf");
        c.stdin(std::process::Stdio::null());
        c
    }

    /// GET `url` from host `name` (curl), as JSON.
    pub fn get(&self, name: &str, url: &str) -> serde_json::Value {
        let out = self
            .cmd(name, "curl")
            .args(["-s", "--max-time", "10", url])
            .output()
            .unwrap_or_else(|e| panic!("curl {url}: {e}"));
        let body = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: '{body}'"))
    }

    /// Cuts host `name` off the bridge (its packets are lost both ways).
    pub fn cut(&self, name: &str) {
        self.set_link(name, "down");
    }

    /// Joins host `name` to the bridge again.
    pub fn heal(&self, name: &str) {
        self.set_link(name, "up");
    }

    fn set_link(&self, name: &str, state: &str) {
        let end = &self.host(name).bridge_end;
        ip(&["-n", &self.switch, "link", "set", end, state]);
    }

    /// Bytes host `name` sent and received on its interface.
    pub fn bytes(&self, name: &str) -> (u64, u64) {
        let h = self.host(name);
        let read = |what: &str| {
            let out = self
                .cmd(name, "cat")
                .arg(format!("/sys/class/net/{}/statistics/{what}", h.dev))
                .output()
                .unwrap_or_else(|e| panic!("statistics of {}: {e}", h.dev));
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        };
        (read("tx_bytes"), read("rx_bytes"))
    }

    /// tcpdump on host `name`'s bridge end into `file` (stopped by [`Capture::finish`]).
    pub fn capture(&self, name: &str, file: std::path::PathBuf) -> Capture {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.switch, "tcpdump"]);
        Capture::tcpdump(c, &self.host(name).bridge_end, file)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // deleting a namespace removes its veth ends (and so their peers)
        for h in &self.hosts {
            let _ = Command::new("ip").args(["netns", "del", &h.ns]).status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.switch])
            .status();
    }
}

/// A packet capture running until [`Capture::finish`].
pub struct Capture {
    proc: Proc,
    file: std::path::PathBuf,
}

impl Capture {
    /// `tcpdump` (a command running it) capturing TCP on `interface` into `file`, once it
    /// listens. Immediate mode: without it, this kernel's TPACKET_V3 blocks not yet full are
    /// lost when tcpdump stops; a 64 MiB buffer drops nothing under load.
    pub fn tcpdump(mut tcpdump: Command, interface: &str, file: std::path::PathBuf) -> Capture {
        tcpdump
            .args([
                "-i",
                interface,
                "--immediate-mode",
                "-B",
                "65536",
                "-U",
                "-s",
                "0",
            ])
            .args(["-Z", "root", "-w"])
            .arg(&file)
            .arg("tcp");
        let proc = Proc::spawn("tcpdump", &mut tcpdump);
        proc.wait_for_line_in(
            Some(Stream::Stderr),
            "listening on",
            Duration::from_secs(10),
        );
        Capture { proc, file }
    }

    /// Stops the capture; the bytes it wrote.
    pub fn finish(mut self) -> Vec<u8> {
        let _ = Command::new("kill")
            .args(["-INT", &self.proc.pid().to_string()])
            .status();
        self.proc.wait_exit(Duration::from_secs(10));
        std::fs::read(&self.file).unwrap_or_default()
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}
