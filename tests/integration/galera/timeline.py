#!/usr/bin/env python3
"""Reads timeline_client.py's answers and measures what tests/integration/test_galera_failover.sh checks.

    timeline.py stall FILE INDEX FROM TO
        The longest time target INDEX went without an accepted END-OF-MESSAGE charge between FROM and TO
        (unix times), counted from FROM: how long that daemon did not serve. Prints seconds, or "none"
        when nothing was accepted after FROM.
    timeline.py refusal FILE INDEX LOGIN FROM
        When target INDEX first refused LOGIN (rejected) after FROM, in seconds after FROM, and how many
        of its answers for LOGIN after that refusal were accepted: "DELAY ACCEPTED_LATER" ("none 0").
    timeline.py logged LOG SINCE FROM TEXT
        Seconds after FROM (0 when earlier) of the first line of a daemon's LOG (ISO-8601 time stamps, as
        relay-policyd writes them) at or after SINCE that contains TEXT; "none" when there is none.
    timeline.py count FILE STREAM OUTCOME [FROM [TO]]
        How many answers of STREAM (eom or a probe login; "any") had OUTCOME ("any": all) in the window.
"""
import datetime
import sys


def lines(path):
    with open(path) as f:
        for line in f:
            parts = line.split(" ", 4)
            if len(parts) >= 4:
                yield float(parts[0]), int(parts[1]), parts[2], parts[3]


def stall(path, index, start, end):
    accepted = sorted(t for t, i, s, o in lines(path) if i == index and s == "eom" and o == "accepted"
                      and start <= t <= end)
    if not accepted:
        return "none"
    longest, previous = accepted[0] - start, accepted[0]
    for t in accepted[1:]:
        longest = max(longest, t - previous)
        previous = t
    return f"{longest:.2f}"


def refusal(path, index, login, start):
    answers = sorted((t, o) for t, i, s, o in lines(path) if i == index and s == login and t >= start)
    first = next((t for t, o in answers if o == "rejected"), None)
    if first is None:
        return "none 0"
    later = sum(1 for t, o in answers if t > first and o == "accepted")
    return f"{first - start:.2f} {later}"


def logged(path, since, start, text):
    with open(path, errors="replace") as f:
        for line in f:
            stamp = line.split(" ", 1)[0]
            try:
                when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            except ValueError:
                continue
            if when >= since - 0.001 and text in line:
                return f"{max(0.0, when - start):.2f}"
    return "none"


def count(path, stream, outcome, start=0.0, end=float("inf")):
    return str(sum(1 for t, i, s, o in lines(path)
                   if (stream == "any" or s == stream) and (outcome == "any" or o == outcome) and start <= t <= end))


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "stall" and len(argv) == 6:
        print(stall(argv[2], int(argv[3]), float(argv[4]), float(argv[5])))
    elif what == "refusal" and len(argv) == 6:
        print(refusal(argv[2], int(argv[3]), argv[4], float(argv[5])))
    elif what == "logged" and len(argv) == 6:
        print(logged(argv[2], float(argv[3]), float(argv[4]), argv[5]))
    elif what == "count" and 5 <= len(argv) <= 7:
        window = [float(x) for x in argv[5:]]
        print(count(argv[2], argv[3], argv[4], *window))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
