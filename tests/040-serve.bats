#!/usr/bin/env bats
# imgsupd: a fresh read-only jail per connection.

load helpers
load serve-helpers

setup() {
	W=$(workdir)
	build_fixture probe
	start_server "$W/out/probe.erofs"
}

teardown() {
	stop_server
}

# Holds N slow connections; the next one must be closed at once, with no
# answer (a reset, as its request was not read), and logged with REASON;
# once the slow ones end, the server serves again.
refuses_past() {
	local clients= i
	for i in $(seq "$1"); do
		ask sleep 3 >/dev/null &
		clients="$clients $!"
	done
	sleep 1
	run ask hostname
	refute_output --partial probe
	run grep -E "event=refused client=127\.0\.0\.1:[0-9]+ reason=$2" "$W/server.log"
	assert_success
	# shellcheck disable=SC2086 # one pid per word
	wait $clients
	run ask hostname
	assert_output probe
}

@test "a command is answered by a fresh instance" {
	run ask hostname
	assert_success
	assert_output probe
}

@test "the service runs as the recipe's user, never root" {
	run ask id
	assert_output "$(printf '101\n101')"
}

@test "the service has no capabilities, no new privileges and a seccomp filter" {
	run ask status
	assert_line --regexp '^Uid:[[:space:]]+101[[:space:]]+101[[:space:]]+101[[:space:]]+101$'
	assert_line --regexp '^CapEff:[[:space:]]+0+$'
	assert_line --regexp '^CapPrm:[[:space:]]+0+$'
	assert_line --regexp '^CapBnd:[[:space:]]+0+$'
	assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
}

@test "the root and the site are read-only" {
	run ask write /www/index.html
	assert_output --partial "Read-only file system"
	run ask write /etc/passwd
	assert_output --partial "Read-only file system"
	run ask write /newfile
	assert_output --partial "Read-only file system"
}

@test "the mount plan: read-only root and /proc/sys, areas without suid, devices or exec" {
	run ask mounts
	assert_line --regexp '^/ ro,nosuid,nodev(,[a-z]+)* (erofs|squashfs) '
	assert_line --regexp '^/proc/sys ro,nosuid,nodev,noexec(,[a-z]+)* proc '
	assert_line --regexp '^/var/log/probe rw,nosuid,nodev,noexec(,[a-z]+)* ext4 '
	assert_line --regexp '^/tmp rw,nosuid,nodev,noexec(,[a-z]+)* tmpfs .*size=1024k'
	assert_line --regexp '^/dev ro,nosuid,noexec(,[a-z]+)* tmpfs '
	# /proc's files of the host's state, masked read-only (060-run.bats)
	for f in /proc/sys/kernel/random/boot_id /proc/cmdline /proc/loadavg /proc/locks; do
		assert_line --regexp "^$f ro,nosuid,nodev,noexec(,[a-z]+)* tmpfs "
	done
	# nothing of the host: exactly the instance's own mounts
	assert_equal "${#lines[@]}" $((8 + 4 + $([ -e /proc/key-users ] && echo 1 || echo 0)))
}

@test "a minimal /dev: null, zero, full, random, urandom and the fd links" {
	run ask dev
	assert_output "$(printf 'fd\nfull\nnull\nrandom\nstderr\nstdin\nstdout\nurandom\nzero')"
}

@test "a file written in one connection is gone in the next" {
	run ask write /tmp/mark
	assert_output written
	run ask read /tmp/mark
	assert_output --partial "No such file"
}

@test "the log area keeps what every instance wrote" {
	run ask log first
	assert_output logged
	run ask log second
	assert_output logged
	run ask read /var/log/probe/probe.log
	assert_output "$(printf 'first\nsecond')"
	stop_server
	run "$IMGTOOL" logs "$W/out/probe.erofs"
	assert_success
	assert_output --partial "$(printf '==> /var/log/probe/probe.log <==\nfirst\nsecond')"
}

@test "only the instance's own processes are visible" {
	run ask pids
	# the shell, and the ls and grep of the pipeline
	assert [ "$output" -le 3 ]
}

@test "only loopback exists in the instance's network" {
	run ask net
	assert_output lo
}

@test "with network none, even loopback is down" {
	run ask lo
	assert_output "lo down"
}

@test "past the global cap a connection is closed at once and logged" {
	stop_server
	start_server --max 2 --per-client 8 "$W/out/probe.erofs"
	refuses_past 2 max
}

@test "the client address is in the environment, as ucspi-tcp and CGI name it" {
	run ask env
	assert_line "TCPREMOTEIP=127.0.0.1"
	assert_line "REMOTE_ADDR=127.0.0.1"
	assert_line --regexp '^TCPREMOTEPORT=[0-9]+$'
	assert_line --regexp '^REMOTE_PORT=[0-9]+$'
	assert_line "PROTO=TCP"
	assert_line "USER=probe"
}

@test "the default filter refuses new namespaces" {
	run ask unshare
	assert_line --partial "unshare 1"
	refute_output --partial "unshare 0"
}

@test "a fork bomb is contained by the pids limit and the server keeps serving" {
	run ask forkbomb
	# pids="16": the probe's shell, the bomb's subshell and 14 sleeps; the
	# next fork failed, and the bomb stopped there, short of its 64.
	assert_output --regexp '^forked 14 port [0-9]+$'
	port=${output##* }
	run ask hostname
	assert_output probe
	# Contained, the service went on and ended by itself, its sleeps with
	# it: not killed at its wall limit (5 s), nor for memory.
	wait_log "event=end instance=[0-9]+ client=127\.0\.0\.1:$port recycle=connection served=1 duration_ms=[0-9]+ status=exit:0 reason=exit$"
}

@test "a memory hog is killed by the memory limit and the server keeps serving" {
	run ask memhog
	refute_output --partial "memhog ended 0"
	run ask hostname
	assert_output probe
	sleep 0.5
	run grep -E 'event=end .*reason=memory' "$W/server.log"
	assert_success
}

@test "a request that never ends is killed by the wall limit" {
	start=$(date +%s)
	run ask hang
	end=$(date +%s)
	assert [ $((end - start)) -le 9 ]
	run ask hostname
	assert_output probe
	run grep -E 'event=end .*reason=wall' "$W/server.log"
	assert_success
}

@test "the start line says which of the kernel's walls the instances get: Landlock's ABI, memfd_noexec" {
	run grep -E '^imgsupd: event=start .* landlock=[0-9]+ memfd-noexec=(yes|no)$' "$W/server.log"
	assert_success
	# This kernel has both: no warning.
	run grep 'event=warning' "$W/server.log"
	assert_failure
}

@test "one key=value line per instance on stderr" {
	ask hostname >/dev/null
	sleep 0.3
	run grep -E '^imgsupd: event=end instance=[0-9]+ client=127\.0\.0\.1:[0-9]+ recycle=connection served=1 duration_ms=[0-9]+ status=exit:0 reason=exit$' "$W/server.log"
	assert_success
}

@test "past the per-client cap a connection is closed at once and logged" {
	refuses_past 4 per-client
}

@test "SIGTERM drains: the running connection finishes, then the server exits" {
	ask sleep 1 >"$W/answer" &
	client=$!
	sleep 0.3
	kill -TERM "$SERVER"
	wait "$client"
	run cat "$W/answer"
	assert_output slept
	wait "$SERVER"
	SERVER=
	run grep -c 'event=stop' "$W/server.log"
	assert_output 1
}

@test "nothing of the supervisor remains after SIGKILL" {
	ask sleep 10 >/dev/null &
	sleep 0.5
	old=$SERVER
	# Its instances, with their start times: no other test's processes
	# (another suite may run at once), no process that took a PID since.
	local -A started=()
	local pid t
	for pid in $(process_tree "$SERVER"); do
		t=$(start_time "$pid") && started[$pid]=$t
	done
	[ ${#started[@]} -gt 0 ]
	kill -KILL "$SERVER"
	wait "$SERVER" 2>/dev/null || true
	SERVER=
	sleep 0.5
	for pid in "${!started[@]}"; do
		[ "$(start_time "$pid")" != "${started[$pid]}" ]
	done
	run sh -c 'grep -c "/run/imgsupd" /proc/self/mountinfo'
	assert_output 0
	# the next start cleans what the kernel left: cgroups, run dirs
	start_server "$W/out/probe.erofs"
	run ask hostname
	assert_output probe
	run find /sys/fs/cgroup -maxdepth 6 -type d -name "probe.$old"
	assert_output ""
	assert_file_not_exists "/run/imgsupd/probe.$old"
}

# Stops the server, has an instance put KIND (fifo, symlink, dir) at the
# stderr file's name, as an intruder would, and serves again.
plant_at_stderr() {
	stop_server
	# A log volume of its own: the last serve sealed the file.
	rm -f "$W/out/probe.logs.img" "$W/out/probe.manifest.xml"
	build_fixture probe
	local make
	case $1 in
	fifo) make='busybox mkfifo' ;;
	symlink) make='busybox ln -s /etc/passwd' ;;
	dir) make='busybox mkdir' ;;
	esac
	"$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c \
		"busybox rm -f /var/log/probe/stderr.log; $make /var/log/probe/stderr.log"
	start_server "$W/out/probe.erofs"
}

@test "a FIFO, a link or a directory at the stderr file's name neither blocks nor silences the instances after" {
	for kind in fifo symlink dir; do
		plant_at_stderr "$kind"
		run ask err "marker-$kind"
		assert_output sent
		run grep -F "warning=\"stderr.log was a" "$W/server.log"
		assert_success
		stop_server
		run "$IMGTOOL" logs "$W/out/probe.erofs"
		assert_output --partial "$(printf '==> /var/log/probe/stderr.log <==\nmarker-%s' "$kind")"
		# What was there is kept, beside it, for whoever looks into it.
		run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/sh -c 'ls /var/log/probe'
		assert_line stderr.log.not-a-file.1
	done
}

@test "no instance can truncate, remove or rename the stderr file that earlier ones wrote to" {
	run ask err first
	assert_output sent
	run ask truncate /var/log/probe/stderr.log
	assert_output "truncate refused"
	run ask rm /var/log/probe/stderr.log
	assert_line "rm 1"
	run ask mv /var/log/probe/stderr.log
	assert_line "mv 1"
	run ask err second
	stop_server
	run "$IMGTOOL" logs "$W/out/probe.erofs"
	assert_output --partial "$(printf '==> /var/log/probe/stderr.log <==\nfirst\nsecond')"
}

@test "while it serves, its log volume is mounted nowhere else: a second supervisor or imgtool run is refused, naming the holder" {
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/true
	assert_failure 1
	assert_output --partial "probe.logs.img: the log volume is mounted by process $SERVER ("
	assert_output --partial "stop that one first"
	run "$ROOT/build/bin/imgsupd" --listen "127.0.0.1:$(pick_port)" "$W/out/probe.erofs"
	assert_failure 1
	assert_output --partial "mounted by process $SERVER"
	# What the first serves is whole: its instances still write their logs.
	run ask log still-here
	assert_output logged
	stop_server
	run "$IMGTOOL" run "$W/out/probe.erofs" -- /bin/cat /var/log/probe/probe.log
	assert_success
	assert_output still-here
}

@test "a pool instance killed from outside is logged as killed and replaced" {
	# The readiness probe's instance is over first: what is left are the
	# pool's instances, the supervisor's children, none of them serving.
	wait_log 'event=end instance=[0-9]+ client=127\.0\.0\.1:[0-9]+ recycle=connection served=1 '
	victim=$(pgrep -P "$SERVER" | head -n 1)
	[ -n "$victim" ]
	kill -KILL "$victim"
	wait_log 'event=end instance=[0-9]+ client=- recycle=connection served=0 duration_ms=[0-9]+ status=signal:9 reason=killed$'
	# Replaced: the pool (2) is full again, and the server serves.
	for _ in $(seq 50); do
		[ "$(pgrep -P "$SERVER" | grep -vcx "$victim")" -ge 2 ] && break
		sleep 0.1
	done
	assert [ "$(pgrep -P "$SERVER" | grep -vcx "$victim")" -ge 2 ]
	run ask hostname
	assert_output probe
}

@test "a service that fails at once: backoff, one crashloop line, connections refused at once, recovery" {
	stop_server
	build_fixture crash
	start_server "$W/out/crash.erofs"
	# Three seconds of connections, one after another: each is over (closed
	# by the failing service or refused) at once, none waits in a queue.
	local n=0 slow=0 rc end=$((SECONDS + 3))
	while [ "$SECONDS" -lt "$end" ]; do
		rc=0
		timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && echo fail >&3 && cat <&3' \
			_ "$PORT" >/dev/null 2>&1 || rc=$?
		[ "$rc" -ne 124 ] || slow=$((slow + 1))
		n=$((n + 1))
	done
	assert_equal "$slow" 0
	assert [ "$n" -ge 20 ]
	run grep -cE '^imgsupd: event=crashloop failures=3 delay_ms=[0-9]+$' "$W/server.log"
	assert_output 1
	run grep -E 'event=refused client=127\.0\.0\.1:[0-9]+ reason=backoff' "$W/server.log"
	assert_success
	# Instances were started at the backoff's pace (250 ms, doubling), not
	# one per connection: a few in those seconds.
	run grep -c 'event=end ' "$W/server.log"
	assert [ "$output" -le 8 ]
	# Once a service runs, the row of failures is over: the next instance
	# (after the backoff, up to 10 s) is the one the fix reaches.
	for _ in $(seq 150); do
		[ "$(ask fix)" = fixed ] && break
		sleep 0.1
	done
	run ask fix
	assert_output fixed
	wait_log '^imgsupd: event=recovered failures=[0-9]+$'
}

@test "what an earlier instance wrote to a log area can be appended to, never truncated, renamed or removed" {
	run ask log first
	assert_output logged
	run ask truncate /var/log/probe/probe.log
	assert_output "truncate refused"
	run ask rm /var/log/probe/probe.log
	assert_line "rm 1"
	run ask mv /var/log/probe/probe.log
	assert_line "mv 1"
	# A file of its own, and a directory: sealed once the instance ended.
	run ask write /var/log/probe/mine
	assert_output written
	run ask rm /var/log/probe/mine
	assert_line "rm 1"
	run ask log second
	assert_output logged
	run ask read /var/log/probe/probe.log
	assert_output "$(printf 'first\nsecond')"
	run ask read /var/log/probe/mine
	assert_output data
}
