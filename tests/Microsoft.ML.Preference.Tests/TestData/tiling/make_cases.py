#!/usr/bin/env python3
"""Recomputes every case of cases.json from its inputs (width, height, min_num, max_num, image_size, use_thumbnail)
with InternVL's tiling: find_closest_aspect_ratio + dynamic_preprocess of OpenGVLab/InternVL
internvl_chat/internvl/train/dataset.py, control flow written out again here (no PIL needed: the plan, not the pixels),
run by CPython, whose set iteration order decides between grids of equal product as it does upstream.

    python3 tests/Microsoft.ML.Preference.Tests/TestData/tiling/make_cases.py           # check: exit 1 on any difference
    python3 tests/Microsoft.ML.Preference.Tests/TestData/tiling/make_cases.py --write   # rewrite the computed fields

Checked fields: aspect_ratio, cols, rows, blocks, num_tiles, resized_size, boxes, thumbnail, ties_at_best_diff,
order_sensitive, and meta.candidate_grid_order. The 44 inputs and their notes are data. The fixture was made with
CPython 3.11; the set order of these small tuples is the same from 3.8 to 3.13 (see ../vision/README.md).
"""
import itertools
import json
import pathlib
import sys

PATH = pathlib.Path(__file__).resolve().parent / "cases.json"


def candidate_grids(min_num, max_num):
    """Upstream's target_ratios: a set of (i, j) with min_num <= i*j <= max_num, stably sorted by i*j."""
    ratios = set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
                 if min_num <= i * j <= max_num)
    return sorted(ratios, key=lambda x: x[0] * x[1])


def closest(aspect_ratio, grids, width, height, image_size):
    """find_closest_aspect_ratio: strictly smaller diff wins; an equal diff moves to the candidate if the image has
    more than half its pixels."""
    best_diff, best = float("inf"), (1, 1)
    area = width * height
    for ratio in grids:
        diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if diff < best_diff:
            best_diff, best = diff, ratio
        elif diff == best_diff and area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
            best = ratio
    return best


def plan(case):
    w, h, lo, hi, s = case["width"], case["height"], case["min_num"], case["max_num"], case["image_size"]
    aspect = w / h
    grids = candidate_grids(lo, hi)
    cols, rows = closest(aspect, grids, w, h, s)
    blocks = cols * rows
    boxes = [[(i % cols) * s, (i // cols) * s, (i % cols + 1) * s, (i // cols + 1) * s] for i in range(blocks)]
    thumbnail = {"from_size": [w, h], "to_size": [s, s]} if case["use_thumbnail"] and blocks != 1 else None
    diffs = [abs(aspect - c / r) for c, r in grids]
    ties = [list(g) for g, d in zip(grids, diffs) if d == min(diffs)]
    # Would another order of the equal-product groups change the choice?
    # (every order of one group with the others as they are, and every group reversed at once)
    groups = [list(g) for _, g in itertools.groupby(grids, key=lambda x: x[0] * x[1])]
    outcomes = {closest(aspect, [x for g in groups for x in reversed(g)], w, h, s), (cols, rows)}
    for n, group in enumerate(groups):
        for order in itertools.permutations(group):
            outcomes.add(closest(aspect, [x for g in groups[:n] for x in g] + list(order) + [x for g in groups[n + 1:] for x in g], w, h, s))
    return {"aspect_ratio": aspect, "cols": cols, "rows": rows, "blocks": blocks, "num_tiles": blocks + (1 if thumbnail else 0),
            "resized_size": [cols * s, rows * s], "boxes": boxes, "thumbnail": thumbnail, "ties_at_best_diff": ties,
            "order_sensitive": len(outcomes) > 1}


def main():
    d = json.loads(PATH.read_text(encoding="utf-8"))
    computed = [plan(c) for c in d["cases"]]
    orders = {f"{lo}-{hi}": [list(g) for g in candidate_grids(lo, hi)]
              for lo, hi in sorted({(c["min_num"], c["max_num"]) for c in d["cases"]})}
    if "--write" in sys.argv[1:]:
        for case, fields in zip(d["cases"], computed):
            case.update(fields)
        d["meta"]["candidate_grid_order"] = orders
        PATH.write_text(json.dumps(d, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {len(computed)} cases")
        return 0
    bad = [(n, k, v, case.get(k)) for n, (case, fields) in enumerate(zip(d["cases"], computed)) for k, v in fields.items() if case.get(k) != v]
    stored_orders = {k: v for k, v in d["meta"]["candidate_grid_order"].items() if k in orders}
    if stored_orders != orders:
        bad.append(("meta", "candidate_grid_order", orders, stored_orders))
    for n, k, mine, theirs in bad[:10]:
        print(f"case {n}: {k}: computed {mine!r}, stored {theirs!r}")
    print(f"{len(computed)} cases checked, {len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
