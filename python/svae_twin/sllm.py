"""The end-to-end sentence-level LLM, as src/SentenceVae/Modules/SentenceLlm.cs and the SentenceVAE it holds: the same
config.json, the same safetensors keys (svae.*, llm_pe.*, llm_layers.N.*, final_layer_norm.*, to_memory.*, fc.*,
start_vector), the same teacher-forced scores (NextPiecePlan) and the same greedy generation step.

Pieces (BOS + tokens) -> Sentence Encoder -> one vector each [-> in_proj] (+ learned positions) -> OPT layers under a
causal mask [-> final_layer_norm] -> at each position the stop head fc and the Sentence Decoder's memory (the output
itself, or to_memory's k vectors [+ the encoder states of the piece before the one written]) -> the next piece."""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors_io
from .opt import OptConfig, OptDecoderLayer, POSITION_OFFSET, causal_padding_mask, run_layers

STOP, CONTINUE = 0, 1                                                                          # StopHead's two classes


class SentenceVaeConfig:
    """The "svae" block of config.json (SentenceVaeConfig.cs), with its defaults."""

    def __init__(self, d):
        self.hidden_size = d.get("hidden_size", 768)
        self.vocab_size = d.get("vocab_size", 50272)
        self.num_attention_heads = d.get("num_attention_heads", 12)
        self.num_hidden_layers = d.get("num_hidden_layers", 1)
        self.decoder_layers = d.get("decoder_layers") or self.num_hidden_layers
        self.learnable_add = d.get("learnable_add", False)
        self.embed_dim = d.get("word_embed_proj_dim") or self.hidden_size
        self.max_seq_len = d.get("max_seq_len", 64)
        self.ffn = d.get("ffn_dim") or 2 * self.hidden_size
        self.dropout = d.get("dropout", 0.1)
        self.tie_word_embeddings = d.get("tie_word_embeddings", False)
        self.scale_embeddings = d.get("scale_embeddings", True)
        self.bos_id, self.pad_id, self.eos_id = d.get("bos_id", 2), d.get("pad_id", 1), d.get("eos_id", 2)

    @property
    def embed_scale(self):
        return math.sqrt(self.hidden_size) if self.tie_word_embeddings and self.scale_embeddings else 1.0

    @property
    def tied_keys(self):
        return ["decoder.embed_token.weight", "decoder.linear.weight"] if self.tie_word_embeddings else []


class SentenceLlmConfig:
    """config.json of a sentence-level model (SentenceLlmConfig.cs)."""

    def __init__(self, d):
        if d.get("model_type") != "sentence_llm":
            raise ValueError(f"model_type {d.get('model_type')!r} is not a sentence-level LLM")
        self.svae = SentenceVaeConfig(d["svae"])
        self.backbone = OptConfig(d["backbone"])
        self.use_start_vector = d.get("use_start_vector", True)
        self.svae_path = d.get("svae_path")
        self.memory_vectors = d.get("memory_vectors", 1)
        self.read_previous_piece = d.get("read_previous_piece", False)
        self.trained_context = d.get("trained_context")
        self.vector_noise = d.get("vector_noise", 0.0)
        self.raw = d

    @property
    def projected(self):
        return self.memory_vectors != 1 or self.backbone.hidden_size != self.svae.hidden_size

    @property
    def context(self):
        """Pieces a window holds after the start vector: the trained context, else every position."""
        most = self.backbone.max_position_embeddings - 1
        return min(self.trained_context or most, most)


def sinusoidal(start, count, hidden, dtype, device):
    """SinusoidalPositions.Encode: (count, hidden), sin and cos interleaved, computed in float32."""
    position = torch.arange(start, start + count, dtype=torch.float32, device=device)[:, None]                 # (T, 1)
    rate = torch.exp(torch.arange(0, hidden, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / hidden))
    angles = position * rate                                                                                    # (T, H/2)
    return torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).reshape(count, hidden).to(dtype)       # (T, H)


def padding_mask(mask, dtype):
    """AttentionMasks.Padding: every query sees every real key, (B, 1, 1, S) additive."""
    allowed = mask.bool()[:, None, None, :]
    return torch.zeros(allowed.shape, dtype=dtype, device=mask.device).masked_fill(~allowed, torch.finfo(dtype).min)


class FusedMultiheadAttention(nn.Module):
    """nn.MultiheadAttention's layout (in_proj_weight (3C, C), in_proj_bias, out_proj), batch first (FusedMultiheadAttention.cs)."""

    def __init__(self, hidden, heads, dropout):
        super().__init__()
        self.hidden, self.heads, self.dropout = hidden, heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * hidden, hidden))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * hidden))
        self.out_proj = nn.Linear(hidden, hidden)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def _heads(self, x):
        return x.view(x.shape[0], x.shape[1], self.heads, self.hidden // self.heads).transpose(1, 2)          # (B, nh, T, hs)

    def _part(self, x, part):
        c = self.hidden
        return F.linear(x, self.in_proj_weight[part * c:(part + 1) * c], self.in_proj_bias[part * c:(part + 1) * c])

    def _attend(self, q, k, v, mask):
        b, t = q.shape[0], q.shape[2]
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores + mask
        y = F.dropout(F.softmax(scores, dim=-1), self.dropout, self.training) @ v                            # (B, nh, T, hs)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, self.hidden))                                    # (B, T, C)

    def self_attention(self, x, mask):
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, -1)
        return self._attend(self._heads(q), self._heads(k), self._heads(v), mask)

    def cross_attention(self, x, memory, memory_mask):
        return self._attend(self._heads(self._part(x, 0)), self._heads(self._part(memory, 1)), self._heads(self._part(memory, 2)), memory_mask)


class SentenceEncoderLayer(nn.Module):
    """Post-norm nn.TransformerEncoderLayer (ReLU)."""

    def __init__(self, c):
        super().__init__()
        self.self_attn = FusedMultiheadAttention(c.hidden_size, c.num_attention_heads, c.dropout)
        self.linear1, self.linear2 = nn.Linear(c.hidden_size, c.ffn), nn.Linear(c.ffn, c.hidden_size)
        self.norm1, self.norm2 = nn.LayerNorm(c.hidden_size), nn.LayerNorm(c.hidden_size)
        self.dropout, self.dropout1, self.dropout2 = nn.Dropout(c.dropout), nn.Dropout(c.dropout), nn.Dropout(c.dropout)

    def forward(self, x, mask):
        x = self.norm1(x + self.dropout1(self.self_attn.self_attention(x, mask)))
        return self.norm2(x + self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x))))))            # (B, T, C)


class SentenceDecoderLayer(nn.Module):
    """Post-norm nn.TransformerDecoderLayer (ReLU): causal self-attention, cross-attention to the memory, FFN."""

    def __init__(self, c):
        super().__init__()
        self.self_attn = FusedMultiheadAttention(c.hidden_size, c.num_attention_heads, c.dropout)
        self.multihead_attn = FusedMultiheadAttention(c.hidden_size, c.num_attention_heads, c.dropout)
        self.linear1, self.linear2 = nn.Linear(c.hidden_size, c.ffn), nn.Linear(c.ffn, c.hidden_size)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(c.hidden_size), nn.LayerNorm(c.hidden_size), nn.LayerNorm(c.hidden_size)
        self.dropout = nn.Dropout(c.dropout)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(c.dropout), nn.Dropout(c.dropout), nn.Dropout(c.dropout)

    def forward(self, x, mask, memory, memory_mask):
        x = self.norm1(x + self.dropout1(self.self_attn.self_attention(x, mask)))
        x = self.norm2(x + self.dropout2(self.multihead_attn.cross_attention(x, memory, memory_mask)))
        return self.norm3(x + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(x))))))            # (B, T, C)


class _Layers(nn.Module):
    """nn.TransformerEncoder/Decoder's "layers" key."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)


def _embed(module, ids, start):
    """Token embedding x scale [-> project_in] + sinusoidal positions from start: (B, T, C)."""
    x = module.embed_token(ids)
    if module.config.embed_scale != 1.0:
        x = x * module.config.embed_scale
    if module.project_in is not None:
        x = module.project_in(x)
    return x + sinusoidal(start, ids.shape[1], module.config.hidden_size, x.dtype, x.device)


class SentenceEncoder(nn.Module):
    """Tokens -> one vector: embed + positions -> post-norm layers -> padding zeroed -> sum [weighted by la] -> lnorm."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.embed_token = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.pad_id)
        self.project_in = nn.Linear(c.embed_dim, c.hidden_size, bias=False) if c.embed_dim != c.hidden_size else None
        self.encoder = _Layers([SentenceEncoderLayer(c) for _ in range(c.num_hidden_layers)])
        self.la = nn.Linear(c.hidden_size, 1) if c.learnable_add else None
        self.lnorm = nn.LayerNorm(c.hidden_size)

    def forward(self, ids, mask):
        """Vectors (B, 1, C) and the token states they are pooled from (B, T, C), padded positions 0."""
        x = _embed(self, ids, 0)                                                               # (B, T, C)
        additive = padding_mask(mask, x.dtype)                                                 # (B, 1, 1, T)
        for layer in self.encoder.layers:
            x = layer(x, additive)
        x = x * mask[..., None].to(x.dtype)
        pooled = x.sum(1, keepdim=True) if self.la is None else (x * self.la(x)).sum(1, keepdim=True)
        return self.lnorm(pooled), x                                                           # (B, 1, C), (B, T, C)


class SentenceDecoder(nn.Module):
    """Memory -> tokens: embed + positions -> post-norm layers (causal self-attention, cross-attention) -> linear."""

    def __init__(self, c):
        super().__init__()
        self.config = c
        self.embed_token = nn.Embedding(c.vocab_size, c.embed_dim, padding_idx=c.pad_id)
        self.project_in = nn.Linear(c.embed_dim, c.hidden_size, bias=False) if c.embed_dim != c.hidden_size else None
        self.decoder = _Layers([SentenceDecoderLayer(c) for _ in range(c.decoder_layers)])
        self.linear = nn.Linear(c.hidden_size, c.vocab_size)

    def hidden(self, ids, memory, mask, memory_mask=None):
        """Last layer's outputs (B, T, C) of BOS + tokens (B, T) reading memory (B, M, C) [under its (B, M) mask]."""
        x = _embed(self, ids, 0)                                                               # (B, T, C)
        additive = causal_padding_mask(mask, x.dtype)                                          # (B, 1, T, T)
        cross = None if memory_mask is None else padding_mask(memory_mask, x.dtype)            # (B, 1, 1, M)
        for layer in self.decoder.layers:
            x = layer(x, additive, memory, cross)
        return x


class SentenceVae(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.encoder = SentenceEncoder(c)
        self.decoder = SentenceDecoder(c)
        if c.tie_word_embeddings:
            self.tie()

    def tie(self):
        """One token matrix for both embeddings and the decoder's output layer (SentenceVaeModel.TieWeights's sharing)."""
        self.decoder.embed_token.weight = self.encoder.embed_token.weight
        self.decoder.linear.weight = self.encoder.embed_token.weight

    def target_ids(self, ids, mask):
        """(B, T+1): ids with a PAD column, EOS written at each row's length."""
        pad = torch.full((ids.shape[0], 1), self.config.pad_id, dtype=ids.dtype, device=ids.device)
        lengths = mask.long().sum(1, keepdim=True)
        return torch.cat([ids, pad], 1).scatter(1, lengths, torch.full_like(lengths, self.config.eos_id))


def plan(layout, start_vector):
    """NextPiecePlan.For: (row, position, piece) predictions and (row, position, target) stop decisions.
    layout: per row (pieces, starts_document, ends_document, first_target)."""
    def position(piece):
        return piece - 1 + (1 if start_vector else 0)
    predictions, stops = [], []
    for row, (n, starts, ends, first) in enumerate(layout):
        for piece in range(max(first, 0 if starts else 1), n):
            if position(piece) < 0:
                continue
            predictions.append((row, position(piece), piece))
            stops.append((row, position(piece), CONTINUE))
        if ends and position(n) >= 0:
            stops.append((row, position(n), STOP))
    return predictions, stops


class SentenceLlm(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        c, vector, hidden = config, config.svae.hidden_size, config.backbone.hidden_size
        self.svae = SentenceVae(c.svae)
        self.in_proj = nn.Linear(vector, hidden, bias=False) if vector != hidden else None
        self.llm_pe = nn.Embedding(c.backbone.max_position_embeddings + POSITION_OFFSET, hidden)
        self.llm_layers = nn.ModuleList([OptDecoderLayer(c.backbone) for _ in range(c.backbone.num_hidden_layers)])
        self.final_layer_norm = nn.LayerNorm(hidden) if c.projected else None
        self.to_memory = nn.Linear(hidden, c.memory_vectors * vector) if c.projected else None
        self.fc = nn.Linear(hidden, 2)
        self.start_vector = nn.Parameter(torch.zeros(1, 1, vector)) if c.use_start_vector else None
        self.dropout = nn.Dropout(c.backbone.dropout)

    def set_dropout(self, p):
        """Every dropout of both parts (and the config's), e.g. 0 so N ranks take one process's step."""
        for m in self.modules():
            if isinstance(m, nn.Dropout):
                m.p = p
            elif isinstance(m, FusedMultiheadAttention):
                m.dropout = p
        self.config.raw["svae"]["dropout"] = self.config.raw["backbone"]["dropout"] = p

    def backbone(self, vectors, mask):
        """Sentence vectors (B, S, C_vae) under (B, S) -> outputs (B, S, C_backbone), causal."""
        x = vectors if self.in_proj is None else self.in_proj(vectors)
        x = run_layers(self.llm_pe, self.llm_layers, self.dropout, x, mask)
        return x if self.final_layer_norm is None else self.final_layer_norm(x)

    def decoder_memory(self, hidden, previous_states=None, previous_mask=None):
        """From outputs (N, C_backbone): memory (N, M, C_vae) and its mask (N, M) (None: all real) — k vectors,
        then (read_previous_piece) the previous piece's encoder states under their mask (all 0 where none came before)."""
        n = hidden.shape[0]
        vectors = hidden[:, None] if self.to_memory is None else self.to_memory(hidden).view(n, self.config.memory_vectors, self.config.svae.hidden_size)
        if self.training and self.config.vector_noise > 0:
            vectors = vectors + torch.randn_like(vectors) * self.config.vector_noise
        if not self.config.read_previous_piece:
            return vectors, None
        mask = torch.cat([torch.ones(n, vectors.shape[1], dtype=torch.long, device=hidden.device), previous_mask.long()], 1)
        return torch.cat([vectors, previous_states], 1), mask                                 # (N, k+T, C), (N, k+T)

    def forward(self, piece_ids, piece_mask, layout):
        """Teacher-forced scores of windows. piece_ids/piece_mask (B, S, T): each piece BOS + tokens, PAD after (absent
        pieces all PAD, mask 0); layout per row (pieces, starts, ends, first_target). Returns summed NLLs (nats) of the
        predicted pieces' tokens + EOS and of the stop decisions, their counts, and the logits they come from: tokens
        (N_tok, V) in plan order (each prediction's tokens then EOS) and stops (N_stop, 2)."""
        b, s, t = piece_ids.shape
        flat_ids, flat_mask = piece_ids.reshape(b * s, t), piece_mask.reshape(b * s, t)
        encoder_mask = flat_mask.clone()
        encoder_mask[:, 0] = 1                                                                 # absent pieces: a lone BOS
        encoded, states = self.svae.encoder(flat_ids, encoder_mask)                            # (B·S, 1, C), (B·S, T, C)
        vectors = encoded.view(b, s, -1) * flat_mask[:, 0].to(encoded.dtype).view(b, s, 1)     # (B, S, C)
        start = self.config.use_start_vector
        sequence = torch.cat([self.start_vector.expand(b, 1, -1), vectors], 1) if start else vectors
        lengths = torch.tensor([n + (1 if start else 0) for n, *_ in layout], device=piece_ids.device)
        sequence_mask = (torch.arange(sequence.shape[1], device=piece_ids.device)[None] < lengths[:, None]).long()
        hidden = self.backbone(sequence, sequence_mask)                                        # (B, P, C_backbone)

        predictions, stops = plan(layout, start)
        index = lambda values: torch.tensor(values, dtype=torch.long, device=piece_ids.device)
        stop_logits = self.fc(hidden[index([r for r, _, _ in stops]), index([p for _, p, _ in stops])])       # (N_stop, 2)
        stop_targets = index([target for _, _, target in stops])
        stop_nll = -stop_logits.log_softmax(-1).gather(1, stop_targets[:, None]).sum()

        predictors = hidden[index([r for r, _, _ in predictions]), index([p for _, p, _ in predictions])]      # (N, C_backbone)
        target_flat = index([r * s + piece for r, _, piece in predictions])
        previous_states = previous_mask = None
        if self.config.read_previous_piece:
            previous_flat = index([r * s + max(0, piece - 1) for r, _, piece in predictions])
            has_previous = index([1 if piece >= 1 else 0 for _, _, piece in predictions])[:, None]
            previous_states = states[previous_flat]                                            # (N, T, C)
            previous_mask = flat_mask[previous_flat] * has_previous                            # (N, T)
        memory, memory_mask = self.decoder_memory(predictors, previous_states, previous_mask)
        target_ids, target_mask = flat_ids[target_flat], flat_mask[target_flat]                # (N, T)
        goals = self.svae.target_ids(target_ids, target_mask)[:, 1:t + 1]                      # (N, T)
        real = target_mask.bool()
        token_logits = self.svae.decoder.linear(self.svae.decoder.hidden(target_ids, memory, target_mask, memory_mask)[real])  # (N_tok, V)
        token_targets = goals[real]
        token_nll = -token_logits.log_softmax(-1).gather(1, token_targets[:, None]).sum()
        return {"token_nll": token_nll, "stop_nll": stop_nll, "tokens": int(token_targets.shape[0]), "stops": len(stops),
                "token_logits": token_logits, "stop_logits": stop_logits}

    @torch.no_grad()
    def generate(self, prompt_pieces, max_pieces):
        """Greedy continuation (SentenceEngine at temperature 0): the stop head's argmax, then the decoder writes the
        piece token by token (argmax) until EOS or max_seq_len - 1 tokens; the piece is encoded and the backbone steps.
        Returns the generated pieces as lists of token ids."""
        c = self.config.svae
        device = self.fc.weight.device
        pieces, written = [list(p) for p in prompt_pieces], []
        while len(written) < max_pieces:
            sequence = self.start_vector if self.config.use_start_vector else torch.zeros(1, 0, c.hidden_size, device=device)
            previous, previous_mask = torch.zeros(1, 1, c.hidden_size, device=device), torch.zeros(1, 1, dtype=torch.long, device=device)
            if pieces:
                ids, mask = batch(pieces, c, device)
                vectors, states = self.svae.encoder(ids, mask)                                  # (P, 1, C), (P, T, C)
                sequence = torch.cat([sequence, vectors.view(1, len(pieces), -1)], 1)
                previous, previous_mask = states[-1:], mask[-1:]
            hidden = self.backbone(sequence, torch.ones(1, sequence.shape[1], dtype=torch.long, device=device))[:, -1]   # (1, C)
            if self.fc(hidden).argmax(-1).item() == STOP:
                break
            memory, memory_mask = self.decoder_memory(hidden, previous, previous_mask)
            piece = []
            while len(piece) < c.max_seq_len - 1:
                tokens = torch.tensor([[c.bos_id] + piece], device=device)
                x = self.svae.decoder.hidden(tokens, memory, torch.ones_like(tokens), memory_mask)[:, -1]
                token = self.svae.decoder.linear(x).argmax(-1).item()
                if token == c.eos_id:
                    break
                piece.append(token)
            pieces.append(piece)
            written.append(piece)
        return written

    @staticmethod
    def load(directory):
        with open(os.path.join(directory, "config.json")) as f:
            config = SentenceLlmConfig(json.load(f))
        model = SentenceLlm(config)
        state = safetensors_io.load(os.path.join(directory, "model.safetensors"))
        if config.svae_path is not None:
            svae_directory = os.path.join(directory, config.svae_path)
            state.update({"svae." + k: v for k, v in safetensors_io.load(os.path.join(svae_directory, "model.safetensors")).items()})
        tied = {"svae." + k for k in config.svae.tied_keys}
        expected = {k for k in model.state_dict() if k not in tied}
        missing, unexpected = expected - state.keys(), state.keys() - expected
        if missing or unexpected:
            raise ValueError(f"{directory}: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
        model.load_state_dict(state, strict=False)
        return model

    def save(self, directory):
        """config.json (svae_path dropped: every weight is written) and model.safetensors without the tied aliases."""
        os.makedirs(directory, exist_ok=True)
        raw = dict(self.config.raw, svae_path=None)
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(raw, f, indent=2)
        tied = {"svae." + k for k in self.config.svae.tied_keys}
        safetensors_io.save({k: v for k, v in self.state_dict().items() if k not in tied}, os.path.join(directory, "model.safetensors"))


def windows(documents, pieces):
    """PieceWindows: each document's pieces cut into windows of at most `pieces`, with whether each starts / ends it."""
    out = []
    for document in documents:
        for start in range(0, len(document), pieces):
            end = min(len(document), start + pieces)
            out.append((document[start:end], start == 0, end == len(document)))
    return out


def window_batch(chosen, c, device):
    """SllmTrainingTask.Loss's batch: windows -> piece_ids, piece_mask (B, S, T) (absent pieces: mask 0) and the layout."""
    s = max(len(w[0]) for w in chosen)
    flat = [p for pieces, _, _ in chosen for p in list(pieces) + [[]] * (s - len(pieces))]
    ids, mask = batch(flat, c, device)
    present = torch.tensor([1 if i < len(pieces) else 0 for pieces, _, _ in chosen for i in range(s)], device=device)
    mask = mask * present[:, None]
    layout = [(len(pieces), starts, ends, 0) for pieces, starts, ends in chosen]
    return ids.view(len(chosen), s, -1), mask.view(len(chosen), s, -1), layout


def scored_tokens(chosen, start_vector):
    """How many tokens (each predicted piece's tokens + EOS) a batch of windows scores: the loss's denominator."""
    predictions, _ = plan([(len(pieces), starts, ends, 0) for pieces, starts, ends in chosen], start_vector)
    return sum(len(chosen[row][0][piece]) + 1 for row, _, piece in predictions)


def batch(pieces, c, device):
    """SentenceCodec.Batch: BOS + tokens, right-padded with PAD, and the mask, (N, T)."""
    longest = max(len(p) for p in pieces) + 1
    ids = [[c.bos_id] + list(p) + [c.pad_id] * (longest - 1 - len(p)) for p in pieces]
    mask = [[1] * (len(p) + 1) + [0] * (longest - 1 - len(p)) for p in pieces]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)
