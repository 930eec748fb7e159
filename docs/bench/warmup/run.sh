#!/usr/bin/env bash
# Short and long lm bench runs agree once one-time work is out of the timed steps: --tokens 8 --runs 2 against
# --tokens 32 --runs 5 for fp32 and bf16, OPT-125M at a 256-token context, alternated twice. Run alone.
set -euo pipefail
SVAE=${SVAE:-"dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"}
OUT=docs/bench/warmup
for round in 1 2; do
  for weights in fp32 bf16; do
    for shape in "8 2" "32 5"; do
      set -- $shape
      $SVAE lm bench --config opt-125m --context 256 --threads 2 --weights $weights --tokens $1 --runs $2 --prefill 16 \
        > "$OUT/opt-125m-$weights-t$1-r$2-round$round.json" 2> "$OUT/opt-125m-$weights-t$1-r$2-round$round.log"
    done
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
rows = {}
for p in sorted(glob.glob(os.path.join(out, "opt-125m-*.json"))):
    name = os.path.basename(p)[len("opt-125m-"):-5]
    weights, t, r, round_ = name.split("-")
    j = json.load(open(p))
    rows.setdefault((weights, t, r), []).append((j["decode_ms_per_token"]["256"], j["warm_up_s"]["256"]))
lines = ["| weights | run | ms/token (round 1 / round 2) | one-time work s (round 1 / 2) |", "|---|---|---|---|"]
for (w, t, r), v in sorted(rows.items()):
    lines.append(f"| {w} | --tokens {t[1:]} --runs {r[1:]} | {' / '.join(f'{x[0]:.1f}' for x in v)} | {' / '.join(f'{x[1]:.1f}' for x in v)} |")
open(os.path.join(out, "table.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
