#!/usr/bin/env bash
# A one-node Slurm cluster on loopback, for tests and trying the Slurm executor on a laptop.
#
#   scripts/slurm-local.sh install   # as root: Debian packages slurm-wlm and munge
#   scripts/slurm-local.sh start     # munged, slurmctld, slurmd; waits until the node is idle
#   scripts/slurm-local.sh status    # exit 0 when the node answers
#   scripts/slurm-local.sh stop
#
# No systemd is assumed: the daemons are started directly. No accounting database: sacct has
# nothing to report, which the code never relies on. Everything lives under $SLURM_LOCAL_DIR
# (default /tmp/attnzoo-slurm). Each step is idempotent; a failure prints one line and exits 1.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/attnzoo-slurm}
CONF=/etc/slurm/slurm.conf

die() { echo "slurm-local: $*" >&2; exit 1; }

install() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" = 0 ] || die "cannot install slurm-wlm and munge: not root"
    command -v apt-get >/dev/null || die "cannot install slurm-wlm and munge: no apt-get"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } \
        >"${TMPDIR:-/tmp}/slurm-local-apt.log" 2>&1 \
        || die "apt-get install slurm-wlm munge failed (see ${TMPDIR:-/tmp}/slurm-local-apt.log)"
}

write_conf() {
    local cpus mem
    # nproc honours OMP_NUM_THREADS (a test run may set it to 1): count the cores we may use.
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
    mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log" /etc/slurm
    chown -R slurm:slurm "$DIR/spool/ctld" 2>/dev/null || true
    cat >"$CONF.tmp" <<EOF
# Written by attnzoo scripts/slurm-local.sh: one node on loopback.
ClusterName=attnzoo
SlurmctldHost=localhost
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
JobRequeue=1
KillWait=5
MinJobAge=300
ReturnToService=2
SlurmdTimeout=60
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    mv "$CONF.tmp" "$CONF"
}

node_idle() { pgrep -x slurmctld >/dev/null && sinfo -h -N -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; }

start() {
    node_idle && return 0  # already up (maybe started by root for everyone)
    command -v slurmctld >/dev/null || die "slurm is not installed: run '$0 install' as root"
    [ "$(id -u)" = 0 ] || die "cannot start the daemons: not root"
    write_conf
    if [ ! -s /etc/munge/munge.key ]; then
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    pgrep -x munged >/dev/null || runuser -u munge -- munged --force \
        || die "munged did not start"
    pgrep -x slurmctld >/dev/null || slurmctld -i || die "slurmctld did not start (see $DIR/log)"
    pgrep -x slurmd >/dev/null || slurmd || die "slurmd did not start (see $DIR/log)"
    for _ in $(seq 60); do
        if node_idle; then return 0; fi
        scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true
        sleep 0.5
    done
    die "the node did not become idle in 30 s (see $DIR/log)"
}

stop() {
    local pid name
    for name in slurmd slurmctld; do
        pid=$(cat "$DIR/$name.pid" 2>/dev/null || true)
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    done
}

case "${1:-}" in
    install) install ;;
    start) node_idle || install; start ;;
    stop) stop ;;
    status) node_idle || die "no idle Slurm node" ;;
    *) echo "usage: $0 {install|start|stop|status}" >&2; exit 2 ;;
esac
