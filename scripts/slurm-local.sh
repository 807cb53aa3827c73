#!/usr/bin/env bash
# A one-node SLURM on this machine, for the scale-out test (test/integration/experiments/slurm.test.ts) and CI:
# installs Debian's slurm-wlm and munge if they are missing, writes /etc/slurm/slurm.conf from configs/slurm/slurm.conf, and starts
# munged, slurmctld and slurmd unless they already answer. Idempotent: run it again and it only checks.
#
# Needs root (or sudo) and apt; no systemd, no cgroups, no accounting (see the config's comments). Takes ~15 s the
# first time after apt has its lists, ~1 s after. Stops nothing it did not start; to stop the daemons yourself:
#   scontrol shutdown; kill "$(cat /run/munge/munged.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else echo "slurm-local: needs root or sudo (apt-get, /etc/slurm, daemons)" >&2; exit 1; fi
fi
log() { echo "slurm-local: $*" >&2; }

# 1. Packages.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  command -v apt-get >/dev/null || { log "slurm-wlm and munge are missing and there is no apt-get to install them"; exit 1; }
  log "installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  if ! $SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/tmp/slurm-local-apt.log 2>&1; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/tmp/slurm-local-apt.log 2>&1 || { tail -20 /tmp/slurm-local-apt.log >&2; exit 1; }
  fi
fi

# 2. The config: ours, or one we wrote before; never someone else's.
HOST="$(hostname -s)"
CPUS="$(nproc)"; [ "$CPUS" -lt 4 ] && CPUS=4   # config_overrides: three 1-CPU tasks run at once even on 2 cores
MEMORY="$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)"
MARK="# written by scripts/slurm-local.sh"
WANT="$(printf '%s\n' "$MARK"; sed -e "s/@HOST@/$HOST/g" -e "s/@CPUS@/$CPUS/g" -e "s/@MEMORY@/$MEMORY/g" configs/slurm/slurm.conf)"
CONF=/etc/slurm/slurm.conf
if [ -f "$CONF" ] && ! head -1 "$CONF" | grep -qxF "$MARK"; then
  log "$CONF exists and was not written by this script; leaving it (and the daemons) alone"
  exit 1
fi
RESTART=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$WANT" ]; then
  $SUDO mkdir -p /etc/slurm
  printf '%s\n' "$WANT" | $SUDO tee "$CONF.tmp" >/dev/null && $SUDO mv "$CONF.tmp" "$CONF"
  log "wrote $CONF (node $HOST, $CPUS CPUs)"
  RESTART=1
fi
$SUDO mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
$SUDO chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm

# 3. munged (as the munge user), then slurmctld and slurmd.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  $SUDO mkdir -p /run/munge && $SUDO chown munge:munge /run/munge && $SUDO chmod 0755 /run/munge
  [ -f /etc/munge/munge.key ] || $SUDO runuser -u munge -- mungekey --create
  $SUDO runuser -u munge -- /usr/sbin/munged
  log "started munged"
fi
if [ "$RESTART" = 1 ] && scontrol ping 2>/dev/null | grep -q UP; then
  $SUDO scontrol reconfigure || true
fi
if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then
  $SUDO /usr/sbin/slurmctld
  log "started slurmctld"
fi
if ! { [ -f /run/slurmd.pid ] && kill -0 "$(cat /run/slurmd.pid)" 2>/dev/null; }; then
  $SUDO /usr/sbin/slurmd
  log "started slurmd"
fi

# 4. Wait until the node takes jobs (a node that was down before a restart is resumed).
for i in $(seq 1 60); do
  STATE="$(sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 || true)"
  case "$STATE" in
    idle|mixed|allocated) log "node $HOST is $STATE; sbatch works (${SECONDS} s)"; exit 0 ;;
    down*|drain*|drained*) $SUDO scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
log "node $HOST did not come up (state: ${STATE:-unknown}); see /var/log/slurm/slurmctld.log and slurmd.log"
exit 1
