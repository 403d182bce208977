#!/bin/sh
# Benchmark: per-connection serving of one static page. The same busybox
# `httpd -i` serves recipes/web/site/index.html, one fresh process per
# connection, to `ab -n N -c C` (2000 and 8 by default), behind:
#
#   (a) tcpserver alone: no isolation, the floor;
#   (b) tcpserver starting bubblewrap per connection: read-only /usr and
#       site, fresh /proc and /dev, every namespace unshared;
#   (c) imgsupd (`imgtool serve`) with recycle="connection" and every
#       protection of recipes/web.xml; skipped while it is not built.
#
#   sh bench/serve.sh            N=500 C=4 sh bench/serve.sh
#
# All traffic stays on 127.0.0.1. tcpserver runs with -l 0: without it,
# tcpserver asks DNS for the name of its local address on every connection
# (-H only stops the lookup of the remote name), which sends a packet off
# the machine per request and makes the figures measure the resolver (18
# requests/s with a 3 s p99 here, against about 2000/s with -l 0).
# Exit status 0 when every peer that is built started and was measured, 1
# when one failed to start.
set -eu
cd "$(dirname "$0")/.."
N=${N:-2000}
C=${C:-8}
SITE=$PWD/recipes/web/site
IMGTOOL=$PWD/build/bin/imgtool
export IMGTOOL_SCHEMA="$PWD/builder/recipe.rng"

for tool in ab tcpserver bwrap busybox; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "bench/serve.sh: $tool not found; run ci/install-deps" >&2
		exit 1
	}
done

. bench/common.sh

# port_busy PORT: something listens on PORT (IPv4 or IPv6), from /proc so
# that no tool beyond awk is needed.
port_busy() {
	awk -v p="$(printf ':%04X' "$1")" '
		FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
		END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# free_port FROM: the first port from FROM on that nothing listens on and
# that no earlier peer of this run took.
TAKEN=""
free_port() {
	p=$1
	while port_busy "$p" || case " $TAKEN " in *" $p "*) true ;; *) false ;; esac; do
		p=$((p + 1))
		[ "$p" -lt $(($1 + 100)) ] || { echo "bench/serve.sh: no free port from $1" >&2; exit 1; }
	done
	TAKEN="$TAKEN $p"
	echo "$p"
}

fail() {
	echo "bench/serve.sh: $*" >&2
	exit 1
}

# start NAME PORT COMMAND...: start a server in the background and wait,
# at most about 10 s, until it serves the page byte for byte.
start() {
	name=$1 port=$2
	shift 2
	"$@" >"$T/$name.log" 2>&1 &
	PID=$!
	i=0
	while :; do
		if ! kill -0 "$PID" 2>/dev/null; then
			wait "$PID" || true
			PID=""
			sed 's/^/  /' "$T/$name.log" >&2
			fail "($name) exited before serving: $*"
		fi
		# timeout(1), not wget -T: busybox 1.35's static wget crashes
		# (SIGSEGV) with -T.
		if timeout 3 busybox wget -q -O "$T/$name.page" "http://127.0.0.1:$port/" 2>/dev/null &&
			cmp -s "$T/$name.page" "$SITE/index.html"; then
			break
		fi
		i=$((i + 1))
		if [ "$i" -ge 100 ]; then
			sed 's/^/  /' "$T/$name.log" >&2
			fail "($name) does not serve the page on 127.0.0.1:$port: $*"
		fi
		sleep 0.1
	done
}

stop() {
	kill "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	PID=""
}

# measure NAME PORT: warm up, run ab once, and set RPS_NAME and P99_NAME
# (empty when ab gave no figure).
measure() {
	name=$1 port=$2
	url="http://127.0.0.1:$port/"
	ab -q -n 50 -c 2 "$url" >/dev/null 2>&1 || true
	ab -q -n "$N" -c "$C" "$url" >"$T/$name.ab" 2>&1 ||
		echo "bench/serve.sh: warning: ($name) ab exited with status $?" >&2
	rps=$(awk '/^Requests per second:/ { print $4 }' "$T/$name.ab")
	p99=$(awk '$1 == "99%" { print $2 }' "$T/$name.ab")
	complete=$(awk '/^Complete requests:/ { print $3 }' "$T/$name.ab")
	failed=$(awk '/^Failed requests:/ { print $3 }' "$T/$name.ab")
	if [ "${complete:-}" != "$N" ] || [ "${failed:-}" != 0 ] ||
		grep -q '^Non-2xx responses:' "$T/$name.ab"; then
		echo "bench/serve.sh: warning: ($name) did not serve every request:" >&2
		grep -E '^(Complete requests|Failed requests|Non-2xx responses|apr_)|Length:|Exceptions:' \
			"$T/$name.ab" | sed 's/^/  /' >&2 || true
	fi
	case $name in
	a) RPS_a=$rps P99_a=$p99 ;;
	b) RPS_b=$rps P99_b=$p99 ;;
	c) RPS_c=$rps P99_c=$p99 ;;
	esac
}

RPS_a="" P99_a="" RPS_b="" P99_b="" RPS_c="" P99_c=""
echo "ab -n $N -c $C, busybox httpd -i, $(nproc) cores, $(uname -r)"

port=$(free_port 18080)
set -- tcpserver -c 64 -H -R -l 0 127.0.0.1 "$port" busybox httpd -i -h "$SITE"
echo "(a) $*"
start a "$port" "$@"
measure a "$port"
stop

port=$(free_port 18081)
set -- tcpserver -c 64 -H -R -l 0 127.0.0.1 "$port" \
	bwrap --unshare-all --die-with-parent \
	--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/sbin /sbin \
	--symlink usr/lib /lib --symlink usr/lib64 /lib64 \
	--ro-bind "$SITE" /www --proc /proc --dev /dev \
	busybox httpd -i -h /www
echo "(b) $*"
start b "$port" "$@"
measure b "$port"
stop

# (c) needs both the supervisor and the command that starts it.
if [ -x build/bin/imgsupd ] && [ -x "$IMGTOOL" ] &&
	"$IMGTOOL" 2>&1 | grep -Eq '^[[:space:]]+serve([[:space:]]|$)'; then
	"$IMGTOOL" build -q -o "$T/out" recipes/web.xml || fail "(c) cannot build recipes/web.xml"
	port=$(free_port 18082)
	set -- "$IMGTOOL" serve "$T/out/web.erofs" --listen "127.0.0.1:$port"
	echo "(c) $*"
	start c "$port" "$@"
	measure c "$port"
	stop
else
	echo "(c) skipped: imgsupd not built"
fi

# ratio X Y: X / Y to two places, or "-" when either is missing.
ratio() {
	awk -v x="$1" -v y="$2" 'BEGIN {
		if (x == "" || y == "" || y + 0 == 0) print "-"; else printf "%.2f\n", x / y }'
}

echo
printf '%-36s %10s %10s\n' "peer" "req/s" "p99 (ms)"
printf '%-36s %10s %10s\n' "(a) tcpserver, no isolation" "${RPS_a:--}" "${P99_a:--}"
printf '%-36s %10s %10s\n' "(b) tcpserver + bubblewrap" "${RPS_b:--}" "${P99_b:--}"
printf '%-36s %10s %10s\n' "(c) imgsupd, recycle=connection" "${RPS_c:--}" "${P99_c:--}"
echo
echo "req/s (c)/(a):  $(ratio "$RPS_c" "$RPS_a")"
echo "req/s (c)/(b):  $(ratio "$RPS_c" "$RPS_b")"
echo "p99 (c)/(a):    $(ratio "$P99_c" "$P99_a")"
