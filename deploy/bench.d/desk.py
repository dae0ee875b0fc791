"""The desk's benchmark phase (issue 15 item 8); called by bench.py as phase `desk`.

With N cases (default 10,000) ingested through the real intake (the same generated mails as the
backlog phase, `run --once --no-send`), it starts `krm-intake web` on a free loopback port, logs
in as a bench account and requests, one at a time over one keep-alive connection, the first page
of the work list and case pages of random cases, and the case page of a case holding one big
mail (--big-mb). Reports p50/p95/max per page; the target is p95 <= 50 ms. One client on
purpose: the figure is the server's time per page, not a load test.
"""

import http.client
import os
import random
import re
import signal
import socket
import subprocess
import time
import urllib.parse

# bench.py's own module (it runs as __main__); set by bench.py before the phase runs.
bench = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A minimal browser: one keep-alive connection, the cookies the desk sets."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {}

    def request(self, method, path, form=None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        for h, v in r.getheaders():
            if h.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                value = rest.split(";", 1)[0]
                if value:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
        return r.status, data

    def login(self, user, password):
        status, page = self.request("GET", "/login")
        m = re.search(rb'name="csrf" value="([^"]+)"', page)
        if status != 200 or not m:
            raise RuntimeError(f"GET /login: {status}")
        status, _ = self.request("POST", "/login", {
            "username": user, "password": password, "csrf": m.group(1).decode()})
        if status not in (302, 303) or "krm_session" not in self.cookies:
            raise RuntimeError(f"POST /login: {status}")


def wait_port(port, proc, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"krm-intake web exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("krm-intake web did not listen")


def timed(client, path, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        status, _ = client.request("GET", path)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise RuntimeError(f"GET {path}: {status}")
    return times


def summarise(times):
    return {"requests": len(times), "p50_ms": bench.pctl(times, 50) * 1e3,
            "p95_ms": bench.pctl(times, 95) * 1e3, "max_ms": max(times) * 1e3}


def phase_desk(ctx, res):
    n = ctx.n
    folder = ctx.folder + "desk"  # set as the processed/quarantine prefix by bench.py
    d = res["desk"] = {"cases_target": n}
    bench.log(f"desk: generating and ingesting {n} mails")
    g = bench.genmail.Generator(folder, seed=42, run_id=ctx.run)
    raws = [g.mail(i) for i in range(1, n + 1)]
    # One case holds a big mail (scanned letters): its page must not cost what the mail costs.
    raws.append(bench.genmail.big_mail(folder, ctx.big_mb * 1024 * 1024))
    bench.append_all(folder, raws)
    del raws
    e = bench.product_env(ctx.base_env, KRM_IMAP_MAILBOX=folder, KRM_IMAP_CHANNEL="bench-desk",
                          KRM_IMAP_MAX_MESSAGE_SIZE=(ctx.big_mb + 5) * 1024 * 1024)
    r = subprocess.run([bench.BIN, "run", "--once", "--no-send"], env=e, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"intake failed: {r.stderr[-2000:]}")
    d["cases"] = int(bench.scalar(ctx.db_url, "SELECT count(*) FROM cases"))
    numbers = bench.scalar(ctx.db_url, "SELECT string_agg(number, ' ') FROM cases").split()
    big, big_size = bench.scalar(ctx.db_url, "SELECT c.number || ' ' || m.size FROM cases c "
                                             "JOIN messages m ON m.case_id = c.id "
                                             "ORDER BY m.size DESC LIMIT 1").split()
    if int(big_size) < ctx.big_mb * 1024 * 1024 // 2:
        raise RuntimeError(f"the {ctx.big_mb} MiB mail was not ingested (largest {big_size} bytes)")
    d["big_mail_bytes"] = int(big_size)

    password = "bench-" + os.urandom(8).hex()
    pw_file = os.path.join(ctx.tmp, "desk-password")
    with open(pw_file, "w") as f:
        f.write(password + "\n")
    r = subprocess.run([bench.BIN, "user", "add", "bench", "--role", "leitung",
                        "--password-file", pw_file], env=e, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"user add failed: {r.stderr}")

    port = free_port()
    we = dict(e, KRM_WEB_LISTEN=f"127.0.0.1:{port}", KRM_WEB_BASE_URL=f"http://127.0.0.1:{port}")
    log = open(os.path.join(ctx.out, "desk.log"), "w")
    proc = subprocess.Popen([bench.BIN, "web"], env=we, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc)
        c = Client(port)
        c.login("bench", password)
        # Warm-up: the first requests pay for connection set-up and plan caching.
        timed(c, "/vorgaenge", 10)
        d["work_list_first_page"] = summarise(timed(c, "/vorgaenge", 200))
        rng = random.Random(42)
        sample = [rng.choice(numbers) for _ in range(200)]
        status, _ = c.request("GET", f"/vorgaenge/{sample[0]}")
        if status == 200:
            times = []
            for number in sample:
                times += timed(c, f"/vorgaenge/{number}", 1)
            d["case_page"] = summarise(times)
            d["case_page_big_mail"] = summarise(timed(c, f"/vorgaenge/{big}", 20))
        else:
            d["case_page"] = f"not served (GET /vorgaenge/NUMBER: {status})"
        d["peak_rss_kib"] = bench.proc_status(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    for page in ("work_list_first_page", "case_page", "case_page_big_mail"):
        v = d.get(page)
        if isinstance(v, dict):
            bench.log(f"  {page}: p50 {v['p50_ms']:.1f} ms, p95 {v['p95_ms']:.1f} ms, "
                      f"max {v['max_ms']:.1f} ms ({v['requests']} requests)")
        else:
            bench.log(f"  {page}: {v}")
