"""Runs one Nexmark query on Apache Flink 2.3.0 in streaming mode (PyFlink, PyPI's apache-flink)
over the events bench/nexmark.sh wrote to CSV files, as Strom reads them (bench/nexmark/ddl_files.sql).

  nexmark_flink.py <events dir> <query.sql> <parallelism>

The nexmark connector (nexmark-flink's jar) is on no registry this project reaches, so Flink reads
the same generated events from files: `person`, `auction` and `bid` are the filesystem tables of
ddl_files.sql, with the DDL's watermark. The query file is nexmark-flink's, unmodified: its sink
table (blackhole), any view, then its INSERT, run as one streaming job on a local MiniCluster in
the JVM PyFlink starts.

Output on stderr, one line:

  flink: job_s=J total_s=T peak_rss_mib=M jvm_mib=A python_mib=B

job_s is Flink's own job time (its net runtime); peak_rss_mib adds the peaks (VmHWM) of the JVM
and of this Python process. The virtual environment is tpch_flink.py's (bench/data/flink-venv).
"""
import os, re, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tpch_flink  # noqa: E402  (its venv and process helpers)

T0 = float(os.environ.get("TPCH_FLINK_T0") or time.time())
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def statements(text):
    out = []
    for stmt in text.split(";"):
        stmt = re.sub(r"--[^\n]*", "", stmt).strip()
        if stmt:
            out.append(stmt)
    return out


def run(events, query_path, parallelism):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    jvm_pid = int(gateway.jvm.java.lang.ProcessHandle.current().pid())
    conf = Configuration()
    for k, v in {
        "parallelism.default": parallelism,
        "table.exec.resource.default-parallelism": parallelism,
        "rest.bind-port": "0",
    }.items():
        conf.set_string(k, v)
    env = TableEnvironment.create(
        EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build())
    ddl = open(os.path.join(ROOT, "bench", "nexmark", "ddl_files.sql")).read()
    for stmt in statements(ddl.replace("${EVENTS_DIR}", events)):
        env.execute_sql(stmt)
    stmts = statements(open(query_path).read())
    for stmt in stmts[:-1]:
        env.execute_sql(stmt)
    result = env.execute_sql(stmts[-1])
    result.wait()
    job_s = float("nan")
    client = result.get_job_client()
    if client is not None:
        job_s = client.get_job_execution_result().result().get_net_runtime() / 1000.0
    import resource
    py_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jvm_kib = tpch_flink.vm_hwm_kib(jvm_pid)
    print(f"flink: job_s={job_s:.3f} total_s={time.time() - T0:.3f} "
          f"peak_rss_mib={(py_kib + jvm_kib) // 1024} jvm_mib={jvm_kib // 1024} "
          f"python_mib={py_kib // 1024}", file=sys.stderr, flush=True)


def main(args):
    if len(args) != 3:
        sys.exit(__doc__)
    try:
        import pyflink.version
        if pyflink.version.__version__ == tpch_flink.VERSION:
            return run(*args)
    except ImportError:
        pass
    py = tpch_flink.venv_python()
    env = dict(os.environ, TPCH_FLINK_T0=repr(T0))
    os.execve(py, [py, os.path.abspath(__file__), *args], env)


if __name__ == "__main__":
    main(sys.argv[1:])
