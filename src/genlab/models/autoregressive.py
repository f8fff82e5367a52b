"""Autoregressive image model: one categorical over `levels` per sub-pixel, exact bits/dim.

Sub-pixels are ordered in raster order with colour channels interleaved
(r, c, ch). Two networks share the training and sampling code: a causal
transformer over the flattened sequence (with a start token and a KV cache
for sampling) and a gated PixelCNN over the image. Sampling goes one
sub-pixel at a time; the transformer's cached path costs one single-token
pass per sub-pixel, the uncached path one full pass (the PixelCNN always).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from genlab.metrics.bpd import nats_to_bpd
from genlab.models.base import GenerativeModel
from genlab.nets.pixelcnn import GatedPixelCNN
from genlab.nets.transformer import CausalTransformer
from genlab.utils.errors import ConfigError

NETS = ("transformer", "pixelcnn")


def image_to_sequence(tokens: Tensor) -> Tensor:
    """(n, C, H, W) -> (n, H*W*C), channels interleaved per pixel."""
    return tokens.permute(0, 2, 3, 1).reshape(tokens.shape[0], -1)


def sequence_to_image(seq: Tensor, shape: tuple[int, int, int]) -> Tensor:
    c, h, w = shape
    return seq.reshape(seq.shape[0], h, w, c, *seq.shape[2:]).permute(0, 3, 1, 2, *range(4, seq.ndim + 2))


def draw(logits: Tensor, temperature: float, top_k: int | None) -> Tensor:
    """One token per row from logits (n, V), with temperature and optional top-k."""
    logits = logits.float() / max(temperature, 1e-6)
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(F.softmax(logits, dim=-1), 1)[:, 0]


class Autoregressive(GenerativeModel):
    RUNTIME_SETTINGS = ("temperature", "top_k", "use_kv_cache")
    def __init__(
        self,
        data_shape: list[int],
        levels: int,
        net: str = "transformer",
        d_model: int = 128,
        n_layers: int = 4,
        n_heads: int = 4,
        dropout: float = 0.0,
        hidden: int = 64,
        kernel: int = 5,
        temperature: float = 1.0,
        top_k: int | None = None,
        use_kv_cache: bool = True,
        optimizer: dict | None = None,
        scheduler: dict | None = None,
    ) -> None:
        super().__init__(data_shape, levels, optimizer, scheduler)
        if net not in NETS:
            raise ConfigError(f"model.net={net!r} is unknown; valid: {', '.join(NETS)}")
        self.save_hyperparameters()
        self.net_name, self.temperature, self.top_k, self.use_kv_cache = net, temperature, top_k, use_kv_cache
        self.validate_settings()
        try:
            if net == "transformer":
                c, h, w = self.data_shape
                self.net = CausalTransformer(levels, (h, w, c), d_model, n_layers, n_heads, dropout)
            else:
                self.net = GatedPixelCNN(self.data_shape[0], levels, hidden, n_layers, kernel)
        except ValueError as err:
            raise ConfigError(str(err)) from None

    def validate_settings(self) -> None:
        if self.top_k is not None and not (isinstance(self.top_k, int) and 1 <= self.top_k <= self.levels):
            raise ConfigError(f"model.top_k={self.top_k!r} must be an integer in 1..{self.levels} or null")
        if not isinstance(self.temperature, (int, float)) or self.temperature <= 0:
            raise ConfigError(f"model.temperature={self.temperature!r} must be a number > 0")

    def to_tokens(self, x: Tensor) -> Tensor:
        return torch.round(x * (self.levels - 1)).long().clamp(0, self.levels - 1)

    def logits(self, tokens: Tensor) -> Tensor:
        """Teacher-forced logits (n, levels, C, H, W); position p sees only sub-pixels before p."""
        if self.net_name == "pixelcnn":
            return self.net(tokens)
        seq_logits = self.net(image_to_sequence(tokens))  # (n, D, levels)
        return sequence_to_image(seq_logits, self.data_shape).permute(0, 4, 1, 2, 3)

    def bits_per_dim(self, x: Tensor) -> Tensor:
        """Exact NLL of the discrete data: the categorical needs no dequantization offset."""
        tokens = self.to_tokens(x)
        nll = F.cross_entropy(self.logits(tokens).float(), tokens, reduction="none").flatten(1).sum(1)
        return nats_to_bpd(nll, self.num_dims)

    def loss(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.bits_per_dim(x).mean(), {}

    @torch.no_grad()
    def sample(self, num_samples: int, use_kv_cache: bool | None = None) -> Tensor:
        cached = self.use_kv_cache if use_kv_cache is None else use_kv_cache
        seq = torch.zeros(num_samples, self.num_dims, dtype=torch.long, device=self.device)
        if cached and self.net_name == "transformer":
            cache, previous = self.net.new_cache(), None
            for pos in range(self.num_dims):
                previous = draw(self.net.step(previous, cache, num_samples), self.temperature, self.top_k)
                seq[:, pos] = previous
        else:
            for pos in range(self.num_dims):
                image_logits = self.logits(sequence_to_image(seq, self.data_shape))
                logits_at = _logits_at(image_logits, pos, self.data_shape)
                seq[:, pos] = draw(logits_at, self.temperature, self.top_k)
        return sequence_to_image(seq, self.data_shape).float() / (self.levels - 1)


def _logits_at(image_logits: Tensor, pos: int, shape: tuple[int, int, int]) -> Tensor:
    """Logits (n, levels) of sequence position `pos` from image-layout logits (n, levels, C, H, W)."""
    c, _, w = shape
    ch, pixel = pos % c, pos // c
    return image_logits[:, :, ch, pixel // w, pixel % w]
