"""genlab: five generative model families under one Lightning + Hydra config tree."""

__version__ = "0.1.0"
