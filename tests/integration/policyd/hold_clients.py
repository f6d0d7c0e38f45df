#!/usr/bin/env python3
"""Opens many policy clients at once against relay-policyd and reports what became of them.

hold_clients.py HOST PORT COUNT REQUEST
  Opens COUNT connections one after the other, each sending REQUEST (';'-separated attributes) and
  waiting up to 5 s for its answer while all earlier ones stay open. Prints "answered refused hanging":
  answered = got an action, refused = closed by the server without an answer, hanging = no answer
  within 5 s. Then closes them all.
hold_clients.py --dribble HOST PORT INTERVAL
  Sends one byte of a never-ending request every INTERVAL seconds (at most 120 bytes) and prints the
  seconds until the server closed the connection, or "open" if it never did.
"""
import socket
import sys
import time


def request_bytes(text):
    lines = ["request=smtpd_access_policy"] + [a for a in text.split(";") if a]
    return ("\n".join(lines) + "\n\n").encode()


def hold(host, port, count, text):
    answered = refused = hanging = 0
    held = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=5)
        held.append(s)
        try:
            s.sendall(request_bytes(text))
            data = b""
            while b"\n\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data.startswith(b"action="):
                answered += 1
            else:
                refused += 1
        except (ConnectionResetError, BrokenPipeError):
            refused += 1
        except socket.timeout:
            hanging += 1
    print(answered, refused, hanging)
    for s in held:
        s.close()


def dribble(host, port, interval):
    s = socket.create_connection((host, port), timeout=interval)
    start = time.monotonic()
    for byte in b"request=smtpd_access_policy\nsender=" + b"x" * 84:
        try:
            s.send(bytes([byte]))
            if s.recv(1) == b"":
                print("%.1f" % (time.monotonic() - start))
                return
        except socket.timeout:
            continue  # nothing from the server: still open
        except (ConnectionResetError, BrokenPipeError):
            print("%.1f" % (time.monotonic() - start))
            return
    print("open")


if __name__ == "__main__":
    if sys.argv[1] == "--dribble":
        dribble(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        hold(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
