#!/usr/bin/env python3
"""Longer context, measured: the sweep's bits/byte against KV bytes per row and tokens of text in view."""
import json, os
here = os.path.dirname(os.path.abspath(__file__))
bench = json.load(open(os.path.join(here, "..", "..", "bench", "convert", "bench.json")))
per_position = 2 * 4 * 256 * 4                                   # K and V, 4 layers, width 256, fp32: both backbones
sllm = next(m for m in bench["models"] if m["kind"] == "sentence_llm")
tokens_per_piece = per_position / sllm["kv_bytes_per_token_analytic"]
rows = []
for kind, name, windows in [("token model (lm-d29-s1234)", "lm-d29-s1234", [32, 64, 128, 256]), ("converted SLLM (sllm-d29-s1234)", "sllm-d29-s1234", [8, 16, 32, 64])]:
    for w in windows:
        j = json.load(open(os.path.join(here, "context", f"{name}.c{w}.json")))
        in_view = w if name.startswith("lm") else w * tokens_per_piece
        rows.append((kind, w, w * per_position, in_view, j["bits_per_byte"]))
lines = [f"Tokens per piece on austen-valid: {tokens_per_piece:.2f}. Bits/byte on the first ~40k tokens of austen-valid, windows of the given size (stride half a window).", "",
         "| model | window | KV bytes per row | text in view (tokens) | bits/byte |", "|---|---|---|---|---|"]
for kind, w, kv, view, bpb in rows:
    lines.append(f"| {kind} | {w} {'tokens' if 'token' in kind else 'pieces'} | {kv / 1024:,.0f} KiB | {view:,.0f} | {bpb:.4f} |")
open(os.path.join(here, "context.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
