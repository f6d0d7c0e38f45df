#!/usr/bin/env python3
"""A small Postfix policy client for relay-policyd tests: request in, action out.

    policy_client.py ADDRESS [options] REQUEST...

ADDRESS is inet:HOST:PORT (inet:[::1]:PORT) or unix:/path. Each REQUEST is a list of name=value pairs
separated by ';' that replace or add to a Postfix 3.7 RCPT request as Postfix really sends it (every
attribute, in Postfix's order); name= (empty) sends the attribute empty, -name drops it.
One connection for all requests, lock-step, one output line per request: the action text after
"action=", CLOSED when the server closed the connection instead of answering, or TIMEOUT.

  --pipeline      send all requests at once, then read all answers
  --raw FILE      send FILE's bytes as they are (instead of REQUESTs), then print answers until closed
  --hold SECONDS  after the last request is sent, wait before reading
  --signal-pid PID  send SIGTERM to PID right after the last request is sent (request in flight)
  --timeout S     per read (default 5)
"""
import argparse
import os
import signal
import socket
import sys
import time

# Exactly what Postfix 3.7 sends at RCPT (shared/RECIPE-e2e.md section 6), values of a neutral client.
BASE = [
    ("request", "smtpd_access_policy"), ("protocol_state", "RCPT"), ("protocol_name", "ESMTP"),
    ("client_address", "203.0.113.7"), ("client_name", "client.example.test"), ("client_port", "49914"),
    ("reverse_client_name", "client.example.test"), ("server_address", "127.0.0.1"), ("server_port", "587"),
    ("helo_name", "client.example.test"), ("sender", ""), ("recipient", "rcpt@external.test"),
    ("recipient_count", "0"), ("queue_id", ""), ("instance", "1a2b.6b026ccf.197fa.0"), ("size", "0"),
    ("etrn_domain", ""), ("stress", ""), ("sasl_method", ""), ("sasl_username", ""), ("sasl_sender", ""),
    ("ccert_subject", ""), ("ccert_issuer", ""), ("ccert_fingerprint", ""), ("ccert_pubkey_fingerprint", ""),
    ("encryption_protocol", "TLSv1.3"), ("encryption_cipher", "TLS_AES_256_GCM_SHA384"),
    ("encryption_keysize", "256"), ("policy_context", ""),
]


def build(spec):
    attrs = list(BASE)
    for item in filter(None, (p.strip() for p in spec.split(";"))):
        if item.startswith("-"):
            attrs = [(k, v) for k, v in attrs if k != item[1:]]
            continue
        name, _, value = item.partition("=")
        for i, (k, _v) in enumerate(attrs):
            if k == name:
                attrs[i] = (name, value)
                break
        else:
            attrs.append((name, value))
    return "".join(f"{k}={v}\n" for k, v in attrs).encode() + b"\n"


def connect(address, timeout):
    if address.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(address[5:])
        return s
    rest = address[5:]
    if rest.startswith("["):
        host, _, port = rest[1:].partition("]:")
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    else:
        host, _, port = rest.rpartition(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, int(port)))
    return s


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def answer(self):
        """The next answer's action text, 'CLOSED' or 'TIMEOUT'."""
        while b"\n\n" not in self.buf:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return "TIMEOUT"
            except ConnectionResetError:
                return "CLOSED"
            if not data:
                return "CLOSED"
            self.buf += data
        block, self.buf = self.buf.split(b"\n\n", 1)
        text = block.decode("utf-8", "replace")
        return text[len("action="):] if text.startswith("action=") else "BAD-ANSWER " + text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("address")
    ap.add_argument("requests", nargs="*")
    ap.add_argument("--pipeline", action="store_true")
    ap.add_argument("--raw")
    ap.add_argument("--hold", type=float, default=0)
    ap.add_argument("--timeout", type=float, default=5)
    ap.add_argument("--signal-pid", type=int)
    args = ap.parse_intermixed_args()
    sock = connect(args.address, args.timeout)
    reader = Reader(sock)
    if args.raw:
        with open(args.raw, "rb") as f:
            sock.sendall(f.read())
        time.sleep(args.hold)
        while True:
            a = reader.answer()
            print(a)
            if a in ("CLOSED", "TIMEOUT"):
                break
        return
    payloads = [build(r) for r in args.requests]
    if args.pipeline:
        sock.sendall(b"".join(payloads))
        time.sleep(args.hold)
        for _ in payloads:
            print(reader.answer())
        return
    for i, p in enumerate(payloads):
        try:
            sock.sendall(p)
        except (BrokenPipeError, ConnectionResetError):
            print("CLOSED")
            break
        if i == len(payloads) - 1:
            if args.signal_pid:
                os.kill(args.signal_pid, signal.SIGTERM)
            time.sleep(args.hold)
        a = reader.answer()
        print(a)
        if a in ("CLOSED", "TIMEOUT"):
            break
    sys.stdout.flush()


if __name__ == "__main__":
    main()
