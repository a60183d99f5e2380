#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""The layers of hfgate's modules, read off the compiled objects.

A module is a src/*.c file. Module A calls module B when A's object needs a symbol
that B's object defines (nm). The modules must form no loop: each then has a floor,
one above every module it calls. Only the transport (http.c) may include
libmicrohttpd's header and only the upstream client (upstream.c) libcurl's.

Usage: scripts/layers.py [--floors] SRCDIR LIBHFGATE.A MAIN.O
Exits 1 (naming the loop or the include) when a rule is broken.
"""
import os
import re
import subprocess
import sys

ONLY_INCLUDER = {"microhttpd.h": "http.c", "curl/curl.h": "upstream.c"}


def nm_members(path):
    """{member: (defined, undefined)} for an archive or one object."""
    out = subprocess.run(["nm", path], check=True, capture_output=True,
                         text=True).stdout
    members, cur = {}, os.path.basename(path)
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            cur = line[:-1]
            continue
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRC":
            members.setdefault(cur, (set(), set()))[0].add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            members.setdefault(cur, (set(), set()))[1].add(parts[1])
    return members


def module_of(member):
    return re.sub(r"^(src_hfgate-|libhfgate_a-)", "", member)[:-2] + ".c"


def loops(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main(argv):
    show = "--floors" in argv
    args = [a for a in argv if a != "--floors"]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    srcdir, lib, mainobj = args
    members = nm_members(lib)
    members.update(nm_members(mainobj))
    owner = {}
    for m, (defined, _) in members.items():
        for sym in defined:
            owner[sym] = module_of(m)
    graph = {module_of(m): set() for m in members}
    for m, (_, undefined) in members.items():
        for sym in undefined:
            o = owner.get(sym)
            if o is not None and o != module_of(m):
                graph[module_of(m)].add(o)
    bad = 0
    for comp in loops(graph):
        print("loop: " + " <-> ".join(comp))
        bad = 1
    for name in sorted(os.listdir(srcdir)):
        if not name.endswith((".c", ".h")):
            continue
        with open(os.path.join(srcdir, name), encoding="utf-8") as f:
            text = f.read()
        for header, only in ONLY_INCLUDER.items():
            if re.search(r"#\s*include\s*<" + re.escape(header) + ">", text) and \
                    name != only:
                print("%s includes <%s>: only %s may" % (name, header, only))
                bad = 1
    if not bad:
        floor = {}

        def floor_of(v):
            if v not in floor:
                floor[v] = 1 + max((floor_of(w) for w in graph[v]), default=0)
            return floor[v]
        for v in graph:
            floor_of(v)
        if show:
            for v in sorted(graph, key=lambda v: (-floor[v], v)):
                print("%2d %-12s -> %s" % (floor[v], v, " ".join(sorted(graph[v]))))
        print("%d modules, %d calls between them, %d floors, no loop" % (
            len(graph), sum(len(e) for e in graph.values()), max(floor.values())))
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
