//! Tests of the task loop: sources, inputs, barriers, watermarks and idleness.

use super::input_processor::{input_watermark, InputReceiver};
use super::source_loop::{subtask_watermark, SubtaskWatermark};
use super::*;
use crate::connector::{SourceReader, SplitState};
use crate::operator::Operator;
use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use std::collections::HashMap;
use std::sync::Mutex;

/// Records what reaches the chain: batch values and snapshots.
struct Record(Arc<Mutex<Vec<String>>>);

impl Operator for Record {
    fn name(&self) -> &str {
        "record"
    }
    fn process_batch(&mut self, b: RecordBatch, _: &mut dyn Output) -> Result<(), TaskError> {
        let v = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        self.0.lock().unwrap().push(format!("v{}", v.value(0)));
        Ok(())
    }
    fn snapshot_state(&mut self, id: u64) -> Result<Option<Vec<u8>>, TaskError> {
        self.0.lock().unwrap().push(format!("snapshot {id}"));
        Ok(Some(vec![id as u8]))
    }
}

struct Acks(Mutex<Vec<u64>>, Mutex<Vec<Vec<Option<Vec<u8>>>>>);

impl CheckpointListener for Acks {
    fn acknowledge(&self, id: u64, states: Vec<Option<Vec<u8>>>) {
        self.0.lock().unwrap().push(id);
        self.1.lock().unwrap().push(states);
    }
    fn decline(&self, id: u64, _kind: strom_common::DeclineKind, reason: String) {
        panic!("declined {id}: {reason}");
    }
}

fn batch(v: i64) -> StreamElement {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    StreamElement::Batch(
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![v]))]).unwrap(),
    )
}

/// Returns batches 1..=3; asks for checkpoint 1 while returning the second.
struct Reader {
    next: i64,
    trigger: crossbeam_channel::Sender<CheckpointTrigger>,
}

impl SourceReader for Reader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, crate::connector::ConnectorError> {
        self.next += 1;
        if self.next == 2 {
            self.trigger
                .send(CheckpointTrigger {
                    id: 1,
                    timestamp: 7,
                    stop: false,
                    drain: false,
                })
                .unwrap();
        }
        Ok((self.next <= 3).then(|| match batch(self.next) {
            StreamElement::Batch(b) => b,
            _ => unreachable!(),
        }))
    }
    fn snapshot_position(&mut self) -> Result<Option<Vec<u8>>, crate::connector::ConnectorError> {
        Ok(Some(vec![self.next as u8]))
    }
}

#[test]
fn a_source_snapshots_its_position_between_batches() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(Acks(Mutex::new(Vec::new()), Mutex::new(Vec::new())));
    let (tx, rx) = crossbeam_channel::unbounded();
    let ctx = TaskContext {
        shuffle: LocalShuffle::new(),
        network: None,
        connectors: Arc::new(ConnectorRegistry::new()),
        cancel: Arc::new(AtomicBool::new(false)),
        metrics: Arc::new(TaskMetrics::default()),
        checkpoints: Some(acks.clone()),
        checkpoint_triggers: Some(rx),
        checkpoint_notifications: None,
        restored: None,
        collect: None,
        batch_memory: Default::default(),
    };
    let mut chain = Chain {
        operators: vec![Box::new(Record(seen.clone()))],
    };
    let cancel = AtomicBool::new(false);
    let mut out = Outputs {
        writers: vec![],
        cancel: &cancel,
        metrics: &ctx.metrics,
        last_watermark: i64::MIN,
    };
    let reader = Box::new(Reader {
        next: 0,
        trigger: tx,
    });
    run_source(reader, None, false, &mut chain, &mut out, &ctx).unwrap();
    // the trigger came while batch 2 was read: the snapshot follows it
    assert_eq!(
        *seen.lock().unwrap(),
        ["v1", "v2", "snapshot 1", "v3"],
        "the operator state is taken between batches"
    );
    assert_eq!(*acks.0.lock().unwrap(), vec![1]);
    assert_eq!(
        acks.1.lock().unwrap()[0],
        vec![Some(vec![2]), Some(vec![1])],
        "reader position (after 2 batches), then the chain"
    );
}

#[test]
fn barriers_are_aligned_across_inputs() {
    for _ in 0..20 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let acks = Arc::new(Acks(Mutex::new(Vec::new()), Mutex::new(Vec::new())));
        let ctx = TaskContext {
            shuffle: LocalShuffle::new(),
            network: None,
            connectors: Arc::new(ConnectorRegistry::new()),
            cancel: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(TaskMetrics::default()),
            checkpoints: Some(acks.clone()),
            checkpoint_triggers: None,
            checkpoint_notifications: None,
            restored: None,
            collect: None,
            batch_memory: Default::default(),
        };
        // two inputs, everything queued up front: the select may take them in any order
        let mut inputs = Vec::new();
        for (g, vals) in [(0usize, [1i64, 2]), (1, [10, 20])] {
            let (tx, rx) = crossbeam_channel::unbounded();
            let barrier = StreamElement::Barrier {
                id: 1,
                timestamp: 5,
            };
            for e in [
                batch(vals[0]),
                barrier,
                batch(vals[1]),
                StreamElement::EndOfInput,
            ] {
                tx.send((0u32, e)).unwrap();
            }
            inputs.push(InputReceiver {
                rx,
                gate: g,
                input_index: 0,
                width: 1,
                open: 1,
                remote: HashMap::new(),
            });
        }
        let mut chain = Chain {
            operators: vec![Box::new(Record(seen.clone()))],
        };
        let cancel = AtomicBool::new(false);
        let mut out = Outputs {
            writers: vec![],
            cancel: &cancel,
            metrics: &ctx.metrics,
            last_watermark: i64::MIN,
        };
        run_inputs(inputs, &mut chain, &mut out, &ctx).unwrap();
        let seen = seen.lock().unwrap().clone();
        let at = |x: &str| seen.iter().position(|s| s == x).unwrap();
        let snap = at("snapshot 1");
        // what came before the barrier on both inputs is in the snapshot, nothing after it
        assert!(at("v1") < snap && at("v10") < snap, "{seen:?}");
        assert!(at("v2") > snap && at("v20") > snap, "{seen:?}");
        assert_eq!(*acks.0.lock().unwrap(), vec![1]);
        assert_eq!(acks.1.lock().unwrap()[0], vec![Some(vec![1])]);
    }
}

#[test]
fn finished_splits_neither_hold_back_the_watermark_nor_make_the_subtask_idle() {
    use SplitState::{Active, Finished, Idle};
    assert_eq!(
        subtask_watermark([(Active, 5), (Active, 9)]),
        SubtaskWatermark::At(5)
    );
    // a split read to its end no longer holds back the others
    assert_eq!(
        subtask_watermark([(Finished, 5), (Active, 9)]),
        SubtaskWatermark::At(9)
    );
    assert_eq!(
        subtask_watermark([(Idle, 5), (Active, 9)]),
        SubtaskWatermark::At(9)
    );
    // every split read to its end: the subtask is ending, not idle (issue 15: its final
    // watermark comes after what its chain still holds; idleness would let the consumers'
    // watermark pass that first)
    assert_eq!(
        subtask_watermark([(Finished, 5), (Finished, 9)]),
        SubtaskWatermark::Ending
    );
    assert_eq!(
        subtask_watermark([(Finished, 5), (Idle, 9)]),
        SubtaskWatermark::Idle
    );
    assert_eq!(subtask_watermark([(Idle, 5)]), SubtaskWatermark::Idle);
}

#[test]
fn idle_channels_do_not_hold_back_the_watermark() {
    // two inputs: [a, b] and [c]
    let wm = vec![vec![5, 9], vec![7]];
    let none = vec![vec![false, false], vec![false]];
    assert_eq!(input_watermark(&wm, &none), Some(5));
    // a idle: min over b and c
    let a_idle = vec![vec![true, false], vec![false]];
    assert_eq!(input_watermark(&wm, &a_idle), Some(7));
    // all idle: no watermark at all (the task itself goes idle)
    let all = vec![vec![true, true], vec![true]];
    assert_eq!(input_watermark(&wm, &all), None);
    // a channel that never sent a watermark holds everything back unless it is idle
    let fresh = vec![vec![i64::MIN, 9], vec![7]];
    assert_eq!(input_watermark(&fresh, &none), Some(i64::MIN));
    assert_eq!(input_watermark(&fresh, &a_idle), Some(7));
}
