"""Logits of a model directory on a batch, for the parity tests; writes float32 little-endian.
Token model:          python3 -m svae_twin.logits --model DIR --ids IDS.json --out LOGITS.bin
                      IDS.json: [[ids...], ...] of different lengths (right-padded here) -> (B, T, V)
Sentence-level model: python3 -m svae_twin.logits --model DIR --batch BATCH.json --out LOGITS.bin
                      BATCH.json: {"piece_ids": (B, S, T), "piece_mask": (B, S, T), "layout": [[pieces, starts, ends,
                      first_target], ...]} -> token logits (N_tok, V) in plan order, then stop logits (N_stop, 2);
                      the NLLs and counts are printed as JSON."""
import argparse
import json

import torch

from .opt import OptForCausalLM
from .sllm import SentenceLlm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--ids")
    p.add_argument("--batch")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if (a.ids is None) == (a.batch is None):
        raise SystemExit("give --ids (a token model) or --batch (a sentence-level model)")
    with torch.no_grad():
        if a.ids is not None:
            model = OptForCausalLM.load(a.model).eval()
            with open(a.ids) as f:
                rows = json.load(f)
            t = max(len(r) for r in rows)
            pad = model.config.pad_token_id
            ids = torch.tensor([r + [pad] * (t - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (t - len(r)) for r in rows])
            logits = model(ids, mask).float().contiguous()
        else:
            model = SentenceLlm.load(a.model).eval()
            with open(a.batch) as f:
                b = json.load(f)
            scores = model(torch.tensor(b["piece_ids"]), torch.tensor(b["piece_mask"]), [tuple(row) for row in b["layout"]])
            logits = torch.cat([scores["token_logits"].flatten(), scores["stop_logits"].flatten()]).float().contiguous()
            print(json.dumps({"token_nll": scores["token_nll"].item(), "stop_nll": scores["stop_nll"].item(),
                              "tokens": scores["tokens"], "stops": scores["stops"]}))
    logits.numpy().astype("<f4").tofile(a.out)


if __name__ == "__main__":
    main()
