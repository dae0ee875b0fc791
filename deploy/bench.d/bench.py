"""krm-intake benchmark driver (python3 stdlib only); started by `deploy/bench`.

Measures, against the local services of `deploy/services` only:
  backlog  N generated mails APPENDed to a fresh folder; `run --once --no-send` (intake only), then
           `run --once` (outbox drain); in the same run the physical limit over the same transport:
           one `UID FETCH 1:* (UID BODY.PEEK[])` of that folder and a PostgreSQL COPY of the same
           raw bytes. ratio = backlog / (fetch + COPY).
  memory   peak RSS of the backlog run and of ingesting one 25 MB mail.
  latency  mails over SMTP one at a time while `krm-intake run` waits in IDLE; time from SMTP
           acceptance to the acknowledgement in the sender's folder; idle RSS and CPU before.
  start    process start to the first IDLE on an empty inbox (5 starts, median).
  small    the backlog bound for 2,000 mails from process start (no drain).
The intake of backlog and small runs --intake-runs times (default 3), each into an empty
database with the mails moved back in between; the median run is reported.
Everything it creates (database krm_bench_<ts>, IMAP folders bench<ts>*) is removed at the end.
"""

import argparse
import base64
import imaplib
import json
import os
import re
import shutil
import signal
import socket
import smtplib
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import genmail  # noqa: E402
import desk  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "target", "release", "krm-intake")
OMBUDS = "ombudsstelle@jobcenter.test"
# Issue 17, item 3: the 25 MB mail's peak must not grow beyond what it was when the issue was filed.
BIG_MAIL_PEAK_MIB = 112.4
ACK_USERS = ["buerger@mail.test", "beratung@caritas-dresden.test", "info@beratung-mittelpunkt.test"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit(f"bench: {name} is not set; run through deploy/bench (it evaluates deploy/services env)")
    return v


# ------------------------------------------------------------------ safety: loopback only

def is_loopback(host):
    host = (host or "").strip("[]")
    if host.lower() == "localhost":
        return True
    if re.fullmatch(r"127(\.\d{1,3}){3}", host):
        return True
    return host == "::1"


def refuse_unless_loopback():
    hosts = {
        "KRM_IMAP_HOST": env("KRM_IMAP_HOST"),
        "KRM_SMTP_HOST": env("KRM_SMTP_HOST"),
        "KRM_DATABASE_URL": urllib.parse.urlsplit(env("KRM_DATABASE_URL")).hostname,
        "KRM_TEST_POSTGRES_ADMIN_URL": urllib.parse.urlsplit(env("KRM_TEST_POSTGRES_ADMIN_URL")).hostname,
    }
    bad = {k: v for k, v in hosts.items() if not is_loopback(v)}
    if bad:
        for k, v in bad.items():
            log(f"REFUSED: {k} points at {v!r}, not a loopback address")
        log("the benchmark only runs against the local services of deploy/services")
        sys.exit(2)


# ------------------------------------------------------------------ IMAP helpers

def ssl_ctx():
    return ssl.create_default_context(cafile=env("KRM_IMAP_CA_FILE"))


def password_of(user):
    local = user.split("@")[0].split("+")[0]
    return env("KRM_TEST_PASSWORD_" + local.upper().replace("-", "_").replace(".", "_"))


def imap_login(user):
    host, port, tls = env("KRM_IMAP_HOST"), int(env("KRM_IMAP_PORT")), env("KRM_IMAP_TLS")
    if tls == "implicit":
        m = imaplib.IMAP4_SSL(host, port, ssl_context=ssl_ctx())
    else:
        m = imaplib.IMAP4(host, port)
        if tls == "starttls":
            m.starttls(ssl_ctx())
    m.login(user, password_of(user))
    return m


def count(m, folder):
    typ, data = m.status(folder, "(MESSAGES)")
    if typ != "OK":
        return 0
    mm = re.search(rb"MESSAGES (\d+)", data[0])
    return int(mm.group(1)) if mm else 0


def append_all(folder, raws):
    m = imap_login(OMBUDS)
    m.create(folder)
    r = RawImap(OMBUDS)
    t = time.monotonic()
    r.multiappend(folder, raws)
    dt = time.monotonic() - t
    r.close()
    n = count(m, folder)
    m.logout()
    return dt, n


class RawImap:
    """Just enough IMAP over a socket to time one big FETCH without any parsing overhead."""

    def __init__(self, user):
        host, port, tls = env("KRM_IMAP_HOST"), int(env("KRM_IMAP_PORT")), env("KRM_IMAP_TLS")
        s = socket.create_connection((host, port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls == "implicit":
            s = ssl_ctx().wrap_socket(s, server_hostname=host)
        self.s = s
        self.buf = b""
        self._line()  # greeting
        if tls == "starttls":
            self.cmd("S1", "STARTTLS")
            self.s = ssl_ctx().wrap_socket(self.s, server_hostname=host)
        self.cmd("S2", f'LOGIN "{user}" "{password_of(user)}"')

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, tag, text):
        self.s.sendall(f"{tag} {text}\r\n".encode())
        return self._wait(tag, text.split()[0])

    def _wait(self, tag, what):
        pat = re.compile(rb"(?:^|\r\n)" + tag.encode() + rb" (OK|NO|BAD)[^\r\n]*\r\n$")
        data = self.buf
        self.buf = b""
        while not pat.search(data):
            data += self.s.recv(65536)
        if not pat.search(data).group(1) == b"OK":
            raise RuntimeError(f"IMAP {what} failed: {data[-200:]!r}")
        return data

    def multiappend(self, folder, raws, per_command=200):
        """MULTIAPPEND with LITERAL+ (both Dovecot capabilities): no round trip per mail."""
        for k in range(0, len(raws), per_command):
            tag = f"A{k}"
            parts = [f'{tag} APPEND "{folder}"'.encode()]
            for raw in raws[k:k + per_command]:
                parts.append(b" {%d+}\r\n" % len(raw))
                parts.append(raw)
            parts.append(b"\r\n")
            self.s.sendall(b"".join(parts))
            self._wait(tag, "APPEND")

    def timed_fetch_all(self):
        """Seconds and bytes for `UID FETCH 1:* (UID BODY.PEEK[])`, reading until the tagged OK."""
        tag = b"F7QX"
        end = re.compile(rb"\r\n" + tag + rb" (OK|NO|BAD)[^\r\n]*\r\n$")
        buf = bytearray(4 << 20)
        view = memoryview(buf)
        total = 0
        tail = b""
        t = time.monotonic()
        self.s.sendall(tag + b" UID FETCH 1:* (UID BODY.PEEK[])\r\n")
        while True:
            n = self.s.recv_into(view)
            if n == 0:
                raise RuntimeError("connection closed during FETCH")
            total += n
            tail = (tail + bytes(view[max(0, n - 512):n]))[-512:]
            if tail.endswith(b"\r\n") and end.search(tail):
                break
        dt = time.monotonic() - t
        if not end.search(tail).group(1) == b"OK":
            raise RuntimeError("FETCH failed")
        return dt, total

    def close(self):
        try:
            self.s.sendall(b"S9 LOGOUT\r\n")
            self.s.close()
        except OSError:
            pass


def fetch_limit(folder, repeats):
    times = []
    total = 0
    for _ in range(repeats):
        r = RawImap(OMBUDS)
        r.cmd("S3", f'EXAMINE "{folder}"')
        dt, total = r.timed_fetch_all()
        r.close()
        times.append(dt)
    return times, total


# ------------------------------------------------------------------ PostgreSQL helpers

def psql(url, *commands, capture=True):
    args = ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    for c in commands:
        args += ["-c", c]
    r = subprocess.run(args, capture_output=capture, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"psql failed: {r.stderr.strip()}")
    return r.stdout


def scalar(url, sql):
    return psql(url, "\\pset tuples_only on", "\\pset format unaligned", sql).strip()


def write_copy_file(path, raws):
    """PostgreSQL binary COPY format: the raw bytes exactly, no escaping."""
    with open(path, "wb") as f:
        f.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0))
        for i, raw in enumerate(raws):
            f.write(struct.pack("!hiii", 2, 4, i, len(raw)))
            f.write(raw)
        f.write(struct.pack("!h", -1))


def pg_round_trip(url, n=200):
    """Median client-side time of `SELECT 1` in one psql session (same URL, so same TLS)."""
    out = psql(url, "\\timing on", *["SELECT 1"] * n)
    times = [float(x) for x in re.findall(r"Time: ([\d.]+) ms", out)]
    return statistics.median(times) / 1000 if times else None


def copy_limit(url, path, repeats, compression=None):
    """Best-of COPY into a scratch table; `compression` as the product stores its raw mails
    (`lz4`, `pglz`), or None for the server's default."""
    column = f"raw bytea COMPRESSION {compression}" if compression else "raw bytea"
    psql(url, f"CREATE TABLE bench_copy (id integer, {column})")
    times = []
    for _ in range(repeats):
        psql(url, "TRUNCATE bench_copy")
        out = psql(url, "\\timing on", f"\\copy bench_copy (id, raw) FROM '{path}' WITH (FORMAT binary)")
        mm = re.search(r"Time: ([\d.]+) ms", out)
        if not mm:
            raise RuntimeError(f"no timing from psql: {out!r}")
        times.append(float(mm.group(1)) / 1000)
    n = scalar(url, "SELECT count(*) FROM bench_copy")
    psql(url, "DROP TABLE bench_copy")
    return times, int(n)


# ------------------------------------------------------------------ running the product

def product_env(base, **extra):
    e = dict(os.environ)
    e.update(base)
    e.update({k: str(v) for k, v in extra.items()})
    return e


def run_timed(args, e, logfile, binary=None):
    """Runs the binary (this build unless `binary`) under /usr/bin/time -v; wall seconds, peak
    RSS (KiB), CPU seconds, stdout."""
    cmd = (["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []) + [binary or BIN] + args
    with open(logfile, "wb") as lf:
        t = time.monotonic()
        r = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=lf)
        dt = time.monotonic() - t
    text = open(logfile, encoding="utf-8", errors="replace").read()
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed (exit {r.returncode}); see {logfile}:\n{text[-2000:]}")

    def grab(label):
        mm = re.search(re.escape(label) + r":\s*([\d.:]+)", text)
        return mm.group(1) if mm else None

    rss = grab("Maximum resident set size (kbytes)")
    user, sys_ = grab("User time (seconds)"), grab("System time (seconds)")
    return {
        "wall_s": dt,
        "peak_rss_kib": int(rss) if rss else None,
        "cpu_user_s": float(user) if user else None,
        "cpu_sys_s": float(sys_) if sys_ else None,
        "stdout": r.stdout.decode("utf-8", "replace").strip(),
    }


def batch_timings(logfile):
    """Sums the per-batch debug lines that src/scan.rs writes (JSON log format)."""
    sums = {"batches": 0, "mails": 0, "bytes": 0, "meta_us": 0, "fetch_us": 0, "parse_us": 0,
            "record_us": 0, "commit_us": 0, "move_us": 0, "prefetch_us": 0, "mails_us": 0,
            "flush_us": 0}
    with open(logfile, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            msg = j.get("message") or j.get("fields", {}).get("message")
            if msg == "batch timings":
                sums["batches"] += 1
                for k in ("mails", "bytes", "fetch_us", "parse_us", "record_us", "commit_us"):
                    sums[k] += int(j.get(k, 0))
            elif msg == "batch recorded":
                for k in ("prefetch_us", "mails_us", "flush_us"):
                    sums[k] += int(j.get(k, 0))
            elif msg == "batches moved":
                sums["move_us"] += int(j.get("move_us", 0))
            elif msg == "batch sizes fetched":
                sums["meta_us"] += int(j.get("meta_us", 0))
    return sums


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in ticks


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def start_sql_sampler(ctx):
    """Samples what the product's database session is doing every 5 ms (pg_stat_activity):
    which statement runs, or after which statement it waits for the client."""
    path = os.path.join(ctx.tmp, "sampler.sql")
    with open(path, "w") as f:
        f.write("SELECT coalesce(wait_event_type, '-') || ' · ' || state || ' · ' || "
                "regexp_replace(left(query, 60), '\\s+', ' ', 'g') FROM pg_stat_activity "
                f"WHERE datname = '{ctx.db}' AND backend_type = 'client backend' "
                "AND query NOT LIKE 'SELECT pg_try_advisory%'\n\\watch 0.005\n")
    out = open(os.path.join(ctx.out, "sql_samples.txt"), "w")
    p = subprocess.Popen(["psql", env("KRM_TEST_POSTGRES_ADMIN_URL"), "-X", "-At", "-f", path],
                         stdout=out, stderr=subprocess.DEVNULL)
    return p, out


def stop_sql_sampler(p, out):
    p.terminate()
    p.wait()
    out.close()
    counts = {}
    with open(out.name) as f:
        for line in f:
            line = line.strip()
            if line:
                counts[line] = counts.get(line, 0) + 1
    total = sum(counts.values()) or 1
    return [(k, v, round(100 * v / total, 1)) for k, v in sorted(counts.items(), key=lambda x: -x[1])[:20]]


def server_cpu_s(root):
    """CPU seconds so far of the servers whose master process is called `root` (PostgreSQL's
    postmaster, Dovecot's master): the masters, their live children and the children they
    reaped (cutime/cstime). Shared servers: other clients' work counts too."""
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        procs[int(d)] = (comm, int(fields[1]), [int(x) for x in fields[11:15]])
    roots = {pid for pid, (comm, ppid, _) in procs.items()
             if comm == root and procs.get(ppid, ("",))[0] != root}
    ticks = 0
    for pid, (comm, ppid, (ut, st, cut, cst)) in procs.items():
        if pid in roots:
            ticks += ut + st + cut + cst
        elif ppid in roots:
            ticks += ut + st
    return ticks / CLK_TCK


def postgres_cpu_s():
    return server_cpu_s("postgres")


def dovecot_cpu_s():
    return server_cpu_s("dovecot")


def wait_acks(folder, expected, timeout):
    """Until the acknowledgements in `folder` of the test users add up to `expected`."""
    sessions = [imap_login(u) for u in ACK_USERS]
    t = time.monotonic()
    got = 0
    while time.monotonic() - t < timeout:
        got = sum(count(m, folder) for m in sessions)
        if got >= expected:
            break
        time.sleep(0.2)
    for m in sessions:
        m.logout()
    return got


def pctl(values, p):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


# ------------------------------------------------------------------ phases

def fresh_database(ctx, binary=None):
    """The bench database dropped, created and migrated again (an intake run starts empty), by
    this build or by `binary` (a binary refuses a database with migrations it does not know)."""
    admin = env("KRM_TEST_POSTGRES_ADMIN_URL")
    psql(admin, f'DROP DATABASE IF EXISTS "{ctx.db}" WITH (FORCE)')
    psql(admin, f'CREATE DATABASE "{ctx.db}"')
    r = subprocess.run([binary or BIN, "migrate"], env=product_env(ctx.base_env), capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"migrate failed: {r.stderr}")
    for sql in ctx.pre_sql:
        psql(ctx.db_url, sql)


def start_perf(ctx, name):
    """`perf record` of the whole machine (every process, with call graphs) until stop_perf.
    DWARF call graphs: the release build has no frame pointers, so `-g` alone shows no callers."""
    path = os.path.join(ctx.out, f"{name}.perf.data")
    p = subprocess.Popen(["perf", "record", "-a", "--call-graph", "dwarf,32768", "-F", "499",
                          "-o", path],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf needs a moment before it samples
    return p


def stop_perf(p):
    p.send_signal(signal.SIGINT)
    p.wait()


def move_back(folder):
    """The mails an intake run moved to `<folder>_erfasst`, back into `folder`; then `folder` is
    examined once, so that Dovecot has indexed them again before the next run, as it had for the
    first run (the FETCH limit's EXAMINE after the APPEND): otherwise only the later runs pay that
    indexing (~50 ms at 2,000 mails) in their SELECT."""
    m = imap_login(OMBUDS)
    m.select(folder + "_erfasst")
    typ, data = m.uid("MOVE", "1:*", folder)
    if typ != "OK":
        raise RuntimeError(f"UID MOVE back to {folder}: {data}")
    m.select(folder, readonly=True)
    m.logout()


def compare_run(ctx, key, k, n, e):
    """One intake run of the `--compare` binary (the database fresh, the mails in the inbox)."""
    log(f"{key} ({n} mails), run {k + 1}/{ctx.intake_runs} of {ctx.compare_name}")
    r = run_timed(["run", "--once", "--no-send"], e,
                  os.path.join(ctx.out, f"{key}-{k + 1}-compare.log"), ctx.compare)
    log(f"  {r['wall_s']:.2f} s")
    return r


def compared(ctx, runs, other):
    """This build's runs against the other binary's, paired by round (each pair ran within a
    minute of each other, so a machine that speeds up or slows down over the bench affects both
    alike)."""
    mine = [r["wall_s"] for r in runs]
    theirs = [r["wall_s"] for r in other]
    diffs = [a - b for a, b in zip(mine, theirs)]
    cpu = lambda rs: [round((r["cpu_user_s"] or 0) + (r["cpu_sys_s"] or 0), 2) for r in rs]  # noqa: E731
    return {
        "other": ctx.compare_name,
        "runs_s": mine, "other_runs_s": theirs,
        "median_s": statistics.median(mine), "other_median_s": statistics.median(theirs),
        "paired_diff_s": diffs, "paired_diff_median_s": statistics.median(diffs),
        "this_faster": sum(1 for d in diffs if d < 0),
        "cpu_s": cpu(runs), "other_cpu_s": cpu(other),
    }


def compare_summary(label, c):
    """Summary lines of a `--compare` run."""
    return [
        "",
        f"{label}, compared with `{c['other']}` (the same mails, each run into an empty database, "
        f"the two binaries alternating): this build {', '.join(f'{x:.2f}' for x in c['runs_s'])} s "
        f"(median {c['median_s']:.2f}), the other {', '.join(f'{x:.2f}' for x in c['other_runs_s'])} s "
        f"(median {c['other_median_s']:.2f}); paired differences "
        f"{', '.join(f'{x:+.2f}' for x in c['paired_diff_s'])} s (median {c['paired_diff_median_s']:+.2f}), "
        f"this build faster in {c['this_faster']} of {len(c['runs_s'])}; intake CPU "
        f"{', '.join(map(str, c['cpu_s']))} against {', '.join(map(str, c['other_cpu_s']))} s.",
    ]


def phase_small(ctx, res):
    """The backlog bound for 2,000 mails, measured from process start (no drain)."""
    phase_backlog(ctx, res, n=2000, key="backlog_small", suffix="small", drain=False)


def phase_backlog(ctx, res, n=None, key="backlog", suffix="", drain=None):
    n = n or ctx.n
    folder = ctx.folder + suffix
    drain = ctx.drain if drain is None else drain
    log(f"generating {n} mails")
    g = genmail.Generator(folder, seed=42, run_id=ctx.run)
    raws = [g.mail(i) for i in range(1, n + 1)]
    total_bytes = sum(len(r) for r in raws)
    res[key] = b = {"mails": n, "bytes": total_bytes,
                    "largest_mail_bytes": max(len(r) for r in raws)}
    log(f"APPENDing {n} mails ({total_bytes / 1e6:.1f} MB) to {folder}")
    b["append_s"], listed = append_all(folder, raws)
    if listed != n:
        raise RuntimeError(f"folder holds {listed} mails, expected {n}")
    log(f"APPEND took {b['append_s']:.1f} s")

    log("physical limit: UID FETCH 1:* (UID BODY.PEEK[]) over the configured TLS")
    times, fetched = fetch_limit(folder, ctx.repeats)
    b["limit_fetch_s_all"] = times
    b["limit_fetch_s"] = min(times)
    b["limit_fetch_bytes"] = fetched
    log(f"  FETCH: {', '.join(f'{t:.2f}' for t in times)} s for {fetched / 1e6:.1f} MB")

    log("physical limit: COPY of the same raw bytes (binary format) into a scratch table")
    copy_file = os.path.join(ctx.tmp, "raws.pgcopy")
    write_copy_file(copy_file, raws)
    del raws
    # Stored as the product stores raw mails (its column's compression), so the limit does the
    # same work per byte; the server's default (pglz) is measured too, for reference.
    compression = scalar(ctx.db_url, "SELECT CASE attcompression WHEN 'l' THEN 'lz4' "
                         "WHEN 'p' THEN 'pglz' ELSE '' END FROM pg_attribute "
                         "WHERE attrelid = 'messages'::regclass AND attname = 'raw'") or None
    times, rows = copy_limit(ctx.db_url, copy_file, ctx.repeats, compression)
    b["limit_copy_compression"] = compression or "default"
    b["limit_copy_s_all"] = times
    b["limit_copy_s"] = min(times)
    log(f"  COPY ({b['limit_copy_compression']}): {', '.join(f'{t:.2f}' for t in times)} s for {rows} rows")
    if compression:
        times, _ = copy_limit(ctx.db_url, copy_file, ctx.repeats)
        b["limit_copy_default_s_all"] = times
        b["limit_copy_default_s"] = min(times)
        log(f"  COPY (server default compression): {', '.join(f'{t:.2f}' for t in times)} s")
    os.remove(copy_file)

    b["pg_round_trip_s"] = pg_round_trip(ctx.db_url)
    log(f"  PostgreSQL round trip (SELECT 1): {b['pg_round_trip_s'] * 1e3:.3f} ms")

    # Each intake run from process start into an empty database; between runs the mails go back
    # into the folder. The run with the median time is reported (its log, phases and CPU).
    e = product_env(ctx.base_env, KRM_IMAP_MAILBOX=folder, KRM_IMAP_CHANNEL="bench-backlog",
                    KRM_LOG_FORMAT="json", KRM_LOG_LEVEL="info,krm_intake::scan=debug")
    runs = []
    other = []
    for k in range(ctx.intake_runs):
        if k > 0:
            move_back(folder)
        if k > 0 or ctx.db_used:
            fresh_database(ctx)
        ctx.db_used = True
        # With --compare, the other binary runs on the same mails, into an empty database of its
        # own schema, before or after this build's run, alternating; this build runs last in
        # the last round, so what is counted below (and drained) is its work.
        other_first = ctx.compare and (ctx.intake_runs - 1 - k) % 2 == 0
        if other_first:
            fresh_database(ctx, ctx.compare)
            other.append(compare_run(ctx, key, k, n, e))
            move_back(folder)
            fresh_database(ctx)
        log(f"{key} ({n} mails), run {k + 1}/{ctx.intake_runs}: krm-intake run --once --no-send")
        lf = os.path.join(ctx.out, f"{key}-{k + 1}.log")
        pg0, dc0 = postgres_cpu_s(), dovecot_cpu_s()
        sampler = start_sql_sampler(ctx) if ctx.sample_sql else None
        perf = start_perf(ctx, f"{key}-{k + 1}") if ctx.perf else None
        r = run_timed(["run", "--once", "--no-send"], e, lf)
        if perf:
            stop_perf(perf)
        if sampler:
            r["sql_samples"] = stop_sql_sampler(*sampler)
        time.sleep(1)  # let the postmaster reap the product's backends, so their CPU counts
        r["postgres_cpu_s"] = postgres_cpu_s() - pg0
        r["dovecot_cpu_s"] = dovecot_cpu_s() - dc0
        r["phases"] = batch_timings(lf)
        log(f"  {r['wall_s']:.2f} s")
        runs.append(r)
        if ctx.compare and not other_first:
            move_back(folder)
            fresh_database(ctx, ctx.compare)
            other.append(compare_run(ctx, key, k, n, e))
    b["intake_runs_s"] = [x["wall_s"] for x in runs]
    if ctx.compare:
        b["compare"] = compared(ctx, runs, other)
        c = b["compare"]
        log(f"  compared with {ctx.compare_name}: this build {c['median_s']:.2f} s, the other "
            f"{c['other_median_s']:.2f} s; this build faster in {c['this_faster']} of "
            f"{len(runs)} pairs, paired difference median {c['paired_diff_median_s']:+.2f} s")
    r = sorted(runs, key=lambda x: x["wall_s"])[len(runs) // 2]
    if ctx.intake_runs % 2 == 0:
        log("  (an even number of runs: the upper middle one is reported)")
    if "sql_samples" in r:
        b["sql_samples"] = r.pop("sql_samples")
    b["postgres_cpu_s"] = r.pop("postgres_cpu_s")
    b["dovecot_cpu_s"] = r.pop("dovecot_cpu_s")
    b["phases"] = r.pop("phases")
    b["intake"] = r
    b["cases"] = int(scalar(ctx.db_url, "SELECT count(*) FROM cases WHERE channel = 'bench-backlog'"))
    b["messages"] = int(scalar(ctx.db_url, "SELECT count(*) FROM messages"))
    b["outbox_pending"] = int(scalar(ctx.db_url, "SELECT count(*) FROM outbox WHERE status = 'pending'"))
    b["quarantined"] = int(scalar(ctx.db_url, "SELECT count(*) FROM quarantine"))
    m = imap_login(OMBUDS)
    b["left_in_inbox"] = count(m, folder)
    b["moved_to_processed"] = count(m, folder + "_erfasst")
    m.logout()
    limit = b["limit_fetch_s"] + b["limit_copy_s"]
    b["ratio"] = r["wall_s"] / limit
    b["mails_per_s"] = n / r["wall_s"]
    log(f"  intake {r['wall_s']:.2f} s ({b['mails_per_s']:.0f} mails/s), limit {limit:.2f} s, "
        f"ratio {b['ratio']:.2f}; peak RSS {r['peak_rss_kib'] / 1024:.1f} MiB; {r['stdout']}")

    if not drain:
        return
    log("outbox drain: krm-intake run --once (inbox now empty)")
    e = product_env(ctx.base_env, KRM_IMAP_MAILBOX=folder, KRM_IMAP_CHANNEL="bench-backlog")
    r = run_timed(["run", "--once"], e, os.path.join(ctx.out, "drain.log"))
    b["drain"] = r
    sent = int(scalar(ctx.db_url, "SELECT count(*) FROM outbox WHERE status = 'sent'"))
    b["acks_sent"] = sent
    t = time.monotonic()
    b["acks_delivered"] = wait_acks(folder, sent, ctx.delivery_timeout)
    b["delivery_after_drain_s"] = time.monotonic() - t
    log(f"  drain {r['wall_s']:.2f} s for {sent} acks ({sent / r['wall_s']:.0f}/s); all "
        f"{b['acks_delivered']} in the mailboxes {b['delivery_after_drain_s']:.1f} s later")
    plain = plain_client_limit(ctx, folder)
    # Let Postfix deliver them before the folders are cleaned up.
    plain["delivered"] = wait_acks(folder + "plain", plain["messages"], ctx.delivery_timeout)
    b["plain_client"] = plain
    b["drain_share_of_plain"] = (sent / r["wall_s"]) / plain["per_s"]
    log(f"  plain client, same {plain['connections']} connections and messages: "
        f"{plain['wall_s']:.2f} s ({plain['per_s']:.0f}/s); the product reaches "
        f"{b['drain_share_of_plain'] * 100:.0f} %")


def plain_client_limit(ctx, folder):
    """What Postfix accepts from a plain client: the drained acknowledgements again, over as many
    connections as the product uses ([smtp] parallel, default 4), same port, STARTTLS and AUTH,
    one `sendmail` per message, from connect to the last 250. Delivered into a folder of its own."""
    return _send_plain(_outbox_rows(ctx, folder))


def _outbox_rows(ctx, folder):
    out = subprocess.run(
        ["psql", ctx.db_url, "-X", "-At", "-F", " ", "-c",
         "SELECT recipient, translate(encode(raw, 'base64'), E'\\n', '') FROM outbox "
         "WHERE status = 'sent' ORDER BY id"],
        capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        rcpt, b64 = line.split(" ", 1)
        rows.append((rcpt.replace(f"+{folder}@", f"+{folder}plain@"),
                     base64.b64decode(b64)))
    return rows


def _send_plain(rows):
    import threading
    n = int(os.environ.get("KRM_SMTP_PARALLEL", "4"))
    host, port = env("KRM_SMTP_HOST"), int(env("KRM_SMTP_PORT"))
    user, password = env("KRM_SMTP_USERNAME"), env("KRM_SMTP_PASSWORD")
    errors = []

    def worker(share):
        try:
            c = smtplib.SMTP(host, port, timeout=60)
            c.starttls(context=ssl_ctx())
            c.login(user, password)
            for rcpt, raw in share:
                c.sendmail(user, [rcpt], raw)
            c.quit()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(rows[i::n],)) for i in range(n)]
    t = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.monotonic() - t
    if errors:
        raise RuntimeError(f"plain client failed: {errors[:3]}")
    return {"connections": n, "messages": len(rows), "wall_s": dt, "per_s": len(rows) / dt}


def phase_bigmail(ctx, res):
    folder = ctx.folder + "big"
    size = ctx.big_mb * 1024 * 1024
    raw = genmail.big_mail(folder, size)
    log(f"memory: one {len(raw) / 1e6:.1f} MB mail, run --once --no-send")
    append_all(folder, [raw])
    e = product_env(ctx.base_env, KRM_IMAP_MAILBOX=folder, KRM_IMAP_CHANNEL="bench-big",
                    KRM_IMAP_MAX_MESSAGE_SIZE=30 * 1024 * 1024)
    r = run_timed(["run", "--once", "--no-send"], e, os.path.join(ctx.out, "bigmail.log"))
    cases = int(scalar(ctx.db_url, "SELECT count(*) FROM cases WHERE channel = 'bench-big'"))
    res["bigmail"] = {"mail_bytes": len(raw), "run": r, "cases": cases}
    log(f"  {r['wall_s']:.2f} s, peak RSS {r['peak_rss_kib'] / 1024:.1f} MiB, cases {cases}")


def phase_latency(ctx, res):
    folder = ctx.folder + "lat"
    m = imap_login(OMBUDS)
    m.create(folder)
    m.logout()
    e = product_env(ctx.base_env, KRM_IMAP_MAILBOX=folder, KRM_IMAP_CHANNEL="bench-latency",
                    KRM_LOG_FORMAT="json")
    lf = open(os.path.join(ctx.out, "daemon.log"), "wb")
    d = subprocess.Popen([BIN, "run"], env=e, stdout=lf, stderr=lf)
    lat = res["latency"] = {"mails": ctx.latency_n}
    try:
        time.sleep(ctx.settle)
        if d.poll() is not None:
            raise RuntimeError("daemon exited early; see daemon.log")
        # Idle: nothing arrives; IDLE waits. The acknowledgements left pending by the phases
        # before (run with --no-send) are sent first: wait for them, they are not idle work.
        deadline = time.monotonic() + ctx.delivery_timeout
        while int(scalar(ctx.db_url, "SELECT count(*) FROM outbox WHERE status = 'pending'")) > 0:
            if time.monotonic() > deadline or d.poll() is not None:
                raise RuntimeError("the daemon did not send the pending acknowledgements; see daemon.log")
            time.sleep(0.5)
        time.sleep(1)
        log(f"idle daemon: {ctx.idle_s} s of RSS and CPU")
        c0, t0 = proc_stat(d.pid), time.monotonic()
        time.sleep(ctx.idle_s)
        c1, t1 = proc_stat(d.pid), time.monotonic()
        lat["idle_rss_kib"] = proc_status(d.pid, "VmRSS")
        lat["idle_cpu_s"] = (c1 - c0) / CLK_TCK
        lat["idle_window_s"] = t1 - t0
        lat["idle_cpu_percent"] = 100 * lat["idle_cpu_s"] / (t1 - t0)
        log(f"  RSS {lat['idle_rss_kib'] / 1024:.1f} MiB, CPU {lat['idle_cpu_s']:.2f} s in {t1 - t0:.0f} s")

        log(f"latency: {ctx.latency_n} mails, one at a time, SMTP acceptance -> ack in the sender's folder")
        watcher = imap_login("buerger@mail.test")
        smtp = smtplib.SMTP("127.0.0.1", int(env("KRM_TEST_SMTP_PORT")), timeout=30)
        smtp.starttls(context=ssl_ctx())
        sender = f"buerger+{folder}@mail.test"
        rcpt = f"ombudsstelle+{folder}@jobcenter.test"
        samples, sent_ids, missed = [], [], 0
        for i in range(1, ctx.latency_n + 1):
            mid, raw = genmail.simple_mail(folder, i, ctx.run)
            smtp.sendmail(sender, [rcpt], raw)
            accepted = time.monotonic()
            sent_ids.append(mid)
            while True:
                if count(watcher, folder) >= i:
                    samples.append(time.monotonic() - accepted)
                    break
                if time.monotonic() - accepted > 30:
                    missed += 1
                    log(f"  mail {i}: no acknowledgement within 30 s")
                    break
                time.sleep(ctx.poll_s)
        smtp.quit()
        # Every acknowledgement answers one of our mails.
        watcher.select(folder, readonly=True)
        typ, data = watcher.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (IN-REPLY-TO)])")
        answered = set(re.findall(rb"<[^>]+>", b"".join(x[1] for x in data if isinstance(x, tuple))))
        watcher.logout()
        lat["acks_matching_sent_mails"] = sum(1 for m_ in sent_ids if m_.encode() in answered)
        lat["missed"] = missed
        lat["samples_s"] = samples
        lat["p50_s"] = pctl(samples, 50)
        lat["p95_s"] = pctl(samples, 95)
        lat["max_s"] = max(samples) if samples else None
        lat["min_s"] = min(samples) if samples else None
        lat["poll_interval_s"] = ctx.poll_s
        lat["peak_rss_kib"] = proc_status(d.pid, "VmHWM")
        log(f"  p50 {lat['p50_s']:.3f} s, p95 {lat['p95_s']:.3f} s, max {lat['max_s']:.3f} s; "
            f"{lat['acks_matching_sent_mails']}/{ctx.latency_n} acks matched; missed {missed}")
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=20)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        lf.close()


def phase_start(ctx, res):
    """Process start to the first IDLE on an empty inbox (database migrated, release binary):
    the time from spawning `krm-intake run` to its debug line "waiting in IDLE", 5 starts, median.
    The database is fresh: acknowledgements a phase before left unsent (`small` runs without
    drain) would otherwise be sent by the daemon while it starts."""
    if ctx.db_used:
        fresh_database(ctx)
    folder = ctx.folder + "start"
    m = imap_login(OMBUDS)
    m.create(folder)
    m.logout()
    e = product_env(ctx.base_env, KRM_IMAP_MAILBOX=folder, KRM_IMAP_CHANNEL="bench-start",
                    KRM_LOG_FORMAT="json", KRM_LOG_LEVEL="debug")
    samples = []
    for _ in range(5):
        t = time.monotonic()
        d = subprocess.Popen([BIN, "run"], env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        try:
            for line in d.stderr:
                if b"waiting in IDLE" in line:
                    samples.append(time.monotonic() - t)
                    break
            else:
                raise RuntimeError("daemon ended before its first IDLE")
        finally:
            d.send_signal(signal.SIGTERM)
            try:
                d.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
    st = res["start"] = {"samples_s": samples, "median_s": statistics.median(samples),
                         "max_s": max(samples)}
    log(f"start to first IDLE: median {st['median_s']:.3f} s, max {st['max_s']:.3f} s "
        f"over {len(samples)} starts")


# ------------------------------------------------------------------ cleanup

def cleanup(ctx):
    log("cleanup: IMAP folders and database")
    folders = [ctx.folder + s for s in ("", "plain", "big", "lat", "desk", "start", "small")]
    own = []
    for f in folders:
        own += [f, f + "_erfasst", f + "_quarantaene"]
    for user, names in [(OMBUDS, own)] + [(u, folders) for u in ACK_USERS]:
        try:
            m = imap_login(user)
        except Exception as e:  # noqa: BLE001 - cleanup keeps going
            log(f"  cannot log in as {user}: {e}")
            continue
        m.select("INBOX")
        for f in names:
            if m.status(f, "(MESSAGES)")[0] == "OK":
                typ, data = m.delete(f)
                if typ != "OK":
                    log(f"  {user}: DELETE {f}: {data}")
        m.logout()
    try:
        psql(env("KRM_TEST_POSTGRES_ADMIN_URL"), f'DROP DATABASE IF EXISTS "{ctx.db}" WITH (FORCE)')
    except RuntimeError as e:
        log(f"  {e}")


# ------------------------------------------------------------------ main

class Ctx:
    pass


def main():
    global BIN
    ap = argparse.ArgumentParser(description="krm-intake benchmark (local services only)")
    ap.add_argument("--mails", type=int, default=10_000, help="backlog size (default 10000)")
    ap.add_argument("--latency-mails", type=int, default=100)
    ap.add_argument("--big-mb", type=int, default=25, help="size of the single big mail in MiB")
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the FETCH and COPY limits (best counts)")
    ap.add_argument("--only", default="backlog,small,bigmail,latency,start",
                    help="comma-separated phases: backlog, small (2,000 mails from process start), "
                         "bigmail, latency, start (process start to the first IDLE), desk (the "
                         "desk's page times with --mails cases; not in the default set)")
    ap.add_argument("--out", default=None, help="result directory (default target/bench/<ts>)")
    ap.add_argument("--no-drain", action="store_true", help="backlog: skip the outbox drain")
    ap.add_argument("--intake-runs", type=int, default=3,
                    help="backlog and small: intake runs, each into an empty database; the median "
                         "is reported (default 3)")
    ap.add_argument("--sample-sql", action="store_true",
                    help="backlog: sample pg_stat_activity every 5 ms during the intake (costs CPU)")
    ap.add_argument("--perf", action="store_true",
                    help="backlog and small: `perf record -a --call-graph dwarf` of each intake run into "
                         "<out>/<phase>-<run>.perf.data (costs CPU; for finding where time goes)")
    ap.add_argument("--keep", action="store_true", help="keep database and folders (for inspection)")
    ap.add_argument("--compare", metavar="BINARY", default=None,
                    help="backlog and small: after (or, every other round, before) each intake run, "
                         "one of BINARY (e.g. a build of an earlier commit) on the same mails into an "
                         "empty database; both series and their paired differences are reported "
                         "(the headline figures stay this build's)")
    ap.add_argument("--pre-sql", action="append", default=[],
                    help="experiment: SQL run in the bench database after the migrations (e.g. a "
                         "candidate index), repeatable; recorded in results.json")
    a = ap.parse_args()

    refuse_unless_loopback()
    if not os.path.exists(BIN):
        sys.exit(f"bench: {BIN} missing; run `cargo build --release`")

    ctx = Ctx()
    ts = time.strftime("%Y%m%d%H%M%S")
    ctx.run = f"bench{ts}"
    ctx.folder = f"bench{ts}"
    ctx.db = f"krm_bench_{ts}"
    ctx.n = a.mails
    ctx.latency_n = a.latency_mails
    ctx.big_mb = a.big_mb
    ctx.idle_s = a.idle_seconds
    ctx.repeats = a.repeats
    ctx.drain = not a.no_drain
    ctx.intake_runs = max(1, a.intake_runs)
    ctx.db_used = False
    ctx.sample_sql = a.sample_sql
    ctx.perf = a.perf
    ctx.pre_sql = a.pre_sql
    ctx.settle = 5.0
    ctx.poll_s = 0.01
    ctx.delivery_timeout = 600
    ctx.out = a.out or os.path.join(ROOT, "target", "bench", ts)
    os.makedirs(ctx.out, exist_ok=True)
    ctx.tmp = tempfile.mkdtemp(prefix="krm-bench-")
    # A private copy: target/ is shared, and a concurrent `cargo build --release` must not swap
    # the binary between the phases of one run.
    private = os.path.join(ctx.tmp, "krm-intake")
    shutil.copy2(BIN, private)
    built = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(os.path.getmtime(BIN)))
    BIN = private
    ctx.compare, ctx.compare_name = None, None
    if a.compare:
        if not os.path.exists(a.compare):
            sys.exit(f"bench: --compare {a.compare}: no such file")
        ctx.compare = os.path.join(ctx.tmp, "krm-intake-compare")
        shutil.copy2(a.compare, ctx.compare)
        ctx.compare_name = a.compare
    admin = env("KRM_TEST_POSTGRES_ADMIN_URL")
    base = admin.rsplit("/", 1)[0]
    # Connect as the local services configure the product (e.g. `?sslmode=disable` on loopback).
    query = urllib.parse.urlsplit(env("KRM_DATABASE_URL")).query
    ctx.db_url = f"{base}/{ctx.db}" + (f"?{query}" if query else "")
    ctx.base_env = {
        "KRM_DATABASE_URL": ctx.db_url,
        "KRM_RULES_DIR": os.path.join(ROOT, "rules"),
        "KRM_TEMPLATES_DIR": os.path.join(ROOT, "templates"),
        "KRM_IMAP_PROCESSED_FOLDER": f"{ctx.folder}_erfasst",  # set per phase below
        "KRM_IMAP_QUARANTINE_FOLDER": f"{ctx.folder}_quarantaene",
        "KRM_ACK_RATE_LIMIT_PER_HOUR": "100000000",
        "KRM_IMAP_TIMEOUT_SECS": "120",
        "KRM_SMTP_FROM_NAME": "Ombudsstelle des Jobcenters",
        "KRM_LOG_FORMAT": "json",
        "KRM_LOG_LEVEL": "info",
    }
    phases = [p.strip() for p in a.only.split(",") if p.strip()]

    res = {"started": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "phases": phases,
           "binary_built_utc": built, "git": git_state(),
           "pre_sql": a.pre_sql}
    log(f"results in {ctx.out}; database {ctx.db}; folders {ctx.folder}*")
    try:
        psql(admin, f'CREATE DATABASE "{ctx.db}"')
        e = product_env(ctx.base_env)
        r = subprocess.run([BIN, "migrate"], env=e, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"migrate failed: {r.stderr}")
        for sql in a.pre_sql:
            log(f"experiment: {sql}")
            psql(ctx.db_url, sql)
        for p in phases:
            f = ctx.folder + {"backlog": "", "bigmail": "big", "latency": "lat", "desk": "desk",
                              "start": "start", "small": "small"}[p]
            ctx.base_env["KRM_IMAP_PROCESSED_FOLDER"] = f + "_erfasst"
            ctx.base_env["KRM_IMAP_QUARANTINE_FOLDER"] = f + "_quarantaene"
            desk.bench = sys.modules[__name__]
            {"backlog": phase_backlog, "bigmail": phase_bigmail, "latency": phase_latency,
             "desk": desk.phase_desk, "start": phase_start, "small": phase_small}[p](ctx, res)
    finally:
        with open(os.path.join(ctx.out, "results.json"), "w") as f:
            json.dump(res, f, indent=2, default=str)
        shutil.rmtree(ctx.tmp, ignore_errors=True)
        if a.keep:
            log(f"kept database {ctx.db} and folders {ctx.folder}*")
        else:
            cleanup(ctx)
    print(summary(res))
    with open(os.path.join(ctx.out, "summary.md"), "w") as f:
        f.write(summary(res) + "\n")


def git_state():
    def sh(*args):
        r = subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True)
        return r.stdout.rstrip()
    changed = [ln[3:] for ln in sh("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"head": sh("log", "-1", "--format=%h %s"), "uncommitted": changed}


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    return {
        "nproc": sh("nproc"),
        "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip(),
        "mem": sh("free -h | awk '/^Mem:/ {print $2}'"),
        "loadavg_at_start": sh("cat /proc/loadavg"),
        "kernel": sh("uname -r"),
        "krm_intake": sh(f"{BIN} --version"),
        "rustc": sh("rustc --version"),
        "postgres": sh("psql -X -At -c 'show server_version' \"$KRM_TEST_POSTGRES_ADMIN_URL\""),
        "dovecot": sh("dovecot --version"),
        "postfix": sh("postconf -d mail_version 2>/dev/null | cut -d' ' -f3"),
        "python": sys.version.split()[0],
    }


def summary(res):
    out = []
    mach = res["machine"]
    out.append(f"Run {res['started']}; {mach['nproc']} cores ({mach['cpu']}), {mach['mem']} RAM; "
               f"load at start {mach['loadavg_at_start']}")
    g = res.get("git") or {}
    out.append(f"Binary built {res.get('binary_built_utc')} UTC; HEAD {g.get('head')}; "
               f"uncommitted: {', '.join(g.get('uncommitted') or []) or 'none'}")
    for sql in res.get("pre_sql") or []:
        out.append(f"Experiment (not the shipped schema): `{sql}`")
    b = res.get("backlog")
    if b and "intake" in b:
        i = b["intake"]
        limit = b["limit_fetch_s"] + b["limit_copy_s"]
        out.append("")
        out.append("| backlog | value |")
        out.append("|---|---|")
        out.append(f"| mails / bytes | {b['mails']} / {b['bytes'] / 1e6:.1f} MB |")
        out.append(f"| APPEND (setup) | {b['append_s']:.1f} s |")
        out.append(f"| limit: UID FETCH 1:* (TLS) | {b['limit_fetch_s']:.2f} s |")
        out.append(f"| limit: COPY binary, raw column compressed as the product's ({b.get('limit_copy_compression', 'default')}) | {b['limit_copy_s']:.2f} s |")
        if "limit_copy_default_s" in b:
            alt = b["limit_fetch_s"] + b["limit_copy_default_s"]
            out.append(f"| for reference: COPY with the server's default compression | {b['limit_copy_default_s']:.2f} s (ratio against it {i['wall_s'] / alt:.2f}) |")
        runs_s = b.get("intake_runs_s") or [i["wall_s"]]
        out.append(f"| intake `run --once --no-send` | {i['wall_s']:.2f} s ({b['mails_per_s']:.0f} mails/s); "
                   f"the median of {len(runs_s)} runs ({', '.join(f'{x:.2f}' for x in runs_s)} s) |")
        out.append(f"| **ratio** intake / (fetch + COPY) | **{i['wall_s'] / limit:.2f}** (target ≤ 2.5) |")
        out.append(f"| CPU of the intake process | user {i['cpu_user_s']} s, sys {i['cpu_sys_s']} s |")
        out.append(f"| CPU of the PostgreSQL server meanwhile | {b['postgres_cpu_s']:.2f} s (shared server) |")
        if b.get("dovecot_cpu_s") is not None:
            cpu = i["cpu_user_s"] + i["cpu_sys_s"] + b["postgres_cpu_s"] + b["dovecot_cpu_s"]
            cores = os.cpu_count() or 1
            out.append(f"| CPU of Dovecot meanwhile | {b['dovecot_cpu_s']:.2f} s (shared server) |")
            out.append(f"| CPU of the three together, spread over the machine's {cores} cores | "
                       f"{cpu:.2f} s → {cpu / cores:.2f} s at the least (ratio {cpu / cores / limit:.2f}) |")
        out.append(f"| peak RSS intake | {i['peak_rss_kib'] / 1024:.1f} MiB (largest mail {b['largest_mail_bytes'] / 1e6:.2f} MB) |")
        out.append(f"| PostgreSQL round trip (`SELECT 1`, median) | {b['pg_round_trip_s'] * 1e3:.3f} ms |")
        out.append(f"| intake SQL per mail (record step / mails) | {b['phases']['record_us'] / max(1, b['phases']['mails']) / 1e3:.2f} ms |")
        out.append(f"| cases / messages / quarantined | {b['cases']} / {b['messages']} / {b['quarantined']} |")
        out.append(f"| left in inbox / moved | {b['left_in_inbox']} / {b['moved_to_processed']} |")
        if "drain" in b:
            d = b["drain"]
            out.append(f"| outbox drain `run --once` | {d['wall_s']:.2f} s for {b['acks_sent']} acks "
                       f"({b['acks_sent'] / d['wall_s']:.0f}/s) |")
            if "plain_client" in b:
                pc = b["plain_client"]
                out.append(f"| plain client (Python smtplib), same {pc['connections']} connections and messages | "
                           f"{pc['wall_s']:.2f} s ({pc['per_s']:.0f}/s); **drain at "
                           f"{b['drain_share_of_plain'] * 100:.0f} %** of it (target ≥ 60 %) |")
            out.append(f"| acks in the mailboxes | {b['acks_delivered']} ({b['delivery_after_drain_s']:.1f} s after the drain) |")
        p = b["phases"]
        tot = i["wall_s"] * 1e6
        out.append("")
        out.append("Where the intake time goes, summed over the batches. The IMAP side (sizes, bodies, "
                   "parse, MOVE) runs while the database side (record, COMMIT) works on another "
                   "batch, so the two sides overlap; each side's total is shown against the wall time. The database side records two batches at once (one written and committed, the next recorded ahead), so its sum can exceed the wall time. "
                   "The record step's parts: the batch's lookups, its mails one by one (rules, "
                   "decisions, acknowledgements; queries only where memory cannot answer), and the "
                   "one INSERT statement.")
        out.append("")
        out.append("| phase (sum over batches) | s | share of wall |")
        out.append("|---|---|---|")
        sides = {"IMAP side": ("meta_us", "fetch_us", "parse_us", "move_us"),
                 "database side": ("record_us", "commit_us")}
        labels = {"meta_us": "IMAP sizes (UID FETCH RFC822.SIZE)", "fetch_us": "IMAP bodies (UID FETCH BODY.PEEK[])",
                  "move_us": "IMAP UID MOVE (groups of ≥ 2,000 mails; each batch once all are fetched)",
                  "parse_us": "parse (mail-parser, text, hash)",
                  "record_us": "rules, lookups and the batch's one INSERT statement",
                  "commit_us": "COMMIT per batch"}
        parts = {"record_us": (("prefetch_us", "lookups"), ("mails_us", "mail by mail"),
                               ("flush_us", "INSERT statement"))}
        for side, keys in sides.items():
            for k in keys:
                out.append(f"| {labels[k]} | {p[k] / 1e6:.2f} | {100 * p[k] / tot:.0f} % |")
                for pk, pl in parts.get(k, ()):
                    if p.get(pk):
                        out.append(f"| &nbsp;&nbsp;of which {pl} | {p[pk] / 1e6:.2f} | {100 * p[pk] / tot:.0f} % |")
            st = sum(p[k] for k in keys)
            out.append(f"| **{side}, total** | {st / 1e6:.2f} | {100 * st / tot:.0f} % |")
        if "compare" in b:
            out.extend(compare_summary(f"Backlog of {b['mails']} mails", b["compare"]))
    sm = res.get("backlog_small")
    if sm and "intake" in sm:
        lim = sm["limit_fetch_s"] + sm["limit_copy_s"]
        out.append("")
        out.append(f"Backlog of {sm['mails']} mails from process start: intake {sm['intake']['wall_s']:.2f} s "
                   f"(runs {', '.join(f'{x:.2f}' for x in sm['intake_runs_s'])} s, the median reported), limit "
                   f"{sm['limit_fetch_s']:.2f} s FETCH + {sm['limit_copy_s']:.2f} s COPY, "
                   f"**ratio {sm['intake']['wall_s'] / lim:.2f}** (target ≤ 2.5)")
        if sm.get("dovecot_cpu_s") is not None:
            si = sm["intake"]
            cpu = si["cpu_user_s"] + si["cpu_sys_s"] + sm["postgres_cpu_s"] + sm["dovecot_cpu_s"]
            cores = os.cpu_count() or 1
            out[-1] += (f"; CPU of the intake {si['cpu_user_s'] + si['cpu_sys_s']:.2f} s, PostgreSQL "
                        f"{sm['postgres_cpu_s']:.2f} s, Dovecot {sm['dovecot_cpu_s']:.2f} s: on "
                        f"{cores} cores at the least {cpu / cores:.2f} s (ratio {cpu / cores / lim:.2f})")
        if "compare" in sm:
            out.extend(compare_summary(f"Backlog of {sm['mails']} mails", sm["compare"]))
    if b and b.get("sql_samples"):
        out.append("")
        out.append("| database session during the intake (pg_stat_activity every 5 ms) | samples | share |")
        out.append("|---|---|---|")
        for k, v, pc in b["sql_samples"][:15]:
            out.append(f"| `{k}` | {v} | {pc} % |")
    g = res.get("bigmail")
    if g:
        r = g["run"]
        target = 60 + 3 * g["mail_bytes"] / 2**20
        out.append("")
        out.append(f"Big mail: {g['mail_bytes'] / 1e6:.1f} MB, ingest {r['wall_s']:.2f} s, peak RSS "
                   f"{r['peak_rss_kib'] / 1024:.1f} MiB (target: not above {BIG_MAIL_PEAK_MIB} MiB, "
                   f"the peak when issue 17 was filed; issue 8's bound {target:.0f} MiB), "
                   f"cases {g['cases']}")
    lat = res.get("latency")
    if lat and lat.get("p50_s") is not None:
        out.append("")
        out.append(f"Latency ({len(lat['samples_s'])} mails): p50 {lat['p50_s']:.3f} s, p95 {lat['p95_s']:.3f} s, "
                   f"min {lat['min_s']:.3f} s, max {lat['max_s']:.3f} s (target p95 ≤ 1.0 s); "
                   f"{lat['acks_matching_sent_mails']} acks matched, {lat['missed']} missed")
        out.append(f"Idle daemon: RSS {lat['idle_rss_kib'] / 1024:.1f} MiB, CPU {lat['idle_cpu_s']:.2f} s over "
                   f"{lat['idle_window_s']:.0f} s ({lat['idle_cpu_percent']:.2f} %); peak RSS after latency run "
                   f"{lat['peak_rss_kib'] / 1024:.1f} MiB")
    st = res.get("start")
    if st:
        out.append("")
        out.append(f"Start to the first IDLE (empty inbox, database migrated; {len(st['samples_s'])} "
                   f"starts): median {st['median_s']:.3f} s, max {st['max_s']:.3f} s (target ≤ 0.5 s)")
    d = res.get("desk")
    if d:
        out.append("")
        out.append(f"Desk with {d.get('cases')} cases (one client, keep-alive; target p95 ≤ 50 ms):")
        for page in ("work_list_first_page", "case_page", "case_page_big_mail"):
            v = d.get(page)
            if isinstance(v, dict):
                out.append(f"- {page}: p50 {v['p50_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms, "
                           f"max {v['max_ms']:.1f} ms ({v['requests']} requests)")
            elif v:
                out.append(f"- {page}: {v}")
        if d.get("peak_rss_kib"):
            out.append(f"- peak RSS of `krm-intake web`: {d['peak_rss_kib'] / 1024:.1f} MiB")
    return "\n".join(out)


if __name__ == "__main__":
    main()
