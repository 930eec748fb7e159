"""Bits per UTF-8 byte of documents, as the .NET evaluators score them, for the parity tests:
python3 -m svae_twin.evaluate --model DIR --documents DOCS.json
Token model (LmEvaluator.cs), DOCS.json {"ids": [[...], ...], "bytes": N}: each document BOS + ids + EOS, windows of the
trained context (stride half a window), every target scored once.
Sentence-level LLM (SllmEvaluator.cs), DOCS.json {"pieces": [[[...], ...], ...], "bytes": N}: each document's pieces in
windows of the trained context (stride half a window), each piece's tokens + EOS and every stop decision scored once."""
import argparse
import json
import math

import torch

from . import sllm
from .opt import OptForCausalLM


def bits_per_byte(model, documents, byte_count, bos, eos, window):
    stride = window // 2
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for body in documents:
            ids = [bos] + body + [eos]
            scored = 1                                                     # next target position to score
            begin = 0
            while scored < len(ids):
                end = min(begin + window, len(ids) - 1)                    # inputs ids[begin:end] predict ids[begin+1:end+1]
                x = torch.tensor([ids[begin:end]])
                log_probs = model(x, torch.ones_like(x)).log_softmax(-1)[0]    # (T, V)
                first = scored - (begin + 1)
                targets = torch.tensor(ids[scored:end + 1])
                nll -= log_probs[first:end - begin].gather(1, targets[:, None]).sum().item()
                tokens += len(targets)
                scored = end + 1
                begin += stride
    return nll / math.log(2) / max(1, byte_count), tokens


def sentence_bits_per_byte(model, documents, byte_count):
    window = model.config.context
    stride = max(1, window // 2)
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for pieces in documents:
            scored = 0                                                     # next piece to score
            begin = 0
            while True:
                end = min(begin + window, len(pieces))
                chosen = pieces[begin:end]
                ids, mask = sllm.batch(chosen or [[]], model.config.svae, torch.device("cpu"))
                if not chosen:
                    mask.zero_()
                scores = model(ids[None], mask[None], [(len(chosen), begin == 0, end == len(pieces), scored - begin)])
                nll += scores["token_nll"].item() + scores["stop_nll"].item()
                tokens += scores["tokens"]
                scored = end
                if end == len(pieces):
                    break
                begin += stride
    return nll / math.log(2) / max(1, byte_count), tokens, window


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--documents", required=True)
    a = p.parse_args()
    with open(a.documents) as f:
        d = json.load(f)
    if "pieces" in d:
        bpb, tokens, window = sentence_bits_per_byte(sllm.SentenceLlm.load(a.model).eval(), d["pieces"], d["bytes"])
        print(json.dumps({"bits_per_byte": bpb, "tokens": tokens, "context": window}))
        return
    model = OptForCausalLM.load(a.model).eval()
    raw = model.config.raw
    window = max(2, min(raw.get("trained_context") or raw["max_position_embeddings"], raw["max_position_embeddings"]))
    bpb, tokens = bits_per_byte(model, d["ids"], d["bytes"], raw["bos_token_id"], raw["eos_token_id"], window)
    print(json.dumps({"bits_per_byte": bpb, "tokens": tokens, "context": window}))


if __name__ == "__main__":
    main()
