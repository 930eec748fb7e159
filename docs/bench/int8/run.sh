#!/usr/bin/env bash
# int8 against bf16 and fp32 decode steps: OPT-125M and OPT-1.3B shapes (random weights), contexts 256 and 1,024,
# batch 1, 2 threads, the three formats alternated in two rounds. Run alone: nothing else on the machine.
set -euo pipefail
SVAE=${SVAE:-"dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"}
OUT=docs/bench/int8
for round in 1 2; do
  for config in opt-125m opt-1.3b; do
    for weights in bf16 int8 fp32; do
      $SVAE lm bench --config $config --context 256 1024 --threads 2 --weights $weights --tokens 16 --runs 3 --prefill 16 --json \
        > "$OUT/$config-$weights-round$round.json" 2> "$OUT/$config-$weights-round$round.log"
    done
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
runs = {}
for p in sorted(glob.glob(os.path.join(out, "opt-*-round*.json"))):
    config, weights, rnd = os.path.basename(p)[:-5].rsplit("-", 2)
    runs[(config, weights, rnd)] = json.load(open(p))
lines = ["| shape | context | fp32 ms | bf16 ms | int8 ms | int8 ÷ bf16 | int8 ÷ its bound |", "|---|---|---|---|---|---|---|"]
for config in ("opt-125m", "opt-1.3b"):
    for ctx in ("256", "1024"):
        for rnd in ("round1", "round2"):
            get = lambda w, k="decode_ms_per_token": runs[(config, w, rnd)][k][ctx]
            lines.append(f"| {config} ({rnd}) | {ctx} | {get('fp32'):.1f} | {get('bf16'):.1f} | {get('int8'):.1f} | {get('int8') / get('bf16'):.2f}x | {get('int8', 'decode_vs_bound'):.2f}x |")
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
