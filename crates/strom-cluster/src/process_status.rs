//! What a TaskManager process uses, read from `/proc/self`: resident memory, CPU time, threads,
//! and the machine's available memory. TaskManager processes send it with their heartbeats;
//! the REST views show it in Flink's `/taskmanagers` shapes (a native process has no JVM heap:
//! see strom-rest's `api::taskmanagers`).

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on every
/// Linux that Strom runs on).
const TICKS_PER_SECOND: u64 = 100;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessStatus {
    /// Resident set size (`VmRSS`).
    pub rss_bytes: u64,
    /// Peak resident set size (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// User + system CPU time of the whole process.
    pub cpu_time_ms: u64,
    pub threads: u32,
    /// The machine's available memory (`MemAvailable` of `/proc/meminfo`).
    pub free_memory_bytes: u64,
}

fn kb_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

impl ProcessStatus {
    /// This process now (zeros where `/proc` is not there).
    pub fn current() -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ticks = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| crate::thread_dump::parse_stat(&s))
            .map_or(0, |(_, user, system)| user + system);
        Self::parse(&status, &meminfo, ticks)
    }

    fn parse(status: &str, meminfo: &str, ticks: u64) -> Self {
        Self {
            rss_bytes: kb_field(status, "VmRSS:"),
            peak_rss_bytes: kb_field(status, "VmHWM:"),
            cpu_time_ms: ticks * 1000 / TICKS_PER_SECOND,
            threads: status
                .lines()
                .find(|l| l.starts_with("Threads:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0),
            free_memory_bytes: kb_field(meminfo, "MemAvailable:"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_and_meminfo() {
        let status = "Name:\tstrom\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n";
        let meminfo = "MemTotal:       24000000 kB\nMemFree:   100 kB\nMemAvailable:    1000 kB\n";
        assert_eq!(
            ProcessStatus::parse(status, meminfo, 250),
            ProcessStatus {
                rss_bytes: 10240 * 1024,
                peak_rss_bytes: 20480 * 1024,
                cpu_time_ms: 2500,
                threads: 7,
                free_memory_bytes: 1000 * 1024,
            }
        );
    }

    #[test]
    fn this_process_has_memory_and_threads() {
        let p = ProcessStatus::current();
        assert!(p.rss_bytes > 0 && p.peak_rss_bytes >= p.rss_bytes, "{p:?}");
        assert!(p.threads >= 1 && p.free_memory_bytes > 0, "{p:?}");
    }
}
