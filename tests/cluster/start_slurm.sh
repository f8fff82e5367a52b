#!/usr/bin/env bash
# Start a real single-node SLURM cluster on localhost (Debian's slurm-wlm + munge, as root),
# with its own config under $GENLAB_SLURM_DIR (default /tmp/genlab-slurm) and its own ports
# (6917/6918, so it can run beside a system cluster). Prints the
# SLURM_CONF to export. Exit 2: SLURM cannot be started here (the cluster tests then skip).
set -euo pipefail
DIR=${GENLAB_SLURM_DIR:-/tmp/genlab-slurm}
for tool in slurmctld slurmd munged sinfo; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "missing $tool: apt-get install slurm-wlm munge" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "starting slurmctld/slurmd needs root" >&2; exit 2; }

# munge: the authentication slurm uses between its daemons and clients
for d in /run/munge /var/log/munge /var/lib/munge /etc/munge; do mkdir -p "$d"; chown munge:munge "$d"; done
chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
munge -n | unmunge >/dev/null

# slurm: one node, 8 schedulable CPUs on however many cores there are (jobs share them)
HOST=$(hostname -s)
mkdir -p "$DIR"/state "$DIR"/spool "$DIR"/log
cat > "$DIR/slurm.conf" <<CONF
ClusterName=genlab
SlurmctldPort=${GENLAB_SLURMCTLD_PORT:-6917}
SlurmdPort=${GENLAB_SLURMD_PORT:-6918}
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
KillWait=5
NodeName=$HOST CPUs=8 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$DIR/slurm.conf
"$(dirname "$0")/stop_slurm.sh" >/dev/null 2>&1 || true
/usr/sbin/slurmctld -f "$SLURM_CONF"
/usr/sbin/slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^idle'; then
    echo "SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.5
done
echo "slurm did not come up; see $DIR/log/" >&2
exit 2
