//! `EXPLAIN`: a job's plan as text. Strom's plan is its JobGraph: one vertex per operator (the
//! JobMaster chains them when it builds the ExecutionGraph), each with its parallelism and the
//! description the Web UI shows, and the exchanges between them.

use strom_plan::{JobGraph, ShipStrategy};

/// The plan of `job`: its operators from the sources on, each with the inputs it reads.
pub fn explain(job: &JobGraph) -> String {
    let mut out = format!(
        "== Physical Execution Plan ==\njob '{}' ({:?})\n",
        job.name, job.job_type
    );
    let index = |id| job.vertices.iter().position(|v| v.id == id);
    for (i, v) in job.vertices.iter().enumerate() {
        let ops: Vec<String> = v.operators.iter().map(|o| o.description()).collect();
        out.push_str(&format!(
            "[{}] {}, parallelism={}\n",
            i + 1,
            ops.join(" -> "),
            v.parallelism
        ));
        let mut inputs: Vec<_> = job.edges.iter().filter(|e| e.target == v.id).collect();
        inputs.sort_by_key(|e| e.input_index);
        for e in inputs {
            let keys = match &e.ship_strategy {
                ShipStrategy::Hash { keys } => format!("{keys:?}"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "    <- [{}] {}{keys} {:?}\n",
                index(e.source).map_or(0, |s| s + 1),
                e.ship_strategy.name(),
                e.result_type
            ));
        }
    }
    out
}
