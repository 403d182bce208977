#!/usr/bin/env bats
# imgsupd with recycle="session": one instance per client, gone when idle.

load helpers
load serve-helpers

setup() {
	W=$(workdir)
	build_fixture session
	start_server "$W/out/session.erofs"
	sleep 2.5	# let the readiness probe's session go idle
}

teardown() {
	stop_server
}

@test "a client's connections share one instance while it is active" {
	run ask write /tmp/mark
	assert_output written
	run ask read /tmp/mark
	assert_output data
}

@test "each connection is a new service process in the session" {
	local pids=() i
	run ask write /tmp/mark
	assert_output written
	for i in 1 2 3; do
		run ask status
		assert_line --regexp '^Seccomp:[[:space:]]+2$'
		assert_line --regexp '^CapEff:[[:space:]]+0+$'
		pids+=("$(awk '$1 == "Pid:" { print $2 }' <<<"$output")")
	done
	run ask read /tmp/mark
	assert_output data
	# Three processes: a PID each, all numbers of the session's one PID
	# namespace (an instance per connection would give each the same).
	assert_equal "$(printf '%s\n' "${pids[@]}" | grep -cE '^[0-9]+$')" 3
	assert_equal "$(printf '%s\n' "${pids[@]}" | sort -u | wc -l)" 3
	# One instance served the five connections.
	stop_server
	run grep -E 'event=end instance=[0-9]+ client=127\.0\.0\.1:[0-9]+ recycle=session served=5 ' "$W/server.log"
	assert_success
}

@test "with network loopback, lo is up" {
	run ask lo
	assert_output "lo up"
}

@test "after the idle timeout the client's next session starts fresh" {
	run ask write /tmp/mark
	assert_output written
	sleep 3
	run ask read /tmp/mark
	assert_output --partial "No such file"
	run grep -E 'event=end .*recycle=session served=[0-9]+ .*reason=idle' "$W/server.log"
	assert_success
}

@test "SIGHUP recycles sessions now" {
	run ask write /tmp/mark
	assert_output written
	sleep 0.3
	kill -HUP "$SERVER"
	sleep 0.5
	run ask read /tmp/mark
	assert_output --partial "No such file"
	run grep -E 'event=end .*reason=recycled' "$W/server.log"
	assert_success
}

@test "one connection's service cannot signal another's: each is its own Landlock domain" {
	# Connection A tells its PID and stays; connection B, of the same
	# session, same user, same PID namespace, tries kill -0 on it.
	local conn pid
	exec {conn}<>"/dev/tcp/127.0.0.1/$PORT"	# not fd 3: bats' own
	printf 'hold 10\n' >&"$conn"
	read -r -t 10 pid <&"$conn"
	assert_regex "$pid" '^[0-9]+$'
	run ask signal "$pid"
	exec {conn}<&-
	assert_output --partial "Operation not permitted"
	# Its own processes it may signal.
	run ask signal self
	assert_output signalled
}

# A client of 127.0.0.1:$1 that holds six connections open (their services
# wait for a line), then makes twenty rounds of two short ones at once
# (eight at most at once), asking each for the hostname; prints the number
# of answers. A bash of its own, with no fork per connection (bats traps
# every command of a test): the next round comes as fast as a client can,
# before a late report of the last one's end would arrive.
busy_client() {
	bash -c '
		for fd in 20 21 22 23 24 25; do
			eval "exec $fd<>/dev/tcp/127.0.0.1/$1" || exit 1
		done
		n=0
		for _ in $(seq 20); do
			exec 7<>"/dev/tcp/127.0.0.1/$1" 8<>"/dev/tcp/127.0.0.1/$1" || exit 1
			echo hostname >&7
			echo hostname >&8
			a= b=
			while IFS= read -r -t 10 l <&7; do a+=$l; done 2>/dev/null
			while IFS= read -r -t 10 l <&8; do b+=$l; done 2>/dev/null
			exec 7<&- 8<&-
			[ "$a $b" != "session session" ] || n=$((n + 2))
		done
		echo "$n"' _ "$1"
}

@test "a client under its per-client cap is never refused: a connection counts until it ends" {
	stop_server
	start_server --per-client 8 "$W/out/session.erofs"
	run busy_client "$PORT"
	assert_output 40
	run grep -E 'event=refused' "$W/server.log"
	assert_output ""
}
