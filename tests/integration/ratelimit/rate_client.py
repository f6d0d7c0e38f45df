#!/usr/bin/env python3
"""A concurrent Postfix policy client for the rate-limit tests and measurements.

    rate_client.py --target inet:127.0.0.1:12230 [--target ...] [options]

Opens --connections connections (spread round-robin over the targets) and runs --attempts messages over
them, as many at a time as there are connections. A message is what Postfix asks about it: an RCPT
request, then (unless RCPT was refused) an END-OF-MESSAGE request with the same instance, recipient_count
and size. --mode rcpt sends only the RCPT request, --mode eom only END-OF-MESSAGE.

Prints one JSON object: counts per stage and outcome (accepted, deferred = 4.7.1 rate limit, tempfail =
any other temporary answer, rejected, held, error), the elapsed time and requests per second, and a few
sample answers. Exit status 0 unless a connection failed (then 1). Every wait is bounded by --timeout.
"""
import argparse
import asyncio
import collections
import json
import os
import sys
import time

BASE = [
    ("request", "smtpd_access_policy"), ("protocol_state", "RCPT"), ("protocol_name", "ESMTP"),
    ("client_address", "198.51.100.7"), ("client_name", "client.example.test"), ("client_port", "49914"),
    ("reverse_client_name", "client.example.test"), ("server_address", "127.0.0.1"), ("server_port", "587"),
    ("helo_name", "client.example.test"), ("sender", ""), ("recipient", "rcpt@external.test"),
    ("recipient_count", "0"), ("queue_id", ""), ("instance", ""), ("size", "0"),
    ("etrn_domain", ""), ("stress", ""), ("sasl_method", "PLAIN"), ("sasl_username", ""), ("sasl_sender", ""),
    ("ccert_subject", ""), ("ccert_issuer", ""), ("ccert_fingerprint", ""), ("ccert_pubkey_fingerprint", ""),
    ("encryption_protocol", "TLSv1.3"), ("encryption_cipher", "TLS_AES_256_GCM_SHA384"),
    ("encryption_keysize", "256"), ("policy_context", ""),
]


def request(**values):
    attrs = [(k, str(values.get(k, v))) for k, v in BASE]
    return "".join(f"{k}={v}\n" for k, v in attrs).encode() + b"\n"


def classify(action):
    word = action.split(" ", 1)[0].upper()
    if word in ("DUNNO", "OK", "PREPEND"):
        return "accepted"
    if word == "HOLD":
        return "held"
    if word.startswith("4"):
        return "deferred" if " 4.7.1 " in action + " " else "tempfail"
    if word in ("DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT"):
        return "tempfail"
    if word.startswith("5") or word == "REJECT":
        return "rejected"
    return "error"


async def open_connection(target, timeout):
    if target.startswith("unix:"):
        return await asyncio.wait_for(asyncio.open_unix_connection(target[5:]), timeout)
    host_port = target[5:] if target.startswith("inet:") else target
    host, _, port = host_port.rpartition(":")
    return await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)


async def ask(reader, writer, payload, timeout):
    writer.write(payload)
    await writer.drain()
    answer = await asyncio.wait_for(reader.readuntil(b"\n\n"), timeout)
    for line in answer.decode(errors="replace").splitlines():
        if line.startswith("action="):
            return line[len("action="):]
    return "ERROR no action in " + answer.decode(errors="replace")[:100]


class Run:
    def __init__(self, args):
        self.args = args
        self.next_attempt = 0
        self.counts = collections.Counter()
        self.samples = collections.OrderedDict()
        self.requests = 0
        self.failed_connections = 0
        self.logins = args.login or []
        if args.login_pattern:
            self.logins = [args.login_pattern.format(n=n) for n in range(1, args.accounts + 1)]
        if not self.logins:
            sys.exit("rate_client.py: give --login or --login-pattern")

    def note(self, stage, action):
        outcome = classify(action)
        self.counts[f"{stage}_{outcome}"] += 1
        key = f"{stage}_{outcome}"
        if key not in self.samples and outcome != "accepted":
            self.samples[key] = action[:200]
        return outcome

    async def worker(self, target, number):
        a = self.args
        try:
            reader, writer = await open_connection(target, a.timeout)
        except (OSError, asyncio.TimeoutError) as e:
            self.failed_connections += 1
            self.samples.setdefault("connect_error", f"{target}: {e}")
            return
        try:
            while self.next_attempt < a.attempts:
                n = self.next_attempt
                self.next_attempt += 1
                login = self.logins[n % len(self.logins)]
                client = a.client[n % len(a.client)] if a.client else "198.51.100.7"
                instance = f"{os.getpid():x}.{n:x}.{number}.rl"
                common = dict(sasl_username=login, sender=login, instance=instance, client_address=client)
                if a.mode in ("full", "rcpt"):
                    action = await ask(reader, writer, request(protocol_state="RCPT", **common), a.timeout)
                    self.requests += 1
                    if self.note("rcpt", action) != "accepted" or a.mode == "rcpt":
                        continue
                action = await ask(reader, writer,
                                   request(protocol_state="END-OF-MESSAGE", recipient="",
                                           recipient_count=a.recipients, size=a.size, queue_id=f"Q{n:X}", **common),
                                   a.timeout)
                self.requests += 1
                self.note("eom", action)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            self.failed_connections += 1
            self.samples.setdefault("connection_error", f"{target}: {type(e).__name__} {e}")
        finally:
            writer.close()

    async def main(self):
        a = self.args
        start = time.monotonic()
        await asyncio.gather(*(self.worker(a.target[i % len(a.target)], i) for i in range(a.connections)))
        elapsed = time.monotonic() - start
        result = dict(self.counts)
        result.update(attempts=a.attempts, requests=self.requests, seconds=round(elapsed, 3),
                      requests_per_second=round(self.requests / elapsed, 1) if elapsed > 0 else 0,
                      failed_connections=self.failed_connections, samples=self.samples)
        print(json.dumps(result, sort_keys=True))
        return 1 if self.failed_connections else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", action="append", required=True, help="inet:HOST:PORT or unix:/path (repeatable)")
    p.add_argument("--connections", type=int, default=50)
    p.add_argument("--attempts", type=int, default=300)
    p.add_argument("--login", action="append", help="SASL login (repeatable: attempts cycle over them)")
    p.add_argument("--login-pattern", help="e.g. user{n}@example.com, with --accounts N")
    p.add_argument("--accounts", type=int, default=1)
    p.add_argument("--client", action="append", help="client_address (repeatable: attempts cycle over them)")
    p.add_argument("--recipients", type=int, default=1, help="recipient_count at END-OF-MESSAGE")
    p.add_argument("--size", type=int, default=1000, help="size at END-OF-MESSAGE")
    p.add_argument("--mode", choices=("full", "rcpt", "eom"), default="full")
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args()
    if not 1 <= args.connections <= 1000 or not 0 <= args.attempts <= 10_000_000:
        sys.exit("rate_client.py: --connections 1..1000, --attempts 0..10000000")
    sys.exit(asyncio.run(Run(args).main()))


if __name__ == "__main__":
    main()
