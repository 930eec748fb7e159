#!/usr/bin/env python3
"""A stream's longest gap between events while embedding jobs run beside it (loopback only).

Starts nothing itself: run `svae serve --model models/sllm-256-e2e --model models/lm-256 --port PORT` first.
Streams a greedy lm-256 completion; after its first events, sends the embeddings that used to stall every
stream (one input of 60,000 x U+0301, and a normal input of ~46k tokens) and reports the gaps.
"""
import http.client, json, sys, threading, time

port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
def post(path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    return c, c.getresponse()

def stream(times, done):
    c, r = post("/v1/completions", {"model": "lm-256", "prompt": "Emma", "max_tokens": 1000, "temperature": 0, "stream": True})
    for line in r:
        if line.startswith(b"data: "):
            times.append(time.monotonic())
    done.set()

def embed(label, text, results):
    t = time.monotonic()
    c, r = post("/v1/embeddings", {"model": "sllm-256-e2e", "input": text})
    r.read()
    results.append((label, r.status, time.monotonic() - t))

def gaps(times, a, b):
    inside = [t for t in times if a <= t <= b]
    return max((y - x for x, y in zip(inside, inside[1:])), default=0.0)

prose = open("data/austen-train.txt", encoding="utf-8").read()[:230_000]     # about 46k tokens
for label, text in [("60,000 x U+0301", "a" + "\u0301" * 60_000), ("46k-token prose", prose)]:
    times, done, results = [], threading.Event(), []
    s = threading.Thread(target=stream, args=(times, done)); s.start()
    while len(times) < 20: time.sleep(0.01)
    start = time.monotonic()
    embed(label, text, results)
    end = time.monotonic()
    done.wait()
    before = [y - x for x, y in zip(times[:20], times[1:20])]
    print(json.dumps({"embedding": label, "status": results[0][1], "embedding_s": round(results[0][2], 3),
                      "longest_gap_during_ms": round(gaps(times, start, end) * 1e3, 1),
                      "median_gap_before_ms": round(sorted(before)[len(before) // 2] * 1e3, 1), "events": len(times)}))
