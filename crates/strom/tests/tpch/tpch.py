"""TPC-H answers from DuckDB (PyPI), the oracle of Strom's TPC-H test (e2e_tpch.rs).

  tpch.py sink  <schema.sql> <data dir> <query.sql>             prints Strom's sink DDL + INSERT
                                                               (the sink's path is '{out}')
  tpch.py check <schema.sql> <data dir> <query.sql> <out dir>... compares Strom's outputs with DuckDB's
  tpch.py rows  <schema.sql> <data dir> <query.sql>             prints DuckDB's rows ('a | b')

A query file may declare views before its query (statements separated by ';'). Both read the
tables with the types of bench/tpch/schema.sql (CSV files without a header, or Parquet
files <table>.parquet where the data directory has them). The
sink has DuckDB's result columns: integers as BIGINT, other numbers as DOUBLE, dates as DATE,
the rest as STRING. `check` reads the sink's CSV or Parquet part files: rows as a multiset, numbers within 1e-6 (relative beyond 1), and
for a query with ORDER BY the order of Strom's rows (one sink file) on DuckDB's sort keys.
"""
import csv, datetime, decimal, glob, math, os, re, sys
import duckdb

FLINK_TO_DUCK = {"STRING": "VARCHAR", "INT": "INTEGER", "BIGINT": "BIGINT", "DATE": "DATE"}


def load(con, schema_sql, data_dir):
    for m in re.finditer(r"CREATE TABLE (\w+) \((.*?)\)\s*WITH", schema_sql, re.S):
        table, cols = m.group(1), m.group(2)
        columns = {}
        for c in re.split(r",\s*(?![^()]*\))", cols.strip()):
            name, ty = c.split(None, 1)
            ty = ty.strip()
            columns[name] = FLINK_TO_DUCK.get(ty, ty)
        spec = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
        parquet = os.path.join(data_dir, f"{table}.parquet")
        if os.path.exists(parquet):
            cast = ", ".join(f"CAST({k} AS {v}) AS {k}" for k, v in columns.items())
            con.execute(f"CREATE VIEW {table} AS SELECT {cast} FROM read_parquet('{parquet}')")
            continue
        path = os.path.join(data_dir, f"{table}.csv")
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_csv('{path}', header = false, "
            f"auto_detect = false, quote = '\"', columns = {{{spec}}})"
        )


def statements(query):
    """The statements of a query file: views it declares first, then the query."""
    parts = [p.strip() for p in open(query).read().split(";") if p.strip()]
    return parts[:-1], parts[-1]


def answer(schema, data, query):
    con = duckdb.connect()
    con.execute("SET threads = 2")
    load(con, open(schema).read(), data)
    setup, last = statements(query)
    for stmt in setup:
        con.execute(stmt)
    cur = con.execute(last)
    names = [d[0] for d in cur.description]
    types = [str(d[1]) for d in cur.description]
    return names, types, cur.fetchall()


def flink_type(duck):
    if duck in ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT"):
        return "BIGINT"
    if duck.startswith("DECIMAL") or duck in ("DOUBLE", "FLOAT"):
        return "DOUBLE"
    if duck == "DATE":
        return "DATE"
    return "STRING"


def sink(schema, data, query):
    names, types, _ = answer(schema, data, query)
    cols = ", ".join(f"`{n}` {flink_type(t)}" for n, t in zip(names, types))
    print(f"CREATE TABLE tpch_out ({cols}) WITH ('connector' = 'filesystem', "
          "'path' = '{out}', 'format' = 'csv');")
    setup, last = statements(query)
    for stmt in setup:
        print(stmt + ";")
    print("INSERT INTO tpch_out " + last + ";")


def norm(v, ty):
    if v is None or v == "":
        return None
    t = flink_type(ty)
    if t in ("BIGINT", "DOUBLE"):
        return float(v)
    return str(v)


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6) or abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return a == b


def key(row):
    return tuple((0, "") if v is None else (1, v) if isinstance(v, str) else (2, v) for v in row)


def check(schema, data, query, *outs):
    names, types, rows = answer(schema, data, query)
    want = [tuple(norm(v, t) for v, t in zip(r, types)) for r in rows]
    for out in outs:
        compare(query, types, want, out)


def top_level(sql):
    """The query without what its parentheses hold (an OVER clause's ORDER BY orders nothing)."""
    while True:
        inner = re.sub(r"\([^()]*\)", "", sql)
        if inner == sql:
            return sql
        sql = inner


def compare(query, types, want, out):
    files = sorted(glob.glob(os.path.join(out, "part-*.csv")))
    got = []
    for f in files:
        with open(f, newline="") as fh:
            for r in csv.reader(fh):
                got.append(tuple(norm(v, t) for v, t in zip(r, types)))
    # Parquet part files, read by DuckDB
    parquet = sorted(glob.glob(os.path.join(out, "part-*.parquet")))
    for f in parquet:
        for r in duckdb.connect().execute(f"SELECT * FROM read_parquet('{f}')").fetchall():
            got.append(tuple(norm(v, t) for v, t in zip(r, types)))
    files += parquet
    label = f"{os.path.basename(query)} ({os.path.basename(out)})"
    if len(got) != len(want):
        sys.exit(f"{label}: {len(got)} rows, DuckDB has {len(want)}\n got: {got[:5]}\n want: {want[:5]}")
    ordered = re.search(r"order\s+by", top_level(statements(query)[1]), re.I) is not None
    if ordered:
        if len(files) != 1:
            sys.exit(f"{label}: ORDER BY query written to {len(files)} files, expected one")
        for i, (g, w) in enumerate(zip(got, want)):
            if len(g) != len(w) or not all(same(x, y) for x, y in zip(g, w)):
                sys.exit(f"{label}: row {i} differs (in order)\n got:  {g}\n want: {w}")
        return
    for i, (g, w) in enumerate(zip(sorted(got, key=key), sorted(want, key=key))):
        if len(g) != len(w) or not all(same(x, y) for x, y in zip(g, w)):
            sys.exit(f"{label}: sorted row {i} differs\n got:  {g}\n want: {w}")


def rows(schema, data, query):
    """DuckDB's answer, one row a line, values separated by ' | ' (NULL as <NULL>)."""
    _, _, result = answer(schema, data, query)
    for r in result:
        print(" | ".join("<NULL>" if v is None else str(v) for v in r))


if __name__ == "__main__":
    {"sink": sink, "check": check, "rows": rows}[sys.argv[1]](*sys.argv[2:])
