#!/usr/bin/env bats
# imgtool logs against what a hostile instance can leave in its log area:
# symlinks, FIFOs, a directory swapped for a symlink mid-walk, files its
# user cannot read, terminal controls, binary data; -f and --copy; a log
# volume that is no volume.

load helpers
load serve-helpers

setup() {
	W=$(workdir)
	build_fixture probe
	IMAGE="$W/out/probe.erofs"
	mkdir -p "$W/host"
	echo "HOSTMARKER-$$" >"$W/host/x.log"
}

teardown() {
	[ -z "${FOLLOW:-}" ] || kill -TERM "$FOLLOW" 2>/dev/null || true
	[ -z "${SWAPPER:-}" ] || kill -TERM "$SWAPPER" 2>/dev/null || true
	stop_server
}

# The probe's log area as the host sees it while the server runs: through
# the supervisor's mount namespace, as root (what the instance sees as
# /var/log/probe).
area() {
	echo "/proc/$SERVER/root/run/imgsupd/probe.$SERVER/logs/var/log/probe"
}

# imgtool logs IMAGE on a terminal (script(1) gives it a pty): its output
# in $W/tty.
logs_on_tty() {
	timeout 20 script -qec "$IMGTOOL logs $IMAGE" /dev/null </dev/null >"$W/tty"
}

# Waits (at most 10 s) until file $1 holds the fixed string $2.
wait_for() {
	for _ in $(seq 100); do
		grep -qF -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "no \"$2\" in $1:" >&2
	cat "$1" >&2
	return 1
}

# Waits (at most 10 s) until process $1 has ended; its status in $STATUS.
wait_gone() {
	for _ in $(seq 100); do
		if ! kill -0 "$1" 2>/dev/null; then
			STATUS=0
			wait "$1" || STATUS=$?
			return 0
		fi
		sleep 0.1
	done
	echo "process $1 still runs" >&2
	return 1
}

@test "live: a symlink in the area, to a host file or directory, is never followed" {
	start_server "$IMAGE"
	ask log inside >/dev/null
	ln -s "$W/host/x.log" "$(area)/file-link"
	ln -s "$W/host" "$(area)/dir-link"
	run timeout 10 "$IMGTOOL" logs "$IMAGE"
	assert_success
	assert_output --partial "inside"
	refute_output --partial "HOSTMARKER"
	assert_output --partial "$(printf '==> /var/log/probe/file-link <==\n(a symbolic link: not read)')"
}

@test "live: a FIFO in the area does not hang logs" {
	start_server "$IMAGE"
	ask log inside >/dev/null
	mkfifo "$(area)/pipe"
	chown 101:101 "$(area)/pipe"
	run timeout 10 "$IMGTOOL" logs "$IMAGE"
	assert_success
	assert_output --partial "inside"
	assert_output --partial "$(printf '==> /var/log/probe/pipe <==\n(not a regular file: not read)')"
}

@test "live: what the area's owner cannot read, logs does not read either" {
	start_server "$IMAGE"
	echo "ROOTONLY-$$" >"$(area)/private.log"
	chmod 600 "$(area)/private.log"
	run timeout 10 "$IMGTOOL" logs "$IMAGE"
	assert_success
	refute_output --partial "ROOTONLY"
	assert_output --partial "$(printf '==> /var/log/probe/private.log <==\n(Permission denied: not read)')"
	run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/private.log "$W/copy"
	assert_failure 1
	assert_output "imgtool: /var/log/probe/private.log: Permission denied"
	assert_file_not_exists "$W/copy"
}

@test "live: a directory swapped for a symlink during the walk never shows a host file" {
	start_server "$IMAGE"
	# The readiness probe's instance has ended, and its end sealed the area
	# (append-only: no rename in it). This test plays an instance that is
	# still running, whose entries are not sealed yet: it lifts the seal.
	wait_log 'event=end instance=[0-9]+ client=127\.0\.0\.1'
	chattr -a "$(area)"
	mkdir "$(area)/d"
	echo inside >"$(area)/d/x.log"
	ln -s "$W/host" "$(area)/s"
	chown -h -R 101:101 "$(area)/d" "$(area)/s"
	python3 "$ROOT/tests/fixtures/logs/swap.py" "$(area)" 60 3>&- &
	SWAPPER=$!
	for _ in $(seq 40); do
		timeout 10 "$IMGTOOL" logs "$IMAGE" >>"$W/out.txt"
	done
	kill -0 "$SWAPPER"
	run cat "$W/out.txt"
	refute_output --partial "HOSTMARKER"
	assert_output --partial inside
}

@test "on a terminal, control bytes an instance wrote are escaped, live and from the volume" {
	start_server "$IMAGE"
	ask log "$(printf 'red \033[31mRED\033[0m bell \007 cr \r del \177 end')" >/dev/null
	# a C1 CSI as raw byte and as UTF-8, beside text that stays as it is
	printf 'c1 \233 utf8 \302\233 text h\303\251 \342\200\224 ok\n' >"$(area)/c1.log"
	for state in live stopped; do
		[ "$state" = live ] || stop_server
		logs_on_tty
		# without the carriage returns of the pty's line discipline
		run sed 's/\r$//' "$W/tty"
		refute_output --partial $'\e'
		refute_output --partial $'\a'
		refute_output --partial $'\x7f'
		assert_output --partial 'red \x1b[31mRED\x1b[0m bell \x07 cr \x0d del \x7f end'
		assert_output --partial $'c1 \\x9b utf8 \\xc2\\x9b text h\xc3\xa9 \xe2\x80\x94 ok'
		run grep -a -c $'\x9b' "$W/tty"
		assert_output 0
	done
}

@test "through a pipe the contents are as written" {
	start_server "$IMAGE"
	ask log "$(printf 'red \033[31mRED')" >/dev/null
	run "$IMGTOOL" logs "$IMAGE"
	assert_output --partial $'red \e[31mRED'
}

@test "a name with control bytes is shown escaped, and --copy takes it as shown" {
	start_server "$IMAGE"
	name=$'evil\e[2J\nname'
	echo named >"$(area)/$name"
	chown 101:101 "$(area)/$name"
	run "$IMGTOOL" logs "$IMAGE"
	assert_line '==> /var/log/probe/evil\x1b[2J\x0aname <=='
	refute_output --partial $'\e[2J'
	run "$IMGTOOL" logs "$IMAGE" --copy '/var/log/probe/evil\x1b[2J\x0aname' "$W/copy"
	assert_success
	assert_equal "$(cat "$W/copy")" named
}

@test "a binary file is not dumped; --copy gets it byte for byte, live and from the volume" {
	start_server "$IMAGE"
	# no NUL in it: binary as mostly not text
	head -c 3000 /dev/urandom | tr '\000' '\001' >"$W/random"
	printf 'text\0with a NUL\n' >"$W/nul"
	cp "$W/random" "$(area)/random.bin"
	cp "$W/nul" "$(area)/nul.log"
	chown 101:101 "$(area)/random.bin" "$(area)/nul.log"
	for state in live stopped; do
		[ "$state" = live ] || stop_server
		run "$IMGTOOL" logs "$IMAGE"
		assert_success
		assert_line "(binary file, 3000 bytes; copy it with: imgtool logs $IMAGE --copy /var/log/probe/random.bin DEST)"
		assert_line "(binary file, 16 bytes; copy it with: imgtool logs $IMAGE --copy /var/log/probe/nul.log DEST)"
		refute_output --partial "with a NUL"
		rm -f "$W/copy" "$W/copy2"
		run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/random.bin "$W/copy"
		assert_success
		cmp "$W/random" "$W/copy"
		mkdir -p "$W/into"
		run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/nul.log "$W/into"
		assert_success
		cmp "$W/nul" "$W/into/nul.log"
	done
}

@test "--copy replaces a symlink at DEST, never writes through it" {
	start_server "$IMAGE"
	ask log inside >/dev/null
	echo untouched >"$W/target"
	ln -s "$W/target" "$W/dest"
	run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/probe.log "$W/dest"
	assert_success
	assert_equal "$(cat "$W/target")" untouched
	assert [ ! -L "$W/dest" ]
	assert_equal "$(cat "$W/dest")" inside
	# nothing left beside it
	run ls "$W"
	refute_output --partial ".tmp."
}

@test "--copy of what is no file of a log area says so" {
	start_server "$IMAGE"
	run "$IMGTOOL" logs "$IMAGE" --copy /etc/passwd "$W/copy"
	assert_failure 1
	assert_output "imgtool: /etc/passwd: not a file of a log area of $IMAGE (a path as a \"==> PATH <==\" line shows it)"
	ln -s "$W/host/x.log" "$(area)/link"
	run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/link "$W/copy"
	assert_failure 1
	assert_output "imgtool: /var/log/probe/link: a symbolic link, not followed"
	run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/missing "$W/copy"
	assert_failure 1
	assert_output "imgtool: /var/log/probe/missing: No such file or directory"
	stop_server
	run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/missing "$W/copy"
	assert_failure 1
	assert_output "imgtool: /var/log/probe/missing: no such file on $W/out/probe.logs.img"
	assert_file_not_exists "$W/copy"
	run "$IMGTOOL" logs "$IMAGE" --copy /var/log/probe/missing
	assert_failure 2
}

@test "logs -f prints appended lines and new files, and ends with 0 on SIGTERM" {
	start_server "$IMAGE"
	ask log first >/dev/null
	"$IMGTOOL" logs -f "$IMAGE" >"$W/follow" 2>&1 3>&- &
	FOLLOW=$!
	wait_for "$W/follow" first
	ask log second >/dev/null
	wait_for "$W/follow" second
	echo fresh >"$(area)/new.log"
	wait_for "$W/follow" fresh
	ask log "$(printf 'third \033[1m')" >/dev/null
	wait_for "$W/follow" third
	kill -TERM "$FOLLOW"
	wait_gone "$FOLLOW"
	FOLLOW=
	assert_equal "$STATUS" 0
	run cat "$W/follow"
	# each line once, each file's header before its lines
	assert_output "$(printf '==> /var/log/probe/probe.log <==\nfirst\nsecond\n==> /var/log/probe/new.log <==\nfresh\n==> /var/log/probe/probe.log <==\nthird \033[1m')"
}

@test "logs -f ends with 0 on SIGINT" {
	start_server "$IMAGE"
	ask log first >/dev/null
	# a background job of a script ignores SIGINT: give it back its default
	env --default-signal=INT "$IMGTOOL" logs -f "$IMAGE" >"$W/follow" 2>&1 3>&- &
	FOLLOW=$!
	wait_for "$W/follow" first
	kill -INT "$FOLLOW"
	wait_gone "$FOLLOW"
	FOLLOW=
	assert_equal "$STATUS" 0
}

@test "logs -f ends when the supervisor does, and needs one" {
	start_server "$IMAGE"
	ask log first >/dev/null
	"$IMGTOOL" logs -f "$IMAGE" >"$W/follow" 2>&1 3>&- &
	FOLLOW=$!
	wait_for "$W/follow" first
	stop_server
	wait_gone "$FOLLOW"
	FOLLOW=
	assert_equal "$STATUS" 0
	run "$IMGTOOL" logs -f "$IMAGE"
	assert_failure 1
	assert_output --partial "no supervisor serves it"
}

@test "from the volume, a file in a subdirectory of an area is shown" {
	start_server "$IMAGE"
	mkdir "$(area)/sub"
	echo deep >"$(area)/sub/f.log"
	chown -R 101:101 "$(area)/sub"
	run "$IMGTOOL" logs "$IMAGE"
	assert_output --partial "$(printf '==> /var/log/probe/sub/f.log <==\ndeep')"
	stop_server
	run "$IMGTOOL" logs "$IMAGE"
	assert_output --partial "$(printf '==> /var/log/probe/sub/f.log <==\ndeep')"
}

@test "an empty or corrupt log volume is an error naming it" {
	volume="$W/out/probe.logs.img"
	cp "$volume" "$W/good.img"
	: >"$volume"
	run "$IMGTOOL" logs "$IMAGE"
	assert_failure 3
	assert_output "$volume: the log volume is empty (0 bytes)"
	head -c 1M /dev/urandom >"$volume"
	run "$IMGTOOL" logs "$IMAGE"
	assert_failure 3
	assert_output "$volume: not an ext4 log volume (no superblock)"
	# the superblock, and nothing after it
	head -c 4096 "$W/good.img" >"$volume"
	run "$IMGTOOL" logs "$IMAGE"
	assert_failure 3
	assert_output "$volume: cannot list /var/log/probe: the volume is corrupt or lacks it"
}
