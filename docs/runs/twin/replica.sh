#!/usr/bin/env bash
# What one `svae serve` replica holds: resident memory idle and at its peak under 16 concurrent streams, and its threads.
set -uo pipefail
cd "$(dirname "$0")/../../.."
SVAE="dotnet src/SentenceVae.Cli/bin/Release/net10.0/svae.dll"
prompt=$(head -c 300 data/austen-valid.txt | tr -d '"\\\n')
measure() {  # label, weights, models...
  local label=$1 weights=$2; shift 2
  local args=(); for m in "$@"; do args+=(--model "models/$m"); done
  $SVAE serve "${args[@]}" --port 18080 --weights $weights --log-level warning > /tmp/tw/serve.log 2>&1 &
  local pid=$!
  for i in $(seq 1 120); do curl -sf localhost:18080/v1/models > /dev/null && break; sleep 0.5; done
  sleep 2
  local idle=$(grep VmRSS /proc/$pid/status | awk '{print $2}') idleThreads=$(grep Threads /proc/$pid/status | awk '{print $2}')
  for c in $(seq 1 16); do
    for m in "$@"; do
      curl -sN localhost:18080/v1/completions -H 'Content-Type: application/json' \
        -d "{\"model\":\"$m\",\"prompt\":\"$prompt\",\"max_tokens\":64,\"stream\":true}" > /dev/null &
    done
  done
  local busyThreads=0
  for i in $(seq 1 10); do t=$(grep Threads /proc/$pid/status | awk '{print $2}'); [ "$t" -gt "$busyThreads" ] && busyThreads=$t; sleep 0.3; done
  wait $(jobs -p | grep -v "^$pid$") 2>/dev/null
  local peak=$(grep VmHWM /proc/$pid/status | awk '{print $2}') after=$(grep VmRSS /proc/$pid/status | awk '{print $2}')
  kill -TERM $pid; wait $pid 2>/dev/null
  printf "| %s | %s | %d | %d | %d | %d | %d |\n" "$label" "$weights" $((idle/1024)) $((peak/1024)) $((after/1024)) $idleThreads $busyThreads
}
echo "| models | weights | RSS idle (MiB) | peak RSS, 16 streams each (MiB) | RSS after (MiB) | threads idle | threads busy (max) |"
echo "|---|---|---|---|---|---|---|"
for w in libtorch bf16; do
  measure "lm-256" $w lm-256
  measure "sllm-256-e2e" $w sllm-256-e2e
  measure "both" $w lm-256 sllm-256-e2e
done
