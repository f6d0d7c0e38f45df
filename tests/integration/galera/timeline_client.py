#!/usr/bin/env python3
"""Steady policy traffic against several relay-policyd, with every answer written down with its time.

    timeline_client.py --target inet:127.0.0.1:12451 [--target ...] --charge-login L [--probe-login L ...]
                       --out FILE --stop-file FILE [--pause 0.02] [--max-seconds 300]

Per target, one connection sends END-OF-MESSAGE requests for --charge-login one after the other (each one
a rate-limit charge in the database), and one connection per --probe-login sends RCPT requests. Each
answer becomes one line of --out, written at once:

    UNIX_TIME TARGET_INDEX STREAM OUTCOME ACTION...

STREAM is "eom" or the probe login; OUTCOME as rate_client.classify() (accepted, rejected, tempfail,
deferred, held, error) or "timeout" / "connection" when the daemon did not answer. Runs until --stop-file
exists or --max-seconds have passed (bounded); every request is bounded by --timeout.
"""
import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ratelimit"))
from rate_client import ask, classify, open_connection, request  # noqa: E402


class Timeline:
    def __init__(self, args):
        self.args = args
        self.out = open(args.out, "a", buffering=1)
        self.end = time.monotonic() + args.max_seconds
        self.sequence = 0

    def running(self):
        return time.monotonic() < self.end and not os.path.exists(self.args.stop_file)

    def write(self, index, stream, outcome, action):
        text = action.replace("\n", " ")[:120]
        self.out.write(f"{time.time():.3f} {index} {stream} {outcome} {text}\n")

    async def stream(self, index, target, stream, login):
        a = self.args
        reader = writer = None
        while self.running():
            if writer is None:
                try:
                    reader, writer = await open_connection(target, a.timeout)
                except (OSError, asyncio.TimeoutError) as e:
                    self.write(index, stream, "connection", f"{type(e).__name__} {e}")
                    await asyncio.sleep(0.2)
                    continue
            self.sequence += 1
            n = self.sequence
            common = dict(sasl_username=login, sender=login, instance=f"{os.getpid():x}.{n:x}.tl")
            if stream == "eom":
                payload = request(protocol_state="END-OF-MESSAGE", recipient="", recipient_count=1, size=1000,
                                  queue_id=f"G{n:X}", **common)
            else:
                payload = request(protocol_state="RCPT", **common)
            try:
                action = await ask(reader, writer, payload, a.timeout)
                self.write(index, stream, classify(action), action)
            except asyncio.TimeoutError:
                self.write(index, stream, "timeout", f"no answer within {a.timeout} s")
                writer.close()
                writer = None
            except (OSError, asyncio.IncompleteReadError) as e:
                self.write(index, stream, "connection", f"{type(e).__name__} {e}")
                writer.close()
                writer = None
            await asyncio.sleep(a.pause)
        if writer is not None:
            writer.close()

    async def main(self):
        a = self.args
        tasks = []
        for i, target in enumerate(a.target):
            tasks.append(self.stream(i, target, "eom", a.charge_login))
            for login in a.probe_login or []:
                tasks.append(self.stream(i, target, login, login))
        await asyncio.gather(*tasks)
        return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", action="append", required=True)
    p.add_argument("--charge-login", required=True)
    p.add_argument("--probe-login", action="append")
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--pause", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--max-seconds", type=float, default=300.0)
    args = p.parse_args()
    sys.exit(asyncio.run(Timeline(args).main()))


if __name__ == "__main__":
    main()
