//! What `strom sql` shows of a running job: one progress line on stderr, redrawn in place on a
//! terminal (indicatif); without a terminal (a log file, CI) no terminal codes, only a plain line
//! when the job's status, restarts or failed checkpoints change. The final summary's tail says
//! how the checkpoints and restarts went.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// A job's figures as the CLI shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobProgress {
    pub status: String,
    pub rows_in: u64,
    pub rows_out: u64,
    pub restarts: u64,
    pub checkpoints_completed: u64,
    pub checkpoints_failed: u64,
    /// The root cause of the latest failover.
    pub root_cause: Option<String>,
}

/// Longest root cause shown in the progress line (the final summary prints it whole).
const CAUSE_CHARS: usize = 160;

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl JobProgress {
    /// E.g. `RESTARTING: 10 rows in, 5 rows out; 2 checkpoints, 1 failed; 1 restart (last
    /// cause: ...); 3.1 s`.
    pub fn line(&self, elapsed: Duration) -> String {
        let mut s = format!(
            "{}: {} rows in, {} rows out",
            self.status, self.rows_in, self.rows_out
        );
        let checkpoints = self.checkpoints_completed + self.checkpoints_failed;
        if checkpoints > 0 {
            s.push_str(&format!(
                "; {}, {} failed",
                plural(self.checkpoints_completed, "checkpoint", "checkpoints"),
                self.checkpoints_failed
            ));
        }
        if self.restarts > 0 {
            s.push_str(&format!(
                "; {}",
                plural(self.restarts, "restart", "restarts")
            ));
        }
        if self.restarts > 0 || self.status == "RESTARTING" {
            if let Some(c) = &self.root_cause {
                let short: String = c.chars().take(CAUSE_CHARS).collect();
                let more = if short.len() < c.len() { "..." } else { "" };
                s.push_str(&format!(" (last cause: {short}{more})"));
            }
        }
        s.push_str(&format!("; {:.1} s", elapsed.as_secs_f64()));
        s
    }

    /// The end of the final summary line: the checkpoints (when the job took any) and the
    /// restarts (when there were any), e.g. `; checkpoints: 3 completed, 1 failed; 2 restarts`.
    pub fn summary_tail(&self) -> String {
        let mut s = String::new();
        if self.checkpoints_completed + self.checkpoints_failed > 0 {
            s.push_str(&format!(
                "; checkpoints: {} completed, {} failed",
                self.checkpoints_completed, self.checkpoints_failed
            ));
        }
        if self.restarts > 0 {
            s.push_str(&format!(
                "; {}",
                plural(self.restarts, "restart", "restarts")
            ));
        }
        s
    }

    /// What changes a line in a plain log: the status, the restarts, the failed checkpoints.
    fn events(&self) -> (&str, u64, u64) {
        (&self.status, self.restarts, self.checkpoints_failed)
    }
}

/// The progress line on stderr.
pub struct ProgressLine {
    /// On a terminal: the line redrawn in place.
    bar: Option<ProgressBar>,
    /// Without one: what the last plain line showed.
    logged: Option<(String, u64, u64)>,
}

impl ProgressLine {
    /// Drawn in place when stderr is a terminal, else plain lines on changes.
    pub fn new() -> Self {
        Self::with_terminal(std::io::stderr().is_terminal())
    }

    fn with_terminal(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("{wide_msg}").expect("a valid template"));
            bar
        });
        Self { bar, logged: None }
    }

    /// Shows the job's progress (on a terminal) or logs what changed (otherwise): returns the
    /// plain line written, if any.
    pub fn update(&mut self, p: &JobProgress, elapsed: Duration) -> Option<String> {
        match &self.bar {
            Some(bar) => {
                bar.set_message(p.line(elapsed));
                None
            }
            None => {
                let (status, restarts, failed) = p.events();
                let changed = self
                    .logged
                    .as_ref()
                    .is_none_or(|(s, r, f)| s != status || *r != restarts || *f != failed);
                if !changed {
                    return None;
                }
                self.logged = Some((status.to_string(), restarts, failed));
                let line = p.line(elapsed);
                eprintln!("{line}");
                Some(line)
            }
        }
    }

    /// Removes the line (before the final summary).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress() -> JobProgress {
        JobProgress {
            status: "RUNNING".into(),
            rows_in: 10,
            rows_out: 5,
            ..Default::default()
        }
    }

    #[test]
    fn the_line_shows_checkpoints_and_restarts_only_when_there_are_some() {
        let t = Duration::from_millis(3_100);
        assert_eq!(progress().line(t), "RUNNING: 10 rows in, 5 rows out; 3.1 s");
        let p = JobProgress {
            status: "RESTARTING".into(),
            restarts: 1,
            checkpoints_completed: 2,
            checkpoints_failed: 1,
            root_cause: Some("Calc (1/1): boom".into()),
            ..progress()
        };
        assert_eq!(
            p.line(t),
            "RESTARTING: 10 rows in, 5 rows out; 2 checkpoints, 1 failed; 1 restart \
             (last cause: Calc (1/1): boom); 3.1 s"
        );
        assert_eq!(
            p.summary_tail(),
            "; checkpoints: 2 completed, 1 failed; 1 restart"
        );
        assert_eq!(progress().summary_tail(), "");
        let long = JobProgress {
            root_cause: Some("x".repeat(500)),
            ..p
        };
        assert!(long
            .line(t)
            .contains(&format!("{}...)", "x".repeat(CAUSE_CHARS))));
    }

    #[test]
    fn without_a_terminal_a_plain_line_comes_only_when_something_changed() {
        let mut line = ProgressLine::with_terminal(false);
        let t = Duration::from_secs(1);
        let mut p = progress();
        assert!(line.update(&p, t).is_some());
        p.rows_in = 1_000;
        assert_eq!(line.update(&p, t), None, "rows alone are no event");
        p.checkpoints_failed = 1;
        let l = line.update(&p, t).unwrap();
        assert!(l.contains("0 checkpoints, 1 failed"), "{l}");
        assert!(!l.contains('\u{1b}'), "{l}");
        p.status = "FAILING".into();
        assert!(line.update(&p, t).is_some());
        line.clear();
    }
}
