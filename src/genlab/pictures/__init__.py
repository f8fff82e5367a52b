"""Pictures for non-image samples (scatters of vectors), rendered as (3, H, W) tensors."""
