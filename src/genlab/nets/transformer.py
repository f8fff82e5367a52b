"""A decoder-only causal transformer with a key/value cache (nanoGPT-style, pre-norm).

`forward` scores a whole sequence at once (training); `step` appends one token
and attends over the cached keys and values, so generating a sequence of
length T costs T single-token passes rather than T full passes.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlab.nets.raster import image_to_sequence, raster_order, sequence_to_image


class KVCache:
    """Per-layer key/value buffers (n, heads, max_len, head_dim) and how much is filled."""

    def __init__(self, num_layers: int) -> None:
        self.keys: list[Tensor | None] = [None] * num_layers
        self.values: list[Tensor | None] = [None] * num_layers
        self.length = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"model.d_model={d_model} must be divisible by model.n_heads={n_heads}")
        self.n_heads, self.max_len = n_heads, max_len
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        shape = (n, t, self.n_heads, d // self.n_heads)
        return (a.view(shape).transpose(1, 2) for a in (q, k, v))

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self._split(x)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(out.transpose(1, 2).reshape(x.shape))

    def step(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        """x: (n, 1, d), the newest token; its key/value join the cache."""
        q, k, v = self._split(x)
        if cache.keys[layer] is None:
            n, h, _, hd = k.shape
            cache.keys[layer] = k.new_zeros(n, h, self.max_len, hd)
            cache.values[layer] = v.new_zeros(n, h, self.max_len, hd)
        pos = cache.length
        cache.keys[layer][:, :, pos] = k[:, :, 0]
        cache.values[layer][:, :, pos] = v[:, :, 0]
        keys, values = cache.keys[layer][:, :, : pos + 1], cache.values[layer][:, :, : pos + 1]
        out = F.scaled_dot_product_attention(q, keys, values)  # one query sees the whole prefix
        return self.proj(out.transpose(1, 2).reshape(x.shape))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, max_len: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, max_len)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))

    def step(self, x: Tensor, cache: KVCache, layer: int) -> Tensor:
        x = x + self.attn.step(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class CausalTransformer(nn.Module):
    """Tokens (n, T) in [0, vocab) -> logits (n, T, vocab) for the *next* token at each position;
    or, with `vocab=None`, continuous vectors (n, T, in_features) -> `out_features` per position
    (each vector enters through a linear map, and a learned vector stands before the first).

    `grid` is the (rows, columns, channels) layout the sequence was flattened from (raster
    order, channels innermost). A position is embedded as row + column + channel vectors rather
    than one free vector per position: every image then trains all 28 row and 28 column vectors
    of a 28x28 image, where a free table learns each of its 784 vectors from one position only
    and, early in training, leaves the model unaware of where a row starts or what lies above.
    """

    def __init__(
        self,
        vocab: int | None,
        grid: tuple[int, int, int],
        d_model: int,
        n_layers: int,
        n_heads: int,
        dropout: float = 0.0,
        out_features: int | None = None,
        in_features: int = 1,
    ) -> None:
        super().__init__()
        rows, cols, channels = grid
        max_len = rows * cols * channels
        if vocab is None:
            self.value_emb = nn.Linear(in_features, d_model)
            self.start = nn.Parameter(torch.zeros(d_model))
        else:
            self.start_token = vocab  # an extra embedding row: the token before the first
            self.tok_emb = nn.Embedding(vocab + 1, d_model)
        self.continuous = vocab is None
        self.row_emb, self.col_emb, self.ch_emb = (nn.Embedding(k, d_model) for k in (rows, cols, channels))
        for table in (self.row_emb, self.col_emb, self.ch_emb):
            nn.init.normal_(table.weight, std=0.02)
        position = torch.arange(max_len)
        self.register_buffer("row", position // (cols * channels), persistent=False)
        self.register_buffer("col", position // channels % cols, persistent=False)
        self.register_buffer("channel", position % channels, persistent=False)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, max_len, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, out_features or vocab)

    def embed(self, previous: Tensor | None, batch: int) -> Tensor:
        """(n, t, d) input embeddings of tokens (n, t) or vectors (n, t, in_features); None: the start."""
        if previous is None:
            if self.continuous:
                return self.start.expand(batch, 1, -1)
            previous = torch.full((batch, 1), self.start_token, device=self.row.device, dtype=torch.long)
        if self.continuous:
            return self.value_emb(previous.to(self.value_emb.weight.dtype))
        return self.tok_emb(previous)

    def position(self, start: int, stop: int) -> Tensor:
        """Embeddings (1, stop - start, d) of sequence positions start..stop-1."""
        span = slice(start, stop)
        return (self.row_emb(self.row[span]) + self.col_emb(self.col[span]) + self.ch_emb(self.channel[span]))[None]

    def forward(self, tokens: Tensor) -> Tensor:
        n, length = tokens.shape[:2]
        x = torch.cat([self.embed(None, n), self.embed(tokens[:, :-1], n)], 1) + self.position(0, length)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))

    def new_cache(self) -> KVCache:
        return KVCache(len(self.blocks))

    def step(self, previous: Tensor | None, cache: KVCache, batch: int) -> Tensor:
        """Logits (n, vocab) for position cache.length, given the token before it (None: start)."""
        x = self.embed(None if previous is None else previous[:, None], batch) + self.position(
            cache.length, cache.length + 1
        )
        for i, block in enumerate(self.blocks):
            x = block.step(x, cache, i)
        cache.length += 1
        return self.head(self.ln_f(x))[:, 0]


class RasterTransformer(CausalTransformer):
    """The autoregressive image net: tokens (n, C, H, W) -> logits (n, levels, C, H, W), causal in
    raster order (`order`); `step` (inherited) serves KV-cached sampling in that order."""

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        params_per_dim: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        dropout: float = 0.0,
    ) -> None:
        if len(data_shape) != 3:
            raise ValueError(f"the raster transformer models images (C, H, W), not data shape {list(data_shape)}")
        c, h, w = data_shape
        super().__init__(params_per_dim, (h, w, c), d_model, n_layers, n_heads, dropout)
        self.data_shape = tuple(data_shape)
        self.order = raster_order(self.data_shape)

    def forward(self, tokens: Tensor) -> Tensor:
        seq_logits = super().forward(image_to_sequence(tokens))  # (n, D, levels)
        return sequence_to_image(seq_logits, self.data_shape).permute(0, 4, 1, 2, 3)


class TextTransformer(CausalTransformer):
    """The autoregressive text net: character ids (n, T) -> logits (n, vocab, T), causal in
    reading order, one learned embedding per position; `step` serves KV-cached sampling."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        params_per_dim: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        dropout: float = 0.0,
    ) -> None:
        if len(data_shape) != 1:
            raise ValueError(f"the text transformer models character windows (T,), not data shape {list(data_shape)}")
        super().__init__(params_per_dim, (data_shape[0], 1, 1), d_model, n_layers, n_heads, dropout)
        self.order = torch.arange(data_shape[0])

    def forward(self, tokens: Tensor) -> Tensor:
        return super().forward(tokens).transpose(1, 2)
