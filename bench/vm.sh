#!/bin/sh
# Benchmark: VM images. One run, TCG unless IMGTOOL_ACCEL=kvm.
#
#   1. Build time of bench/vm.xml (recipes/web-vm.xml with a 1 s idle
#      timeout) against one bare libguestfs appliance launch
#      (bench/guestfs-launch.c), alternating, R rounds (3), medians.
#   2. The sizes of what the build writes.
#   3. Time from connect to first byte of `GET /` (ab's "Waiting"), K
#      rounds (5) each: with the pool (a new session gets a VM booted
#      ahead), against the same request in a session whose VM already runs,
#      and cold (--pool 0: a VM is booted for the session).
#
#   sh bench/vm.sh          R=5 K=10 sh bench/vm.sh
#   CONNECT=qemu+ssh://vmhost/system sh bench/vm.sh   (the VMs on a libvirtd)
# Needs root (imgsupd), ab, and what ci/install-deps installs.
set -eu
cd "$(dirname "$0")/.."
R=${R:-3}
K=${K:-5}
export IMGTOOL_ACCEL="${IMGTOOL_ACCEL:-tcg}"
export IMGTOOL_SCHEMA="$PWD/builder/recipe.rng"
IMGTOOL=$PWD/build/bin/imgtool
. bench/common.sh

mkdir -p build/bench
cc -O2 -Wall -o build/bench/guestfs-launch bench/guestfs-launch.c -lguestfs

now_ms() { date +%s%3N; }

echo "== build: bench/vm.xml against a bare libguestfs launch ($R rounds, $IMGTOOL_ACCEL)"
: >"$T/build" ; : >"$T/launch"
for _ in $(seq "$R"); do
	t=$(now_ms); "$IMGTOOL" build -q --force -o "$T/out" bench/vm.xml; echo $(($(now_ms) - t)) >>"$T/build"
	t=$(now_ms); build/bench/guestfs-launch; echo $(($(now_ms) - t)) >>"$T/launch"
done
b=$(median <"$T/build"); l=$(median <"$T/launch")
echo "| VM build | $b ms |"
echo "| bare libguestfs launch | $l ms |"
awk -v b="$b" -v l="$l" 'BEGIN { printf "| build / launch | %.2f |\n", b / l }'

echo "== sizes"
for f in "$T"/out/benchvm.*; do
	printf '| %s | %s bytes |\n' "$(basename "$f")" "$(stat -c %s "$f")"
done

# ttfb: ab's Waiting time of one GET, in ms.
ttfb() {
	ab -q -n 1 "http://127.0.0.1:18190/" 2>/dev/null |
		awk '$1 == "Waiting:" { print $3 }'
}

# serve ARGS...: starts imgsupd on the image, waits for its pool.
serve() {
	"$IMGTOOL" serve "$T/out/benchvm.qcow2" ${CONNECT:+--connect "$CONNECT"} \
		"$@" 2>"$T/server.log" &
	PID=$!
	for _ in $(seq 600); do
		grep -q 'event=start' "$T/server.log" && break
		sleep 0.1
	done
}

# ends: how many VMs have ended so far.
ends() { grep -c 'event=end' "$T/server.log" || true; }
readies() { grep -c 'event=ready' "$T/server.log" || true; }

wait_for() {	# wait_for COMMAND COUNT: until COMMAND prints at least COUNT
	for _ in $(seq 900); do
		[ "$($1)" -ge "$2" ] && return 0
		sleep 0.1
	done
	echo "bench/vm.sh: timed out; server log:" >&2
	cat "$T/server.log" >&2
	exit 1
}

echo "== time to first byte ($K rounds, medians)"
serve --pool 1
: >"$T/pool"; : >"$T/running"
for i in $(seq "$K"); do
	wait_for readies "$i"		# a VM of the pool waits
	ttfb >>"$T/pool"		# a new session takes it
	ttfb >>"$T/running"		# the same session, its VM running
	wait_for ends "$i"		# the session idles out
done
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

serve --pool 0
: >"$T/cold"
for i in $(seq "$K"); do
	ttfb >>"$T/cold"
	wait_for ends "$i"
done
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""

p=$(median <"$T/pool"); r=$(median <"$T/running"); c=$(median <"$T/cold")
echo "| request to an already running VM | $r ms |"
echo "| new session, VM from the pool | $p ms |"
echo "| new session, cold (boot per session, --pool 0) | $c ms |"
echo "| pool - running | $((p - r)) ms (goal: at most 50) |"
