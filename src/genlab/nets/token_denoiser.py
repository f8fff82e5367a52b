"""The masked-diffusion denoiser for text: a bidirectional transformer over a window of
character ids, some replaced by the mask id, giving logits over the real characters at
every position. No timestep input: with an absorbing (masking) process the fraction of
masks already tells the net how noisy its input is, and MDLM (Sahoo et al. 2024) found
time conditioning unnecessary. Its default size is the AR text transformer's (3 layers of
64), so the AR-vs-diffusion comparison on text is at equal width and depth."""

import torch
from torch import Tensor, nn


class TokenDenoiser(nn.Module):
    """(n, T) ids in [0, vocab] (vocab = the mask) -> logits (n, T, vocab)."""

    def __init__(
        self,
        data_shape: tuple[int, ...],
        vocab: int,
        d_model: int = 64,
        n_layers: int = 3,
        n_heads: int = 4,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(data_shape) != 1:
            raise ValueError(f"the token denoiser models character windows (T,), not data shape {list(data_shape)}")
        if d_model % n_heads:
            raise ValueError(f"model.net.d_model={d_model} must be divisible by model.net.n_heads={n_heads}")
        self.tok_emb = nn.Embedding(vocab + 1, d_model)
        self.pos = nn.Parameter(torch.randn(data_shape[0], d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, 4 * d_model, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, vocab))

    def forward(self, ids: Tensor) -> Tensor:
        return self.head(self.blocks(self.tok_emb(ids) + self.pos))
