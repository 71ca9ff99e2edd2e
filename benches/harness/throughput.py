#!/usr/bin/env python3
"""Throughput of the real program, driven in tmux against `kycdesk emulator` with 150 ms
of latency on every provider request:

  webhooks  the emulator pushes 500 webhooks at 50/s to `kycdesk inbox`; from each push
            to its case counted on an open console's screen (p50, p99).
  bulk P N  N marked cases of provider P decided in one bulk decision in the console:
            the decisions' achieved rate against the provider's limit, 429s, failures.

Usage: benches/harness/throughput.py webhooks [PER_SECOND] | bulk sumsub 500 | bulk complycube 100
Builds --release first. Needs tmux and python3 (standard library only).
"""
import json, os, re, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "kycdesk")
LIMITS = {  # documented limits of the decision calls: (requests, per seconds)
    "complycube": (5, 1.0),  # test key, every request
    "sumsub": (50, 5.0),  # POST
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def post(url):
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def pct(values, p):
    values = sorted(values)
    return values[round((len(values) - 1) * p)] if values else float("nan")


class Run:
    def __init__(self, cases, extra=(), latency=150):
        self.dir = tempfile.mkdtemp(prefix="kycdesk-bench-")
        self.env = dict(
            os.environ,
            HOME=self.dir,
            XDG_CONFIG_HOME=self.dir,
            XDG_DATA_HOME=self.dir,
            XDG_STATE_HOME=self.dir,
            KYCDESK_STORE=os.path.join(self.dir, "store.sqlite3"),
            KYCDESK_LOG=os.path.join(self.dir, "log"),
            KYCDESK_ANALYST="bench",
            KYCDESK_IMAGES="off",
        )
        self.config = os.path.join(self.dir, "kd.toml")
        self.port = free_port()
        args = [BIN, "emulator", "--listen", "127.0.0.1:0", "--cases", str(cases), "--latency-ms", str(latency),
                "--write-config", self.config, "--push-webhooks-to", f"http://127.0.0.1:{self.port}", *extra]
        self.emulator = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.emulator.stdout.readline()
        self.base = first.strip().rsplit(" ", 1)[-1]
        assert "wrote" in self.emulator.stdout.readline()
        self.inbox = subprocess.Popen([BIN, "--config", self.config, "inbox", "--listen", f"127.0.0.1:{self.port}"],
                                      env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.inbox.stdout.readline().startswith(b"kycdesk inbox listening")
        self.sock = os.path.join(self.dir, "tmux.sock")
        envs = sum((["-e", f"{k}={self.env[k]}"] for k in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                    "XDG_STATE_HOME", "KYCDESK_STORE", "KYCDESK_LOG", "KYCDESK_ANALYST", "KYCDESK_IMAGES")), [])
        subprocess.run(["tmux", "-S", self.sock, "new-session", "-d", "-s", "k", "-x", "200", "-y", "50", *envs,
                        f"exec {BIN} --config {self.config} console"], check=True)

    def screen(self):
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-t", "k"], capture_output=True,
                              text=True).stdout

    def keys(self, *keys, literal=False):
        subprocess.run(["tmux", "-S", self.sock, "send-keys", "-t", "k", *(["-l"] if literal else []), *keys])

    def wait_for(self, pattern, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = re.search(pattern, self.screen())
            if m:
                return m
            time.sleep(0.05)
        raise SystemExit(f"never on screen: {pattern}\n{self.screen()}")

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], stderr=subprocess.DEVNULL)
        for p in (self.inbox, self.emulator):
            p.kill()
        subprocess.run(["rm", "-rf", self.dir])


def queue_count(text):
    m = re.search(r"Queue \d+/(\d+)", text)
    return int(m.group(1)) if m else None


def webhooks(per_second):
    # 125 cases a provider: the webhook-fed three push 375 new cases, ComplyCube 125
    # more webhooks about cases already polled; 500 in all.
    run = Run(125, ["--hold-webhooks", "--webhooks-per-second", str(per_second)])
    try:
        run.wait_for(r"Queue 1/250 ")
        base = 250
        released = post(f"{run.base}/_emulator/webhooks/release")["released"]
        seen = []  # (time, count) each time the count on screen moves
        deadline = time.time() + 180
        new_expected = 375
        while time.time() < deadline:
            n = queue_count(run.screen())
            if n is not None and (not seen or n != seen[-1][1]):
                seen.append((time.time() * 1000, n))
            if n is not None and n >= base + new_expected:
                break
            time.sleep(0.01)
        pushes = get(f"{run.base}/_emulator/pushes")
        fed = sorted(p["sent_ms"] for p in pushes if p["provider"] != "complycube")
        rate = (len(pushes) - 1) / max(1e-9, (max(p["sent_ms"] for p in pushes) - min(p["sent_ms"] for p in pushes)) / 1000)
        latencies = []
        for k, sent in enumerate(fed, start=1):
            shown = next((t for t, n in seen if n >= base + k), None)
            if shown is not None:
                latencies.append(shown - sent)
        print(f"webhooks released: {released}, accepted: {len(pushes)}, sent at {rate:.0f}/s")
        served = get(f"{run.base}/_emulator/requests")
        for provider in ("complycube", "credas", "idwise", "sumsub"):
            hooks = sum(1 for p in pushes if p["provider"] == provider)
            reads = [r for r in served if r["provider"] == provider and r["at_ms"] >= min(fed)]
            inbox = [p["accepted_ms"] - p["sent_ms"] for p in pushes if p["provider"] == provider]
            print(f"  {provider}: {hooks} webhooks, {len(reads)} requests re-reading them, "
                  f"{sum(1 for r in reads if r['status'] == 429)} answered 429; "
                  f"push to accepted p50 {pct(inbox, 0.5):.0f} ms, p99 {pct(inbox, 0.99):.0f} ms")
        print(f"new cases on screen: {len(latencies)} of {len(fed)}")
        print(f"push to screen: p50 {pct(latencies, 0.5):.0f} ms, p99 {pct(latencies, 0.99):.0f} ms, "
              f"max {max(latencies):.0f} ms (budget p99 <= 1000 ms)")
    finally:
        run.close()


def bulk(provider, n):
    run = Run(n)
    try:
        run.wait_for(rf"Queue 1/\d+ ")
        # Every case of the provider in the queue (webhook-fed ones arrive through the inbox).
        run.keys("/")
        run.keys(provider, literal=True)
        deadline = time.time() + 300
        while True:
            m = re.search(r"filter: \S+\s+(\d+) of", run.screen())
            if m and int(m.group(1)) >= n:
                break
            if time.time() > deadline:
                raise SystemExit(f"only {m.group(1) if m else 0} {provider} cases arrived")
            time.sleep(0.2)
        run.keys("Enter")
        run.keys("*")
        run.wait_for(rf"{n} marked")
        started = time.time()
        run.keys("d")
        run.wait_for(r"(?i)verify")
        run.keys("v")
        run.keys("Bulk verified by the benchmark.", literal=True)
        run.keys("Enter")
        run.wait_for(r"(?i)\by\b")
        run.keys("y")
        deadline = time.time() + 900
        while time.time() < deadline:
            decided = [d for d in get(f"{run.base}/_emulator/decisions") if d["provider"] == provider]
            if len(decided) >= n:
                break
            time.sleep(1)
        served = [r for r in get(f"{run.base}/_emulator/requests") if r["provider"] == provider]
        posts = sorted(r["at_ms"] for r in served if r["method"] != "GET" and r["status"] < 300)
        limited = sum(1 for r in served if r["status"] == 429)
        outbox = json.loads(subprocess.run([BIN, "--config", run.config, "outbox", "--json", "--limit", str(n * 2)],
                                           env=run.env, capture_output=True, text=True).stdout or "[]")
        failed = sum(1 for d in outbox if d.get("state") == "failed")
        limit, per = LIMITS.get(provider, (None, None))
        span = (posts[-1] - posts[0]) / 1000 if len(posts) > 1 else float("nan")
        rate = (len(posts) - 1) / span if len(posts) > 1 else float("nan")
        print(f"{provider}: {len(posts)} decisions delivered of {n}, in {time.time() - started:.0f} s from `d`")
        if limit:
            print(f"decision calls at {rate:.2f}/s over {span:.0f} s = {rate / (limit / per):.0%} of the limit "
                  f"({limit} per {per:g} s; every request counts for ComplyCube)")
        all_rate = len(served) / max(1e-9, (served[-1]["at_ms"] - served[0]["at_ms"]) / 1000) if served else 0
        print(f"all {provider} requests: {len(served)} at {all_rate:.2f}/s, answered 429: {limited}, "
              f"decisions failed: {failed}")
    finally:
        run.close()


if __name__ == "__main__":
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if sys.argv[1:2] == ["webhooks"]:
        webhooks(int(sys.argv[2]) if len(sys.argv) > 2 else 50)
    elif sys.argv[1:2] == ["bulk"] and len(sys.argv) == 4:
        bulk(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(__doc__)
