#!/usr/bin/python3
"""tests/bench/summarize.py RESULTS_DIR: the Markdown tables of a tests/bench/run.sh run.

Reads the raw figures run.sh left in RESULTS_DIR (policy-bench --json output, CPU ticks, Postfix timings,
memory) and prints: the throughput table (medians over the rounds, ratio to the null server of the same
round and mix), the enforcement check, Postfix end to end, memory, and the targets of issue 7.
"""
import glob
import json
import os
import re
import statistics
import sys

SERVERS = {
    "null": "null server (policy-bench --null-server)",
    "relay": "relay-policyd",
    "postfwd": "postfwd2",
    "prl": "policyd-rate-limit (MySQL)",
}
MIXES = {"rcpt": "RCPT only (warm)", "real": "realistic (RCPT + END-OF-MESSAGE)"}
LIMIT = 100


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_kv(path):
    try:
        with open(path) as f:
            return {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", f.read())}
    except OSError:
        return {}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0, suffix=""):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}{suffix}"


def throughput(res):
    """{(server, mix): {"rps": [...], "p50": [...], "p99": [...], "ratio": [...], "cpu_us": [...], ...}}"""
    runs = {}
    for path in sorted(glob.glob(os.path.join(res, "tp-*-r*.json"))):
        m = re.match(r"tp-(\w+)-(\w+)-r(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        server, mix, rnd = m.group(1), m.group(2), int(m.group(3))
        data = load_json(path)
        cpu = read_kv(path[:-5] + ".cpu")
        runs.setdefault((server, mix), {})[rnd] = (data, cpu)
    table = {}
    for (server, mix), rounds in runs.items():
        row = {k: [] for k in ("rps", "p50", "p99", "ratio", "cpu_us", "db_us", "errors", "refused")}
        for rnd, (data, cpu) in sorted(rounds.items()):
            if not data:
                continue
            rps = data["requests_per_s"]
            row["rps"].append(rps)
            row["p50"].append(data["latency_us"]["all"]["p50"])
            row["p99"].append(data["latency_us"]["all"]["p99"])
            row["errors"].append(data["errors"]["total"])
            refused = sum(n for k, n in data["actions"].items() if k[:1] in "45" or k.startswith(("REJECT", "DEFER")))
            row["refused"].append(refused / max(1, data["requests"]))
            null = runs.get(("null", mix), {}).get(rnd, (None, None))[0]
            if null and null["requests_per_s"] > 0:
                row["ratio"].append(rps / null["requests_per_s"])
            if cpu and data["requests"] > 0 and cpu.get("clk_tck"):
                # The run lasts warm-up + measured time; CPU is counted over all of it.
                total = data["requests"] * (data["measured_s"] + data["warmup_s"]) / max(data["measured_s"], 1e-9)
                row["cpu_us"].append(cpu["server_ticks"] / cpu["clk_tck"] * 1e6 / total)
                row["db_us"].append(cpu["db_ticks"] / cpu["clk_tck"] * 1e6 / total)
        table[(server, mix)] = row
    return table


def enforcement(res):
    out = {}
    for server in SERVERS:
        data = load_json(os.path.join(res, f"enforce-{server}.json"))
        if not data:
            continue
        m = data["messages"]
        first, last, limited, finished = m["first_limited"], m["last_unlimited"], m["limited"], m["finished"]
        if finished < 150:
            verdict = f"no: only {finished} of 150 messages answered ({data['errors']['total']} errors)"
        elif limited == 0:
            verdict = "no: all 150 accepted"
        elif first == LIMIT + 1 and last == LIMIT and limited == 150 - LIMIT:
            verdict = f"yes: 1-{LIMIT} accepted, {LIMIT + 1}-150 limited"
        else:
            verdict = f"no: first limited #{first}, last accepted #{last}, {limited} limited"
        actions = ", ".join(f"{k} {n}" for k, n in sorted(data["actions"].items()))
        out[server] = (verdict, actions)
    return out


def postfix(res):
    out = {"with": [], "without": [], "ratio_acc": [], "ratio_del": [], "bad": []}
    for path in sorted(glob.glob(os.path.join(res, "pf-with-r*.txt"))):
        rnd = re.search(r"-r(\d+)\.txt$", path).group(1)
        w = read_kv(path)
        wo = read_kv(os.path.join(res, f"pf-without-r{rnd}.txt"))
        if not w or not wo:
            continue
        for name, kv in (("with", w), ("without", wo)):
            out[name].append(kv)
            if kv.get("exit") != 0:
                out["bad"].append(f"round {rnd} {name}: smtp-source exit {kv.get('exit')}, {kv.get('messages')} delivered")
        if w["accepted_ms"] > 0 and wo["accepted_ms"] > 0:
            out["ratio_acc"].append(wo["accepted_ms"] / w["accepted_ms"])
        if w["delivered_ms"] > 0 and wo["delivered_ms"] > 0:
            out["ratio_del"].append(wo["delivered_ms"] / w["delivered_ms"])
    return out


def print_throughput(table, enf):
    print("| server | mix | requests/s | p50 µs | p99 µs | × null | server CPU µs/req | MariaDB CPU µs/req | refused | errors | enforces 100/h |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for mix in MIXES:
        for server in SERVERS:
            row = table.get((server, mix))
            if not row:
                continue
            ratio = median(row["ratio"])
            enforced = enf.get(server, ("n/a", ""))[0] if mix == "rcpt" else ""
            print(f"| {SERVERS[server]} | {MIXES[mix]} | {fmt(median(row['rps']))} | {fmt(median(row['p50']))} "
                  f"| {fmt(median(row['p99']))} | {fmt(ratio, 2)} | {fmt(median(row['cpu_us']), 1)} "
                  f"| {fmt(median(row['db_us']), 1)} | {fmt(100 * median(row['refused']), 1, ' %')} "
                  f"| {sum(row['errors'])} | {enforced} |")
    print()
    print("Per round (requests/s):")
    print()
    for (server, mix), row in sorted(table.items()):
        print(f"- {server}-{mix}: " + ", ".join(fmt(v) for v in row["rps"]))


def main():
    res = sys.argv[1]
    facts = open(os.path.join(res, "machine.txt")).read().strip() if os.path.exists(os.path.join(res, "machine.txt")) else ""
    table = throughput(res)
    enf = enforcement(res)
    pf = postfix(res)
    mem = load_json(os.path.join(res, "memory.json"))
    idle = load_json(os.path.join(res, "idle.json"))

    print("## Figures of this run\n")
    for line in facts.splitlines():
        print(f"- {line}")
    print()
    if table:
        print("### Policy protocol throughput (policy-bench, 50 connections, medians)\n")
        print_throughput(table, enf)
        print()
    if enf:
        print("### Enforcement: one account, 150 messages in a row, limit 100 per hour\n")
        print("| server | result | answers |")
        print("|---|---|---|")
        for server, (verdict, actions) in enf.items():
            print(f"| {SERVERS[server]} | {verdict} | {actions} |")
        print()
    if pf["with"]:
        def rate(kvs, key):
            return median([kv["messages"] / (kv[key] / 1000) for kv in kvs if kv.get(key)])
        print("### Postfix end to end (smtp-source -s 20, 2 kB messages → Postfix → smtp-sink)\n")
        print("| Postfix | accepted msg/s | delivered msg/s | rounds |")
        print("|---|---:|---:|---:|")
        for name in ("with", "without"):
            label = "with relay-policyd (RCPT + END-OF-MESSAGE)" if name == "with" else "without policy service"
            print(f"| {label} | {fmt(rate(pf[name], 'accepted_ms'), 1)} | {fmt(rate(pf[name], 'delivered_ms'), 1)} | {len(pf[name])} |")
        print()
        print(f"Ratio with/without (median of rounds): accepted {fmt(median(pf['ratio_acc']), 3)}, "
              f"delivered {fmt(median(pf['ratio_del']), 3)}.")
        for bad in pf["bad"]:
            print(f"- problem: {bad}")
        print()
    if mem:
        print("### Memory\n")
        print(f"- relay-policyd with {mem['accounts']:,} accounts, after 5 s of realistic traffic: "
              f"RSS {mem['rss_kib_loaded'] / 1024:.1f} MiB (peak {mem['hwm_kib_loaded'] / 1024:.1f} MiB); "
              f"rules loaded {mem['ready_ms'] / 1000:.1f} s after start (SQL load of the accounts: {mem['load_sql_ms'] / 1000:.1f} s)")
        if idle:
            print(f"- holding {idle['connections']:,} idle connections: RSS {mem['rss_kib_idle'] / 1024:.1f} MiB, "
                  f"{mem['established_during_hold']} established; answered {idle['answered_first']} before and "
                  f"{idle['answered_after_hold']} after {idle['hold_seconds']:.0f} s idle, "
                  f"{idle['closed_during_hold']} closed by the server")
        print()
    print_targets(table, pf, mem, idle)


def print_targets(table, pf, mem, idle):
    def med(server, mix, key):
        row = table.get((server, mix))
        return median(row[key]) if row else None

    rcpt_ratio = med("relay", "rcpt", "ratio")
    peers = [v for v in (med("postfwd", "rcpt", "rps"), med("prl", "rcpt", "rps")) if v]
    relay_rps = med("relay", "rcpt", "rps")
    peer_ratio = relay_rps / max(peers) if peers and relay_rps else None
    p99 = med("relay", "rcpt", "p99")
    real_ratio = med("relay", "real", "ratio")
    pf_ratio = median(pf["ratio_acc"]) if pf["ratio_acc"] else None
    rss = mem["rss_kib_loaded"] / 1024 if mem else None
    rss_idle = mem["rss_kib_idle"] / 1024 if mem else None
    held = idle["answered_after_hold"] if idle else None

    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "**missed**")

    rows = [
        ("RCPT warm path ≥ 0.6 × null server", fmt(rcpt_ratio, 2, " ×"), verdict(None if rcpt_ratio is None else rcpt_ratio >= 0.6)),
        ("RCPT warm path ≥ 10 × best peer", fmt(peer_ratio, 1, " ×"), verdict(None if peer_ratio is None else peer_ratio >= 10)),
        ("p99 ≤ 2 ms at 50 connections (RCPT)", fmt(p99 / 1000 if p99 else None, 2, " ms"), verdict(None if p99 is None else p99 <= 2000)),
        ("realistic mix ≥ 0.3 × null server", fmt(real_ratio, 2, " ×"), verdict(None if real_ratio is None else real_ratio >= 0.3)),
        ("Postfix e2e ≥ 0.95 × without", fmt(pf_ratio, 3, " ×"), verdict(None if pf_ratio is None else pf_ratio >= 0.95)),
        ("RSS ≤ 64 MiB with 100k accounts", fmt(rss, 1, " MiB") + (f" ({fmt(rss_idle, 1)} MiB with the idle connections)" if rss_idle else ""),
         verdict(None if rss is None else rss <= 64 and (rss_idle or 0) <= 64)),
        ("5,000 idle connections held", fmt(held), verdict(None if held is None else held >= 5000)),
    ]
    print("### Targets (issue 7)\n")
    print("| target | this run | |")
    print("|---|---|---|")
    for name, value, v in rows:
        print(f"| {name} | {value} | {v} |")


if __name__ == "__main__":
    main()
