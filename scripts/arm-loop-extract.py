#!/usr/bin/env python3
"""Prints the steady-state body of the innermost loop of a clang AArch64 assembly listing (-S) that holds the most
instructions matching a pattern, for llvm-mca: the loop header's block and every labelled block clang marks as
"in Loop: Header=<that header>", in program order, without branches, labels or comments. Blocks that call a
function (the cold tail path) are left out. Used by scripts/arm-mca.sh.

Usage: arm-loop-extract.py LISTING.s [REGEX]      (REGEX: the instructions to count; default sdot)
"""
import re
import sys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    lines = open(sys.argv[1]).read().split('\n')
    pattern = re.compile(r'^\s*(' + (sys.argv[2] if len(sys.argv) > 2 else 'sdot') + r')\s')
    # Blocks: (label, comment lines, instruction lines).
    blocks, current = [], None
    for line in lines:
        label = re.match(r'^(\.LBB\d+_\d+|// %bb\.\d+):?', line)
        if label or re.match(r'^[A-Za-z_][\w.]*:', line):
            current = [label.group(1) if label else None, [line], []]
            blocks.append(current)
        elif current is not None:
            stripped = line.strip()
            if stripped.startswith('//'):
                current[1].append(stripped)
            elif stripped and not stripped.startswith('.'):
                current[2].append(line.split('//')[0].rstrip())
    headers = [b for b in blocks if b[0] and b[0].startswith('.LBB') and any('Loop Header' in c for c in b[1])]
    best = None
    for header in headers:
        name = header[0][1:]   # .LBB0_28 -> LBB0_28; clang writes Header=BB0_28
        members = [b for b in blocks if b is header or (
            b[0] and b[0].startswith('.LBB') and any('Header=' + name[1:] + ' ' in c + ' ' for c in b[1]))]
        if any(any(re.match(r'^\s*bl\s', i) for i in b[2]) for b in members):
            continue
        body = [i for b in members for i in b[2] if not re.match(r'^\s*(b\.\w+|b|cbnz|cbz|tbnz|tbz)\s', i)]
        count = sum(bool(pattern.match(i)) for i in body)
        if count and (best is None or count > best[0] or (count == best[0] and len(body) < len(best[1]))):
            best = (count, body)
    if best is None:
        sys.exit('no loop with ' + pattern.pattern + ' in ' + sys.argv[1])
    print('\n'.join(best[1]))


main()
