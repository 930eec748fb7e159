"""Greedy continuation (the .NET engines at temperature 0), for the parity tests; prints JSON, one list per prompt.
Token model:          python3 -m svae_twin.generate --model DIR --prompts PROMPTS.json --max-new-tokens N
                      PROMPTS.json: [[ids (BOS first)], ...] -> the generated ids of each prompt (EOS not included)
Sentence-level model: python3 -m svae_twin.generate --model DIR --prompts PROMPTS.json --max-pieces N
                      PROMPTS.json: [[piece ids, ...], ...] one list of pieces per prompt -> the generated pieces' ids"""
import argparse
import json

from .opt import OptForCausalLM
from .sllm import SentenceLlm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--max-pieces", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=32)
    a = p.parse_args()
    with open(a.model + "/config.json") as f:
        kind = json.load(f).get("model_type")
    with open(a.prompts) as f:
        prompts = json.load(f)
    if kind == "sentence_llm":
        model = SentenceLlm.load(a.model).eval()
        print(json.dumps([model.generate(pieces, a.max_pieces) for pieces in prompts]))
    else:
        model = OptForCausalLM.load(a.model).eval()
        print(json.dumps([model.generate(ids, a.max_new_tokens) for ids in prompts]))


if __name__ == "__main__":
    main()
