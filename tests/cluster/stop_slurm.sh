#!/usr/bin/env bash
# Stop the cluster that start_slurm.sh started (slurmd may ignore SIGTERM: SIGKILL after 5 s).
DIR=${GENLAB_SLURM_DIR:-/tmp/genlab-slurm}
for daemon in slurmd slurmctld; do
  pidfile="$DIR/$daemon.pid"
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 10); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
done
