"""Which network each family gets on each modality, and how a config swaps it.

A family names a *role* (e.g. "vae.encoder") and the inputs every network in that role
takes (shapes, sizes); this module picks the class. A role's net is, by its config value:

- null: the default for the data's modality, built with the family's own width options
  where it takes them (the image nets: `hidden`, `num_scales`...), else its own defaults;
- a name: one of the role's named nets (`model.net=pixelcnn`);
- a dict without `_target_`: the default, with these keyword arguments changed
  (`+model.net.hidden=256`);
- a dict with `_target_`: any class or function, called with the role's inputs as keyword
  arguments plus the dict's other entries: a researcher's own network.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import hydra
from torch import nn

from genlab.nets.conv import ConvDecoder, ConvEncoder
from genlab.nets.couplings import CouplingFlow
from genlab.nets.glow import Glow
from genlab.nets.mlp import MADE, TimeMLP, VectorCritic, VectorDecoder, VectorEncoder
from genlab.nets.pixelcnn import raster_pixelcnn
from genlab.nets.recurrent import RecurrentAR
from genlab.nets.stepwise import sequence_recurrent, sequence_transformer
from genlab.nets.temporal import TemporalDecoder, TemporalDenoiser, TemporalEncoder, temporal_critic
from genlab.nets.token_denoiser import TokenDenoiser
from genlab.nets.transformer import RasterTransformer, TextTransformer
from genlab.nets.unet import UNet
from genlab.utils.errors import ConfigError


def conv_decoder(in_features: int, data_shape: tuple[int, ...], params_per_dim: int, hidden: int) -> nn.Module:
    """(n, in_features) -> (n, params_per_dim * C, H, W), read by the family as (n, P, C, H, W)."""
    return ConvDecoder(in_features, data_shape, hidden, data_shape[0] * params_per_dim)


def conv_critic(data_shape: tuple[int, ...], hidden: int, spectral: bool, minibatch_std: bool) -> nn.Module:
    """No normalisation in a critic: WGAN-GP's per-sample gradient penalty forbids batch coupling
    through normalisation statistics (the minibatch-std channel adds one number per group of 4
    images, as ProGAN did with WGAN-GP)."""
    return ConvEncoder(data_shape, hidden, 1, False, spectral, partial(nn.LeakyReLU, 0.2), minibatch_std)


def unet(data_shape: tuple[int, ...], base_channels: int, num_res_blocks: int, dropout: float) -> nn.Module:
    return UNet(data_shape, base_channels, num_res_blocks, dropout)


@dataclass(frozen=True)
class Net:
    build: Callable[..., nn.Module]
    family_options: tuple[str, ...] = ()  # the family's own knobs this net takes
    fixed: dict[str, Any] = field(default_factory=dict)


TRANSFORMER_OPTIONS = ("d_model", "n_layers", "n_heads", "dropout")
# The causal transformer and the recurrent net in the form each modality needs: raster order
# over pixels, time steps over continuous values, characters over ids.
TRANSFORMER = {
    "image": Net(RasterTransformer, TRANSFORMER_OPTIONS),
    "sequence": Net(sequence_transformer, TRANSFORMER_OPTIONS),
    "vector": Net(sequence_transformer, TRANSFORMER_OPTIONS),
    "text": Net(TextTransformer, TRANSFORMER_OPTIONS),
}
# One value per recurrent step, as the tutorial (the stepwise form, one time step per recurrent
# step, is `stepwise_gru`: 3.5x faster on 5-channel sines but -1.85 nats/dim against -3.21).
GRU = {
    "sequence": Net(RecurrentAR, ("hidden", "n_layers")),
    "vector": Net(RecurrentAR, ("hidden", "n_layers")),
    "text": Net(RecurrentAR, ("hidden", "n_layers"), {"tokens": True}),
}
LSTM = {
    "sequence": Net(RecurrentAR, ("hidden", "n_layers"), {"cell": "lstm"}),
    "vector": Net(RecurrentAR, ("hidden", "n_layers"), {"cell": "lstm"}),
    "text": Net(RecurrentAR, ("hidden", "n_layers"), {"cell": "lstm", "tokens": True}),
}

DEFAULTS: dict[str, dict[str, Net]] = {
    "vae.encoder": {
        "image": Net(ConvEncoder, ("hidden",)),
        "vector": Net(VectorEncoder),
        "sequence": Net(TemporalEncoder, ("hidden",)),
    },
    "vae.decoder": {
        "image": Net(conv_decoder, ("hidden",)),
        "vector": Net(VectorDecoder),
        "sequence": Net(TemporalDecoder, ("hidden",)),
    },
    "gan.generator": {
        "image": Net(conv_decoder, ("hidden",)),
        "vector": Net(VectorDecoder),
        "sequence": Net(TemporalDecoder, ("hidden",)),
    },
    "gan.discriminator": {
        "image": Net(conv_critic, ("hidden", "spectral", "minibatch_std")),
        "vector": Net(VectorCritic, ("spectral",)),
        "sequence": Net(temporal_critic, ("hidden", "spectral")),
    },
    # Sequences: the tutorial's recurrent net with its two layers (ar_rnn.yaml), whatever
    # model.n_layers says for the image transformer: three layers took 6 minutes on sines.
    # The transformer over time steps reached -1.70 nats/dim there, the GRU -3.21.
    "ar.net": {
        "image": TRANSFORMER["image"],
        "vector": Net(MADE),
        "sequence": Net(RecurrentAR, ("hidden",), {"n_layers": 2}),
        "text": TRANSFORMER["text"],
    },
    "flow.transform": {
        "image": Net(Glow, ("num_scales", "steps_per_scale", "hidden", "coupling")),
        "vector": Net(CouplingFlow, ("coupling",)),
        # 120 values of TimeGAN's sines: conditioners wider than the 2-D toys' 64.
        "sequence": Net(CouplingFlow, ("coupling",), {"hidden": 256}),
    },
    "diffusion.net": {
        "image": Net(unet, ("base_channels", "num_res_blocks", "dropout")),
        "vector": Net(TimeMLP, ("dropout",)),
        "sequence": Net(TemporalDenoiser, ("dropout",)),
        "text": Net(TokenDenoiser, ("dropout",)),  # for masked (absorbing-state) diffusion
    },
}

# The GAN's settings that follow the modality (what `null` means in conf/model/gan.yaml).
# Images: the set that took Fashion-MNIST's recall from 0.08 to >= 0.35 in 10 CPU-minutes
# (README, "The GAN's defaults on images"): hinge loss, spectral norm and a minibatch-std
# channel in the critic, and narrower nets that buy ~2.5x the steps. Vectors and sequences keep
# the settings their studies measured.
GAN_SETTINGS = {
    "image": {"hidden": 32, "loss": "hinge", "spectral_norm": True, "minibatch_std": True},
    "other": {"hidden": 64, "loss": "non_saturating", "spectral_norm": False, "minibatch_std": False},
}


def gan_settings(modality: str) -> dict[str, Any]:
    return GAN_SETTINGS.get(modality, GAN_SETTINGS["other"])


def default_takes(role: str, modality: str, option: str) -> bool:
    """Whether the modality's default net for `role` takes the family option `option`."""
    net = DEFAULTS[role].get(modality)
    return net is not None and option in net.family_options


# A named net is one Net, or one per modality (the name then means that modality's form).
NAMED: dict[str, dict[str, Net | dict[str, Net]]] = {
    "ar.net": {
        "transformer": TRANSFORMER,
        "pixelcnn": Net(raster_pixelcnn, ("hidden", "n_layers", "kernel")),
        "made": DEFAULTS["ar.net"]["vector"],
        "gru": GRU,
        "lstm": LSTM,
        "stepwise_gru": Net(sequence_recurrent, ("hidden", "n_layers")),
    },
}


def build_net(
    role: str, spec: str | dict | None, modality: str, key: str, inputs: dict[str, Any], family_options: dict[str, Any]
) -> nn.Module:
    """The network for `role` (config key `model.<key>`) on `modality`; see the module docstring."""
    if isinstance(spec, dict) and "_target_" in spec:
        try:
            return hydra.utils.instantiate(dict(spec), **inputs)
        except Exception as err:  # an import error or a bad argument, in the user's own code
            cause = " ".join(str(err.__cause__ or err).split())  # one line, whatever the library wrote
            raise ConfigError(
                f"model.{key}._target_={spec['_target_']} could not be built with inputs {sorted(inputs)}: {cause}"
            ) from None
    if isinstance(spec, str):
        named = NAMED.get(role, {})
        if spec not in named:
            raise ConfigError(
                f"model.{key}={spec!r} is unknown; valid: {', '.join(named) or 'null'} or a dict with _target_"
            )
        net = named[spec]
        if isinstance(net, dict):
            if modality not in net:
                raise ConfigError(f"model.{key}={spec!r} has no form for {modality} data (it has: {', '.join(net)})")
            net = net[modality]
    else:
        defaults = DEFAULTS[role]
        if modality not in defaults:
            raise ConfigError(
                f"model.{key}: no default network for modality {modality!r} (have: {', '.join(defaults)}); "
                f"set model.{key}._target_"
            )
        net = defaults[modality]
    kwargs = {
        **inputs,
        **{k: family_options[k] for k in net.family_options},
        **net.fixed,
        **(spec if isinstance(spec, dict) else {}),
    }
    try:
        return net.build(**kwargs)
    except (TypeError, ValueError) as err:
        message = str(err)
        raise ConfigError(message if message.startswith("model.") else f"model.{key}: {message}") from None
