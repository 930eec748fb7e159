#!/usr/bin/env python3
"""docs/runs/convert/curves.svg: bits/byte against total training minutes for (a) the token model trained on,
(b) the converted sentence-level model, (c) sentence-level models from scratch; in domain and on Moby-Dick."""
import json, os, statistics
here = os.path.dirname(os.path.abspath(__file__))
T = 58.5
def score(name, text):
    p = os.path.join(here, "evals", f"{name}.{text}.json")
    return json.load(open(p))["bits_per_byte"] if os.path.exists(p) else None
def ref(path):
    p = os.path.join(here, "..", "evals", path)
    return json.load(open(p))["bits_per_byte"]
arms = {
    "(a) token model trained on": ("#1f77b4", [(T, ["@parent"])] + [(T + d, [f"lm-{'lr3e-4-' if d == 7.5 else ''}d{d:g}-s{s}" for s in seeds]) for d, seeds in [(7.5, [1234]), (15, [1234]), (29, [1234, 4321])]]),
    "(b) converted sentence-level model": ("#d62728", [(T + d, [f"sllm-{'all_layers-' if d == 7.5 else ''}d{d:g}-s{s}" for s in seeds]) for d, seeds in [(7.5, [1234]), (15, [1234]), (29, [1234, 4321])]]),
}
parent = {"austen-valid": ref("lm-256-fair-austen-valid.json"), "mobydick-ch01-18": ref("lm-256-fair-mobydick-ch01-18.json")}
scratch = {"austen-valid": [(T, ref("sllm-256-e2e-fair-austen-valid.json"))], "mobydick-ch01-18": [(T, ref("sllm-256-e2e-fair-mobydick-ch01-18.json"))]}
W, H, M = 460, 340, 55
def panel(text, x0):
    pts = {}
    for label, (color, points) in arms.items():
        row = []
        for minutes, names in points:
            values = [parent[text] if n == "@parent" else score(n, text) for n in names]
            values = [v for v in values if v is not None]
            if values: row.append((minutes, values))
        pts[label] = (color, row)
    allv = [v for _, (c, row) in pts.items() for _, vs in row for v in vs] + [v for _, v in scratch[text]]
    lo, hi = min(allv) - 0.005, max(allv) + 0.005
    X = lambda m: x0 + M + (m - 50) / (95 - 50) * (W - 2 * M)
    Y = lambda v: H - M - (v - lo) / (hi - lo) * (H - 2 * M)
    out = [f'<text x="{x0 + W/2}" y="22" text-anchor="middle" font-size="14">{"austen-valid (in domain)" if text == "austen-valid" else "Moby-Dick ch. 1-18"}</text>',
           f'<line x1="{X(50)}" y1="{H-M}" x2="{X(95)}" y2="{H-M}" stroke="black"/><line x1="{X(50)}" y1="{H-M}" x2="{X(50)}" y2="{M}" stroke="black"/>']
    for m in range(50, 96, 10): out.append(f'<text x="{X(m)}" y="{H-M+16}" text-anchor="middle" font-size="11">{m}</text>')
    for i in range(6):
        v = lo + (hi - lo) * i / 5
        out.append(f'<text x="{X(50)-6}" y="{Y(v)+4}" text-anchor="end" font-size="11">{v:.3f}</text>')
    out.append(f'<text x="{x0 + W/2}" y="{H-12}" text-anchor="middle" font-size="12">total training minutes (one core); T = 58.5</text>')
    for label, (color, row) in pts.items():
        means = [(m, statistics.mean(vs)) for m, vs in row]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (color, " ".join(f"{X(m):.1f},{Y(v):.1f}" for m, v in means)))
        for m, vs in row:
            for v in vs: out.append(f'<circle cx="{X(m):.1f}" cy="{Y(v):.1f}" r="4" fill="{color}"/>')
    for m, v in scratch[text]:
        out.append(f'<rect x="{X(m)-5:.1f}" y="{Y(v)-5:.1f}" width="10" height="10" fill="#2ca02c"/>')
    return out
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2*W}" height="{H+40}" font-family="sans-serif">', '<rect width="100%" height="100%" fill="white"/>']
svg += panel("austen-valid", 0) + panel("mobydick-ch01-18", W)
legend = [("(a) token model trained on (lm-256, then Δ more)", "#1f77b4"), ("(b) lm-256 converted, trained Δ (points: seeds)", "#d62728"), ("(c) sentence-level model from scratch (sllm-256-e2e)", "#2ca02c")]
for i, (label, color) in enumerate(legend):
    svg.append(f'<rect x="{60 + i*300}" y="{H+18}" width="10" height="10" fill="{color}"/><text x="{75 + i*300}" y="{H+27}" font-size="11">{label}</text>')
svg.append("</svg>")
open(os.path.join(here, "curves.svg"), "w").write("\n".join(svg) + "\n")
print("wrote", os.path.join(here, "curves.svg"))
