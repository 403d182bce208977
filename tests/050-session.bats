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
	run ask status
	assert_line --regexp '^Pid:[[:space:]]+[2-9][0-9]*$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
	assert_line --regexp '^CapEff:[[:space:]]+0+$'
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
