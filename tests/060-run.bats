#!/usr/bin/env bats
# imgtool run, imgtool logs, and what the supervisor says without privilege.

load helpers
load serve-helpers

setup() {
	W=$(workdir)
	build_fixture probe
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
