//! Translation rule: lookup joins. A join with a table read `FOR SYSTEM_TIME AS OF` a
//! processing-time attribute (see [`crate::lookup`]) becomes Strom's LookupJoin operator: INNER
//! or LEFT, the table on the right, each stream row joined with what the table holds when the
//! row arrives (Flink's semantics; a later change of the table changes no emitted row).

use super::join::{join_output, qualified_names};
use super::*;

impl Builder<'_> {
    /// The table scan a join's right side is, when it is a lookup table.
    pub(super) fn lookup_scan<'p>(
        &self,
        plan: &'p LogicalPlan,
    ) -> Option<&'p datafusion::logical_expr::TableScan> {
        match plan {
            LogicalPlan::SubqueryAlias(a) if self.lookups.contains(a.alias.table()) => {
                match a.input.as_ref() {
                    LogicalPlan::TableScan(s) => Some(s),
                    _ => None,
                }
            }
            LogicalPlan::TableScan(s) if self.lookups.contains(s.table_name.table()) => Some(s),
            _ => None,
        }
    }

    pub(super) fn lookup_join(
        &mut self,
        j: &datafusion::logical_expr::Join,
        scan: &datafusion::logical_expr::TableScan,
    ) -> Result<usize, SqlError> {
        use datafusion::logical_expr::JoinType as DfJoin;
        let join_type = match j.join_type {
            DfJoin::Inner => JoinType::Inner,
            DfJoin::Left => JoinType::Left,
            other => {
                return Err(SqlError::new(format!(
                    "a lookup join (FOR SYSTEM_TIME AS OF) is INNER or LEFT, with the lookup table on the right; this one is {other}"
                )))
            }
        };
        let table_name = scan.table_name.table().to_string();
        let table = self
            .catalog
            .tables
            .get(&table_name)
            .cloned()
            .ok_or_else(|| SqlError::new(format!("unknown lookup table '{table_name}'")))?;
        let condition = lookup_condition(j, scan, &table_name)?;
        let mut input = self.translate(&j.left)?;
        if self.nodes[input].updating {
            return Err(SqlError::new(
                "a lookup join of an updating result is not supported yet; Strom looks up rows of append-only streams",
            ));
        }
        let (projection, dim) = lookup_columns(&table, scan);
        // the stream's key expressions become columns (computed first where they are not)
        let base = self.out(input).clone();
        let mut extra: Vec<(String, Expr)> = Vec::new();
        let mut keys = Vec::new();
        for (a, b) in &j.on {
            let a = unqualify(self.resolve(input, a.clone()));
            let lk = super::aggregate::column_for(&a, &base, &mut extra);
            let rk = col_index(&dim, &unqualify(b.clone())).ok_or_else(|| {
                SqlError::new(format!(
                    "a lookup join looks up columns of table '{table_name}'; '{b}' is not one"
                ))
            })?;
            keys.push((lk, rk));
        }
        if keys.is_empty() {
            return Err(SqlError::new(format!(
                "a lookup join needs an equality condition on a column of table '{table_name}'"
            )));
        }
        let (rowtime, proctime) = (self.nodes[input].rowtime, self.nodes[input].proctime);
        if !extra.is_empty() {
            input = self.project_computed(input, &base, &extra)?;
        }
        let ls = self.out(input).clone();
        for (lk, rk) in &keys {
            if ls.columns[*lk].ty != dim.columns[*rk].ty {
                return Err(SqlError::new(format!(
                    "lookup key {} ({}) and {} ({}) have different types; CAST one of them",
                    ls.columns[*lk].name,
                    ls.columns[*lk].ty,
                    dim.columns[*rk].name,
                    dim.columns[*rk].ty
                )));
            }
        }
        // the pair's names: the stream's (with the computed keys), then the table's
        let mut fields = qualified_names(j.left.schema());
        fields.extend(extra.iter().map(|(n, _)| (None, n.clone())));
        fields.extend(qualified_names(j.right.schema()));
        if fields.len() != ls.len() + dim.len() {
            return Err(SqlError::new(
                "internal: the lookup join's schema does not match its inputs",
            ));
        }
        let output = join_output(&fields, &ls, &dim, join_type);
        let filter = condition
            .as_ref()
            .map(|f| encode(&to_unique_names(f.clone(), &fields, &output)))
            .transpose()?;
        let ttl = cache_ttl(&table)?;
        let (partial_cache, full_cache) = lookup_cache(&table)?;
        let (input_keys, dim_keys): (Vec<usize>, Vec<usize>) = keys.into_iter().unzip();
        let n = self.add(
            OperatorSpec::LookupJoin(LookupJoinSpec {
                input: ls,
                table,
                projection,
                dim,
                join_type,
                input_keys,
                dim_keys,
                filter,
                cache_ttl_ms: ttl.as_millis().min(i64::MAX as u128) as i64,
                partial_cache,
                full_cache,
                output,
            }),
            vec![(input, Ship::Forward)],
            None,
        );
        self.nodes[n].rowtime = rowtime;
        self.nodes[n].proctime = proctime;
        self.nodes[n].qualified = Some(fields);
        Ok(n)
    }
}

/// The join's condition besides its keys, with the condition on the table alone (pushed into
/// its scan): a row failing it is no partner. Its columns are named as the join's right side
/// names them.
fn lookup_condition(
    j: &datafusion::logical_expr::Join,
    scan: &datafusion::logical_expr::TableScan,
    table: &str,
) -> Result<Option<Expr>, SqlError> {
    let right = qualified_names(j.right.schema());
    let mut condition = j.filter.clone();
    for f in &scan.filters {
        let f = requalify(f.clone(), &right, table)?;
        condition = Some(match condition {
            Some(c) => c.and(f),
            None => f,
        });
    }
    Ok(condition)
}

/// `e` (over the lookup table's columns) with each column qualified as the join's right side
/// (`right`: its qualified names) names it.
fn requalify(e: Expr, right: &[(Option<String>, String)], table: &str) -> Result<Expr, SqlError> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    e.transform(|x| match x {
        Expr::Column(c) => match right.iter().find(|(_, n)| *n == c.name) {
            Some((q, n)) => Ok(Transformed::yes(Expr::Column(
                datafusion::common::Column::new(q.clone(), n),
            ))),
            None => Err(datafusion::error::DataFusionError::Plan(format!(
                "the condition on lookup table '{table}' reads column '{}', which the query does not select; select it too",
                c.name
            ))),
        },
        other => Ok(Transformed::no(other)),
    })
    .map(|t| t.data)
    .map_err(|e| SqlError::new(e.to_string()))
}

/// A filesystem lookup table's `lookup.join.cache.ttl` (Flink's default: 60 min).
fn cache_ttl(table: &TableSpec) -> Result<std::time::Duration, SqlError> {
    match table.options.get("lookup.join.cache.ttl") {
        None => Ok(std::time::Duration::from_secs(3600)),
        Some(v) => strom_common::config::parse_duration(v).ok_or_else(|| {
            SqlError::new(format!(
                "table {}: 'lookup.join.cache.ttl' must be a duration such as '60 min', got '{v}'",
                table.name
            ))
        }),
    }
}

/// Flink's `lookup.cache` options of a table looked up by key: `'lookup.cache' = 'PARTIAL'`
/// with `lookup.partial-cache.*` (or the legacy `lookup.cache.max-rows` / `lookup.cache.ttl`),
/// or `'lookup.cache' = 'FULL'` with `lookup.full-cache.*`.
fn lookup_cache(
    table: &TableSpec,
) -> Result<(Option<LookupCache>, Option<FullCacheReload>), SqlError> {
    let opt = |k: &str| table.options.get(k).map(String::as_str);
    let bad = |k: &str, v: &str, what: &str| {
        SqlError::new(format!(
            "table {}: '{k}' must be {what}, got '{v}'",
            table.name
        ))
    };
    let millis = |k: &str| -> Result<u64, SqlError> {
        match opt(k) {
            None => Ok(0),
            Some(v) => strom_common::config::parse_duration(v)
                .map(|d| d.as_millis() as u64)
                .ok_or_else(|| bad(k, v, "a duration such as '10 min'")),
        }
    };
    let rows = |k: &str| -> Result<Option<u64>, SqlError> {
        opt(k)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(k, v, "a number of rows"))
            })
            .transpose()
    };
    let flag = |k: &str| -> Result<bool, SqlError> {
        match opt(k).map(str::to_ascii_lowercase).as_deref() {
            None | Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(bad(k, v, "true or false")),
        }
    };
    let partial = match opt("lookup.cache").map(str::to_ascii_uppercase).as_deref() {
        Some("PARTIAL") => Some(LookupCache {
            max_rows: rows("lookup.partial-cache.max-rows")?.unwrap_or(u64::MAX),
            expire_after_write_ms: millis("lookup.partial-cache.expire-after-write")?,
            expire_after_access_ms: millis("lookup.partial-cache.expire-after-access")?,
            cache_missing_key: flag("lookup.partial-cache.cache-missing-key")?,
        }),
        Some("FULL") => return Ok((None, Some(full_cache_reload(table)?))),
        Some("NONE") => None,
        Some(other) => return Err(bad("lookup.cache", other, "NONE, PARTIAL or FULL")),
        None => match rows("lookup.cache.max-rows")? {
            None => None,
            Some(max_rows) => Some(LookupCache {
                max_rows,
                expire_after_write_ms: millis("lookup.cache.ttl")?,
                expire_after_access_ms: 0,
                cache_missing_key: flag("lookup.cache.caching-missing-key")?,
            }),
        },
    };
    Ok((partial, None))
}

/// The reload schedule of a full lookup cache, from Flink's `lookup.full-cache.*` options:
/// `reload-strategy` `PERIODIC` (the default: `periodic-reload.interval`, required, and
/// `periodic-reload.schedule-mode` `FIXED_DELAY` or `FIXED_RATE`) or `TIMED`
/// (`timed-reload.iso-time`, required, and `timed-reload.interval-in-days`, 1 by default).
fn full_cache_reload(table: &TableSpec) -> Result<FullCacheReload, SqlError> {
    let opt = |k: &str| table.options.get(k).map(|v| v.trim());
    let bad = |k: &str, v: &str, what: &str| {
        SqlError::new(format!(
            "table {}: '{k}' must be {what}, got '{v}'",
            table.name
        ))
    };
    let required = |k: &str, strategy: &str, example: &str| {
        opt(k).ok_or_else(|| {
            SqlError::new(format!(
                "table {}: 'lookup.cache' = 'FULL' with the {strategy} reload strategy needs '{k}' (such as '{example}')",
                table.name
            ))
        })
    };
    const STRATEGY: &str = "lookup.full-cache.reload-strategy";
    match opt(STRATEGY).map(str::to_ascii_uppercase).as_deref() {
        None | Some("PERIODIC") => {
            const INTERVAL: &str = "lookup.full-cache.periodic-reload.interval";
            const MODE: &str = "lookup.full-cache.periodic-reload.schedule-mode";
            let v = required(INTERVAL, "PERIODIC", "1 h")?;
            let interval_ms = strom_common::config::parse_duration(v)
                .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
                .filter(|ms| *ms > 0)
                .ok_or_else(|| bad(INTERVAL, v, "a positive duration such as '1 h'"))?;
            let fixed_rate = match opt(MODE).map(str::to_ascii_uppercase).as_deref() {
                None | Some("FIXED_DELAY") => false,
                Some("FIXED_RATE") => true,
                Some(_) => {
                    return Err(bad(
                        MODE,
                        opt(MODE).unwrap_or(""),
                        "FIXED_DELAY or FIXED_RATE",
                    ))
                }
            };
            Ok(FullCacheReload::Periodic {
                interval_ms,
                fixed_rate,
            })
        }
        Some("TIMED") => {
            const AT: &str = "lookup.full-cache.timed-reload.iso-time";
            const DAYS: &str = "lookup.full-cache.timed-reload.interval-in-days";
            let v = required(AT, "TIMED", "10:15Z")?;
            let at_ms = iso_time_of_day_utc(v).ok_or_else(|| {
                bad(
                    AT,
                    v,
                    "an ISO-8601 time of day such as '10:15', '10:15:30Z' or '10:15+07:00'",
                )
            })?;
            let interval_days = match opt(DAYS) {
                None => 1,
                Some(d) => d
                    .parse::<u32>()
                    .ok()
                    .filter(|d| *d > 0)
                    .ok_or_else(|| bad(DAYS, d, "a positive number of days"))?,
            };
            Ok(FullCacheReload::Timed {
                at_ms,
                interval_days,
            })
        }
        Some(_) => Err(bad(
            STRATEGY,
            opt(STRATEGY).unwrap_or(""),
            "PERIODIC or TIMED",
        )),
    }
}

/// `HH:MM[:SS[.fff]]` with an optional zone (`Z`, `+hh:mm`, `-hh:mm`; none: UTC, the zone
/// Strom's processes run in) as milliseconds after midnight UTC.
fn iso_time_of_day_utc(text: &str) -> Option<u64> {
    let (time, offset_min) = match text.find(['Z', 'z', '+', '-']) {
        None => (text, 0i64),
        Some(i) => {
            let (time, zone) = text.split_at(i);
            let offset = match zone {
                "Z" | "z" => 0,
                _ => {
                    let sign = if zone.starts_with('-') { -1 } else { 1 };
                    let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
                    let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
                    if h > 18 || m > 59 {
                        return None;
                    }
                    sign * (h * 60 + m)
                }
            };
            (time, offset)
        }
    };
    let mut parts = time.split(':');
    let h = parts.next()?.parse::<i64>().ok()?;
    let m = parts.next()?.parse::<i64>().ok()?;
    let s = match parts.next() {
        None => 0.0,
        Some(s) => s.parse::<f64>().ok()?,
    };
    if parts.next().is_some()
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0.0..60.0).contains(&s)
    {
        return None;
    }
    let local_ms = (h * 3600 + m * 60) * 1000 + (s * 1000.0) as i64;
    Some((local_ms - offset_min * 60_000).rem_euclid(86_400_000) as u64)
}

/// The columns of lookup table `table` its scan reads: positions and schema.
fn lookup_columns(
    table: &TableSpec,
    scan: &datafusion::logical_expr::TableScan,
) -> (Vec<usize>, RowSchema) {
    let projection: Vec<usize> = scan
        .projection
        .clone()
        .unwrap_or_else(|| (0..table.schema.len()).collect());
    let dim = RowSchema::new(
        projection
            .iter()
            .map(|i| table.schema.columns[*i].clone())
            .collect(),
    );
    (projection, dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(opts: &[(&str, &str)]) -> TableSpec {
        TableSpec {
            name: "users".into(),
            schema: RowSchema::nullable(&[("id", SqlType::BigInt)]),
            options: opts
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            watermark: None,
            primary_key: vec![],
            partition_keys: vec![],
        }
    }

    fn full(opts: &[(&str, &str)]) -> Result<Option<FullCacheReload>, String> {
        let mut all = vec![("lookup.cache", "FULL")];
        all.extend_from_slice(opts);
        lookup_cache(&table(&all))
            .map(|(p, f)| {
                assert!(p.is_none());
                f
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn full_cache_options_as_flink_names_them() {
        assert_eq!(
            full(&[("lookup.full-cache.periodic-reload.interval", "10 min")]),
            Ok(Some(FullCacheReload::Periodic {
                interval_ms: 600_000,
                fixed_rate: false
            }))
        );
        assert_eq!(
            full(&[
                ("lookup.full-cache.reload-strategy", "periodic"),
                ("lookup.full-cache.periodic-reload.interval", "2 s"),
                (
                    "lookup.full-cache.periodic-reload.schedule-mode",
                    "FIXED_RATE"
                ),
            ]),
            Ok(Some(FullCacheReload::Periodic {
                interval_ms: 2000,
                fixed_rate: true
            }))
        );
        assert_eq!(
            full(&[
                ("lookup.full-cache.reload-strategy", "TIMED"),
                ("lookup.full-cache.timed-reload.iso-time", "10:15+07:00"),
                ("lookup.full-cache.timed-reload.interval-in-days", "2"),
            ]),
            Ok(Some(FullCacheReload::Timed {
                at_ms: 3 * 3_600_000 + 15 * 60_000,
                interval_days: 2
            }))
        );
        for (opts, says) in [
            (vec![], "needs 'lookup.full-cache.periodic-reload.interval'"),
            (
                vec![("lookup.full-cache.periodic-reload.interval", "soon")],
                "must be a positive duration",
            ),
            (
                vec![
                    ("lookup.full-cache.periodic-reload.interval", "1 h"),
                    (
                        "lookup.full-cache.periodic-reload.schedule-mode",
                        "SOMETIMES",
                    ),
                ],
                "FIXED_DELAY or FIXED_RATE",
            ),
            (
                vec![("lookup.full-cache.reload-strategy", "TIMED")],
                "needs 'lookup.full-cache.timed-reload.iso-time'",
            ),
            (
                vec![
                    ("lookup.full-cache.reload-strategy", "TIMED"),
                    ("lookup.full-cache.timed-reload.iso-time", "25:00"),
                ],
                "an ISO-8601 time of day",
            ),
            (
                vec![
                    ("lookup.full-cache.reload-strategy", "TIMED"),
                    ("lookup.full-cache.timed-reload.iso-time", "10:15"),
                    ("lookup.full-cache.timed-reload.interval-in-days", "0"),
                ],
                "a positive number of days",
            ),
            (
                vec![("lookup.full-cache.reload-strategy", "HOURLY")],
                "PERIODIC or TIMED",
            ),
        ] {
            let e = full(&opts).expect_err("refused");
            assert!(e.contains(says), "{e}");
        }
        let e = lookup_cache(&table(&[("lookup.cache", "ALL")])).expect_err("refused");
        assert!(e.to_string().contains("NONE, PARTIAL or FULL"), "{e}");
    }

    #[test]
    fn iso_times_of_day() {
        assert_eq!(iso_time_of_day_utc("00:00"), Some(0));
        assert_eq!(iso_time_of_day_utc("10:15"), Some(36_900_000));
        assert_eq!(iso_time_of_day_utc("10:15Z"), Some(36_900_000));
        assert_eq!(iso_time_of_day_utc("10:15:30.5Z"), Some(36_930_500));
        assert_eq!(iso_time_of_day_utc("01:00+02:00"), Some(23 * 3_600_000));
        assert_eq!(iso_time_of_day_utc("23:30-01:00"), Some(30 * 60_000));
        for bad in [
            "",
            "10",
            "24:00",
            "10:60",
            "10:15:61",
            "10:15+19:00",
            "a:b",
            "1:2:3:4",
        ] {
            assert_eq!(iso_time_of_day_utc(bad), None, "{bad}");
        }
    }
}
