#!/usr/bin/env python3
"""The layers of core/ as docs/architecture.md describes them, checked against the tree.

For every row of the table under "### The layers of core/": the folder exists, every file the row names
exists there, every source file of the folder is named in its row (a wildcard like admin_store*.cpp
counts), and the folder's files include only headers of its own layer and of the layers it depends on
(directly or through them). Exit 0 when the map and the tree agree, 1 with one line per disagreement.
"""
import fnmatch
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
doc = open(os.path.join(root, "docs/architecture.md"), encoding="utf-8").read()
section = doc.split("### The layers of core/", 1)[1].split("\n## ", 1)[0]

layers = {}  # folder -> (direct dependencies, file patterns)
for line in section.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 3 or not cells[0].startswith("`"):
        continue
    folder = cells[0].strip("`").rstrip("/")
    deps = [] if cells[1] in ("", "-", "–") else ["core/" + d.strip() if not d.strip().startswith("tests/") else d.strip()
                                                    for d in cells[1].split(",")]
    files = re.findall(r"`([^`]+)`", cells[2])
    layers[folder] = (deps, files)

problems = []
if len(layers) < 5:
    problems.append("docs/architecture.md: the layers table was not found or is nearly empty")


def closure(folder, seen=None):
    seen = set() if seen is None else seen
    for dep in layers.get(folder, ([], []))[0]:
        if dep not in layers:
            problems.append(f"{folder}: depends on {dep}, which is not a layer in the table")
            continue
        if dep not in seen:
            seen.add(dep)
            closure(dep, seen)
    return seen


for folder, (deps, patterns) in sorted(layers.items()):
    path = os.path.join(root, folder)
    if not os.path.isdir(path):
        problems.append(f"{folder}: named in docs/architecture.md but not in the tree")
        continue
    present = sorted(f for f in os.listdir(path) if f.endswith((".cpp", ".hpp")))
    for pattern in patterns:
        if not any(fnmatch.fnmatch(f, pattern) for f in present):
            problems.append(f"{folder}: docs/architecture.md names {pattern}, which is not there")
    for f in present:
        stem = os.path.splitext(f)[0]
        named = any(fnmatch.fnmatch(f, p) or fnmatch.fnmatch(stem, os.path.splitext(p)[0]) for p in patterns)
        if not named:
            problems.append(f"{folder}/{f}: not named in docs/architecture.md's layers table")
    allowed = closure(folder) | {folder}
    for f in present:
        text = open(os.path.join(path, f), encoding="utf-8").read()
        for inc in re.findall(r'#include "((?:core|tests)/[^"]+)/[^/"]+"', text):
            if inc not in allowed:
                problems.append(f"{folder}/{f}: includes {inc}, which {folder} does not depend on")

# Every folder of core/ is a layer of the table.
for entry in sorted(os.listdir(os.path.join(root, "core"))):
    if os.path.isdir(os.path.join(root, "core", entry)) and f"core/{entry}" not in layers:
        problems.append(f"core/{entry}: a folder that docs/architecture.md's layers table does not describe")
stray = [f for f in os.listdir(os.path.join(root, "core")) if f.endswith((".cpp", ".hpp"))]
for f in stray:
    problems.append(f"core/{f}: outside every layer")

for p in problems:
    print("not ok - " + p)
print(f"layers: {len(layers)} checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
