#!/usr/bin/env bash
# Fine-tuning both shipped models on text they never saw (Genesis and Exodus, KJV, from Debian's bible-kjv-text)
# for 5 minutes each, side by side on one thread each; bits/byte on the held-back tenth before and after.
set -euo pipefail
SVAE=${SVAE:-"dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"}
OUT=docs/runs/finetune
TEXT=${TEXT:-runs/kjv-genesis-exodus.txt}
mkdir -p runs
[ -s "$TEXT" ] || "$OUT/make-kjv.sh" "$TEXT"
$SVAE finetune --model models/lm-256 --data "$TEXT" --out runs/ft-lm --minutes 5 --threads 1 > "$OUT/lm-256.log" 2>&1 &
$SVAE finetune --model models/sllm-256-e2e --data "$TEXT" --out runs/ft-sllm --minutes 5 --threads 1 > "$OUT/sllm-256-e2e.log" 2>&1 &
wait
for kind in lm sllm; do
  model=$([ $kind = lm ] && echo models/lm-256 || echo models/sllm-256-e2e)
  OMP_NUM_THREADS=1 $SVAE eval $kind --model $model --data runs/ft-$kind/data/valid.txt --json > "$OUT/$kind-before.json" &
  OMP_NUM_THREADS=1 $SVAE eval $kind --model runs/ft-$kind/best --data runs/ft-$kind/data/valid.txt --json > "$OUT/$kind-after.json" &
  wait
  cp runs/ft-$kind/metrics.csv "$OUT/$kind-metrics.csv"
done
