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
