#!/usr/bin/env python3
"""END-OF-MESSAGE requests on many connections at once, each answer timed: for tests/integration/test_frozen_db.sh.

    eom_client.py --target inet:127.0.0.1:12240 --connections 20 [--login L] (--count N | --seconds S)

Every connection sends, lock-step, END-OF-MESSAGE requests as Postfix sends them (one recipient, sender =
the login, a fresh instance each), either N of them or as many as it can start within S seconds. An empty
--login sends unauthenticated requests. Each wait is bounded by --timeout (a request not answered by then
counts as "timeout" and ends its connection).

Prints one JSON object: answers (requests answered), per class counts (accepted = DUNNO/OK, tempfail = any
4xx or DEFER*, rejected = 5xx/REJECT, timeout, closed), max_latency and min_latency in seconds, and a few
distinct sample actions. Exit status 0 even when answers were bad: the test judges the numbers.
"""
import argparse
import asyncio
import collections
import json
import time

BASE = [
    ("request", "smtpd_access_policy"), ("protocol_state", "END-OF-MESSAGE"), ("protocol_name", "ESMTP"),
    ("client_address", "198.51.100.9"), ("client_name", "client.example.test"), ("client_port", "49914"),
    ("reverse_client_name", "client.example.test"), ("server_address", "127.0.0.1"), ("server_port", "587"),
    ("helo_name", "client.example.test"), ("sender", ""), ("recipient", "rcpt@external.test"),
    ("recipient_count", "1"), ("queue_id", ""), ("instance", ""), ("size", "1000"),
    ("etrn_domain", ""), ("stress", ""), ("sasl_method", "PLAIN"), ("sasl_username", ""), ("sasl_sender", ""),
    ("ccert_subject", ""), ("ccert_issuer", ""), ("ccert_fingerprint", ""), ("ccert_pubkey_fingerprint", ""),
    ("encryption_protocol", "TLSv1.3"), ("encryption_cipher", "TLS_AES_256_GCM_SHA384"),
    ("encryption_keysize", "256"), ("policy_context", ""),
]


def request(login, instance):
    values = {"sasl_username": login, "sender": login or "someone@remote.test", "instance": instance,
              "queue_id": instance.replace(".", "")[:12].upper(), "sasl_method": "PLAIN" if login else ""}
    return "".join(f"{k}={values.get(k, v)}\n" for k, v in BASE).encode() + b"\n"


def classify(action):
    word = action.split(" ", 1)[0].upper()
    if word in ("DUNNO", "OK"):
        return "accepted"
    if word.startswith("4") or word.startswith("DEFER"):
        return "tempfail"
    if word.startswith("5") or word == "REJECT":
        return "rejected"
    return "other"


async def connection(n, args, stats, stop_at):
    host, _, port = args.target[len("inet:"):].rpartition(":")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), args.timeout)
    except (OSError, asyncio.TimeoutError):
        stats["classes"]["closed"] += 1
        return
    sent = 0
    try:
        while (args.count and sent < args.count) or (not args.count and time.monotonic() < stop_at):
            instance = f"{n:x}.{sent:x}.{time.monotonic_ns():x}"
            started = time.monotonic()
            writer.write(request(args.login, instance))
            await writer.drain()
            sent += 1
            try:
                answer = await asyncio.wait_for(reader.readuntil(b"\n\n"), args.timeout)
            except asyncio.TimeoutError:
                stats["classes"]["timeout"] += 1
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                stats["classes"]["closed"] += 1
                return
            latency = time.monotonic() - started
            action = answer.decode(errors="replace").strip().split("action=", 1)[-1]
            stats["classes"][classify(action)] += 1
            stats["answers"] += 1
            stats["max_latency"] = max(stats["max_latency"], latency)
            stats["min_latency"] = min(stats["min_latency"], latency)
            if len(stats["samples"]) < 4 and action not in stats["samples"]:
                stats["samples"].append(action)
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--login", default="")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    stats = {"answers": 0, "classes": collections.Counter(), "max_latency": 0.0, "min_latency": 1e9,
             "samples": []}
    stop_at = time.monotonic() + args.seconds
    await asyncio.gather(*(connection(n, args, stats, stop_at) for n in range(args.connections)))
    stats["classes"] = dict(stats["classes"])
    if not stats["answers"]:
        stats["min_latency"] = 0.0
    print(json.dumps(stats))


if __name__ == "__main__":
    asyncio.run(main())
