"""Runs one TPC-H query on a peer engine over the same CSV or Parquet files as Strom (bench/tpch.sh).

  tpch_peer.py duckdb|datafusion <schema.sql> <data dir> <query.sql>

Prints the query's time in seconds (reading the files included, as Strom reads them) and
its row count. Two threads (DuckDB) or two partitions (DataFusion), as Strom's p=2.
"""
import os, re, sys, time

FLINK_TO_DUCK = {"STRING": "VARCHAR", "INT": "INTEGER", "BIGINT": "BIGINT", "DATE": "DATE"}


def tables(schema_sql):
    for m in re.finditer(r"CREATE TABLE (\w+) \((.*?)\)\s*WITH", schema_sql, re.S):
        cols = []
        for c in re.split(r",\s*(?![^()]*\))", m.group(2).strip()):
            name, ty = c.split(None, 1)
            cols.append((name, ty.strip()))
        yield m.group(1), cols


def duckdb_run(schema_sql, data, sql):
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for t, cols in tables(schema_sql):
        if os.path.exists(f"{data}/{t}.parquet"):
            cast = ", ".join(f"CAST({n} AS {FLINK_TO_DUCK.get(ty, ty)}) AS {n}" for n, ty in cols)
            con.execute(f"CREATE VIEW {t} AS SELECT {cast} FROM read_parquet('{data}/{t}.parquet')")
            continue
        spec = ", ".join(f"'{n}': '{FLINK_TO_DUCK.get(ty, ty)}'" for n, ty in cols)
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_csv('{data}/{t}.csv', header = false, "
                    f"auto_detect = false, quote = '\"', columns = {{{spec}}})")
    start = time.time()
    rows = con.execute(sql).fetchall()
    return time.time() - start, len(rows)


def arrow_type(ty):
    import pyarrow as pa
    m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", ty)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return {"STRING": pa.string(), "INT": pa.int32(), "BIGINT": pa.int64(), "DATE": pa.date32()}[ty]


def datafusion_run(schema_sql, data, sql):
    import datafusion, pyarrow as pa
    ctx = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(2))
    for t, cols in tables(schema_sql):
        schema = pa.schema([(n, arrow_type(ty)) for n, ty in cols])
        if os.path.exists(f"{data}/{t}.parquet"):
            ctx.register_parquet(t, f"{data}/{t}.parquet")
            continue
        ctx.register_csv(t, f"{data}/{t}.csv", schema=schema, has_header=False)
    start = time.time()
    rows = ctx.sql(sql).collect()
    return time.time() - start, sum(b.num_rows for b in rows)


if __name__ == "__main__":
    engine, schema, data, query = sys.argv[1:5]
    run = {"duckdb": duckdb_run, "datafusion": datafusion_run}[engine]
    secs, n = run(open(schema).read(), data, open(query).read())
    print(f"{secs:.3f} {n}")
