#!/usr/bin/python3
"""tests/bench/summarize.py RESULTS_DIR: the Markdown tables of a tests/bench/run.sh run.

Reads the raw figures run.sh left in RESULTS_DIR (policy-bench --json output, CPU ticks, Postfix timings,
memory) and prints: the throughput table (medians over the rounds, ratio to the null server of the same
round and mix), the enforcement check, Postfix end to end, memory, and the targets of issue 16.
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
    "relay16": "relay-policyd, workers = pool_size = 16",
    "postfwd": "postfwd2",
    "prl": "policyd-rate-limit (MySQL)",
}
MIXES = {"rcpt": "RCPT only (warm)", "paced": "RCPT only at a fixed load (latency)",
         "real": "realistic (RCPT + END-OF-MESSAGE)"}
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


POSTFIX_MODES = {
    "dunno": "relay-policyd asked, answers DUNNO (client not its business)",
    "null": "policy-bench's null server asked instead, answers DUNNO (Postfix's own cost of asking)",
    "charged": "IP-authorised account: OK, charged in MariaDB at END-OF-MESSAGE",
    "charged-flush2": "same, MariaDB innodb_flush_log_at_trx_commit = 2",
}


def postfix(res):
    """{mode: {"with": [kv...], "without": [kv...], "ratio_acc": [...], "ratio_del": [...], "bad": [...]}}"""
    out = {}
    for mode in POSTFIX_MODES:
        m = {"with": [], "without": [], "ratio_acc": [], "ratio_del": [], "bad": []}
        for path in sorted(glob.glob(os.path.join(res, f"pf-{mode}-with-r*.txt"))):
            rnd = re.search(r"-r(\d+)\.txt$", path).group(1)
            w = read_kv(path)
            wo = read_kv(os.path.join(res, f"pf-{mode}-without-r{rnd}.txt"))
            if not w or not wo:
                continue
            for name, kv in (("with", w), ("without", wo)):
                m[name].append(kv)
                if kv.get("exit") != 0:
                    m["bad"].append(f"{mode} round {rnd} {name}: smtp-source exit {kv.get('exit')}, "
                                    f"{kv.get('messages')} delivered")
            if w["accepted_ms"] > 0 and wo["accepted_ms"] > 0:
                m["ratio_acc"].append(wo["accepted_ms"] / w["accepted_ms"])
            if w["delivered_ms"] > 0 and wo["delivered_ms"] > 0:
                m["ratio_del"].append(wo["delivered_ms"] / w["delivered_ms"])
        if m["with"]:
            out[mode] = m
    return out


def latency_file(path):
    try:
        with open(path) as f:
            values = sorted(int(line) for line in f if line.strip())
    except OSError:
        return None
    if not values:
        return None
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return {"count": len(values), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": values[-1]}


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
    if pf:
        def rate(kvs, key):
            return median([kv["messages"] / (kv[key] / 1000) for kv in kvs if kv.get(key)])
        sessions = read_kv(os.path.join(res, "postfix-settings.txt")).get("sessions", 20)
        print(f"### Postfix end to end (smtp-source -s {sessions}, 2 kB messages → Postfix → smtp-sink)\n")
        print("| relay-policyd | msg/s with | msg/s without | ratio accepted | ratio delivered | rounds |")
        print("|---|---:|---:|---:|---:|---:|")
        for mode, m in pf.items():
            print(f"| {POSTFIX_MODES[mode]} | {fmt(rate(m['with'], 'accepted_ms'), 1)} "
                  f"| {fmt(rate(m['without'], 'accepted_ms'), 1)} | {fmt(median(m['ratio_acc']), 3)} "
                  f"| {fmt(median(m['ratio_del']), 3)} | {len(m['with'])} |")
        print()
        print("CPU per message (median over the rounds, milliseconds; Postfix = master and all its children; "
              "policy server = relay-policyd, or the null server in its rows; all = Postfix, the policy server, "
              "MariaDB and smtp-sink):\n")
        print("| relay-policyd | Postfix with | Postfix without | policy server | MariaDB with | MariaDB without "
              "| all with | all without | all without / all with |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mode, m in pf.items():
            server = "null_ticks" if mode == "null" else "policyd_ticks"

            def ms(kv, key):
                return kv.get(key, 0) / kv["clk_tck"] * 1000 / max(1, kv["messages"])

            def cpu(kvs, key):
                return median([ms(kv, key) for kv in kvs if kv.get("clk_tck") and key in kv])

            def everything(kv, with_server):
                keys = ["postfix_ticks", "db_ticks", "sink_ticks"] + ([server] if with_server else [])
                return sum(ms(kv, k) for k in keys)

            pairs = [(everything(w, True), everything(wo, False)) for w, wo in zip(m["with"], m["without"])
                     if w.get("clk_tck") and wo.get("clk_tck")]
            print(f"| {POSTFIX_MODES[mode]} | {fmt(cpu(m['with'], 'postfix_ticks'), 2)} "
                  f"| {fmt(cpu(m['without'], 'postfix_ticks'), 2)} | {fmt(cpu(m['with'], server), 3)} "
                  f"| {fmt(cpu(m['with'], 'db_ticks'), 3)} | {fmt(cpu(m['without'], 'db_ticks'), 3)} "
                  f"| {fmt(median([a for a, _ in pairs]), 2)} | {fmt(median([b for _, b in pairs]), 2)} "
                  f"| {fmt(median([b / a for a, b in pairs if a > 0]), 3)} |")
        print()
        print("all without / all with: the throughput ratio to expect where the CPU is the limit (2 cores "
              "shared by everything here); smtp-source's own CPU is not counted.")
        print()
        print("msg/s = messages accepted by Postfix per second (smtp-source finished); ratio = median over the "
              "rounds of (time without) / (time with), each pair run back to back; delivered = until the last "
              "message reached smtp-sink.")
        lat = latency_file(os.path.join(res, "pf-eom-latency-us.txt"))
        if lat:
            print(f"relay-policyd's own END-OF-MESSAGE latency for the charged printer (its log, {lat['count']} "
                  f"messages): p50 {lat['p50']:,} µs, p90 {lat['p90']:,} µs, p99 {lat['p99']:,} µs, max {lat['max']:,} µs.")
        for m in pf.values():
            for bad in m["bad"]:
                print(f"- problem: {bad}")
        print()
    if mem:
        mib = lambda k: mem.get(k, 0) / 1024
        print("### Memory (resident set of relay-policyd)\n")
        print(f"- {mem['accounts']:,} accounts loaded: {mib('rss_kib_loaded'):.1f} MiB; after 5 s of realistic "
              f"traffic over all of them: {mib('rss_kib_traffic'):.1f} MiB; peak {mib('hwm_kib'):.1f} MiB. "
              f"Rules ready {mem['ready_ms'] / 1000:.1f} s after start (loading the accounts into MariaDB took "
              f"{mem['load_sql_ms'] / 1000:.1f} s).")
        if mem.get("rss_kib_main_1000"):
            start = f"{mib('rss_kib_main_start'):.1f} MiB at start, " if mem.get("rss_kib_main_start") else ""
            print(f"- for comparison, the instance with {mem.get('main_accounts', 1000):,} accounts: {start}"
                  f"{mib('rss_kib_main_1000'):.1f} MiB after the throughput runs (its instance tracker and "
                  f"rate-limit memory filled by the traffic)")
        if idle:
            print(f"- holding {idle['connections']:,} idle connections: {mib('rss_kib_idle'):.1f} MiB, "
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
    p99_null = med("null", "rcpt", "p99")
    p99_paced = med("relay", "paced", "p99")
    p99_paced_null = med("null", "paced", "p99")
    real_ratio = med("relay", "real", "ratio")
    pf_dunno = median(pf["dunno"]["ratio_acc"]) if "dunno" in pf else None
    pf_charged = median(pf["charged"]["ratio_acc"]) if "charged" in pf else None
    rss = max(mem["rss_kib_loaded"], mem.get("rss_kib_traffic", 0)) / 1024 if mem else None
    rss_idle = mem["rss_kib_idle"] / 1024 if mem else None
    held = idle["answered_after_hold"] if idle else None

    def ms(us):
        return fmt(us / 1000 if us is not None else None, 2, " ms")

    def verdict(ok):
        return "n/a" if ok is None else ("met" if ok else "**missed**")

    rows = [
        ("RCPT warm path ≥ 0.7 × null server", fmt(rcpt_ratio, 2, " ×"), verdict(None if rcpt_ratio is None else rcpt_ratio >= 0.7)),
        ("RCPT warm path ≥ 10 × best peer", fmt(peer_ratio, 1, " ×"), verdict(None if peer_ratio is None else peer_ratio >= 10)),
        ("p99 ≤ 2 ms at 50 connections (RCPT), saturated", ms(p99) + f" (null server: {ms(p99_null)})",
         verdict(None if p99 is None else p99 <= 2000)),
        ("p99 ≤ 2 ms at 50 connections (RCPT), fixed load", ms(p99_paced) + f" (null server: {ms(p99_paced_null)})",
         verdict(None if p99_paced is None else p99_paced <= 2000)),
        ("realistic mix ≥ 0.35 × null server", fmt(real_ratio, 2, " ×"), verdict(None if real_ratio is None else real_ratio >= 0.35)),
        ("Postfix e2e ≥ 0.97 × without (policy asked, DUNNO)", fmt(pf_dunno, 3, " ×"), verdict(None if pf_dunno is None else pf_dunno >= 0.97)),
        ("Postfix e2e ≥ 0.9 × without (every message charged)", fmt(pf_charged, 3, " ×"), verdict(None if pf_charged is None else pf_charged >= 0.9)),
        (f"RSS ≤ 64 MiB with {mem['accounts'] if mem else 100000:,} accounts (loaded, under traffic)", fmt(rss, 1, " MiB"),
         verdict(None if rss is None else rss <= 64)),
        (f"… and with the {idle['connections'] if idle else 5000:,} idle connections", fmt(rss_idle, 1, " MiB"),
         verdict(None if rss_idle is None else rss_idle <= 64)),
        ("5,000 idle connections held", fmt(held) + (f" of {idle['connections']:,} opened" if idle else ""),
         verdict(None if held is None else held >= 5000)),
    ]
    print("### Targets (issue 16; issue 7's were 0.6 ×, 0.3 ×, 0.95 ×)\n")
    print("| target | this run | |")
    print("|---|---|---|")
    for name, value, v in rows:
        print(f"| {name} | {value} | {v} |")


if __name__ == "__main__":
    main()
