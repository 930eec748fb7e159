#!/usr/bin/env bash
# Scores every model of the conversion comparison at its trained context on austen-valid (in domain) and
# Moby-Dick ch. 1-18, two evaluations at a time (one thread each), into docs/runs/convert/evals/.
set -euo pipefail
SVAE=${SVAE:-"dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"}
RUNS=${RUNS:-runs/convert}
OUT=docs/runs/convert/evals
mkdir -p "$OUT"
jobs=()
for run in "$@"; do
  dir="$RUNS/$run/best"; [ -d "$dir" ] || { echo "no $dir" >&2; exit 1; }
  kind=$(python3 -c 'import json,sys; print("sllm" if json.load(open(sys.argv[1]))["model_type"]=="sentence_llm" else "lm")' "$dir/config.json")
  for text in austen-valid mobydick-ch01-18; do
    [ -s "$OUT/$run.$text.json" ] || jobs+=("$kind $dir data/$text.txt $OUT/$run.$text.json")
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 sh -c 'OMP_NUM_THREADS=1 '"$SVAE"' eval "$0" --model "$1" --data "$2" --json > "$3.tmp" && mv "$3.tmp" "$3"'
