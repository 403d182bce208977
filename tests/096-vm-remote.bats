#!/usr/bin/env bats
# imgsupd with the VMs of a remote libvirtd (--connect with a host in the
# URI): the supervisor sends the image's files into a storage pool of that
# host and shares no file with it. The remote host is simulated here: a
# libvirtd of our own, listening on TCP at 127.0.0.1, in a mount namespace
# where this test's files, the source tree and /run are not to be seen.
# Under TCG (IMGTOOL_ACCEL=tcg), as tests/095-vm-serve.bats.

load helpers
load serve-helpers

# Several boots in a test, each waited for at most 90 s, connections at
# most 60 s (serve-helpers.bash): the time limit is above what they add up to.
BATS_TEST_TIMEOUT=300

export IMGTOOL_ACCEL=tcg

setup_file() {
	start_remote_libvirtd
	[ -z "$REMOTE_SKIP" ] || return 0
	D="$BATS_FILE_TMPDIR/vm"
	mkdir -p "$D"
	"$IMGTOOL" build -q -o "$D/out" "$ROOT/tests/fixtures/serve/vmprobe.xml"
}

teardown_file() {
	stop_remote_libvirtd
}

setup() {
	[ -z "${REMOTE_SKIP:-}" ] || skip "$REMOTE_SKIP"
	W=$(workdir)
	D="$BATS_FILE_TMPDIR/vm"
}

teardown() {
	stop_server
}

# Whether process $1 runs: kill -0 alone is not enough, as this machine's
# init does not reap the zombies of daemonized processes.
alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# The processes of the remote host: those in the mount namespace $1 (the
# libvirtd, its qemu and virtiofsd), and, in case that namespace is not
# known, any qemu or virtiofsd that names the remote root $2.
remote_processes() {
	local p comm
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		if [ -n "$1" ] && [ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$1" ]; then
			echo "$p"
			continue
		fi
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case $comm in
		qemu-system*|virtiofsd)
			if grep -qF "$2" "/proc/$p/cmdline" 2>/dev/null; then
				echo "$p"
			fi ;;
		esac
	done
	return 0
}

# A libvirtd for the whole file, as a remote host would have: reached at
# qemu+tcp://127.0.0.1:PORT/system without authentication, with its own
# configuration and state under REMOTE_ROOT, a "default" dir pool in
# REMOTE_ROOT/images, and a mount namespace of its own in which the test's
# directories, the source tree and the host's /run (where imgsupd keeps
# its run directory and mounts the log volume) are empty tmpfs: what its
# qemu gets, it has been sent. Exports REMOTE_URI and REMOTE_ROOT (and,
# for stop_remote_libvirtd, REMOTE_PID and REMOTE_MNTNS); or, without
# libvirtd or virsh, REMOTE_SKIP: why the tests are skipped.
start_remote_libvirtd() {
	local R pid i
	# bats 1.8 has no skip in setup_file (the file fails): the reason is
	# kept for setup() to skip each test with.
	export REMOTE_SKIP= REMOTE_ROOT= REMOTE_URI= REMOTE_PID= REMOTE_MNTNS=
	if ! command -v libvirtd >/dev/null; then
		REMOTE_SKIP="no libvirtd (package libvirt-daemon)"
		return 0
	fi
	if ! command -v virsh >/dev/null; then
		REMOTE_SKIP="no virsh (package libvirt-clients)"
		return 0
	fi
	R=$(mktemp -d /var/tmp/imgtool-remote.XXXXXX)
	# qemu runs as libvirt-qemu and opens the pool's volumes by their path.
	chmod 755 "$R"
	mkdir "$R/etc" "$R/lib" "$R/cache" "$R/log" "$R/run" "$R/images"
	REMOTE_ROOT=$R

	# Above pick_port's range (10000-29999) and below the ephemeral one
	# (32768 up): no supervisor of ours and no client can hold it.
	for i in $(seq 0 99); do
		RPORT=$((30000 + ($$ + i * 17) % 2768))
		if [ -z "$(ss -Htln "sport = :$RPORT")" ]; then
			break
		fi
	done
	cat >"$R/etc/libvirtd.conf" <<-EOF
		listen_tls = 0
		listen_tcp = 1
		listen_addr = "127.0.0.1"
		tcp_port = "$RPORT"
		auth_tcp = "none"
		unix_sock_dir = "$R/run"
	EOF
	# qemu's output to a file, not through virtlogd: one daemon less.
	echo 'stdio_handler = "file"' >"$R/etc/qemu.conf"

	# The host's /etc, /var/lib, /var/cache and /var/log/libvirt stay
	# untouched: ours are bound over them. A new /run, where /run/lock
	# (/var/lock) is needed: libvirt locks there a channel that a client
	# opens. The tmpfs mounts hide what the remote must not see; /tmp comes
	# last, as the bats directories are usually below it. set -e: no
	# libvirtd when a mount fails. Its output is in $R/libvirtd.log (errors
	# about dnsmasq, dbus and dmidecode are harmless). Fd 3 closed: bats
	# waits for whoever holds it.
	unshare -m --propagation private sh -c '
		set -e
		R=$1
		shift
		mount -t tmpfs -o mode=0755 tmpfs /run
		mkdir /run/libvirt
		mkdir -m 1777 /run/lock
		mount --bind "$R/etc" /etc/libvirt
		mount --bind "$R/lib" /var/lib/libvirt
		mount --bind "$R/cache" /var/cache/libvirt
		mount --bind "$R/log" /var/log/libvirt
		for d in "$@"; do
			mount -t tmpfs -o mode=0755 tmpfs "$d"
		done
		mount -t tmpfs -o mode=1777 tmpfs /tmp
		exec libvirtd --listen -f "$R/etc/libvirtd.conf" -p "$R/libvirtd.pid"
	' sh "$R" "$BATS_RUN_TMPDIR" "$ROOT" \
		</dev/null >"$R/libvirtd.log" 2>&1 3>&- &
	# unshare and sh exec: this is the libvirtd.
	pid=$!
	REMOTE_PID=$pid
	REMOTE_URI="qemu+tcp://127.0.0.1:$RPORT/system"

	for _ in $(seq 100); do
		virsh -c "$REMOTE_URI" list >/dev/null 2>&1 && break
		alive "$pid" || break
		sleep 0.1
	done
	if ! virsh -c "$REMOTE_URI" list >/dev/null 2>&1 ||
	   ! virsh -q -c "$REMOTE_URI" pool-create-as default dir \
			--target "$R/images" >/dev/null; then
		echo "remote libvirtd at $REMOTE_URI did not come up:" >&2
		cat "$R/libvirtd.log" >&2
		stop_remote_libvirtd
		return 1
	fi
	REMOTE_MNTNS=$(readlink "/proc/$pid/ns/mnt")
}

# Stops the remote libvirtd and whatever it started, and removes its root.
# Under bats' set -e: nothing in here may fail.
stop_remote_libvirtd() {
	local R=${REMOTE_ROOT:-} pid dom p left
	[ -n "$R" ] && [ -d "$R" ] || return 0
	if [ -n "${REMOTE_URI:-}" ]; then
		virsh -c "$REMOTE_URI" list --name 2>/dev/null | while read -r dom; do
			[ -z "$dom" ] ||
				virsh -c "$REMOTE_URI" destroy "$dom" >/dev/null 2>&1 || true
		done
	fi
	pid=$(cat "$R/libvirtd.pid" 2>/dev/null) || true
	[ -n "$pid" ] || pid=${REMOTE_PID:-}
	# A PID of ours, not one reused since by someone else.
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = libvirtd ]; then
		[ -n "${REMOTE_MNTNS:-}" ] ||
			REMOTE_MNTNS=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || true
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	# qemu outlives a libvirtd that stops; virtiofsd may too.
	for _ in $(seq 50); do
		left=
		for p in $(remote_processes "${REMOTE_MNTNS:-}" "$R"); do
			if alive "$p"; then
				kill -KILL "$p" 2>/dev/null || true
				left="$left $p"
			fi
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		echo "remote processes left:$left" >&2
	fi
	case $R in
	/var/tmp/imgtool-remote.?*) rm -rf "$R" ;;
	esac
}

# The names of the volumes in the remote pool. With --refresh, libvirt
# first rereads the pool's directory, so that a file left there behind its
# back shows too (not while a supervisor runs: libvirt refuses a refresh
# during an upload).
remote_volumes() {
	if [ "${1:-}" = --refresh ]; then
		virsh -q -c "$REMOTE_URI" pool-refresh default >/dev/null || return
	fi
	virsh -q -c "$REMOTE_URI" vol-list default | awk '{ print $1 }'
}

# The remote's domains, running or only defined.
remote_domains() {
	virsh -q -c "$REMOTE_URI" list --all --name
}

# refute_line --regexp $1, that also holds for an empty output (bats-assert's
# refute_line fails on one: "lines: parameter not set").
refute_any_line() {
	refute grep -qE -- "$1" <<<"$output"
}

# Runs a command in the remote libvirtd's mount namespace: what it sees.
in_remote() {
	nsenter -t "$(cat "$REMOTE_ROOT/libvirtd.pid")" -m "$@"
}

@test "the remote libvirtd sees none of the test's files" {
	assert_file_exists "$D/out/vmprobe.qcow2"
	assert_file_exists "$ROOT/GNUmakefile"
	# Absent (below a directory hidden under a tmpfs), or at least empty.
	for dir in "$D/out" "$ROOT"; do
		run in_remote ls -A "$dir"
		[ "$status" -ne 0 ] || [ -z "$output" ]
		refute_output --partial vmprobe
		refute_output --partial GNUmakefile
	done
	# Nor where imgsupd keeps its run directory and log mounts.
	run in_remote test -e /run/imgsupd
	assert_failure
	run virsh -c "$REMOTE_URI" pool-list
	assert_success
	assert_line --regexp '^ *default +active( |$)'
}

@test "a VM of a remote libvirtd serves, from files it was sent" {
	start_vm_server "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI"
	run vm_ask status
	assert_success
	assert_line --regexp '^Uid:[[:space:]]+101[[:space:]]'
	run grep -F "vm=$REMOTE_URI" "$W/server.log"
	assert_success
	run remote_volumes
	assert_success
	assert_line --regexp '^imgsupd_'
	# The VM's log disk travelled as a sparse stream: its holes are holes.
	disk=$(ls "$REMOTE_ROOT"/images/imgsupd_*.logs | head -n 1)
	[ "$(($(stat -c '%b * %B' "$disk")))" -lt "$(($(stat -c %s "$disk") / 2))" ]
	stop_server
	run remote_volumes --refresh
	assert_success
	refute_any_line '^imgsupd_'
	run remote_domains
	assert_success
	assert_output ""
}

@test "what a remote VM logs reaches the local log volume" {
	start_vm_server "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI"
	first="remote-$$-$RANDOM-1"
	run vm_ask log "$first"
	assert_output logged
	# The second word from another VM: the first one's session is over.
	wait_log 'event=end .*reason=idle'
	second="remote-$$-$RANDOM-2"
	run vm_ask log "$second"
	assert_output logged
	stop_server
	run "$IMGTOOL" logs "$D/out/vmprobe.qcow2"
	assert_success
	assert_output --partial "$first"
	assert_output --partial "$second"
}

@test "after a SIGKILL, the next start on the remote cleans up and keeps the log" {
	start_vm_server "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI"
	word="killed-$$-$RANDOM"
	run vm_ask log "$word"
	assert_output logged
	# imgtool serve execs the supervisor: $SERVER is the supervisor itself.
	run cat "/proc/$SERVER/comm"
	assert_output --regexp '^imgsupd'
	dead=$SERVER
	kill -KILL "$SERVER"
	wait "$SERVER" 2>/dev/null || true
	SERVER=
	# A name with the dead PID in it (not as part of a longer number).
	of_dead="(^|[^0-9])$dead([^0-9]|\$)"
	# What it left on the remote: the next start has something to clean.
	run remote_domains
	assert_line --regexp "$of_dead"
	start_vm_server "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI"
	run remote_domains
	refute_any_line "$of_dead"
	stop_server
	run remote_domains
	assert_output ""
	run remote_volumes --refresh
	assert_success
	refute_any_line "$of_dead"
	run "$IMGTOOL" logs "$D/out/vmprobe.qcow2"
	assert_success
	assert_output --partial "$word"
}

@test "a state file written in one remote VM is there in the next" {
	start_vm_server "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI"
	run vm_ask write /var/lib/probe/bookmarks
	assert_output written
	# The next session is another VM, whose disk was made from the merge:
	# the pool's VM, made before it, is stopped as stale.
	wait_log 'event=end .*reason=idle'
	run vm_ask read /var/lib/probe/bookmarks
	assert_output data
	# That VM's disk goes back too (on stop): written whole, not appended.
	stop_server
	run grep -c 'reason=stale' "$W/server.log"
	assert_output 1
	run "$IMGTOOL" logs "$D/out/vmprobe.qcow2"
	assert_success
	assert_output --partial "==> /var/lib/probe/bookmarks <=="
	run grep -c '^data$' <<<"$output"
	assert_output 1
}

@test "a remote libvirtd without the storage pool is a clear error" {
	run "$IMGTOOL" serve "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI" \
		--storage-pool nosuchpool --listen 127.0.0.1:1
	assert_failure
	assert_output --partial 'no storage pool "nosuchpool"'
	assert_output --partial "pool-define-as"
}

@test "a remote guest that crashes is destroyed and logged, and serving goes on" {
	start_vm_server "$D/out/vmprobe.qcow2" --connect "$REMOTE_URI"
	run vm_ask id
	assert_output $'101\n101'
	# Its qemu runs on the "remote host": the channel stream ends with it.
	pkill -KILL -f "guest=imgsupd_[^,]*_${SERVER}_vmprobe-1,"
	wait_log 'event=end instance=1 .*reason=crashed'
	run vm_ask id
	assert_output $'101\n101'
	# At most the pool's VM, whose disk was made before the crashed one's
	# state was merged, was stale; a VM that never served is not merged,
	# and makes no other stale (before, each did: the pool kept booting
	# stale VMs, and a session could wait past its time).
	run grep -c 'reason=stale' "$W/server.log"
	assert [ "$output" -le 1 ]
}

@test "while a libvirtd that never answers holds it up, SIGTERM ends imgsupd" {
	# A peer that takes the connection and says nothing: libvirt would
	# wait for its greeting for ever.
	# nc execs sleep on the connection; fd 3 closed: bats waits for it.
	LPORT=$(pick_port)
	busybox nc -l -p "$LPORT" -e sleep 600 3>&- &
	NC=$!
	PORT=$((LPORT + 1))
	"$IMGTOOL" serve "$D/out/vmprobe.qcow2" --listen "127.0.0.1:$PORT" \
		--connect "qemu+tcp://127.0.0.1:$LPORT/system" 2>"$W/server.log" &
	SERVER=$!
	# It is connected, and waits.
	for _ in $(seq 100); do
		ss -Htn state established "dport = :$LPORT" | grep -q . && break
		sleep 0.1
	done
	sleep 0.5
	kill -0 "$SERVER"
	kill -TERM "$SERVER"
	for _ in $(seq 50); do
		kill -0 "$SERVER" 2>/dev/null || break
		sleep 0.1
	done
	run kill -0 "$SERVER"
	# A deaf one is killed, so that the failure does not hang the teardown.
	kill -KILL "$SERVER" 2>/dev/null || true
	SERVER=
	kill "$NC"
	assert_failure
}
