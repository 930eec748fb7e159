#!/usr/bin/env python3
"""The conversion comparison as a markdown table (docs/runs/convert/table.md) from the committed records."""
import csv, json, os, statistics
here = os.path.dirname(os.path.abspath(__file__))
def ev(name, text):
    p = os.path.join(here, "evals", f"{name}.{text}.json")
    return json.load(open(p))["bits_per_byte"] if os.path.exists(p) else None
def steps(name):
    p = os.path.join(here, "runs", name, "metrics.csv")
    if not os.path.exists(p): return None, None
    rows = list(csv.DictReader(open(p)))
    last = max(int(r["step"]) for r in rows)
    vals = [(float(r["val_bits_per_byte"]), int(r["step"])) for r in rows if r["val_bits_per_byte"]]
    return last, min(vals)[1] if vals else None
runs = [("(a) lm-256 trained on, lr 3e-4", "lm-lr3e-4-d7.5-s1234", 7.5, 1234), ("(a) lm-256 trained on, lr 1e-3", "lm-lr1e-3-d7.5-s1234", 7.5, 1234),
        ("(b) converted, all_layers", "sllm-all_layers-d7.5-s1234", 7.5, 1234), ("(b) converted, backbone", "sllm-backbone-d7.5-s1234", 7.5, 1234)]
for d in (15, 29):
    for s in ((1234,) if d == 15 else (1234, 4321)):
        runs += [("(a) lm-256 trained on", f"lm-d{d}-s{s}", d, s), ("(b) converted (all_layers)", f"sllm-d{d}-s{s}", d, s)]
lines = ["| arm | run | Δ min | seed | steps (best) | bpb austen-valid | bpb Moby-Dick |", "|---|---|---|---|---|---|---|"]
for arm, name, d, s in runs:
    last, best = steps(name)
    a, m = ev(name, "austen-valid"), ev(name, "mobydick-ch01-18")
    f = lambda v: "–" if v is None else f"{v:.4f}"
    lines.append(f"| {arm} | {name} | {d:g} | {s} | {last if last else '–'} ({best if best else '–'}) | {f(a)} | {f(m)} |")
def mean(names, text):
    v = [ev(n, text) for n in names]
    return (statistics.mean(v), max(v) - min(v)) if all(x is not None for x in v) else (None, None)
lines.append("")
for text in ("austen-valid", "mobydick-ch01-18"):
    (la, ls), (sa, ss) = mean(["lm-d29-s1234", "lm-d29-s4321"], text), mean(["sllm-d29-s1234", "sllm-d29-s4321"], text)
    if la and sa:
        lines.append(f"Δ = 29 min, {text}: token model {la:.4f} (seed spread {ls:.4f}), converted {sa:.4f} (spread {ss:.4f}); converted ÷ token = {sa / la:.4f}")
open(os.path.join(here, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
