"""Logits of a token model on a batch of id lists of different lengths (right-padded), for the parity tests:
python3 -m svae_twin.logits --model DIR --ids IDS.json --out LOGITS.bin  →  float32 little-endian (B, T, V)."""
import argparse
import json

import torch

from .opt import OptForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    model = OptForCausalLM.load(a.model).eval()
    with open(a.ids) as f:
        rows = json.load(f)
    t = max(len(r) for r in rows)
    pad = model.config.pad_token_id
    ids = torch.tensor([r + [pad] * (t - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (t - len(r)) for r in rows])
    with torch.no_grad():
        logits = model(ids, mask).float().contiguous()
    logits.numpy().astype("<f4").tofile(a.out)


if __name__ == "__main__":
    main()
