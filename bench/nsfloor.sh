#!/bin/sh
# The ceiling of fresh namespaces: instances per second that no supervisor
# can exceed on this machine when each instance gets new mount, PID, IPC,
# UTS, network and cgroup namespaces, and nothing else is done at all.
# One worker per CPU, R rounds each (1000 by default). Needs root.
#
#   sh bench/nsfloor.sh          R=3000 sh bench/nsfloor.sh
set -eu
cd "$(dirname "$0")/.."
R=${R:-1000}
CPUS=$(nproc)
BIN=build/bench/nsfloor
mkdir -p build/bench
cc -O2 -Wall -Wextra -o "$BIN" bench/nsfloor.c

row() {
	printf '| %s | %s |\n' "$1" "$("$BIN" "$R" "$CPUS" $2)"
}

echo "| new namespaces per spawn | spawns/s ($CPUS workers) |"
echo "|---|---|"
row "none (clone, exit, wait)" ""
row "mount, PID, IPC, UTS" "mnt pid ipc uts"
row "network" "net"
row "all six (what imgsupd gives an instance)" "mnt pid ipc uts net cgroup"
