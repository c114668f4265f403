#!/usr/bin/env python3
"""End-to-end benchmark: upcase-server against its in-repo peers (peers/:
tokio-upcase, std-threads), every workload measured by upcase-flood (which
checks every reply), servers rotated within each repetition, medians with
min-max, ratios against the tokio peer from the same run.

Run through scripts/bench.sh, which builds everything first.
"""
import argparse, json, os, platform, resource, shlex, socket, statistics, subprocess, sys, time
from datetime import date

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
FLOOD = os.path.join(REL, "upcase-flood")


def pin(cpu, argv, pinning):
    if pinning and os.cpu_count() and os.cpu_count() >= 2:
        return ["taskset", "-c", str(cpu)] + argv
    return argv


class Server:
    def __init__(self, argv, pinning):
        self.proc = subprocess.Popen(
            pin(0, argv + ["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"], pinning),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**os.environ, "RUST_LOG": "warn"})
        self.addr = {}
        deadline = time.time() + 20
        while len(self.addr) < 2 and time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            proto, _, rest = line.partition(" listening on ")
            if rest:
                self.addr[proto] = rest.strip()
        if len(self.addr) < 2:
            self.stop()
            sys.exit(f"bench: {argv[0]} did not start")

    def rss_kib(self):
        pid = self.proc.pid
        # taskset execs the server, so the pid is the server's.
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def flood(args, pinning, must_pass=True):
    done = subprocess.run(pin(1, [FLOOD, "--json"] + args, pinning),
                          capture_output=True, text=True, timeout=300)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        sys.exit(f"bench: upcase-flood {' '.join(args)} gave no report: {done.stderr.strip()}")
    if must_pass and not report.get("passed"):
        sys.exit(f"bench: a wrong or missing reply in upcase-flood {' '.join(args)}: "
                 f"{report.get('error_messages')}")
    return report


def bulk_client(server, args, pinning):
    """The yardstick for upcase-flood's bulk rows: peers/bulk-client, the
    simplest verifying bulk client (one block written over and over, replies
    compared with memcmp, nothing in flight but the socket buffers)."""
    argv = [os.path.join(REL, "bulk-client"), "--tcp", server.addr["tcp"]] + args
    done = subprocess.run(pin(1, argv, pinning), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        sys.exit(f"bench: bulk-client failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def idle_run(server, count, pinning):
    before = server.rss_kib()
    host, port = server.addr["tcp"].rsplit(":", 1)
    held = [socket.create_connection((host, int(port))) for _ in range(count)]
    time.sleep(1.0)
    grown = (server.rss_kib() - before) * 1024 / count
    probe = flood(["--tcp", server.addr["tcp"], "--clients", "1", "--lines", "200"], pinning)
    for s in held:
        s.close()
    return {"bytes_per_idle": grown, "p50_us": probe["p50_us"], "p99_us": probe["p99_us"]}


def workloads(secs, idle):
    S = str(secs)
    tcp = lambda *a: ("tcp", list(a))
    udp = lambda *a: ("udp", list(a))
    return [
        ("pingpong C=1", tcp("--clients", "1", "--duration", S), ["lines_per_sec", "p50_us", "p99_us", "p999_us"]),
        ("pingpong C=16", tcp("--clients", "16", "--duration", S), ["lines_per_sec", "p99_us", "p999_us"]),
        ("pingpong C=128", tcp("--clients", "128", "--duration", S), ["lines_per_sec", "p99_us", "p999_us"]),
        # Bulk: one connection, 4096 lines of 128 bytes in flight. ASCII
        # lines, so that the yardstick below does the same work per byte;
        # the Unicode row shows each server's full case mapping.
        ("bulk ascii", tcp("--clients", "1", "--pipeline", "4096", "--line-bytes", "128", "--text", "ascii", "--duration", S), ["mb_per_sec"]),
        ("bulk-client", ("bulk-client", ["--line-bytes", "128", "--secs", S]), ["mb_per_sec"]),
        ("bulk unicode", tcp("--clients", "1", "--pipeline", "4096", "--line-bytes", "128", "--duration", S), ["mb_per_sec"]),
        ("churn C=4", tcp("--clients", "4", "--connect-per-line", "--duration", S), ["lines_per_sec"]),
        ("udp C=4", udp("--clients", "4", "--duration", S, "--max-loss", "100"), ["lines_per_sec", "p99_us"]),
        ("udp flood C=4", udp("--clients", "4", "--pipeline", "64", "--duration", S, "--max-loss", "100"), ["lines_per_sec", "loss_pct"]),
        (f"idle N={idle}", ("idle", [idle]), ["bytes_per_idle", "p50_us"]),
    ]


HIGHER_IS_BETTER = {"lines_per_sec", "mb_per_sec"}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--idle", type=int, default=5000)
    ap.add_argument("--only", help="comma-separated workload name prefixes")
    ap.add_argument("--no-pin", action="store_true", help="do not pin servers and load to CPUs")
    a = ap.parse_args()
    # Thousands of idle connections: raise this process's descriptor limit
    # (the servers it starts inherit it).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pinning = not a.no_pin
    servers = {
        "tokio": [os.path.join(REL, "tokio-upcase")],
        "std": [os.path.join(REL, "std-threads")],
        # Defaults, as a user runs it (workers = the CPUs it may run on).
        "upcase": [os.path.join(REL, "upcase-server")],
    }
    chosen = [w for w in workloads(a.secs, a.idle)
              if not a.only or any(w[0].startswith(p.strip()) for p in a.only.split(","))]
    if not chosen:
        sys.exit(f"bench: no workload matches --only {a.only}")
    results = {(w[0], s): [] for w in chosen for s in servers}
    for rep in range(a.reps):
        for name, (kind, args), keys in chosen:
            order = list(servers)
            order = order[rep % len(order):] + order[:rep % len(order)]  # rotate
            for sname in order:
                server = Server(servers[sname], pinning)
                try:
                    if kind == "idle":
                        r = idle_run(server, args[0], pinning)
                    elif kind == "bulk-client":
                        r = bulk_client(server, args, pinning)
                    else:
                        r = flood([f"--{kind}", server.addr[kind]] + args, pinning)
                finally:
                    server.stop()
                results[(name, sname)].append({k: r[k] for k in keys})
                print(f"  rep {rep + 1}: {name:16} {sname:7} " +
                      " ".join(f"{k}={r[k]:.0f}" for k in keys), file=sys.stderr)
    kernel = platform.release()
    print(f"Measured {date.today().isoformat()} on {os.cpu_count()} CPUs, Linux {kernel}, "
          f"by `scripts/bench.sh {' '.join(shlex.quote(x) for x in sys.argv[1:])}`: "
          f"{a.reps} repetitions of {a.secs:g} s, servers rotated within each, "
          f"{'servers on CPU 0 and the load on CPU 1' if pinning else 'unpinned'}. "
          f"Medians [min–max]; ratios are upcase / tokio from the same run "
          f"(for latency and memory, lower is better): of the medians, and the median "
          f"of each repetition's own ratio (within a repetition the servers run seconds "
          f"apart, so a slow spell of the machine touches them alike).\n")
    print("| workload | metric | tokio | std | upcase | upcase / tokio | per repetition |")
    print("|---|---|---|---|---|---|---|")
    for name, _, keys in chosen:
        for key in keys:
            cells = []
            med = {}
            for sname in servers:
                values = [r[key] for r in results[(name, sname)]]
                med[sname] = statistics.median(values)
                fmt = (lambda v: f"{v:,.0f}") if max(values) >= 1 else (lambda v: f"{v:.2f}")
                cells.append(f"{fmt(med[sname])} [{fmt(min(values))}–{fmt(max(values))}]")
            ratio = f"{med['upcase'] / med['tokio']:.2f}×" if med["tokio"] else "—"
            pairs = [u[key] / t[key] for u, t in
                     zip(results[(name, "upcase")], results[(name, "tokio")]) if t[key]]
            paired = f"{statistics.median(pairs):.2f}×" if pairs else "—"
            print(f"| {name} | {key} | " + " | ".join(cells) + f" | {ratio} | {paired} |")
    yardstick(chosen, results, servers)


def yardstick(chosen, results, servers):
    """Whether upcase-flood measures the server and not itself: its bulk
    MB/s against the simplest bulk client's, same server, same run."""
    names = {name for name, _, _ in chosen}
    if not {"bulk ascii", "bulk-client"} <= names:
        return
    print("\nThe load generator against the simplest bulk client (`peers/src/bin/bulk-client.rs`), "
          "same server, same run; medians of `mb_per_sec`:\n")
    print("| server | upcase-flood (bulk ascii) | bulk-client | upcase-flood / bulk-client |")
    print("|---|---|---|---|")
    for sname in servers:
        ours = statistics.median(r["mb_per_sec"] for r in results[("bulk ascii", sname)])
        theirs = statistics.median(r["mb_per_sec"] for r in results[("bulk-client", sname)])
        print(f"| {sname} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
