//! Translation rule: the upsert keys of a changelog (Flink's `FlinkRelMdUpsertKeys`) and, in
//! front of a sink with a PRIMARY KEY, Flink's SinkUpsertMaterializer where they do not match
//! the sink's key (`table.exec.sink.upsert-materialize`).
//!
//! Strom's upsert sinks (jdbc, upsert-kafka) write `+I`/`+U` by the table's key, delete on
//! `-D` and skip `-U`, which is right only when the changelog's own unique key is the table's
//! key: then the `+U` after each `-U` rewrites the same row. Otherwise (a join, an aggregate
//! grouped by other columns, a Top-N by RANK) the materializer keeps every row per table key
//! and hands the sink upserts and deletes of that key. Flink skips it also when an upsert key
//! is a proper subset of the table's key, because its sinks then receive `-U` and delete on
//! it; Strom's skip `-U`, so it materializes there too.

use super::*;
use strom_plan::UpsertMaterializeSpec;

/// `table.exec.sink.upsert-materialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Materialize {
    /// Never (Flink's `NONE`).
    Never,
    /// Where no upsert key of the result is the table's key (`AUTO`).
    Auto,
    /// Wherever a changelog goes into a table with a key (`FORCE`).
    Always,
}

impl Materialize {
    pub(super) fn of(config: &Configuration) -> Result<Self, SqlError> {
        Ok(
            match config_value(options::SINK_UPSERT_MATERIALIZE.choice(config))?.as_str() {
                "none" => Materialize::Never,
                "force" => Materialize::Always,
                _ => Materialize::Auto,
            },
        )
    }
}

/// The upsert keys of an updating operator's output, from the operator alone: a non-windowed
/// aggregate's group (its first output columns); a Top-N by ROW_NUMBER's partition and rank
/// (and its partition alone when it keeps one row).
pub(super) fn of_operator(op: &OperatorSpec) -> Vec<Vec<usize>> {
    match op {
        OperatorSpec::Aggregate(a) if a.changelog => vec![(0..a.group_by.len()).collect()],
        OperatorSpec::Rank(r) if r.rank_type == RankType::RowNumber => {
            let rank = r.input.without_op().len();
            let mut with_rank = r.partition_by.clone();
            with_rank.push(rank);
            let mut keys = vec![with_rank];
            if r.limit == 1 {
                keys.push(r.partition_by.clone());
            }
            keys
        }
        _ => vec![],
    }
}

/// The upsert keys `keys` of a Calc's input as its output columns (`pos`: the output column
/// that passes input column `c` through, if any): the keys all of whose columns pass.
pub(super) fn through_calc(
    keys: &[Vec<usize>],
    pos: impl Fn(usize) -> Option<usize>,
) -> Vec<Vec<usize>> {
    keys.iter()
        .filter_map(|k| k.iter().map(|c| pos(*c)).collect())
        .collect()
}

/// The input column (of `input`) that Calc output expression `e` passes through with its
/// values kept distinct: the column itself, or cast to its own type or from an integer to
/// BIGINT (a ROW_NUMBER's rank becomes Flink's BIGINT so).
pub(super) fn key_column(input: &RowSchema, e: &Expr) -> Option<usize> {
    match calc::unalias_expr(e) {
        Expr::Cast(c) => {
            let i = col_index(input, &unqualify(c.expr.as_ref().clone()))?;
            let (from, to) = (input.columns[i].ty.to_arrow(), c.field.data_type());
            let lossless = from == *to || from.is_integer() && *to == DataType::Int64;
            lossless.then_some(i)
        }
        e => col_index(input, &unqualify(e.clone())),
    }
}

/// Whether a changelog of upsert keys `keys` needs materializing for a table keyed by `pk`.
pub(super) fn needs_materializer(mode: Materialize, keys: &[Vec<usize>], pk: &[usize]) -> bool {
    let same = |k: &Vec<usize>| {
        let (mut a, mut b) = (k.clone(), pk.to_vec());
        a.sort_unstable();
        a.dedup();
        b.sort_unstable();
        b.dedup();
        a == b
    };
    match mode {
        Materialize::Never => false,
        Materialize::Always => true,
        Materialize::Auto => !keys.iter().any(same),
    }
}

impl Builder<'_> {
    /// What the sink of `table` reads, given its input node `i` and the sink's parallelism
    /// (`sink.parallelism`): `i` itself, or a SinkMaterializer over `i` (see the module), and
    /// how the rows travel to the sink. A changelog reaching a sink of another parallelism is
    /// hashed by the table's key (Flink's rule), so the changes of one key stay in order; it
    /// needs a key.
    pub(super) fn sink_input(
        &mut self,
        table: &TableSpec,
        i: usize,
        sink_parallelism: Option<u32>,
    ) -> Result<(usize, Ship), SqlError> {
        if !self.nodes[i].updating {
            return Ok((i, Ship::Forward));
        }
        let pk: Vec<usize> = table
            .primary_key
            .iter()
            .map(|k| {
                table.schema.index_of(k).ok_or_else(|| {
                    SqlError::new(format!(
                        "table {}: the primary key column '{k}' is not a column",
                        table.name
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut input = i;
        if !pk.is_empty() && needs_materializer(self.materialize, &self.nodes[i].upsert_keys, &pk) {
            let ttl = self.state_ttl_ms;
            self.note_state_bound(
                "SinkMaterializer",
                &format!(
                    "keeps every row of the result per key of table {}",
                    table.name
                ),
                &[ttl],
            );
            let spec = UpsertMaterializeSpec {
                output: self.out(i).clone(),
                key: pk.clone(),
                state_ttl_ms: ttl,
            };
            input = self.add(
                OperatorSpec::UpsertMaterialize(spec),
                vec![(i, Ship::Hash(pk.clone()))],
                None,
            );
            if let Some(p) = sink_parallelism {
                self.nodes[input].parallelism = p;
            }
            self.nodes[input].upsert_keys = vec![pk.clone()];
        }
        let from = self.nodes[input].parallelism;
        match sink_parallelism {
            Some(p) if p != from && pk.is_empty() => Err(SqlError::new(format!(
                "the sink for table '{}' has a configured parallelism {p}, while the input parallelism is {from}; since the two differ and the input is a changelog (not INSERT_ONLY), the table needs a primary key to keep the changes of each key in order, but it has none",
                table.name
            ))),
            Some(p) if p != from => Ok((input, Ship::Hash(pk))),
            _ => Ok((input, Ship::Forward)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_is_materialized_unless_an_upsert_key_is_the_tables_key() {
        use Materialize::*;
        let keys = vec![vec![1, 0], vec![2]];
        assert!(!needs_materializer(Auto, &keys, &[0, 1]));
        assert!(!needs_materializer(Auto, &keys, &[2]));
        // a subset or a superset of an upsert key is not the key
        assert!(needs_materializer(Auto, &keys, &[0]));
        assert!(needs_materializer(Auto, &keys, &[0, 1, 2]));
        assert!(needs_materializer(Auto, &[], &[0]));
        assert!(needs_materializer(Always, &keys, &[2]));
        assert!(!needs_materializer(Never, &[], &[0]));
    }

    #[test]
    fn keys_pass_a_calc_whole_or_not_at_all() {
        // the Calc's output: input columns 2 and 0, in that order
        let pos = |c: usize| [2, 0].iter().position(|x| *x == c);
        assert_eq!(
            through_calc(&[vec![0, 2], vec![1], vec![]], pos),
            vec![vec![1, 0], vec![]]
        );
    }
}
