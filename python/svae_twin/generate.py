"""Greedy continuation of a sentence-level LLM, piece by piece (SentenceEngine at temperature 0), for the parity tests:
python3 -m svae_twin.generate --model DIR --prompts PROMPTS.json --max-pieces N
PROMPTS.json: [[piece ids, ...], ...] one list of pieces per prompt; prints the generated pieces' ids per prompt as JSON."""
import argparse
import json

from .sllm import SentenceLlm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--prompts", required=True)
    p.add_argument("--max-pieces", type=int, default=8)
    a = p.parse_args()
    model = SentenceLlm.load(a.model).eval()
    with open(a.prompts) as f:
        prompts = json.load(f)
    print(json.dumps([model.generate(pieces, a.max_pieces) for pieces in prompts]))


if __name__ == "__main__":
    main()
