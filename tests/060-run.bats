#!/usr/bin/env bats
# imgtool run, imgtool logs, and what the supervisor says without privilege.

load helpers
load serve-helpers

# The intruder (tests/fixtures/serve/intruder.c), static, and an image of
# the probe with it, on the host's network: what an intruder in an instance
# would try that busybox cannot, where the network namespace would not stop
# it already.
setup_file() {
	local d="$BATS_FILE_TMPDIR/intruder" f="$ROOT/tests/fixtures/serve"
	mkdir -p "$d"
	cc -static -O2 -Wall -o "$d/intruder" "$f/intruder.c"
	sed -e 's|<recipe name="probe"|<recipe name="intruder"|' \
	    -e "s|href=\"\.\./\.\./\.\./|href=\"$ROOT/|" \
	    -e "s|src=\"\.\./\.\./\.\./|src=\"$ROOT/|" \
	    -e "s|src=\"probe.sh\"|src=\"$f/probe.sh\"|" \
	    -e "s|</contents>|<file dest=\"/bin/intruder\" mode=\"0755\" src=\"$d/intruder\"/></contents>|" \
	    -e "s|</service>|<network>host</network></service>|" \
	    "$f/probe.xml" >"$d/intruder.xml"
	"$IMGTOOL" build -q -o "$d/out" "$d/intruder.xml"
}

setup() {
	W=$(workdir)
	I="$BATS_FILE_TMPDIR/intruder"
	build_fixture probe
}

teardown() {
	[ -z "${LISTENER:-}" ] || { kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null || true; }
	[ -z "${LOCKER:-}" ] || { kill "$LOCKER" 2>/dev/null; wait "$LOCKER" 2>/dev/null || true; }
}

# Skips a test of Landlock on a kernel without it (the supervisor says so).
needs_landlock() {
	if "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/true 2>&1 | grep -q 'what=landlock'; then
		skip "this kernel has no Landlock"
	fi
}

@test "imgtool run gives a shell in a fresh read-only jail" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c 'id -u; touch /www/x; echo $?; hostname'
	assert_success
	assert_line --index 0 101
	assert_line --partial "Read-only file system"
	assert_line --index 2 1
	assert_line probe
}

@test "imgtool run returns the command's exit status" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c 'exit 7'
	assert_failure 7
}

@test "imgtool run of a missing command says so" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/nonexistent
	assert_failure
	assert_output --partial "execve /bin/nonexistent: No such file or directory"
}

@test "imgtool run of a recipe builds it first" {
	cd "$W"
	run "$IMGTOOL" run "$ROOT/tests/fixtures/serve/probe.xml" -- /bin/hostname
	assert_success
	assert_output probe
	assert_file_exists "$W/out/probe.erofs"
}

@test "without root the supervisor says what is missing and exits 2" {
	chmod 755 "$BATS_TEST_TMPDIR" "$W" "$W/out"
	run as_nobody "$ROOT/build/bin/imgsupd" --listen 127.0.0.1:1 "$W/out/probe.erofs"
	assert_failure 2
	assert_output --partial "imgsupd: needs root: missing CAP_SYS_ADMIN"
}

@test "a tampered image is refused" {
	printf 'x' >>"$W/out/probe.erofs"
	run "$ROOT/build/bin/imgsupd" --listen 127.0.0.1:1 "$W/out/probe.erofs"
	assert_failure 3
	assert_output --partial "digest does not match"
}

@test "the image's own manifest decides what runs: an edited outside manifest is refused, naming what differs" {
	# Unedited, it serves as before.
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/hostname
	assert_success
	assert_output probe
	cp "$W/out/probe.manifest.xml" "$W/good.xml"
	# The exec: the digest of the image still matches, nothing is re-signed.
	sed -i 's|<exec>/bin/probe</exec>|<exec>/bin/sh -c evil</exec>|' "$W/out/probe.manifest.xml"
	run "$ROOT/build/bin/imgsupd" --listen 127.0.0.1:1 "$W/out/probe.erofs"
	assert_failure 3
	assert_output --partial "probe.manifest.xml: the service differs from the image's own manifest: exec \"/bin/sh -c evil\" (the image's: \"/bin/probe\")"
	# The limits: memory 0 would have meant no limit.
	cp "$W/good.xml" "$W/out/probe.manifest.xml"
	sed -i 's|<limits memory="[0-9]*"|<limits memory="0"|' "$W/out/probe.manifest.xml"
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/hostname
	assert_failure 3
	assert_output --partial "the service differs from the image's own manifest: limits memory 0 (the image's: 33554432)"
	# The writable areas.
	cp "$W/good.xml" "$W/out/probe.manifest.xml"
	sed -i 's|path="/tmp" kind="scratch"|path="/etc" kind="scratch"|' "$W/out/probe.manifest.xml"
	run "$ROOT/build/bin/imgsupd" --listen 127.0.0.1:1 "$W/out/probe.erofs"
	assert_failure 3
	assert_output --partial "the writable areas differ"
}

@test "imgsupd --help and a bad option" {
	run "$ROOT/build/bin/imgsupd" --help
	assert_success
	assert_output --partial "usage: imgsupd"
	run "$ROOT/build/bin/imgsupd" --max zero "$W/out/probe.erofs"
	assert_failure 2
	assert_output --partial '--max: "zero" is not a number'
}

# ---- the admin's side: stdio, terminal, signals, wall limit ----------------

@test "imgtool run gives the instance pipes, never the admin's files" {
	echo input >"$W/in.txt"
	"$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c \
		'cat; readlink /proc/self/fd/0; readlink /proc/self/fd/1; readlink /proc/self/fd/2 >&2' \
		<"$W/in.txt" >"$W/out.txt" 2>"$W/err.txt"
	run cat "$W/out.txt"
	assert_line --index 0 input
	assert_line --index 1 --regexp '^pipe:\[[0-9]+\]$'
	assert_line --index 2 --regexp '^pipe:\[[0-9]+\]$'
	run cat "$W/err.txt"
	assert_output --regexp '^pipe:\[[0-9]+\]$'
}

@test "a directory as stdin is refused, and never reaches the instance" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c 'ls /proc/self/fd/0/..' </etc
	assert_failure 1
	assert_output --partial "stdin is a directory"
	refute_output --partial passwd
}

# Waits up to 10 s for the shell condition COND to hold.
wait_for() {
	local i
	for i in $(seq 100); do
		eval "$1" >/dev/null && return 0
		sleep 0.1
	done
	echo "# timed out waiting for: $1" >&2
	return 1
}

# Runs CMD under script(1), on a terminal of its own; INPUT (printf format)
# is typed after a second. The terminal stays open for a while after, so
# that nothing reads the end of its input.
on_terminal() {
	local input=$1
	shift
	{ sleep 1; printf "$input"; sleep 8; } |
		timeout 30 script -qefc "$*" /dev/null
}

@test "on a terminal, the instance has a pty of its own and the terminal's mode is restored" {
	run on_terminal '' "readlink /proc/self/fd/0; stty -g; $IMGTOOL run $W/out/probe.erofs -- /bin/sh -c 'readlink /proc/self/fd/0; readlink /proc/self/fd/2; exit 3'; echo status=\$?; stty -g"
	assert_success
	local outer=${lines[0]} before=${lines[1]}
	[[ $outer == /dev/pts/* ]]
	assert_line --index 2 --regexp '^/dev/pts/[0-9]+'
	[ "${lines[2]%$'\r'}" != "${outer%$'\r'}" ]
	assert_line --index 4 --partial status=3
	[ "${lines[5]}" = "$before" ]
}

@test "Ctrl-C on the terminal ends the command in the instance" {
	SECONDS=0
	run on_terminal '\003' "$IMGTOOL run $W/out/probe.erofs -- /bin/sleep 60; echo status=\$?"
	assert_output --partial status=130
	[ "$SECONDS" -lt 20 ]
}

@test "SIGTERM and SIGINT to imgtool run end the instance" {
	# A background job of a script starts with SIGINT ignored: undo that.
	for sig in TERM INT; do
		env --default-signal=INT "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sleep 61 &
		local pid=$!
		wait_for "pgrep -f 'sleep 61'"
		kill -s "$sig" "$pid"
		local status=0
		wait "$pid" || status=$?
		[ "$status" -eq "$( [ "$sig" = TERM ] && echo 143 || echo 130)" ]
		wait_for "! pgrep -f 'sleep 61'"
	done
}

@test "the recipe's wall limit ends imgtool run" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sleep 60
	assert_failure 124
	assert_output --partial "ran past its wall limit (5 s)"
}

@test "a reader of its output that goes away ends the instance, as SIGPIPE would" {
	run bash -c "'$IMGTOOL' run '$W/out/probe.erofs' -- /bin/sh -c 'while :; do echo y; done' | head -n 1; echo \${PIPESTATUS[0]}"
	assert_line --index 0 y
	assert_line --index 1 141
}

@test "/proc shows the instance, not the host: boot_id, cmdline, loadavg, locks and key-users are masked" {
	# A lock of the host's that the kernel shows in every PID namespace.
	"$I/intruder" ofd-lock "$W/lock" >"$W/locker" &
	LOCKER=$!
	for _ in $(seq 50); do
		grep -q locked "$W/locker" && break
		sleep 0.1
	done
	local lock
	lock=":$(stat -c %i "$W/lock") "
	assert grep -q -- "$lock" /proc/locks
	# shellcheck disable=SC2016 # expanded inside the instance
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c '
		for f in sys/kernel/random/boot_id cmdline loadavg locks key-users; do
			echo "== $f"; cat "/proc/$f"
		done
		echo "== mounts"; cut -d" " -f5 /proc/self/mountinfo'
	assert_success
	# the lines below "== $1", up to the next "=="
	inside() { awk -v h="== $1" '$0 == h { on = 1; next } /^== / { on = 0 } on' <<<"$output"; }
	local boot_id
	boot_id=$(inside sys/kernel/random/boot_id)
	assert_regex "$boot_id" '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
	assert [ "$boot_id" != "$(cat /proc/sys/kernel/random/boot_id)" ]
	assert [ "$(inside cmdline)" != "$(cat /proc/cmdline)" ]
	assert_equal "$(inside cmdline)" ""
	assert_equal "$(inside loadavg)" "0.00 0.00 0.00 1/1 1"
	refute grep -q -- "$lock" <<<"$(inside locks)"
	assert_equal "$(inside locks)" ""
	if [ -e /proc/key-users ]; then
		assert [ "$(inside key-users)" != "$(cat /proc/key-users)" ]
		assert_equal "$(inside key-users)" ""
	fi
	# Each is a read-only mount of its own over the kernel's file.
	for f in /proc/sys/kernel/random/boot_id /proc/cmdline /proc/loadavg /proc/locks; do
		assert_line "$f"
	done
	[ ! -e /proc/key-users ] || assert_line /proc/key-users
}

@test "each instance has a boot_id of its own" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/cat /proc/sys/kernel/random/boot_id
	assert_success
	local first=$output
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/cat /proc/sys/kernel/random/boot_id
	assert_success
	assert [ "$output" != "$first" ]
}

@test "a program copied into a memfd does not run: vm.memfd_noexec is 2 in the instance" {
	[ -e /proc/sys/vm/memfd_noexec ] || skip "this kernel has no vm.memfd_noexec (before 6.3)"
	run "$IMGTOOL" run "$I/out/intruder.erofs" -- /bin/sh -c '
		cat /proc/sys/vm/memfd_noexec
		/bin/intruder memfd-exec /bin/busybox echo ran from memfd'
	assert_line --index 0 2
	refute_output --partial "ran from memfd"
	assert_line "fexecve: Permission denied"
	# On the host (unless it sets memfd_noexec too) it runs: the refusal
	# is the instance's.
	run "$I/intruder" memfd-exec /bin/busybox echo ran from memfd
	[ "$(cat /proc/sys/vm/memfd_noexec)" = 2 ] || assert_output "ran from memfd"
}

@test "Landlock: what /proc would let the service write is refused (its name, its child's memory); the areas and /dev/null stay writable" {
	needs_landlock
	# shellcheck disable=SC2016 # expanded inside the instance
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c '
		sleep 30 & pid=$!
		{ echo x >/proc/$pid/mem; } 2>&1
		{ echo intruder >/proc/self/comm; } 2>&1
		cat /proc/self/comm
		kill $pid
		echo data >/tmp/file && cat /tmp/file
		echo data >/var/log/probe/file && cat /var/log/probe/file
		echo data >/dev/null && echo null'
	assert_success
	assert_line --regexp "^/bin/sh: can't create /proc/[0-9]+/mem: Permission denied$"
	assert_line "/bin/sh: can't create /proc/self/comm: Permission denied"
	refute_line intruder
	assert_line --index 3 data
	assert_line --index 4 data
	assert_line --index 5 null
}

@test "Landlock: an abstract UNIX socket of the host is out of reach, even on the host's network" {
	needs_landlock
	local name="imgtool-test-$$-$RANDOM"
	"$I/intruder" abstract-listen "$name" >"$W/listener" &
	LISTENER=$!
	for _ in $(seq 50); do
		grep -q listening "$W/listener" && break
		sleep 0.1
	done
	# From the host it answers.
	run "$I/intruder" abstract-connect "$name"
	assert_output "connected hello"
	run "$IMGTOOL" run "$I/out/intruder.erofs" -- /bin/intruder abstract-connect "$name"
	assert_failure 1
	assert_output "connect: Operation not permitted"
}
