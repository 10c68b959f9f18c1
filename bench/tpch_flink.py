"""Runs one TPC-H query on Apache Flink 2.3.0 in batch mode (PyFlink, PyPI's apache-flink) over the
same CSV or Parquet files as Strom (bench/tpch.sh, with TPCH_FLINK=1).

  tpch_flink.py <schema.sql> <data dir> <query.sql>     runs the query, prints its rows
  tpch_flink.py --check <schema.sql> <data dir> <query.sql>...
                                                       runs each query on Flink and DuckDB and
                                                       compares the answers
  tpch_flink.py --setup                                installs PyFlink (once) and exits
  tpch_flink.py --sql <query.sql>                      prints the query translated to Flink SQL

The tables are Flink filesystem tables declared by bench/tpch/schema.sql ('{dir}' and '{format}'
are filled in here when the schema still has them). The query runs as one batch job
(EnvironmentSettings.in_batch_mode()) at parallelism 2 on a local MiniCluster inside the JVM that
PyFlink starts beside this Python process; its rows are collected to the client.

Output: the rows on stdout, one a line, values separated by ' | ' and NULL as <NULL> (as
crates/strom/tests/tpch/tpch.py rows prints DuckDB's), then on stderr one line

  flink: job_s=J query_s=Q submit_s=U total_s=T jvm_start_s=S rows=N peak_rss_mib=M jvm_mib=A python_mib=B

job_s is Flink's own job time (the job's net runtime, INITIALIZING to FINISHED, as Strom's
"FINISHED in .. ms (job time)"); query_s runs from submitting the query to its last row
(planning, the MiniCluster's start and the job; submit_s is the part until Flink took the job);
total_s from this script's start (JVM start included); jvm_start_s is the part of total_s spent
starting the JVM and its gateway. peak_rss_mib adds the peaks (VmHWM) of the JVM and of this
Python process, the two processes that do the work (GNU time sees only the Python process).

PyFlink pins pyarrow, numpy, pandas and protobuf to versions that do not go with DataFusion's and
DuckDB's, so it lives in its own virtual environment, bench/data/flink-venv (TPCH_FLINK_VENV),
made on first use; run by another Python, the script starts itself again in that one.

Flink SQL is not DataFusion's: to_flink() below translates the query texts of bench/tpch/queries
(see its comments). Flink's settings: parallelism 2 (its adaptive batch scheduler may give small
stages less; a CSV file is not splittable in Flink, so each table's scan is one task), managed
memory TPCH_FLINK_MANAGED (default 1g; Flink's local default is 128m), and any further
KEY=VALUE pairs in TPCH_FLINK_CONF (separated by spaces).

Parquet needs Flink's parquet format (flink-sql-parquet), which the PyPI package does not ship and
no registry this project reaches serves: without it the script stops with a message. Extra jars
can go on the JVM's class path with TPCH_FLINK_JARS (paths separated by ':'); with that format,
tpchgen-cli's int64 key columns declared INT in schema.sql would still need a cast.
"""
import os, re, subprocess, sys, time

T0 = float(os.environ.get("TPCH_FLINK_T0") or time.time())
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("TPCH_FLINK_VENV") or os.path.join(ROOT, "bench", "data", "flink-venv")
VERSION = "2.3.0"
ORACLE = os.path.join(ROOT, "crates", "strom", "tests", "tpch", "tpch.py")


def log(msg):
    print(f"[tpch_flink] {msg}", file=sys.stderr, flush=True)


def venv_python():
    """The virtual environment's Python, with apache-flink installed (made on first use)."""
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        log(f"making {VENV}")
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    ok = subprocess.run([py, "-c", f"import pyflink.version as v; assert v.__version__ == '{VERSION}'"],
                        capture_output=True).returncode == 0
    if not ok:
        log(f"pip install apache-flink=={VERSION} into {VENV}")
        subprocess.check_call([py, "-m", "pip", "install", "--quiet", f"apache-flink=={VERSION}"])
    return py


# --- Flink SQL -------------------------------------------------------------------------------

def to_flink(sql):
    """The query in Flink's SQL dialect. DataFusion's texts are standard TPC-H SQL, which Flink's
    parser (Calcite) takes as it is, `date '..' + interval '3' month`, `extract(year from ..)`,
    `substring(.. from 1 for 2)`, q15's WITH and the correlated subqueries included, but for what
    is rewritten here."""
    # `value` is a reserved word in Flink SQL (q11's column alias)
    return re.sub(r"\bvalue\b", "`value`", sql)


def statements(text):
    """A query file's statements: views or other setup first, the query last."""
    parts = [p.strip() for p in text.split(";")]
    parts = [p for p in parts if re.sub(r"--[^\n]*", "", p).strip()]
    return parts[:-1], parts[-1]


def schema_ddl(schema_sql, data):
    if "{dir}" in schema_sql or "{format}" in schema_sql:
        fmt = "parquet" if os.path.exists(os.path.join(data, "lineitem.parquet")) else "csv"
        schema_sql = schema_sql.replace("{dir}", data).replace("{format}", fmt)
    out = []
    for stmt in schema_sql.split(";"):
        stmt = re.sub(r"--[^\n]*", "", stmt).strip()
        if stmt:
            out.append(stmt)
    return out


# --- running on Flink ------------------------------------------------------------------------

def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fmt_value(v):
    return "<NULL>" if v is None else str(v)


def run(schema_path, data, query_path):
    jars = [j for j in os.environ.get("TPCH_FLINK_JARS", "").split(":") if j]
    if jars:
        # PyFlink's gateway puts HADOOP_CLASSPATH on the JVM's class path
        os.environ["HADOOP_CLASSPATH"] = ":".join(
            [p for p in [os.environ.get("HADOOP_CLASSPATH")] if p] + jars)
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from pyflink.java_gateway import get_gateway

    t_jvm = time.time()
    gateway = get_gateway()  # starts the JVM and PyFlink's gateway
    jvm_pid = int(gateway.jvm.java.lang.ProcessHandle.current().pid())
    jvm_start = time.time() - t_jvm

    conf = Configuration()
    settings = {
        "parallelism.default": "2",
        "table.exec.resource.default-parallelism": "2",
        "taskmanager.memory.managed.size": os.environ.get("TPCH_FLINK_MANAGED", "1g"),
        "rest.bind-port": "0",
    }
    for kv in os.environ.get("TPCH_FLINK_CONF", "").split():
        k, v = kv.split("=", 1)
        settings[k] = v
    for k, v in settings.items():
        conf.set_string(k, v)

    env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_batch_mode().with_configuration(conf).build())
    ddls = schema_ddl(open(schema_path).read(), data)
    if any(re.search(r"'format'\s*=\s*'parquet'", d) for d in ddls):
        try:
            gateway.jvm.java.lang.Class.forName(
                "org.apache.flink.formats.parquet.ParquetFileFormatFactory", False,
                gateway.jvm.java.lang.Thread.currentThread().getContextClassLoader())
        except Exception:
            sys.exit("tpch_flink.py: Flink's parquet format is not on the class path: PyPI's "
                     "apache-flink ships no flink-sql-parquet jar; put it and the Hadoop jars it "
                     "needs in TPCH_FLINK_JARS, or run on CSV (TPCH_FORMAT=csv)")
    for ddl in ddls:
        env.execute_sql(ddl)
    setup, query = statements(open(query_path).read())
    for stmt in setup:
        env.execute_sql(to_flink(stmt))

    t_query = time.time()
    result = env.execute_sql(to_flink(query))
    t_submitted = time.time()
    n = 0
    lines = []
    with result.collect() as rows:
        for row in rows:
            lines.append(" | ".join(fmt_value(v) for v in row))
            n += 1
    t_end = time.time()
    job_s = float("nan")
    client = result.get_job_client()
    if client is not None:
        job_s = client.get_job_execution_result().result().get_net_runtime() / 1000.0
    sys.stdout.write("".join(l + "\n" for l in lines))
    sys.stdout.flush()

    import resource
    py_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jvm_kib = vm_hwm_kib(jvm_pid)
    print(f"flink: job_s={job_s:.3f} query_s={t_end - t_query:.3f} submit_s={t_submitted - t_query:.3f} total_s={t_end - T0:.3f} "
          f"jvm_start_s={jvm_start:.3f} rows={n} peak_rss_mib={(py_kib + jvm_kib) // 1024} "
          f"jvm_mib={jvm_kib // 1024} python_mib={py_kib // 1024}", file=sys.stderr, flush=True)


def run_in_venv(args):
    try:
        import pyflink.version
        if pyflink.version.__version__ == VERSION:
            return run(*args)
    except ImportError:
        pass
    py = venv_python()
    env = dict(os.environ, TPCH_FLINK_T0=repr(T0))
    os.execve(py, [py, os.path.abspath(__file__), *args], env)


# --- checking against DuckDB -----------------------------------------------------------------

def norm(text):
    if text == "<NULL>":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    return a == b


def same_rows(got, want):
    return len(got) == len(want) and all(
        len(g) == len(w) and all(same(x, y) for x, y in zip(g, w)) for g, w in zip(got, want))


def sort_key(row):
    return tuple((0, "") if v is None else (1, v) if isinstance(v, str) else (2, v) for v in row)


def top_level(sql):
    while True:
        inner = re.sub(r"\([^()]*\)", "", sql)
        if inner == sql:
            return sql
        sql = inner


def check(schema_path, data, queries):
    sys.path.insert(0, os.path.dirname(ORACLE))
    import tpch as oracle  # DuckDB's answers (needs duckdb in this Python)
    bad = 0
    for q in queries:
        name = os.path.basename(q)
        _, _, duck = oracle.answer(schema_path, data, q)
        want = [tuple(norm(fmt_value(v)) for v in r) for r in duck]
        p = subprocess.run([sys.executable, os.path.abspath(__file__), schema_path, data, q],
                           capture_output=True, text=True)
        stats = next((l for l in p.stderr.splitlines() if l.startswith("flink: ")), "")
        if p.returncode != 0 or not stats:
            err = [l for l in p.stderr.splitlines() if "Exception" in l or "Error" in l]
            print(f"{name}: FAILED on Flink (exit {p.returncode}): {' / '.join(err[:3])}", flush=True)
            bad += 1
            continue
        got = [tuple(norm(v) for v in l.split(" | ")) for l in p.stdout.splitlines()]
        ordered = re.search(r"order\s+by", top_level(statements(open(q).read())[1]), re.I)
        if same_rows(got, want):
            verdict = "ok"
        elif same_rows(sorted(got, key=sort_key), sorted(want, key=sort_key)):
            verdict = "ok"  # the same rows; the order only counts under an ORDER BY
            if ordered:
                bad += 1
                verdict = "ORDER DIFFERS (the same rows in another order)"
        else:
            bad += 1
            diff = next((i for i, (g, w) in enumerate(zip(got, want)) if not same_rows([g], [w])),
                        min(len(got), len(want)))
            verdict = (f"DIFFERS: {len(got)} rows, DuckDB {len(want)}; first difference at row {diff}:"
                       f" got {got[diff] if diff < len(got) else None},"
                       f" want {want[diff] if diff < len(want) else None}")
        print(f"{name}: {verdict} ({len(got)} rows; {stats[len('flink: '):]})", flush=True)
    print(f"{len(queries) - bad} of {len(queries)} agree with DuckDB")
    return 1 if bad else 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    if argv[:1] == ["--setup"]:
        print(venv_python())
    elif argv[:1] == ["--sql"]:
        setup, query = statements(open(argv[1]).read())
        print(";\n".join(to_flink(s) for s in setup + [query]) + ";")
    elif argv[:1] == ["--check"]:
        sys.exit(check(argv[1], argv[2], argv[3:]))
    elif len(argv) == 3:
        run_in_venv(argv)
    else:
        sys.exit(__doc__)
