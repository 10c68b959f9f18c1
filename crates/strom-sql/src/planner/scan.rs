//! Translation rule: table scans into sources (projection, pushed-down filters and the watermark).

use super::*;

impl Builder<'_> {
    pub(super) fn scan(
        &mut self,
        scan: &datafusion::logical_expr::TableScan,
    ) -> Result<usize, SqlError> {
        let name = scan.table_name.table().to_string();
        let projected = row_schema(&scan.projected_schema)?;
        if let Some(n) = name.strip_prefix("__window_") {
            return self.window_scan(scan, n, projected);
        }
        let node = self.table_scan(scan, &name)?;
        if scan.filters.is_empty() {
            return Ok(node);
        }
        let pred = scan
            .filters
            .iter()
            .cloned()
            .reduce(|a, b| a.and(b))
            .expect("non-empty");
        let exprs = projected
            .columns
            .iter()
            .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
            .collect();
        self.calc(node, Some(pred), exprs, projected)
    }

    /// A scan of window table function `n` (see `window_tvf`): the table's source, the window
    /// table function, then the pushed-down filters and the projection.
    fn window_scan(
        &mut self,
        scan: &datafusion::logical_expr::TableScan,
        n: &str,
        projected: RowSchema,
    ) -> Result<usize, SqlError> {
        let w = self.tvfs[n
            .parse::<usize>()
            .map_err(|_| SqlError::new("bad window table"))?]
        .clone();
        let (src, src_out) = match self.catalog.tables.get(&w.table).cloned() {
            Some(table) => self.window_table_input(scan, &w, table, &projected)?,
            None => self.window_view_input(&w)?,
        };
        let tcol = src_out.index_of(&w.time_column).expect("projected");
        let tvf_out = window_schema(&src_out);
        let we = tvf_out.index_of("window_end").map(|we| {
            let attrs = ["window_start", "window_end", "window_time"]
                .iter()
                .filter_map(|n| tvf_out.index_of(n))
                .collect();
            (we, attrs)
        });
        let session = match w.window {
            WindowSpec::Session { gap_ms } => Some((
                gap_ms,
                w.partition_by.clone(),
                w.partition_by.iter().map(|k| tvf_out.index_of(k)).collect(),
            )),
            _ => None,
        };
        let tvf = self.add(
            OperatorSpec::WindowTableFunction(WindowTvfSpec {
                input: src_out,
                time_column: tcol,
                window: w.window.clone(),
                output: tvf_out,
            }),
            vec![(src, Ship::Forward)],
            we,
        );
        self.nodes[tvf].session = session;
        let exprs = projected
            .columns
            .iter()
            .map(|c| Expr::Column(datafusion::common::Column::new_unqualified(&c.name)))
            .collect();
        // the pushed-down filters run before the projection (they may read other columns)
        let filter = scan.filters.iter().cloned().reduce(|a, b| a.and(b));
        self.calc(tvf, filter, exprs, projected)
    }

    /// The rows of table `table` a window table function reads: its source, reading the
    /// projected columns, the time column and what the pushed-down filters need.
    fn window_table_input(
        &mut self,
        scan: &datafusion::logical_expr::TableScan,
        w: &WindowTvf,
        table: TableSpec,
        projected: &RowSchema,
    ) -> Result<(usize, RowSchema), SqlError> {
        let mut proj: Vec<usize> = projected
            .columns
            .iter()
            .filter_map(|c| table.schema.index_of(&c.name))
            .collect();
        let time_idx = table
            .schema
            .index_of(&w.time_column)
            .expect("checked when rewriting");
        if !proj.contains(&time_idx) {
            proj.push(time_idx);
        }
        add_filter_columns(&mut proj, &table.schema, &scan.filters);
        // batch mode has no watermarks (as Flink): windows fire at the end of the input, so
        // rows out of order are never late
        // a computed `PROCTIME()` column: processing-time windows
        let proctime = self.catalog.computed.get(&table.name).is_some_and(|cs| {
            cs.iter().any(|c| {
                c.name == w.time_column && c.sql.replace(' ', "").eq_ignore_ascii_case("proctime()")
            })
        });
        let watermark = match (&table.watermark, self.job_type) {
            (_, JobType::Batch) => None,
            _ if proctime => None,
            (Some(wm), _) if wm.column == w.time_column => {
                Some(self.source_watermark(&table, &proj, wm)?)
            }
            _ => return Err(not_time_attribute(w, "table")),
        };
        let src_out = table.schema.project(&proj);
        let mut spec = self.source_spec(table, proj, watermark)?;
        spec.processing_time = proctime && self.job_type == JobType::Streaming;
        Ok((self.add(OperatorSpec::Source(spec), vec![], None), src_out))
    }

    /// The rows of view `w.table` a window table function reads: the view's query, whose time
    /// column must be a time attribute (a table's rowtime, passed through) in streaming mode.
    fn window_view_input(&mut self, w: &WindowTvf) -> Result<(usize, RowSchema), SqlError> {
        let catalog = self.catalog;
        let view = catalog
            .views
            .iter()
            .find(|v| v.name == w.table)
            .ok_or_else(|| unknown_table(&w.table, catalog))?;
        let plan = Provider::new(self.state, catalog, &[], None)?.plan_view(view)?;
        let plan = self.state.optimize(&plan).map_err(df_error)?;
        let node = self.translate(&plan)?;
        let out = self.out(node).clone();
        let tcol = out.index_of(&w.time_column);
        if self.nodes[node].updating {
            return Err(SqlError::new(format!(
                "a window table function over view '{}' needs an append-only input, but the view's query produces updates",
                w.table
            )));
        }
        if self.job_type == JobType::Streaming
            && tcol.is_some()
            && self.nodes[node].proctime == tcol
        {
            self.processing_time_sources(node);
        } else if self.job_type == JobType::Streaming
            && (tcol.is_none() || self.nodes[node].rowtime != tcol)
        {
            return Err(not_time_attribute(w, "view"));
        }
        Ok((node, out))
    }

    /// Processing-time windows over node `n`'s rows: the sources it reads emit the wall clock
    /// as their watermark.
    fn processing_time_sources(&mut self, n: usize) {
        let inputs: Vec<usize> = self.nodes[n].inputs.iter().map(|(i, _)| *i).collect();
        if let OperatorSpec::Source(s) = &mut self.nodes[n].op {
            s.processing_time = true;
            s.watermark = None;
        }
        for i in inputs {
            self.processing_time_sources(i);
        }
    }

    /// A scan of table `name`: its source (with the watermark when the rowtime is read).
    fn table_scan(
        &mut self,
        scan: &datafusion::logical_expr::TableScan,
        name: &str,
    ) -> Result<usize, SqlError> {
        let table = self
            .catalog
            .tables
            .get(name)
            .cloned()
            .ok_or_else(|| unknown_table(name, self.catalog))?;
        let mut proj: Vec<usize> = match &scan.projection {
            Some(p) => p.clone(),
            None => (0..table.schema.len()).collect(),
        };
        // DataFusion pushes filters into the scan and leaves their columns out of its
        // projection: read them too, the Calc below drops them again
        add_filter_columns(&mut proj, &table.schema, &scan.filters);
        let out = table.schema.project(&proj);
        // the watermark, when the rowtime column is read (an interval join needs it)
        let rowtime = table
            .watermark
            .as_ref()
            .and_then(|wm| out.index_of(&wm.column).map(|i| (wm.clone(), i)));
        let watermark = match &rowtime {
            Some((wm, _)) if self.job_type == JobType::Streaming => {
                Some(self.source_watermark(&table, &proj, wm)?)
            }
            _ => None,
        };
        let spec = self.source_spec(table, proj, watermark)?;
        let n = self.add(OperatorSpec::Source(spec), vec![], None);
        self.nodes[n].rowtime = rowtime.map(|(_, i)| i);
        Ok(n)
    }

    pub(super) fn source_watermark(
        &self,
        table: &TableSpec,
        proj: &[usize],
        wm: &WatermarkSpec,
    ) -> Result<SourceWatermark, SqlError> {
        let out = table.schema.project(proj);
        let arrow = out.to_arrow();
        let df = DFSchema::try_from(Schema::new(
            arrow
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect::<Vec<Field>>(),
        ))
        .map_err(|e| SqlError::new(e.to_string()))?;
        let expr = self.state.create_logical_expr(&wm.sql, &df).map_err(|e| {
            SqlError::new(format!(
                "WATERMARK FOR {} AS {}: {}",
                wm.column,
                wm.sql,
                df_error(e)
            ))
        })?;
        let rowtime = out.index_of(&wm.column).expect("projected");
        let delay_ms = match time_term(&expr, &out) {
            Some((c, offset)) if c == rowtime => Some(-offset),
            _ => None,
        };
        Ok(SourceWatermark {
            rowtime,
            expr: encode(&expr)?,
            sql: wm.sql.clone(),
            delay_ms,
        })
    }
}

/// Adds to a scan's projection the columns of `schema` that only its pushed-down `filters` read.
pub(super) fn add_filter_columns(proj: &mut Vec<usize>, schema: &RowSchema, filters: &[Expr]) {
    for f in filters {
        for c in f.column_refs() {
            if let Some(i) = schema.index_of(&c.name) {
                if !proj.contains(&i) {
                    proj.push(i);
                }
            }
        }
    }
}

/// The error for a window whose DESCRIPTOR column is no time attribute in streaming mode.
fn not_time_attribute(w: &WindowTvf, what: &str) -> SqlError {
    SqlError::new(format!(
        "DESCRIPTOR({}) must be a time attribute in streaming mode: declare WATERMARK FOR {} AS ... in the table {what} '{}' reads (and pass the column through unchanged), or make it a processing-time attribute ({} AS PROCTIME()), or run with SET 'execution.runtime-mode' = 'batch'",
        w.time_column, w.time_column, w.table, w.time_column
    ))
}
