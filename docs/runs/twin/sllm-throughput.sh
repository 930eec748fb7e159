#!/usr/bin/env bash
# SLLM throughput: svae train vs the twin (1 and 2 gloo processes), one thread per process, run alone.
set -euo pipefail
cd "$(dirname "$0")/../../.."
SVAE="dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"
date -u
[ -f /tmp/tw/sllm-shards/train.json ] || $SVAE prepare --model models/sllm-256-e2e --data data/austen-train.txt --out /tmp/tw/sllm-shards
rm -rf /tmp/tw/svae-sllm
date -u
$SVAE train sllm --config configs/sllm-256-e2e.json --out /tmp/tw/svae-sllm --threads 1 --max-steps 21 --log-every 5 --eval-every 100000 --checkpoint-every 100000 2>&1 | grep -v "^$" | tail -8
date -u
cd python
export PYTHONPATH=$PWD OMP_NUM_THREADS=1
for n in 1 2; do
  rm -rf /tmp/tw/twin-sllm-$n
  /usr/bin/torchrun --standalone --nproc_per_node $n --redirects 2 --tee 2 -m svae_twin.train --init ../models/sllm-256-e2e --shards /tmp/tw/sllm-shards --out /tmp/tw/twin-sllm-$n --steps 6 --batch-size 4 --window-pieces 64 --lr 1e-3 2>&1 | grep -v -i warn | tail -3
  date -u
done
