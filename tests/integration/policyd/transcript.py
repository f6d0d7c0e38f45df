#!/usr/bin/env python3
"""Request-in / action-out transcripts for relay-policyd, as Postfix tests smtpd_check (smtpd_check.in/.ref).

    transcript.py ADDRESS NAME.in NAME.ref NAME.out

NAME.in is a list of cases separated by blank lines; each case runs on a connection of its own:

    # authorised user, own sender -> DUNNO          the first comment line names the case
    % pipeline                                      optional: send all requests at once, then read
    sasl_method=PLAIN;sasl_username=alice@...       one request per line (policy_client.py's name=value;...
                                                    over Postfix's RCPT request; ";" alone: that request
                                                    unchanged)

"% raw" sends the case's lines as bytes instead (backslash escapes such as \\r \\n \\0 decoded, no newline
added) and takes the first answer or CLOSED; "% raw repeat=N" sends them N times over.
NAME.ref holds the expected answers, one line per request (the action text, CLOSED or TIMEOUT), cases
separated by blank lines as in NAME.in. The answers are written to NAME.out in the same form, and one
line per case is printed: "PASS<TAB>case" or "FAIL<TAB>case<TAB>got ... want ...".
"""
import codecs
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from policy_client import Reader, build, connect  # noqa: E402

TIMEOUT = 5


def parse_cases(text):
    cases = []
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        name, options, requests = None, [], []
        for line in lines:
            if line.startswith("#"):
                name = name or line[1:].strip()
            elif line.startswith("%"):
                options += line[1:].split()
            else:
                requests.append(line)
        if not requests:
            continue  # a file's header comment
        cases.append((name or requests[0], options, requests))
    return cases


def run_raw(address, options, requests):
    repeat = 1
    for option in options:
        if option.startswith("repeat="):
            repeat = int(option[len("repeat="):])
    payload = b"".join(codecs.escape_decode(line.encode())[0] for line in requests) * repeat
    sock = connect(address, TIMEOUT)
    try:
        sock.sendall(payload)
    except (BrokenPipeError, ConnectionResetError):
        return ["CLOSED"]
    answer = Reader(sock).answer()
    sock.close()
    return [answer]


def run_requests(address, options, requests):
    sock = connect(address, TIMEOUT)
    reader = Reader(sock)
    payloads = [build(r) for r in requests]
    if "pipeline" in options:
        sock.sendall(b"".join(payloads))
        answers = [reader.answer() for _ in payloads]
    else:
        answers = []
        for p in payloads:
            sock.sendall(p)
            answers.append(reader.answer())
            if answers[-1] in ("CLOSED", "TIMEOUT"):
                break
    sock.close()
    return answers


def main():
    address, in_file, ref_file, out_file = sys.argv[1:5]
    with open(in_file) as f:
        cases = parse_cases(f.read())
    with open(ref_file) as f:
        refs = [block.strip("\n").split("\n") for block in f.read().split("\n\n") if block.strip()]
    if len(refs) != len(cases):
        print(f"FAIL\t{os.path.basename(ref_file)} has an answer block per case\t"
              f"{len(cases)} cases in {in_file}, {len(refs)} blocks in {ref_file}")
    outputs = []
    for i, (name, options, requests) in enumerate(cases):
        run = run_raw if "raw" in options else run_requests
        try:
            got = run(address, options, requests)
        except OSError as e:
            got = [f"ERROR {e}"]
        want = refs[i] if i < len(refs) else []
        outputs.append("\n".join(got))
        verdict = "PASS" if got == want else "FAIL"
        detail = "" if got == want else f"\tgot {' | '.join(got)!r}, want {' | '.join(want)!r}"
        print(f"{verdict}\t{name}{detail}", flush=True)
    with open(out_file, "w") as f:
        f.write("\n\n".join(outputs) + "\n")


if __name__ == "__main__":
    main()
