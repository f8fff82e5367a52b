#!/usr/bin/env bash
# Five families x two precisions on digits (debug=limit_batches: a smoke-scale sweep), submitted
# through a real local SLURM cluster
# (tests/cluster/start_slurm.sh), then genlab-report on the multirun. Writes report/ here.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GENLAB_ROOT=${GENLAB_ROOT:-$PWD/_slurm_sweep}
eval "$(tests/cluster/start_slurm.sh | sed 's/^/export /')"
start=$(date +%s)
.venv/bin/genlab-train -m hydra/launcher=slurm hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2 hydra.launcher.array_parallelism=2 \
    model=vae,flow,ar,gan,diffusion trainer.precision=32-true,bf16-mixed debug=limit_batches
echo "sweep wall time: $(( $(date +%s) - start )) s"
sweep=$(ls -d "$GENLAB_ROOT"/logs/train/multiruns/* | tail -n 1)
.venv/bin/genlab-report "$sweep" --out experiments/slurm_sweep/report
tests/cluster/stop_slurm.sh
