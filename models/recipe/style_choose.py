#!/usr/bin/env python3
"""The style recipe's checkpoint choice (style.sh): reads CHOOSE_DIR/<run>-<step>/eval.json (prtkl eval on the
held-out concepts) and prints one line per checkpoint, best first: name, style share, top-1, score. The score is
how near a checkpoint comes to both gates, min(share / 0.95, top-1 / 0.92); ties go to the later step (more
training on the same measurement)."""
import json
import pathlib
import sys

choose_dir, look = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = []
for f in sorted(choose_dir.glob("*/eval.json")):
    e = json.loads(f.read_text())
    share = e["look_shares"][e["looks"].index(look)]
    top1 = e["accuracy"]
    run, step = f.parent.name.rsplit("-", 1)
    rows.append((min(share / 0.95, top1 / 0.92), int(step), f.parent.name, share, top1))
if not rows:
    sys.exit(f"{choose_dir}: no eval.json to choose from")
for score, _, name, share, top1 in sorted(rows, reverse=True):
    print(f"{name}\t{share:.3f}\t{top1:.3f}\t{score:.3f}")
