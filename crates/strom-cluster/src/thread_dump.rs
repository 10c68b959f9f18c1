//! A thread dump of this process from `/proc/self/task`: every thread's name, id, state and CPU
//! time, for `/jobmanager/thread-dump` and `/taskmanagers/:id/thread-dump` (Flink's
//! `ThreadDumpInfo`; a native process has no Java stack traces to show).

use std::path::Path;

/// At most this many threads are listed (a bound on the work of one dump).
pub const MAX_THREADS: usize = 10_000;

/// One thread of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    pub name: String,
    /// The kernel's thread id.
    pub tid: u32,
    /// The kernel's state letter (`R` running, `S` sleeping, `D` disk wait, ...).
    pub state: char,
    /// CPU time in clock ticks (user, system).
    pub user_ticks: u64,
    pub system_ticks: u64,
}

impl ThreadInfo {
    /// The state in Java's `Thread.State` words, as Flink's dumps show them.
    pub fn java_state(&self) -> &'static str {
        match self.state {
            'R' => "RUNNABLE",
            'D' => "BLOCKED",
            'Z' | 'X' | 'x' => "TERMINATED",
            'S' | 'I' | 'T' | 't' | 'W' | 'P' | 'K' => "WAITING",
            _ => "RUNNABLE",
        }
    }

    fn kernel_state(&self) -> &'static str {
        match self.state {
            'R' => "running",
            'S' => "sleeping",
            'D' => "uninterruptible disk sleep",
            'I' => "idle",
            'T' => "stopped",
            't' => "tracing stop",
            'Z' => "zombie",
            'X' | 'x' => "dead",
            _ => "other",
        }
    }

    /// The text of Flink's `stringifiedThreadInfo`: `"name" Id=N STATE`, then what the kernel
    /// knows of the thread.
    pub fn stringified(&self) -> String {
        format!(
            "\"{}\" Id={} {}\n\tnative thread, kernel state {} ({}), cpu time {} ticks user, {} ticks system\n\n",
            self.name,
            self.tid,
            self.java_state(),
            self.state,
            self.kernel_state(),
            self.user_ticks,
            self.system_ticks
        )
    }
}

/// The fields of `/proc/<pid>/task/<tid>/stat` after the name: (state, utime, stime).
pub(crate) fn parse_stat(stat: &str) -> Option<(char, u64, u64)> {
    // "tid (comm) S ppid ..."; comm may hold spaces and parentheses: split at the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15
    let state = fields.first()?.chars().next()?;
    let utime = fields.get(11)?.parse().ok()?;
    let stime = fields.get(12)?.parse().ok()?;
    Some((state, utime, stime))
}

fn read_thread(dir: &Path, tid: u32) -> Option<ThreadInfo> {
    let name = std::fs::read_to_string(dir.join("comm")).ok()?;
    let (state, user_ticks, system_ticks) =
        parse_stat(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
    Some(ThreadInfo {
        name: name.trim_end_matches('\n').to_string(),
        tid,
        state,
        user_ticks,
        system_ticks,
    })
}

/// The threads of this process, by thread id (empty where `/proc` is not there).
pub fn threads() -> Vec<ThreadInfo> {
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out: Vec<ThreadInfo> = rd
        .flatten()
        .take(MAX_THREADS)
        .filter_map(|e| {
            let tid = e.file_name().to_str()?.parse().ok()?;
            // a thread may end between the listing and the read: skipped
            read_thread(&e.path(), tid)
        })
        .collect();
    out.sort_by_key(|t| t.tid);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let stat = "4242 (task (x) 1) S 1 4242 4242 0 -1 4194368 100 0 0 0 17 5 0 0 20 0 8 0";
        assert_eq!(parse_stat(stat), Some(('S', 17, 5)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R"), None);
    }

    #[test]
    fn a_named_thread_of_this_process_is_listed() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        // the name is set by the thread itself as it starts: wait for that
        let t = std::thread::Builder::new()
            .name("dump-me-please".into())
            .spawn(move || {
                let _ = started_tx.send(());
                let _ = rx.recv();
            })
            .unwrap();
        started.recv().unwrap();
        // between its send and its recv the thread may still be running: wait until it sleeps
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let me = loop {
            let all = threads();
            let me = all
                .iter()
                .find(|t| t.name == "dump-me-please")
                .cloned()
                .unwrap_or_else(|| panic!("not listed: {all:?}"));
            if me.state != 'R' || std::time::Instant::now() > deadline {
                break me;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let me = &me;
        assert!(me.tid > 0);
        assert_eq!(me.java_state(), "WAITING", "{me:?}");
        let text = me.stringified();
        assert!(
            text.starts_with(&format!("\"dump-me-please\" Id={} WAITING\n", me.tid)),
            "{text}"
        );
        tx.send(()).unwrap();
        t.join().unwrap();
    }
}
