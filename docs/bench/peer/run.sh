#!/usr/bin/env bash
# Our decode steps beside llama.cpp's (LLamaSharp 0.30.0, CPU backend) in one process, alternated round by round:
# GPT-2-shaped GGUF files of random weights matching OPT-125M/350M/1.3B, contexts 256 and 1,024, batch 1 and 8,
# fp32 ↔ F32, bf16 ↔ BF16, int8 ↔ Q8_0. OPT-1.3B runs fp32 apart from bf16 and int8, and batch 8 at context 256
# only: every format of it at once, with its caches, does not fit in this machine's 24 GiB. Run alone: nothing else
# on the machine.
set -euo pipefail
dotnet build bench/SentenceVae.PeerBench -c Release -v quiet -nologo
BENCH="dotnet bench/SentenceVae.PeerBench/bin/Release/net10.0/svae-peer-bench.dll"
OUT=docs/bench/peer
$BENCH --sizes 125m 350m --contexts 256 1024 --batches 1 8 --tokens 16 --runs 5 --json $OUT/small.json --markdown $OUT/small.md 2> $OUT/small.log
$BENCH --sizes 1.3b --contexts 256 1024 --batches 1 --weights bf16 int8 --tokens 16 --runs 5 --json $OUT/1.3b-b1.json --markdown $OUT/1.3b-b1.md 2> $OUT/1.3b-b1.log
$BENCH --sizes 1.3b --contexts 256 --batches 8 --weights bf16 int8 --tokens 16 --runs 5 --json $OUT/1.3b-b8.json --markdown $OUT/1.3b-b8.md 2> $OUT/1.3b-b8.log
$BENCH --sizes 1.3b --contexts 256 1024 --batches 1 --weights fp32 --tokens 16 --runs 5 --json $OUT/1.3b-fp32-b1.json --markdown $OUT/1.3b-fp32-b1.md 2> $OUT/1.3b-fp32-b1.log
$BENCH --sizes 1.3b --contexts 256 --batches 8 --weights fp32 --tokens 16 --runs 5 --json $OUT/1.3b-fp32-b8.json --markdown $OUT/1.3b-fp32-b8.md 2> $OUT/1.3b-fp32-b8.log
