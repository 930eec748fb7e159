"""Trains a model directory (a token model or an end-to-end sentence-level LLM, by its config's model_type) on prepared
shards, one process or many under torchrun (DDP, gloo on CPU, nccl on GPU):
torchrun --nproc_per_node N -m svae_twin.train --init DIR --shards DIR --out DIR [--steps 100] [--batch-size 8] ...

Each step takes a global batch of windows (a seeded order), each rank the windows r, r+N, ...; DDP averages the
gradients, so N processes take the step one process takes on the whole batch. Token model: windows of --seq-len tokens
of the stream (BOS before each document), mean next-token cross-entropy. Sentence-level LLM: windows of at most
--window-pieces pieces of a document, the summed NLL of every predicted piece's tokens + EOS and of every stop decision
over the batch's scored tokens (SllmTrainingTask's "ce"); each rank scales its part by the ranks over the whole batch's
token count, so pieces of different lengths on different ranks still sum to the one-process loss. The output is a model
directory svae eval / generate / serve load unchanged (config.json, model.safetensors, the tokenizer's files), and
checkpoint.pt to resume from."""
import argparse
import contextlib
import json
import os
import shutil
import sys
import time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from . import shards, sllm
from .opt import OptForCausalLM
from .sllm import SentenceLlm


def token_windows(directory, split, bos, seq_len):
    """The split as one stream (BOS before each document), cut into windows of seq_len tokens."""
    stream = []
    for document in shards.documents(directory, split):
        stream.append(bos)
        for piece in document:
            stream.extend(int(t) for t in piece)
    n = len(stream) // seq_len
    if n == 0:
        raise ValueError(f"{directory}: fewer than {seq_len} tokens")
    return torch.tensor(stream[: n * seq_len]).view(n, seq_len)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--init", required=True, help="model directory to start from (its config, weights and tokenizer)")
    p.add_argument("--shards", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8, help="windows per step over all ranks")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step on each rank")
    p.add_argument("--seq-len", type=int, default=256, help="token model: tokens per window")
    p.add_argument("--window-pieces", type=int, default=None, help="sentence-level LLM: most pieces per window (default: its trained context)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--dropout", type=float, default=None, help="override the config's dropout (0: the same step on any number of ranks)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--float64", action="store_true", help="compute in float64 (parity tests: N ranks against one, free of float32 summation order)")
    a = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}") if torch.cuda.is_available() else torch.device("cpu")
    if a.batch_size % (world * a.grad_accum) != 0:
        raise SystemExit(f"--batch-size {a.batch_size} must split evenly over {world} ranks × {a.grad_accum} micro-batches")

    torch.manual_seed(a.seed)
    with open(os.path.join(a.init, "config.json")) as f:
        kind = json.load(f).get("model_type")
    if kind not in ("opt", "sentence_llm"):
        raise SystemExit(f"{a.init}: model_type {kind!r}; the twin trains \"opt\" and \"sentence_llm\" models")
    model = OptForCausalLM.load(a.init) if kind == "opt" else SentenceLlm.load(a.init)
    if a.dropout is not None:
        model.set_dropout(a.dropout)
    if kind == "opt":
        model.config.raw["trained_context"] = a.seq_len                     # what evaluation and generation keep inside
        data = token_windows(a.shards, a.split, model.config.raw.get("bos_token_id", 2), a.seq_len)
        batch_units = lambda chosen: len(chosen) * a.seq_len                 # tokens a global batch scores
        loss_of = lambda batch, scored: next_token_loss(ddp, data[batch].to(device)) * len(batch) * a.seq_len * world / scored
    else:
        pieces = a.window_pieces or model.config.context
        if pieces + (1 if model.config.use_start_vector else 0) > model.config.backbone.max_position_embeddings:
            raise SystemExit(f"--window-pieces {pieces} exceed the backbone's {model.config.backbone.max_position_embeddings} positions")
        model.config.raw["trained_context"] = pieces
        documents = [[[int(t) for t in piece] for piece in document] for document in shards.documents(a.shards, a.split)]
        data = sllm.windows(documents, pieces)
        if not data:
            raise SystemExit(f"{a.shards}: no pieces to train on")
        batch_units = lambda chosen: sllm.scored_tokens([data[i] for i in chosen], model.config.use_start_vector)
        loss_of = lambda batch, scored: sentence_loss(ddp, [data[i] for i in batch], device) * world / max(1, scored)
    model.to(device, dtype=torch.float64 if a.float64 else torch.float32).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), weight_decay=0.1)
    step = 0
    checkpoint = os.path.join(a.out, "checkpoint.pt")
    if a.resume and os.path.exists(checkpoint):
        state = torch.load(checkpoint, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
    ddp = DistributedDataParallel(model) if distributed else model

    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(a.seed))
    per_rank = a.batch_size // world
    micro = per_rank // a.grad_accum
    first, timed, clock, units = step, 0, None, 0
    while step < a.steps:
        start = step * a.batch_size
        chosen = order[torch.arange(start, start + a.batch_size) % len(data)].tolist()
        mine = chosen[rank::world]                                               # this rank's windows of the global batch
        units_now = batch_units(chosen)                                          # the whole batch's scored tokens, once a step
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for m in range(a.grad_accum):
            # DDP all-reduces at the last micro-batch's backward only; the others add to the local gradients.
            sync = ddp.no_sync() if distributed and m < a.grad_accum - 1 else contextlib.nullcontext()
            with sync:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    loss = loss_of(mine[m * micro:(m + 1) * micro], units_now)   # this micro-batch's share of the batch's loss
                loss.backward()
            total += loss.item()
        optimizer.step()
        step += 1
        if step == first + 1:
            clock = time.perf_counter()                                        # the first step (allocation, first calls) is not timed
        else:
            timed += 1
            units += units_now
        reported = torch.tensor([total], dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(reported)                                          # every rank's share: the batch's loss
        if rank == 0:
            print(json.dumps({"step": step, "loss": reported.item() / world}), flush=True)
    if rank == 0 and timed > 0:
        seconds = time.perf_counter() - clock
        print(json.dumps({"steps_timed": timed, "tokens_per_s": units / seconds, "ranks": world}), flush=True)
    if rank == 0:
        model.save(a.out)
        for name in os.listdir(a.init):
            if name not in ("config.json", "model.safetensors") and os.path.isfile(os.path.join(a.init, name)):
                shutil.copy(os.path.join(a.init, name), a.out)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step}, checkpoint)
    if distributed:
        dist.barrier()                                                         # rank 0 has written the directory
        # torch 1.13's gloo teardown can hang when ranks leave at different moments (seen in tests: one rank gone, the
        # other spinning on the closed socket in destroy_process_group); past the barrier there is nothing left to do.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def next_token_loss(model, batch):
    """Mean next-token cross-entropy of full windows, through the module's forward (DDP's, so its gradient hooks run)."""
    logits = model(batch, torch.ones_like(batch))[:, :-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))


def sentence_loss(model, windows, device):
    """Summed NLL (nats) of the windows' predicted tokens + EOS and stop decisions, through the module's forward."""
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    ids, mask, layout = sllm.window_batch(windows, inner.config.svae, device)
    scores = model(ids, mask, layout)
    return scores["token_nll"] + scores["stop_nll"]


if __name__ == "__main__":
    main()
