"""`make bench`, last phase: the webhook on PostgreSQL with one and with two web processes.

The production shape (docs/deploy.md) on throwaway PostgreSQL and Redis
(`tests.devtools.throwaway`, removed afterwards): each web process is daphne with
HANDOFF_EMBEDDED_WORKERS=false, and one `manage.py run_workers` process routes and
delivers for all of them. The database is migrated and seeded as in the SQLite phase,
and the same wrk script and stand-in Braze are used, so the figures compare.

* **One web process**: wrk flat out with all the connections, as in the SQLite phase.
* **Two web processes**: one wrk per process, both at once, each with half the
  connections. Throughput is the sum of the two; latency is the worse of the two. The
  second wrk starts half-way through the customers: in lockstep, both streams would
  write to the same customer's rows at the same moment and measure row locks that
  Braze's traffic does not cause.
* The **bare view** on the same processes, both ways: it keeps the webhook's baseline,
  and since it touches no database its two/one ratio is what the machine itself
  allows two processes, whatever the webhook does.

Both web processes run throughout and the runs are interleaved (see ORDER), so drift
over the phase (tables growing, a neighbour waking up) hits both layouts alike.

During each webhook run, pg_stat_activity is sampled for backends waiting on a lock:
every transaction that publishes an inbox event holds the feed's advisory lock from
its event insert to its commit (handoff/live/events.py), across processes. During every
run, the CPU each process used (from /proc), since on a small machine the web
processes share the cores with everything else. After each webhook run, the drain:
until the worker process has routed every stored message and the stand-in Braze
accepted every reply.

The throwaway server runs without fsync and with synchronous_commit off (it holds
only test data), so a commit here costs no disk flush: the figures cannot show what
a durable commit under the feed's lock would cost.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.devtools import throwaway
from tests.devtools.bench_figures import (
    Comparison,
    Figures,
    comparison_rows,
    flat_figures,
    fmt,
    ratio,
)
from tests.devtools.bench_harness import (
    BARE_PATH,
    STARTUP_TIMEOUT,
    USERS,
    WEBHOOK_PATH,
    BenchError,
    Drain,
    FlatOutRun,
    Harness,
    Options,
    Server,
    Stack,
    Subprocesses,
    leftover_work,
    measuring_drain,
    migrate_and_seed,
    run_wrk,
    server_env,
    start_app,
    start_standin,
    tail,
    warm_up,
)

# (web processes, endpoint): symmetric, so a linear drift cancels for every pair.
ORDER = ((1, "webhook"), (2, "webhook"), (1, "bare"), (2, "bare"), (2, "webhook"), (1, "webhook"))
WEB_PROCESSES = 2
LOCK_SAMPLE_SECONDS = 0.05
# Each process names its connections (libpq's PGAPPNAME), so waits can be told apart.
WEB_APP_NAME = "handoff-web"
WORKER_APP_NAME = "handoff-worker"
LOCK_WAITERS = """
    SELECT
      COUNT(*) FILTER (WHERE wait_event = 'advisory' AND application_name LIKE %(web)s),
      COUNT(*) FILTER (WHERE wait_event = 'advisory' AND application_name = %(worker)s),
      COUNT(*) FILTER (WHERE wait_event <> 'advisory')
    FROM pg_stat_activity
    WHERE wait_event_type = 'Lock'
"""


def require_servers() -> None:
    """Fail before the long SQLite phase, not after it, when a server is missing."""
    try:
        throwaway.postgres_bin_dir()
        throwaway.redis_server_path()
    except throwaway.MissingServer as error:
        raise BenchError(f"{error} Or skip this phase: --no-postgres.") from error


def server_versions() -> dict[str, str]:
    """For the report's environment facts: which PostgreSQL and Redis were measured."""
    postgres = subprocess.run(  # noqa: S603 - the server's own version flag
        [str(throwaway.postgres_bin_dir() / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    redis = subprocess.run(  # noqa: S603 - the server's own version flag
        [throwaway.redis_server_path(), "--version"], capture_output=True, text=True, check=False
    ).stdout
    found_postgres = re.search(r"\(PostgreSQL\) (\S+)", postgres)
    found_redis = re.search(r"\bv=(\S+)", redis)
    return {
        "postgresql": found_postgres.group(1) if found_postgres else postgres.strip(),
        "redis": found_redis.group(1) if found_redis else redis.strip(),
    }


# -- the cluster -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cluster:
    """Web processes, the worker process and the stand-in, on one PostgreSQL and Redis."""

    web: tuple[Server, ...]
    worker: subprocess.Popen[bytes]
    standin: Server
    database_url: str
    env: dict[str, str]  # the processes' settings

    def stack(self, web: Server) -> Stack:
        """`web` as the app of the SQLite phase's helpers; every other process is watched."""
        others = tuple(server.process for server in self.web if server is not web)
        return Stack(web, self.standin, self.database_url, (*others, self.worker))

    def process_names(self) -> dict[int, str]:
        """Our processes by pid, for the CPU figures (the servers are told by name)."""
        names = {server.process.pid: f"web {n}" for n, server in enumerate(self.web, 1)}
        names[self.worker.pid] = "worker"
        names[self.standin.process.pid] = "stand-in"
        names[os.getpid()] = "bench"
        return names


def postgres_env(servers: throwaway.Servers, braze_url: str) -> dict[str, str]:
    """The SQLite phase's settings, on PostgreSQL and Redis, with the workers on their own."""
    return (
        server_env(servers.database_url, braze_url)
        | servers.environ()
        | {"HANDOFF_EMBEDDED_WORKERS": "false", "PYTHONUNBUFFERED": "1"}
    )


def start_worker(
    children: Subprocesses, env: dict[str, str], workdir: Path
) -> subprocess.Popen[bytes]:
    """`manage.py run_workers` as the Procfile's `worker:` line runs it."""
    log = workdir / "workers.log"
    env = env | {"PGAPPNAME": WORKER_APP_NAME}
    process = children.start([sys.executable, "manage.py", "run_workers"], env=env, log=log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"run_workers exited early ({process.returncode}):\n{tail(log)}")
        if "Workers running" in log.read_text("utf-8", "replace"):
            return process
        time.sleep(0.1)
    raise BenchError(f"run_workers did not start in {STARTUP_TIMEOUT:g} s")


@contextmanager
def running_cluster(children: Subprocesses, workdir: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        try:
            servers = stack.enter_context(throwaway.servers())
        except (throwaway.MissingServer, RuntimeError, OSError) as error:
            raise BenchError(f"could not start PostgreSQL and Redis: {error}") from error
        try:
            standin = start_standin(children, workdir)
            env = postgres_env(servers, standin.url)
            migrate_and_seed(children, env)
            worker = start_worker(children, env, workdir)
            web = start_web(children, env, workdir)
            yield Cluster(web, worker, standin, servers.database_url, env)
        except BenchError:
            for log in sorted(workdir.glob("*.log")):
                print(f"{log.name}:\n{tail(log)}", file=sys.stderr)
            raise
        finally:
            children.stop_all()  # before the servers go, so nothing dies on a lost database


def start_web(children: Subprocesses, env: dict[str, str], workdir: Path) -> tuple[Server, ...]:
    return tuple(
        start_app(
            children,
            env | {"PGAPPNAME": f"{WEB_APP_NAME}-{number}"},
            workdir,
            log_name=f"daphne-pg-{number}.log",
        )
        for number in range(1, WEB_PROCESSES + 1)
    )


def restarted(children: Subprocesses, cluster: Cluster, workdir: Path) -> Cluster:
    """The web and worker processes started again (they cache what admin configures:
    the routes, the settings), on the same database, Redis and stand-in."""
    for process in (*(server.process for server in cluster.web), cluster.worker):
        children.stop(process)
    worker = start_worker(children, cluster.env, workdir)
    web = start_web(children, cluster.env, workdir)
    return Cluster(web, worker, cluster.standin, cluster.database_url, cluster.env)


def analyze(database_url: str) -> None:
    """Give the planner statistics, as autovacuum does on a database that has been running.

    Straight after `migrate` PostgreSQL believes every table empty, and the workers'
    head-of-line claim is then planned to read every pending message for each claim
    (EXPLAIN: 965 rows for one claim with 965 pending, against one after ANALYZE). In
    3 s runs, the drain after the first two-process run took 16 s instead of 7, until
    autovacuum's first ANALYZE (it looks once a minute). The bench measures a database
    past that moment.
    """
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("ANALYZE")


# -- lock waits ------------------------------------------------------------------------


@dataclass(frozen=True)
class LockWaits:
    """Backends waiting on a lock, sampled every LOCK_SAMPLE_SECONDS during a run.

    Means are numbers of backends waiting at a sampled moment. By Little's law, the
    web processes' mean divided by the webhook's requests per second is how long a
    request waited for the feed's lock, on average.
    """

    samples: int
    web_advisory_mean: float  # web processes' connections waiting on the feed's lock
    web_advisory_share: float  # share of samples in which at least one of them waited
    worker_advisory_mean: float  # the worker process's connections waiting on it
    other_locks_mean: float  # any connection waiting on another lock (rows, tables)


@contextmanager
def sampling_lock_waits(database_url: str) -> Iterator[list[LockWaits]]:
    """Around a run: afterwards the list holds one LockWaits (none if sampling failed)."""
    counts: list[tuple[int, int, int]] = []
    stop = threading.Event()

    names = {"web": f"{WEB_APP_NAME}%", "worker": WORKER_APP_NAME}

    def sample() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as connection:
                while not stop.wait(LOCK_SAMPLE_SECONDS):
                    counts.append(connection.execute(LOCK_WAITERS, names).fetchone())
        except psycopg.Error as error:
            print(f"  (lock sampling stopped: {error})", file=sys.stderr)

    thread = threading.Thread(target=sample, name="lock-sampler", daemon=True)
    found: list[LockWaits] = []
    thread.start()
    try:
        yield found
    finally:
        stop.set()
        thread.join()
    if counts:
        web, worker, other = zip(*counts, strict=True)
        found.append(
            LockWaits(
                samples=len(counts),
                web_advisory_mean=statistics.fmean(web),
                web_advisory_share=sum(1 for waiting in web if waiting) / len(counts),
                worker_advisory_mean=statistics.fmean(worker),
                other_locks_mean=statistics.fmean(other),
            )
        )


# -- CPU: who used the two cores -------------------------------------------------------

# Everything else on the machine is told apart by its program's name.
PROGRAMS = {"postgres": "PostgreSQL", "redis-server": "Redis", "wrk": "wrk"}
CPU_MARGIN_SECONDS = 0.5


def cpu_seconds(names: dict[int, str]) -> dict[str, float]:
    """CPU seconds used so far: each of `names`, each of PROGRAMS, the rest as "other".

    From /proc, every thread of a process included. "busy" is the whole machine's, which
    also counts the kernel's interrupt work (loopback networking) that no process is
    charged for; "steal" is time the hypervisor gave to other machines.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone since the listing
        program = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()  # from field 3, the state
        name = names.get(int(stat.parent.name)) or PROGRAMS.get(program, "other")
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    # user nice system idle iowait irq softirq steal
    cpu = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    used["busy"] = (cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6]) / ticks
    used["steal"] = cpu[7] / ticks
    return used


@contextmanager
def measuring_cpu(names: dict[int, str], seconds: float) -> Iterator[dict[str, float]]:
    """Around a run: afterwards, cores used by each process (CPU seconds per second).

    Measured inside the run, away from its edges: wrk has to be alive at both ends
    (a process's time is lost once it exits) and the start and end are not steady.
    """
    cores: dict[str, float] = {}
    margin = min(CPU_MARGIN_SECONDS, seconds / 4)
    stop = threading.Event()

    def measure() -> None:
        if stop.wait(margin):
            return
        started, first = time.monotonic(), cpu_seconds(names)
        if stop.wait(seconds - 2 * margin):
            return
        elapsed, last = time.monotonic() - started, cpu_seconds(names)
        for name, total in last.items():
            cores[name] = max(total - first.get(name, 0.0), 0.0) / elapsed

    thread = threading.Thread(target=measure, name="cpu-sampler", daemon=True)
    thread.start()
    try:
        yield cores
    except BaseException:
        stop.set()  # a failed run has no figures: do not wait for them
        raise
    finally:
        thread.join()  # a run outlasts its measurement: no wait after a whole run


def mean_cores(shares: Sequence[dict[str, float]]) -> dict[str, float]:
    names = {name for share in shares for name in share}
    return {name: statistics.fmean(share.get(name, 0.0) for share in shares) for name in names}


CPU_ORDER = ("web 1", "web 2", "worker", "PostgreSQL", "Redis", "stand-in", "wrk", "bench")


def describe_cores(cores: dict[str, float]) -> str:
    named = [f"{name} {cores[name]:.2f}" for name in CPU_ORDER if cores.get(name, 0.0) >= 0.005]
    text = f"{', '.join(named)}, other {cores.get('other', 0.0):.2f}; busy {cores['busy']:.2f}"
    return text + (f", steal {cores['steal']:.2f}" if cores.get("steal", 0.0) >= 0.005 else "")


# -- the runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterRun:
    """One flat-out run against `processes` web processes at once, one wrk each."""

    processes: int
    endpoint: str
    per_process: list[FlatOutRun]
    drain: Drain | None = None
    lock_waits: LockWaits | None = None
    cores: dict[str, float] = field(default_factory=dict)

    @property
    def lock_wait_ms(self) -> float:
        """Mean time a webhook request waited for the feed's lock (Little's law)."""
        if self.lock_waits is None:
            return math.nan
        return ratio(self.lock_waits.web_advisory_mean, self.combined.throughput) * 1000

    @property
    def combined(self) -> FlatOutRun:
        """Requests summed over the longer wrk's window; latency the worse process's."""
        runs = self.per_process
        return FlatOutRun(
            endpoint=self.endpoint,
            requests=sum(run.requests for run in runs),
            seconds=max(run.seconds for run in runs),
            p50_ms=max(run.p50_ms for run in runs),
            p90_ms=max(run.p90_ms for run in runs),
            p99_ms=max(run.p99_ms for run in runs),
            max_ms=max(run.max_ms for run in runs),
            non2xx=sum(run.non2xx for run in runs),
            first_non2xx=next((run.first_non2xx for run in runs if run.first_non2xx), 0),
            socket_errors=sum(run.socket_errors for run in runs),
        )


@dataclass
class PostgresResults:
    connections: int
    seconds: float
    runs: list[ClusterRun] = field(default_factory=list)

    def select(self, processes: int, endpoint: str) -> list[ClusterRun]:
        return [r for r in self.runs if r.processes == processes and r.endpoint == endpoint]

    def cores(self, processes: int, endpoint: str) -> dict[str, float]:
        """Cores each process used, on average over the runs (empty if never measured)."""
        shares = [run.cores for run in self.select(processes, endpoint) if run.cores]
        return mean_cores(shares) if shares else {}

    def figures(self, processes: int, endpoint: str) -> Figures:
        return flat_figures([run.combined for run in self.select(processes, endpoint)])

    def scaling(self, endpoint: str) -> float:
        """Throughput with two web processes over one: 2.00x would be perfect scaling."""
        two, one = self.figures(2, endpoint), self.figures(1, endpoint)
        return ratio(two.throughput, one.throughput)


def connection_shares(connections: int, processes: int) -> list[int]:
    """The connections split as evenly as they go, at least one per process."""
    return [
        max(1, connections // processes + (number < connections % processes))
        for number in range(processes)
    ]


def flat_out(
    harness: Harness, cluster: Cluster, processes: int, path: str, *, tag: str
) -> list[FlatOutRun]:
    """wrk against the first `processes` web processes, all at once."""
    web = cluster.web[:processes]
    shares = connection_shares(harness.options.connections, processes)
    with ThreadPoolExecutor(processes, thread_name_prefix="wrk") as pool:
        futures = [
            pool.submit(
                run_wrk,
                harness.children,
                harness.wrk,
                server.url + path,
                seconds=harness.options.seconds,
                connections=connections,
                tag=f"{tag}-{number}",
                workdir=harness.workdir,
                first=number * USERS // processes,
            )
            for number, (server, connections) in enumerate(zip(web, shares, strict=True))
        ]
        return [future.result() for future in futures]


def measured_run(
    harness: Harness, cluster: Cluster, processes: int, endpoint: str, *, tag: str
) -> ClusterRun:
    """One run and the CPU it used; for the webhook, also its lock waits and its drain."""
    names, seconds = cluster.process_names(), harness.options.seconds
    if endpoint == "bare":
        with measuring_cpu(names, seconds) as cores:
            runs = flat_out(harness, cluster, processes, BARE_PATH, tag=tag)
        return ClusterRun(processes, endpoint, runs, cores=cores)
    drains: list[Drain] = []
    with (
        measuring_drain(harness.stack, drains),
        sampling_lock_waits(cluster.database_url) as lock_waits,
        measuring_cpu(names, seconds) as cores,
    ):
        runs = flat_out(harness, cluster, processes, WEBHOOK_PATH, tag=tag)
    lock_wait = lock_waits[0] if lock_waits else None
    return ClusterRun(processes, endpoint, runs, drains[0], lock_wait, cores)


def postgres_phase(children: Subprocesses, wrk: str, options: Options) -> PostgresResults:
    results = PostgresResults(connections=options.connections, seconds=options.seconds)
    print("PostgreSQL and Redis: one and two web processes, one worker process ...", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="handoff-bench-pg-") as folder,
        running_cluster(children, Path(folder)) as cluster,
    ):
        workdir = Path(folder)
        for number, web in enumerate(cluster.web, 1):
            stack = cluster.stack(web)
            warm_up(Harness(children, wrk, stack, options, workdir), f"pg{number}-warm")
        analyze(cluster.database_url)
        harness = Harness(children, wrk, cluster.stack(cluster.web[0]), options, workdir)
        for index, (processes, endpoint) in enumerate(ORDER):
            print(
                f"  flat out {endpoint} on {processes} web process{'es' if processes > 1 else ''} "
                f"({options.seconds:g} s) ...",
                flush=True,
            )
            tag = f"pg{processes}-{index}"
            results.runs.append(measured_run(harness, cluster, processes, endpoint, tag=tag))
        leftover = leftover_work(cluster.database_url)
        if any(leftover.values()):
            raise BenchError(f"the worker process left work behind: {leftover}")
    return results


# -- report ----------------------------------------------------------------------------


def mode(processes: int) -> str:
    return f"PostgreSQL, {processes} web process{'es' if processes > 1 else ''}"


def comparisons(results: PostgresResults) -> list[Comparison]:
    return [
        Comparison(
            mode(processes),
            results.figures(processes, "webhook"),
            results.figures(processes, "bare"),
        )
        for processes in (1, WEB_PROCESSES)
    ]


def table_rows(results: PostgresResults) -> list[list[str]]:
    """The two layouts as the SQLite rows show them, then two processes over one."""
    rows = comparison_rows(comparisons(results))
    for endpoint in ("webhook", "bare"):
        one, two = results.figures(1, endpoint), results.figures(2, endpoint)
        rows.append(
            [
                "PostgreSQL, 2 processes/1",
                endpoint,
                f"{fmt(results.scaling(endpoint), 2)}x",
                f"{fmt(ratio(two.p50_ms, one.p50_ms), 2)}x",
                f"{fmt(ratio(two.p99_ms, one.p99_ms), 2)}x",
                "",
                "",
            ]
        )
    return rows


def headline(results: PostgresResults) -> str:
    one, two = results.figures(1, "webhook"), results.figures(2, "webhook")
    return (
        f"PostgreSQL webhook: 1 web process {fmt(one.throughput)}/s, 2 web processes "
        f"{fmt(two.throughput)}/s, ratio 2/1 = {fmt(results.scaling('webhook'), 2)}x "
        f"(bare view: {fmt(results.scaling('bare'), 2)}x)"
    )


def describe_run(run: ClusterRun) -> str:
    text = f"{run.endpoint}×{run.processes} {fmt(run.combined.throughput)}/s"
    if run.processes > 1:
        text += f" ({' + '.join(fmt(r.throughput) for r in run.per_process)})"
    return text


def details(results: PostgresResults) -> list[str]:
    drains = ", ".join(
        f"{run.processes} process{'es' if run.processes > 1 else ''}: {run.drain.seconds:.1f} s "
        f"for {run.drain.messages}"
        for run in results.runs
        if run.drain is not None
    )
    waits = ", ".join(
        f"{run.processes} process{'es' if run.processes > 1 else ''}: "
        f"{run.lock_wait_ms:.2f} ms a request (web {run.lock_waits.web_advisory_mean:.2f} "
        f"waiting, in {run.lock_waits.web_advisory_share:.0%} of samples; worker "
        f"{run.lock_waits.worker_advisory_mean:.2f}; other locks "
        f"{run.lock_waits.other_locks_mean:.2f})"
        for run in results.runs
        if run.lock_waits is not None
    )
    connections = connection_shares(results.connections, WEB_PROCESSES)
    cpu = [
        f"{endpoint} on {processes}: {describe_cores(cores)}"
        for endpoint in ("webhook", "bare")
        for processes in (1, WEB_PROCESSES)
        if (cores := results.cores(processes, endpoint))
    ]
    return [
        headline(results),
        f"PostgreSQL runs in order (1 process: {results.connections} connections; "
        f"2 processes: {' + '.join(map(str, connections))}, summed): "
        + ", ".join(describe_run(run) for run in results.runs),
        f"PostgreSQL drain after each webhook run (worker process, 1 s poll): {drains}",
        "Wait for the feed's advisory lock during webhook runs (mean connections waiting, "
        f"sampled every {LOCK_SAMPLE_SECONDS * 1000:g} ms; per request by Little's law): "
        f"{waits or 'n/a'}",
        f"CPU used during the PostgreSQL runs, in cores of the machine's {os.cpu_count()} "
        "(mean over the runs of each kind): " + ("; ".join(cpu) or "n/a"),
    ]


def run_failures(results: PostgresResults) -> list[tuple[str, int, int, str]]:
    """As bench.run_failures: (run, requests, failed requests, what failed)."""
    failures = []
    for number, run in enumerate(results.runs, 1):
        combined = run.combined
        failures.append(
            (
                f"PostgreSQL run #{number} ({run.endpoint}, {run.processes} web processes)",
                combined.requests,
                combined.errors,
                f"{combined.non2xx} non-2xx (first: HTTP {combined.first_non2xx}), "
                f"{combined.socket_errors} socket errors",
            )
        )
    return failures


def drains(results: PostgresResults) -> list[Drain]:
    return [run.drain for run in results.runs if run.drain is not None]


def summary(results: PostgresResults) -> dict[str, Any]:
    """For bench-results/latest.json."""
    return {
        "layout": "daphne web processes with HANDOFF_EMBEDDED_WORKERS=false, one run_workers",
        "connections": results.connections,
        "seconds": results.seconds,
        "webhook_requests_per_second": {
            "one_process": results.figures(1, "webhook").throughput,
            "two_processes": results.figures(2, "webhook").throughput,
            "two_over_one": results.scaling("webhook"),
        },
        "bare_requests_per_second": {
            "one_process": results.figures(1, "bare").throughput,
            "two_processes": results.figures(2, "bare").throughput,
            "two_over_one": results.scaling("bare"),
        },
        "comparisons": {
            c.mode: {"webhook": asdict(c.webhook), "bare": asdict(c.bare), "ratios": c.ratios}
            for c in comparisons(results)
        },
        "cores_used": {
            f"{endpoint}, {processes} web process{'es' if processes > 1 else ''}": results.cores(
                processes, endpoint
            )
            for endpoint in ("webhook", "bare")
            for processes in (1, WEB_PROCESSES)
        },
        "runs": [
            {
                "processes": run.processes,
                "endpoint": run.endpoint,
                "throughput": run.combined.throughput,
                "per_process": [asdict(r) | {"throughput": r.throughput} for r in run.per_process],
                "drain": asdict(run.drain) if run.drain is not None else None,
                "lock_waits": asdict(run.lock_waits) if run.lock_waits is not None else None,
                "lock_wait_ms_per_request": run.lock_wait_ms,
                "cores": run.cores,
            }
            for run in results.runs
        ],
    }


def layout_line(results: PostgresResults, facts: dict[str, Any]) -> str:
    shares = " + ".join(map(str, connection_shares(results.connections, WEB_PROCESSES)))
    return (
        f"PostgreSQL {facts.get('postgresql', '?')}, Redis {facts.get('redis', '?')}: daphne "
        f"without embedded workers + one run_workers process; flat out, {results.seconds:g} s "
        f"per run, 1 web process with {results.connections} connections, 2 with {shares}"
    )
