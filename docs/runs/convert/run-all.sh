#!/usr/bin/env bash
# The conversion comparison: each extra budget Δ trains the continued token model (a) and the converted
# sentence-level model (b) side by side, one thread each, so both see the same machine. Run from the repo root.
set -euo pipefail
SVAE=${SVAE:-"dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"}
OUT=${OUT:-runs/convert}
mkdir -p "$OUT/configs"

seeded() {   # seeded CONFIG SEED -> a copy of CONFIG with that seed
  local name; name=$(basename "$1" .json)
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["seed"]=int(sys.argv[2]); json.dump(c,open(sys.argv[3],"w"),indent=2)' "$1" "$2" "$OUT/configs/$name-s$2.json"
  echo "$OUT/configs/$name-s$2.json"
}
train() {    # train KIND CONFIG NAME MINUTES
  [ -f "$OUT/$3/best/config.json" ] && [ -f "$OUT/$3/done" ] && return 0
  local resume=""; [ -d "$OUT/$3/checkpoints" ] && resume="--resume"
  $SVAE train "$1" --config "$2" --out "$OUT/$3" --max-minutes "$4" --threads 1 $resume > "$OUT/$3.log" 2>&1 && touch "$OUT/$3/done"
}
pair() {     # pair KIND1 CONFIG1 NAME1 KIND2 CONFIG2 NAME2 MINUTES
  train "$1" "$2" "$3" "$7" & local a=$!
  train "$4" "$5" "$6" "$7" & local b=$!
  wait $a; wait $b
}
best() {     # best RUN -> its lowest validation bits/byte
  python3 -c 'import csv,sys; print(min(float(r["val_bits_per_byte"]) for r in csv.DictReader(open(sys.argv[1])) if r["val_bits_per_byte"]))' "$OUT/$1/metrics.csv"
}
better() {   # better RUN1 RUN2 -> the run with the lower validation bits/byte
  python3 -c 'import sys; print(sys.argv[1] if float(sys.argv[2]) <= float(sys.argv[4]) else sys.argv[3])' "$1" "$(best "$1")" "$2" "$(best "$2")"
}

C=configs/convert
# Which mapping, which continuation: chosen on validation at Δ = 7.5 min.
pair sllm "$(seeded $C/sllm-from-lm-256.json 1234)" sllm-all_layers-d7.5-s1234 sllm "$(seeded $C/sllm-from-lm-256-backbone.json 1234)" sllm-backbone-d7.5-s1234 7.5
pair lm "$(seeded $C/lm-256-continue.json 1234)" lm-lr3e-4-d7.5-s1234 lm "$(seeded $C/lm-256-continue-lr1e-3.json 1234)" lm-lr1e-3-d7.5-s1234 7.5
SLLM=$C/sllm-from-lm-256.json; [ "$(better sllm-all_layers-d7.5-s1234 sllm-backbone-d7.5-s1234)" = sllm-backbone-d7.5-s1234 ] && SLLM=$C/sllm-from-lm-256-backbone.json
LM=$C/lm-256-continue.json; [ "$(better lm-lr3e-4-d7.5-s1234 lm-lr1e-3-d7.5-s1234)" = lm-lr1e-3-d7.5-s1234 ] && LM=$C/lm-256-continue-lr1e-3.json
echo "chosen: $LM $SLLM" | tee "$OUT/chosen.txt"
for d in 15 29; do
  pair lm "$(seeded $LM 1234)" lm-d$d-s1234 sllm "$(seeded $SLLM 1234)" sllm-d$d-s1234 $d
done
pair lm "$(seeded $LM 4321)" lm-d29-s4321 sllm "$(seeded $SLLM 4321)" sllm-d29-s4321 29
echo all done | tee "$OUT/all-done"
