#!/usr/bin/env bats
# The host ids instances run as (issue 10 finding 8): each instance in a user
# namespace of its own, its ids 0-65535 a slice of a host range reserved for
# imgtool (runtime/userns.h), so that no per-uid kernel state (the user
# keyring, inotify, pipe buffers, message queue bytes) is shared with a host
# user of the recipe's uid or with another live instance.

load helpers
load serve-helpers

# The default range: 0x70000000 to 0x7ffdffff (runtime/userns.h).
RANGE_FIRST=1879048192
RANGE_LAST=2147352575
SVC=101	# the probe's uid and gid (tests/fixtures/serve/probe.xml, session.xml)

# The key helper, where the service user can run it (the test's own
# temporary directories are root's alone).
setup_file() {
	KDIR=$(mktemp -d /tmp/imgtool-keyring.XXXXXX)
	chmod 0755 "$KDIR"
	cc -static -O2 -Wall -o "$KDIR/keyring" "$ROOT/tests/fixtures/serve/keyring.c"
	export KDIR
}

teardown_file() {
	rm -rf "$KDIR"
}

setup() {
	W=$(workdir)
	K="$KDIR/keyring"
	KEY="imgtool-test-$$-$BATS_TEST_NUMBER"
	HOLDERS=()
}

teardown() {
	local p
	for p in "${HOLDERS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_server
	# A key that reached the host's uid (the bug) does not stay there.
	setpriv --reuid=$SVC --regid=$SVC --clear-groups "$K" remove "$KEY" || true
}

# Opens a connection from source address $1 that asks "hold $2" and keeps
# it open in the background (python: bash cannot choose the source).
hold_from() {
	python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10,
                             source_address=(sys.argv[2], 0))
s.sendall(("hold %s\n" % sys.argv[3]).encode())
time.sleep(int(sys.argv[3]))' "$PORT" "$1" "$2" &
	HOLDERS+=($!)
}

# The host PID of the service process "sleep $1" of an instance of the
# server (polled: at most 10 s).
sleeper() {
	local p
	for _ in $(seq 100); do
		for p in $(process_tree "$SERVER"); do
			[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "sleep $1 " ] &&
				{ echo "$p"; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# Field $2 (Uid or Gid: real, effective, saved, fs) of process $1 on the host.
ids_of() {
	awk -v f="$2:" '$1 == f { print $2, $3, $4, $5 }' "/proc/$1/status"
}

# Checks that the ids "$1" (four fields) are one id, of a slice of the
# range, the service's id in it.
in_range() {
	local id=${1%% *}
	assert_equal "$1" "$id $id $id $id"
	[ "$id" -ge "$RANGE_FIRST" ] && [ "$id" -le "$RANGE_LAST" ] ||
		fail "host id $id is outside $RANGE_FIRST-$RANGE_LAST"
	assert_equal $(((id - RANGE_FIRST) % 65536)) "$SVC"
}

# One line "PIDNS UID" per live instance of the server that has dropped
# its privileges (one being prepared is still root, uid 0).
instance_uids() {
	local p ours u
	ours=$(readlink /proc/self/ns/pid)
	for p in $(process_tree "$SERVER"); do
		[ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" != "$ours" ] || continue
		u=$(ids_of "$p" Uid 2>/dev/null) && [ -n "$u" ] || continue
		[ "${u%% *}" = 0 ] || echo "$(readlink "/proc/$p/ns/pid") ${u%% *}"
	done | sort -u
}

# Runs "$@" as the service user of the instance of host PID $1 would: in
# its user namespace, as its uid and gid $SVC; where the instance has no
# namespace of its own, as host uid $SVC, which is what it then ran as.
as_instance() {
	local pid=$1
	shift
	if [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]; then
		nsenter -U -t "$pid" -S $SVC -G $SVC -- "$@"
	else
		setpriv --reuid=$SVC --regid=$SVC --clear-groups -- "$@"
	fi
}

@test "two clients' sessions run at once as host ids of imgtool's range, each its own slice" {
	local a b ua ub
	build_fixture session
	start_server "$W/out/session.erofs"
	hold_from 127.0.0.1 31
	hold_from 127.0.0.2 32
	a=$(sleeper 31)
	b=$(sleeper 32)
	assert [ "$(readlink /proc/$a/ns/pid)" != "$(readlink /proc/$b/ns/pid)" ]
	ua=$(ids_of "$a" Uid)
	ub=$(ids_of "$b" Uid)
	in_range "$ua"
	in_range "$ub"
	in_range "$(ids_of "$a" Gid)"
	in_range "$(ids_of "$b" Gid)"
	assert [ "$ua" != "$ub" ]
	# Every live instance (the prepared ones too): one slice each.
	run instance_uids
	assert [ "${#lines[@]}" -ge 3 ]
	assert_equal "$(printf '%s\n' "${lines[@]}" | awk '{ print $2 }' | sort | uniq -d)" ""
	run grep -E "event=start .* host-ids=$RANGE_FIRST-[0-9]+ slices=[0-9]+ " "$W/server.log"
	assert_success
}

@test "a key planted in an instance's user keyring reaches neither the next instance nor the host's uid" {
	local a b
	build_fixture probe
	start_server "$W/out/probe.erofs"
	hold_from 127.0.0.1 31
	a=$(sleeper 31)
	as_instance "$a" "$K" plant "$KEY"
	run as_instance "$a" "$K" find "$KEY"
	assert_success	# the instance itself sees what it planted
	kill "$a"	# its service ends, and the instance with it
	hold_from 127.0.0.1 32
	b=$(sleeper 32)
	run as_instance "$b" "$K" find "$KEY"
	assert_failure 1
	run setpriv --reuid=$SVC --regid=$SVC --clear-groups "$K" find "$KEY"
	assert_failure 1
}

@test "what an instance writes to its log area is the area owner's on the volume, as before" {
	local logs
	build_fixture probe
	start_server "$W/out/probe.erofs"
	run ask log hello
	assert_output logged
	run ask err oops
	assert_output sent
	logs=$(echo /proc/$SERVER/root/run/imgsupd/probe.*/logs/var/log/probe)
	run stat -c '%u:%g %n' "$logs/probe.log" "$logs/stderr.log"
	assert_line "$SVC:$SVC $logs/probe.log"
	assert_line "$SVC:$SVC $logs/stderr.log"
	# And the instance sees them as its own: its stderr file too.
	run ask status
	assert_line --regexp "^Uid:[[:space:]]+$SVC[[:space:]]+$SVC[[:space:]]+$SVC[[:space:]]+$SVC$"
}

@test "imgtool inspect says which host ids the instances run as" {
	build_fixture probe
	run imgtool inspect "$W/out/probe.erofs"
	assert_success
	assert_line "host ids   $RANGE_FIRST-$RANGE_LAST (default; imgsupd --id-range overrides), 4094 slices of 65536: one per live instance"
	assert_line --partial "  user     probe: uid $SVC is host uid $RANGE_FIRST + 65536*N + $SVC"
}

@test "an imgtool line of /etc/subuid and /etc/subgid chooses the range; a bad one is an error" {
	build_fixture probe
	printf 'someone:100000:65536\nimgtool:1610612736:131072\n' >"$W/subuid"
	printf 'imgtool:1610612736:131072\n' >"$W/subgid"
	printf 'imgtool:1610612737:131072\n' >"$W/badsubuid"
	run unshare -m bash -c 'mount --bind "$1/subuid" /etc/subuid &&
		mount --bind "$1/subgid" /etc/subgid && "$2" inspect "$3"' _ \
		"$W" "$IMGTOOL" "$W/out/probe.erofs"
	assert_success
	assert_line --partial "host ids   1610612736-1610743807 (/etc/subuid; "
	run unshare -m bash -c 'mount --bind "$1/badsubuid" /etc/subuid &&
		mount --bind "$1/subgid" /etc/subgid && "$2" inspect "$3"' _ \
		"$W" "$IMGTOOL" "$W/out/probe.erofs"
	assert_line --partial "host ids   unusable: /etc/subuid: imgtool's ids must start at a multiple of 65536"
}

@test "--id-range chooses the range, and two supervisors never hold the same slices" {
	local second port2 slices=14	# max 8 + pool 2 + 4 (supervisor/setup.c)
	build_fixture probe
	build_fixture session
	start_server --id-range 0x60000000:0x1000000 "$W/out/probe.erofs"
	run grep -oE 'host-ids=[0-9]+-[0-9]+' "$W/server.log"
	assert_output "host-ids=1610612736-$((1610612736 + slices * 65536 - 1))"
	# A second supervisor, of another image, on the same range.
	port2=$(pick_port)
	"$IMGTOOL" serve --id-range 0x60000000:0x1000000 --listen "127.0.0.1:$port2" \
		"$W/out/session.erofs" 2>"$W/second.log" &
	second=$!
	for _ in $(seq 100); do
		grep -q 'event=start' "$W/second.log" && break
		sleep 0.1
	done
	run grep -oE 'host-ids=[0-9]+-[0-9]+' "$W/second.log"
	kill "$second"
	wait "$second" || true
	assert_output "host-ids=$((1610612736 + slices * 65536))-$((1610612736 + 2 * slices * 65536 - 1))"
	run ask status
	assert_line --regexp "^Uid:[[:space:]]+$SVC[[:space:]]"
	stop_server
	run "$IMGTOOL" serve --id-range 1000:65536 --listen 127.0.0.1:1 "$W/out/probe.erofs"
	assert_failure
	assert_output --partial "--id-range: imgtool's ids must start at a multiple of 65536"
}
