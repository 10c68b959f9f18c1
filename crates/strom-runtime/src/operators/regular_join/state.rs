//! The decision core of the regular join (sans-IO): the kept rows of both sides by join key,
//! each with its multiplicity and its number of partners, and the changes one input row makes
//! to the join's result, as Flink's `StreamingJoinOperator` and `StreamingSemiAntiJoinOperator`
//! decide them.
//!
//! A row of side `s` arrives with its kind and the positions of its partners among the other
//! side's kept rows of the same key (those that pass the rest of the join condition; the caller
//! evaluates it). The other side does not change while rows of side `s` are applied, so the
//! positions stay valid for a whole input batch.
//!
//! - **INNER / LEFT / RIGHT / FULL**: an addition joins the row with each partner (a partner
//!   kept `c` times gives `c` rows); a retraction retracts those rows. A row of an outer side
//!   without a partner is in the result padded with NULLs: when its first partner arrives the
//!   padded row is deleted, when its last partner leaves it is inserted again. An inner join
//!   forwards the input's kind (+I/+U/-U/-D); an outer join emits +I and -D, as Flink does.
//! - **Semi / anti**: the rows of the output side with a partner (semi) or without (anti); a
//!   row of the other side toggles the output rows whose partner count goes from 0 to 1 or
//!   from 1 to 0.
//!
//! A row with a NULL key has no partner and is not kept (its retraction finds none either).
//!
//! With a state time-to-live per side (see [`crate::operators::ttl`]), each kept row carries
//! the processing time of its last write (its own additions and retractions, and the changes
//! of its partner count where an outer or semi join tracks it); an expired row is no partner
//! (the caller leaves it out of `partners`, see [`JoinState::live`]), a row arriving for an
//! expired one starts it afresh, and [`JoinState::expire`] drops them.

use hashbrown::HashMap;
use indexmap::IndexMap;
use std::hash::Hash;
use strom_plan::RowKind;

/// Which rows the join outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// INNER, LEFT, RIGHT or FULL: which sides keep their rows without a partner.
    Join { outer: [bool; 2] },
    /// The rows of `side` with a partner (semi) or without one (anti).
    Semi { side: usize, anti: bool },
}

/// A kept row's multiplicity, how many rows of the other side it is joined with, and the
/// processing time of its last write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub count: u64,
    pub partners: u64,
    pub written: i64,
}

/// One change of the join's result: the left and right rows (`None`: padded with NULLs; a
/// semi or anti join sets only its output side), `times` copies of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<R> {
    pub rows: [Option<R>; 2],
    pub kind: RowKind,
    pub times: u64,
}

/// The kept rows of one key, in a stable order while the other side is applied.
pub type Rows<R> = IndexMap<R, Counts>;

/// The kept rows of both sides.
#[derive(Debug)]
pub struct JoinState<R> {
    mode: Mode,
    sides: [HashMap<Box<[u8]>, Rows<R>>; 2],
    /// Each side's state time-to-live (ms of processing time; 0: for good).
    ttl_ms: [i64; 2],
}

impl<R: Eq + Hash + Clone> JoinState<R> {
    pub fn new(mode: Mode, ttl_ms: [u64; 2]) -> Self {
        Self {
            mode,
            sides: [HashMap::new(), HashMap::new()],
            ttl_ms: ttl_ms.map(|t| t.min(i64::MAX as u64) as i64),
        }
    }

    /// Whether a kept row of `side` with `counts` is alive at processing time `now`.
    pub fn live(&self, side: usize, counts: &Counts, now: i64) -> bool {
        self.ttl_ms[side] == 0 || now.saturating_sub(counts.written) < self.ttl_ms[side]
    }

    /// Drops the rows that are not alive at `now`.
    pub fn expire(&mut self, now: i64) {
        for side in 0..2 {
            let ttl = self.ttl_ms[side];
            if ttl == 0 {
                continue;
            }
            self.sides[side].retain(|_, rows| {
                rows.retain(|_, c| now.saturating_sub(c.written) < ttl);
                !rows.is_empty()
            });
        }
    }

    /// The kept rows of `side` with join key `key`.
    pub fn rows(&self, side: usize, key: &[u8]) -> Option<&Rows<R>> {
        self.sides[side].get(key)
    }

    /// Every kept row of `side` with its key.
    pub fn iter(&self, side: usize) -> impl Iterator<Item = (&[u8], &R, Counts)> {
        self.sides[side]
            .iter()
            .flat_map(|(k, rows)| rows.iter().map(move |(r, c)| (k.as_ref(), r, *c)))
    }

    /// Whether no row is kept.
    pub fn is_empty(&self) -> bool {
        self.sides.iter().all(|s| s.is_empty())
    }

    /// Keeps a restored row (its changes were emitted before the checkpoint).
    pub fn restore(&mut self, side: usize, key: &[u8], row: R, counts: Counts) {
        let c = self.sides[side]
            .entry_ref(key)
            .or_default()
            .entry(row)
            .or_default();
        c.count += counts.count;
        c.partners = counts.partners;
        c.written = c.written.max(counts.written);
    }

    /// Applies a row of `side` with kind `kind` and join key `key` (`None`: a NULL in the key),
    /// whose partners are the other side's live kept rows of that key at positions
    /// `partners`, at processing time `now`; appends the changes of the result to `out`.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        side: usize,
        key: Option<&[u8]>,
        row: R,
        kind: RowKind,
        partners: &[usize],
        now: i64,
        out: &mut Vec<Change<R>>,
    ) {
        let ttl = self.ttl_ms[side];
        let [a, b] = &mut self.sides;
        let (mine, theirs) = if side == 0 { (a, b) } else { (b, a) };
        let mut none = Rows::new();
        let others = match key {
            Some(k) if !partners.is_empty() => theirs.get_mut(k).unwrap_or(&mut none),
            _ => &mut none,
        };
        let matched: u64 = partners
            .iter()
            .filter_map(|j| others.get_index(*j))
            .map(|(_, c)| c.count)
            .sum();
        let add = kind.is_addition();
        match self.mode {
            Mode::Join { outer } => join_changes(
                side,
                outer,
                &row,
                kind,
                (others, partners),
                (matched, now),
                out,
            ),
            Mode::Semi { side: s, anti } if s == side => {
                if (matched > 0) != anti {
                    let mut rows = [None, None];
                    rows[side] = Some(row.clone());
                    out.push(Change {
                        rows,
                        kind,
                        times: 1,
                    });
                }
            }
            Mode::Semi { anti, .. } => semi_toggles(side, anti, add, (others, partners), now, out),
        }
        let Some(key) = key else { return };
        let expired = |c: &Counts| ttl > 0 && now.saturating_sub(c.written) >= ttl;
        if add {
            let c = mine.entry_ref(key).or_default().entry(row).or_default();
            if expired(c) {
                *c = Counts::default();
            }
            c.count += 1;
            c.partners = matched;
            c.written = now;
        } else if let Some(rows) = mine.get_mut(key) {
            if let Some(c) = rows.get_mut(&row) {
                c.count = if expired(c) { 0 } else { c.count - 1 };
                c.written = now;
                if c.count == 0 {
                    rows.swap_remove(&row);
                }
            }
            if rows.is_empty() {
                mine.remove(key);
            }
        }
    }
}

/// The changes of a row of `side` (kind `kind`, `matched` partners counted with multiplicity)
/// to an INNER / LEFT / RIGHT / FULL join whose outer sides are `outer`.
fn join_changes<R: Eq + Hash + Clone>(
    side: usize,
    outer: [bool; 2],
    row: &R,
    kind: RowKind,
    (others, partners): (&mut Rows<R>, &[usize]),
    (matched, now): (u64, i64),
    out: &mut Vec<Change<R>>,
) {
    let other = 1 - side;
    let add = kind.is_addition();
    let pair = |o: Option<&R>| -> [Option<R>; 2] {
        let mut rows = [None, None];
        rows[side] = Some(row.clone());
        rows[other] = o.cloned();
        rows
    };
    let alone = |o: &R| -> [Option<R>; 2] {
        let mut rows = [None, None];
        rows[other] = Some(o.clone());
        rows
    };
    let joined_kind = match (outer[0] || outer[1], add) {
        (false, _) => kind,
        (true, true) => RowKind::Insert,
        (true, false) => RowKind::Delete,
    };
    if matched == 0 && outer[side] {
        out.push(Change {
            rows: pair(None),
            kind: if add {
                RowKind::Insert
            } else {
                RowKind::Delete
            },
            times: 1,
        });
    }
    for j in partners {
        let Some((o, c)) = others.get_index_mut(*j) else {
            continue;
        };
        // an outer partner's padded row leaves with its first partner, comes back after its last
        if add && outer[other] && c.partners == 0 {
            out.push(Change {
                rows: alone(o),
                kind: RowKind::Delete,
                times: c.count,
            });
        }
        out.push(Change {
            rows: pair(Some(o)),
            kind: joined_kind,
            times: c.count,
        });
        if !add && outer[other] && c.partners == 1 {
            out.push(Change {
                rows: alone(o),
                kind: RowKind::Insert,
                times: c.count,
            });
        }
        c.partners = if add {
            c.partners + 1
        } else {
            c.partners.saturating_sub(1)
        };
        // an outer side's partner count is written state (Flink's `OuterJoinRecordStateView`)
        if outer[other] {
            c.written = now;
        }
    }
}

/// The changes a row of the non-output side of a semi or anti join makes: its partners on the
/// output side whose partner count leaves or reaches 0 come in or go out.
fn semi_toggles<R: Eq + Hash + Clone>(
    side: usize,
    anti: bool,
    add: bool,
    (others, partners): (&mut Rows<R>, &[usize]),
    now: i64,
    out: &mut Vec<Change<R>>,
) {
    for j in partners {
        let Some((o, c)) = others.get_index_mut(*j) else {
            continue;
        };
        let toggles = if add {
            c.partners == 0
        } else {
            c.partners == 1
        };
        if toggles {
            let mut rows = [None, None];
            rows[1 - side] = Some(o.clone());
            out.push(Change {
                rows,
                kind: if add != anti {
                    RowKind::Insert
                } else {
                    RowKind::Delete
                },
                times: c.count,
            });
        }
        c.partners = if add {
            c.partners + 1
        } else {
            c.partners.saturating_sub(1)
        };
        c.written = now;
    }
}
