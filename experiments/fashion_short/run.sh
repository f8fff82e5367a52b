#!/usr/bin/env bash
# Each family for 10 minutes of CPU training on Fashion-MNIST, then tested on the 10k test split.
# Usage: experiments/fashion_short/run.sh [family ...]   (default: all five)
set -euo pipefail
cd "$(dirname "$0")/../.."
families=("${@:-vae flow ar gan diffusion}")
declare -A extra=(
  [vae]="model.iwae_k=16"
  [flow]=""
  [ar]=""
  [gan]=""
  [diffusion]="model.vlb_timesteps=4"
)
for family in ${families[@]}; do
  .venv/bin/genlab-train experiment=fashion_short model="$family" ${extra[$family]} tags="[fashion_short,$family]"
done
