#!/usr/bin/env bats
# What a VM cannot do to its supervisor, the host or later VMs (issue 15):
# a hostile guest (tests/fixtures/hostile-init.c, standing for root in the
# guest) flooding the log and the console and planting a link for an area
# in the shared volume; a jailed guest service replacing its stderr file;
# a ready VM nobody uses; the files of a VM in the run directory.
# Under TCG, as 095; few boots, each test a server of its own.

load helpers
load serve-helpers

BATS_TEST_TIMEOUT=300

export IMGTOOL_ACCEL=tcg

setup_file() {
	D="$BATS_FILE_TMPDIR/vm"
	mkdir -p "$D/good" "$D/hostile"
	"$IMGTOOL" build -q -o "$D/good" "$ROOT/tests/fixtures/serve/vmprobe.xml"
	IMGTOOL_INIT="$ROOT/build/tests/hostile-init" \
		"$IMGTOOL" build -q -o "$D/hostile" "$ROOT/tests/fixtures/serve/vmprobe.xml"
}

setup() {
	W=$(workdir)
	D="$BATS_FILE_TMPDIR/vm"
	[ -x "$ROOT/build/tests/hostile-init" ] || fail "make unit builds build/tests/hostile-init"
}

teardown() {
	stop_server
}

# The files of the server's VMs in its run directory, as its mount
# namespace shows them: "MODE SIZE NAME" per file.
vm_files() {
	nsenter -t "$SERVER" -m sh -c \
		"cd /run/imgsupd/vmprobe.$SERVER/vm && stat -c '%a %s %n' *"
}

# Whether the server has started (with pool 0 no VM is ready before a client).
started() {
	grep -q 'event=start' "$W/server.log"
}

# A copy of an image's out directory, so that a test's log volume is its own.
own_copy() {
	cp -a "$D/$1" "$W/out"
}

@test "a hostile guest's log flood, console flood and planted area link: bounded, ended, mended" {
	own_copy hostile
	start_vm_server "$W/out/vmprobe.qcow2"
	# VM 1 floods: 20 lines of its burst logged, the rest dropped and
	# counted, and the flood ends it as a protocol violation.
	wait_log 'event=end instance=1 .*reason=protocol'
	wait_log 'event=warning what=guest-log instance=1 dropped=[0-9]+'
	run grep -c 'event=guest instance=1 ' "$W/server.log"
	assert_output 20
	run grep -c 'event=warning what=guest-log instance=1 note=.*over the budget' "$W/server.log"
	assert_output 1
	run grep -F 'more than 100 diagnostic frames in a second' "$W/server.log"
	assert_success
	[ "$(wc -l <"$W/server.log")" -lt 60 ]
	# VM 2, the real init, found the link VM 1 put in place of its log
	# area: moved aside, the directory made anew, said in the log.
	wait_log 'event=ready instance=2'
	run grep -E 'event=guest instance=2 .*area /var/log/probe: probe was a symbolic link; moved aside to probe.not-a-dir.1 and made anew' "$W/server.log"
	assert_success
	# The console flood (256 KiB) left no file behind: the console is a
	# socket drained into memory. The overlay is qemu's alone.
	run vm_files
	assert_success
	refute_output --regexp '\.console$'
	assert_line --regexp '^600 [0-9]+ .*/?2\.qcow2$'
	[ "$(awk '$3 !~ /^(disk|vmlinuz|initrd)$/ && $2 > 1048576' <<<"$output" | wc -l)" = 0 ]
	word="mended-$$-$RANDOM"
	run vm_ask log "$word"
	assert_output logged
	run vm_ask read /var/log/probe/probe.log
	assert_output --partial "$word"
	stop_server
	run "$IMGTOOL" logs "$W/out/vmprobe.qcow2"
	assert_output --partial "$word"
}

@test "a session that replaces the stderr file with a FIFO or a link does not block or silence later VMs" {
	own_copy good
	# Pool 0: each session's VM boots after the one before ended.
	launch_server 100 started "$W/out/vmprobe.qcow2" --pool 0 --max 1
	run vm_ask fifo /var/log/probe/stderr.log
	assert_output "fifo 0"
	wait_log 'event=end instance=1 .*reason=idle'
	run vm_ask link /var/log/probe/stderr.log
	assert_output "link 0"
	wait_log 'event=end instance=2 .*reason=idle'
	word="stderr-$$-$RANDOM"
	run vm_ask err "$word"
	assert_output sent
	run vm_ask read /var/log/probe/stderr.log
	assert_output --partial "$word"
	run grep -E 'event=guest instance=2 .*stderr.log was a FIFO; moved aside to stderr.log.not-a-file.1' "$W/server.log"
	assert_success
	run grep -E 'event=guest instance=3 .*stderr.log was a symbolic link; moved aside to stderr.log.not-a-file.2' "$W/server.log"
	assert_success
}

@test "a ready VM that nobody uses is recycled after --ready-timeout" {
	own_copy good
	start_vm_server "$W/out/vmprobe.qcow2" --ready-timeout 3
	wait_log 'event=end instance=1 .*reason=ready-timeout'
	wait_log 'event=ready instance=2'
	run vm_ask id
	assert_output $'101\n101'
	# Given a client, its wait's deadline is gone: the session ends idle.
	wait_log 'event=end instance=2 .*reason=idle'
	run grep -E 'event=end instance=2 .*reason=ready-timeout' "$W/server.log"
	assert_failure
}
