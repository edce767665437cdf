#!/usr/bin/env python3
"""Prints the steady-state body of the innermost loop of a clang AArch64 assembly listing (-S) that holds the most
instructions matching a pattern, for llvm-mca: the loop header's block and every labelled block clang marks as
"in Loop: Header=<that header>", in program order, without branches, labels or comments. Blocks that call a
function (the cold tail path) are left out. Loops written as inline assembly (between clang's //APP and //NO_APP
markers) count too: from a label to the last branch back to it inside the same asm statement, again without
branches. Used by scripts/arm-mca.sh.

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
    # Inline-assembly loops: clang prints the asm text as written, with local labels renamed (.Ltmp<N>).
    branch = re.compile(r'^\s*(b\.\w+|b|cbnz|cbz|tbnz|tbz)\s')
    regions, region = [], None
    for line in lines:
        if line.strip().startswith('//APP'):
            region = []
        elif line.strip().startswith('//NO_APP'):
            if region is not None:
                regions.append(region)
            region = None
        elif region is not None:
            region.append(line.split('//')[0].rstrip())
    for region in regions:
        for start, line in enumerate(region):
            label = re.match(r'^\s*([.\w]+):', line)
            if not label:
                continue
            target = label.group(1) + 'b' if label.group(1).isdigit() else label.group(1)
            ends = [i for i in range(start + 1, len(region))
                    if branch.match(region[i]) and region[i].split(',')[-1].split()[-1] == target]
            if not ends:
                continue
            body = [i for i in region[start + 1:ends[-1]]
                    if i.strip() and not branch.match(i) and not re.match(r'^\s*[.\w]+:', i)
                    and not i.strip().startswith('.')]
            count = sum(bool(pattern.match(i)) for i in body)
            if count and (best is None or count > best[0] or (count == best[0] and len(body) < len(best[1]))):
                best = (count, body)
    if best is None:
        sys.exit('no loop with ' + pattern.pattern + ' in ' + sys.argv[1])
    print('\n'.join(best[1]))


main()
