#!/usr/bin/env bash
# Longer context, measured: bits/byte of the token model and the converted sentence-level model at several
# context windows (never past the window each was trained at), on the first ~40k tokens of austen-valid,
# two evaluations at a time; KV bytes per row and text in view follow from the window (see table.py).
set -euo pipefail
SVAE=${SVAE:-"dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"}
RUNS=${RUNS:-runs/convert}
OUT=docs/runs/convert/context
mkdir -p "$OUT"
jobs=()
for c in 32 64 128 256; do jobs+=("lm $RUNS/lm-d29-s1234/best $c $OUT/lm-d29-s1234.c$c.json"); done
for c in 8 16 32 64; do jobs+=("sllm $RUNS/sllm-d29-s1234/best $c $OUT/sllm-d29-s1234.c$c.json"); done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 sh -c '[ -s "$3" ] || OMP_NUM_THREADS=1 '"$SVAE"' eval "$0" --model "$1" --data data/austen-valid.txt --limit 40000 --context "$2" --json > "$3.tmp" && mv "$3.tmp" "$3"'
