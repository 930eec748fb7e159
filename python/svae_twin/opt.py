"""OPT token model, as src/SentenceVae/Modules/Opt*.cs: the same config.json, the same safetensors keys, the same
forward pass (learned positions offset by 2 from the attention mask, causal + padding additive mask, pre- or
post-norm blocks, optional 512-wide embeddings projected in and out, head tied to the token embedding)."""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors_io

POSITION_OFFSET = 2


class OptConfig:
    """config.json's fields, named as the file names them."""

    def __init__(self, d):
        self.vocab_size = d["vocab_size"]
        self.hidden_size = d["hidden_size"]
        self.num_hidden_layers = d["num_hidden_layers"]
        self.ffn_dim = d["ffn_dim"]
        self.num_attention_heads = d["num_attention_heads"]
        self.max_position_embeddings = d["max_position_embeddings"]
        self.do_layer_norm_before = d.get("do_layer_norm_before", True)
        self.word_embed_proj_dim = d.get("word_embed_proj_dim") or self.hidden_size
        self.enable_bias = d.get("enable_bias", True)
        self.layer_norm_elementwise_affine = d.get("layer_norm_elementwise_affine", True)
        self.remove_final_layer_norm = d.get("_remove_final_layer_norm", False)
        self.dropout = d.get("dropout", 0.1)
        self.pad_token_id = d.get("pad_token_id", 1)
        self.raw = d

    @property
    def has_final_layer_norm(self):
        return self.do_layer_norm_before and not self.remove_final_layer_norm


class OptAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.head_dim = c.num_attention_heads, c.hidden_size // c.num_attention_heads
        self.q_proj = nn.Linear(c.hidden_size, c.hidden_size, bias=c.enable_bias)
        self.k_proj = nn.Linear(c.hidden_size, c.hidden_size, bias=c.enable_bias)
        self.v_proj = nn.Linear(c.hidden_size, c.hidden_size, bias=c.enable_bias)
        self.out_proj = nn.Linear(c.hidden_size, c.hidden_size, bias=c.enable_bias)

    def forward(self, x, mask):
        b, t, c = x.shape
        split = lambda y: y.view(b, t, self.heads, self.head_dim).transpose(1, 2)              # (B, nh, T, hs)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + mask                    # (B, nh, T, T)
        y = F.softmax(scores, dim=-1) @ v                                                      # (B, nh, T, hs)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))                              # (B, T, C)


class OptDecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.pre_norm = c.do_layer_norm_before
        self.self_attn = OptAttention(c)
        self.self_attn_layer_norm = nn.LayerNorm(c.hidden_size, elementwise_affine=c.layer_norm_elementwise_affine)
        self.fc1 = nn.Linear(c.hidden_size, c.ffn_dim, bias=c.enable_bias)
        self.fc2 = nn.Linear(c.ffn_dim, c.hidden_size, bias=c.enable_bias)
        self.final_layer_norm = nn.LayerNorm(c.hidden_size, elementwise_affine=c.layer_norm_elementwise_affine)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x, mask):
        h = self.self_attn_layer_norm(x) if self.pre_norm else x
        x = x + self.dropout(self.self_attn(h, mask))
        if not self.pre_norm:
            x = self.self_attn_layer_norm(x)
        h = self.final_layer_norm(x) if self.pre_norm else x
        x = x + self.dropout(self.fc2(F.relu(self.fc1(h))))
        if not self.pre_norm:
            x = self.final_layer_norm(x)
        return x                                                                               # (B, T, C)


class OptDecoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.word_embed_proj_dim, padding_idx=c.pad_token_id)
        self.embed_positions = nn.Embedding(c.max_position_embeddings + POSITION_OFFSET, c.hidden_size)
        if c.word_embed_proj_dim != c.hidden_size:
            self.project_in = nn.Linear(c.word_embed_proj_dim, c.hidden_size, bias=False)
            self.project_out = nn.Linear(c.hidden_size, c.word_embed_proj_dim, bias=False)
        else:
            self.project_in = self.project_out = None
        self.final_layer_norm = nn.LayerNorm(c.hidden_size, elementwise_affine=c.layer_norm_elementwise_affine) if c.has_final_layer_norm else None
        self.layers = nn.ModuleList([OptDecoderLayer(c) for _ in range(c.num_hidden_layers)])
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, ids, attention_mask):
        x = self.embed_tokens(ids)                                                             # (B, T, E)
        if self.project_in is not None:
            x = self.project_in(x)
        x = run_layers(self.embed_positions, self.layers, self.dropout, x, attention_mask)   # (B, T, C)
        if self.final_layer_norm is not None:
            x = self.final_layer_norm(x)
        return x if self.project_out is None else self.project_out(x)                          # (B, T, E)


def causal_padding_mask(attention_mask, dtype):
    """Additive mask (B, 1, T, T): query i sees key j when j <= i and key j is real; elsewhere the dtype's most
    negative value (AttentionMasks.CausalPadding)."""
    t = attention_mask.shape[1]
    causal = torch.ones(t, t, dtype=torch.bool, device=attention_mask.device).tril()
    allowed = causal[None, None] & attention_mask.bool()[:, None, None, :]                    # (B, 1, T, T)
    return torch.zeros(allowed.shape, dtype=dtype, device=attention_mask.device).masked_fill(~allowed, torch.finfo(dtype).min)


def run_layers(positions, layers, dropout, embeds, attention_mask):
    """OptLayers.Run: inputs (B, T, C) + learned positions from the mask's cumulative sum (offset 2), dropout, every
    layer under the causal + padding mask; no final norm. Shared by the token model and the sentence-level backbone."""
    mask = attention_mask.long()
    rows = (mask.cumsum(1) * mask - 1) + POSITION_OFFSET                                       # (B, T)
    x = dropout(embeds + positions(rows))                                                      # (B, T, C)
    additive = causal_padding_mask(mask, x.dtype)                                              # (B, 1, T, T)
    for layer in layers:
        x = layer(x, additive)
    return x                                                                                   # (B, T, C)


class _Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.decoder = OptDecoder(c)


class OptForCausalLM(nn.Module):
    """Keys as the checkpoint's: model.decoder.*; lm_head tied to model.decoder.embed_tokens (not saved)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = _Model(config)

    def set_dropout(self, p):
        """Every dropout (and the config's), e.g. 0 so N ranks take one process's step."""
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
        self.config.raw["dropout"] = p

    def forward(self, ids, attention_mask):
        hidden = self.model.decoder(ids, attention_mask)
        return hidden @ self.model.decoder.embed_tokens.weight.t()                             # (B, T, V)

    @torch.no_grad()
    def generate(self, ids, max_new_tokens):
        """Greedy continuation of one prompt's ids (TokenEngine at temperature 0): the argmax until EOS (not included)
        or max_new_tokens tokens, inside the trained context (longer prompts are not supported here)."""
        raw, out = self.config.raw, []
        eos = raw.get("eos_token_id", 2)
        context = min(raw.get("trained_context") or self.config.max_position_embeddings, self.config.max_position_embeddings)
        if len(ids) + max_new_tokens > context:
            raise ValueError(f"prompt + {max_new_tokens} tokens exceed the trained context {context}")
        device = self.model.decoder.embed_tokens.weight.device
        while len(out) < max_new_tokens:
            x = torch.tensor([list(ids) + out], device=device)
            token = self(x, torch.ones_like(x))[0, -1].argmax().item()
            if token == eos:
                break
            out.append(token)
        return out

    @staticmethod
    def load(directory):
        with open(os.path.join(directory, "config.json")) as f:
            config = OptConfig(json.load(f))
        model = OptForCausalLM(config)
        state = safetensors_io.load(os.path.join(directory, "model.safetensors"))
        state.pop("lm_head.weight", None)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{directory}: missing {missing}, unexpected {unexpected}")
        return model

    def save(self, directory):
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(self.config.raw, f, indent=2)
        safetensors_io.save(dict(self.state_dict()), os.path.join(directory, "model.safetensors"))
