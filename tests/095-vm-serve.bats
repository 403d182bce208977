#!/usr/bin/env bats
# imgsupd with VM images: a fresh VM per client session through libvirt's
# embedded QEMU driver. Every test here runs under TCG (IMGTOOL_ACCEL=tcg):
# CI machines may have no KVM, or one that does not work.

load helpers
load serve-helpers

# Several boots in a test, each waited for at most 90 s, connections at
# most 60 s (serve-helpers.bash): the time limit is above what they add up to.
BATS_TEST_TIMEOUT=300

export IMGTOOL_ACCEL=tcg

setup_file() {
	D="$BATS_FILE_TMPDIR/vm"
	mkdir -p "$D"
	"$IMGTOOL" build -q -o "$D/out" "$ROOT/tests/fixtures/serve/vmprobe.xml"
	"$IMGTOOL" build -q -o "$D/out" "$ROOT/tests/fixtures/serve/vmconn.xml"
	"$IMGTOOL" build -q -o "$D/out" "$ROOT/recipes/web-vm.xml"
}

setup() {
	W=$(workdir)
	D="$BATS_FILE_TMPDIR/vm"
}

teardown() {
	stop_server
}

# The processes that still name this run's directory (qemu, virtiofsd).
leftovers() {
	grep -l "/run/imgsupd/$1\." /proc/[0-9]*/cmdline 2>/dev/null | wc -l
}

@test "a page is served through imgsupd from a fresh VM" {
	start_vm_server "$D/out/web-vm.qcow2"
	run http_get /
	assert_success
	assert_line --index 0 --regexp '^HTTP/1\.[01] 200'
	assert_output --partial "$(cat "$ROOT/recipes/web/site/index.html")"
}

@test "the service in the VM is unprivileged, without capabilities, under seccomp" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask status
	assert_success
	assert_line --regexp '^Uid:[[:space:]]+101[[:space:]]'
	assert_line --regexp '^CapEff:[[:space:]]+0+$'
	assert_line --regexp '^NoNewPrivs:[[:space:]]+1$'
	assert_line --regexp '^Seccomp:[[:space:]]+2$'
}

@test "a response of megabytes crosses the channel whole" {
	start_vm_server "$D/out/vmprobe.qcow2"
	# The image's busybox is the host's: 1.9 MB through the relay.
	got=$(vm_ask read /bin/busybox | sha256sum)
	want=$(sha256sum </bin/busybox)
	[ "$got" = "$want" ]
}

@test "the root is read-only inside the guest" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask write /etc/probe-was-here
	assert_output --partial "Read-only file system"
	run vm_ask write /bin/probe
	assert_output --partial "Read-only file system"
}

@test "a VM has no network device but loopback" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask net
	assert_output lo
}

@test "a file written in one session is gone in the next" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask write /tmp/mark
	assert_output written
	run vm_ask read /tmp/mark
	assert_output data
	wait_log 'event=end .*recycle=session served=2 .*reason=idle'
	run vm_ask read /tmp/mark
	assert_output --partial "No such file"
}

@test "with recycle=connection every connection gets a fresh VM" {
	start_vm_server "$D/out/vmconn.qcow2"
	run vm_ask write /tmp/mark
	assert_output written
	run vm_ask read /tmp/mark
	assert_output --partial "No such file"
	ended='event=end instance=[0-9]+ client=127\.0\.0\.1:[0-9]+ recycle=connection served=1 .*status=exit:[0-9]+ reason=exit'
	for _ in $(seq 300); do
		[ "$(grep -cE "$ended" "$W/server.log")" -ge 2 ] && break
		sleep 0.1
	done
	run grep -cE "$ended" "$W/server.log"
	assert_output 2
}

@test "without a wall limit, a VM that waited in the pool past the boot timeout serves as long as needed" {
	start_vm_server "$D/out/vmconn.qcow2" --boot-timeout 8
	sleep 9		# the ready VM waits in the pool past its boot deadline
	run vm_ask sleep 2
	assert_output slept
	run grep -F 'reason=wall' "$W/server.log"
	assert_failure
}

@test "the log persists across sessions, and imgtool logs reads it" {
	start_vm_server "$D/out/vmprobe.qcow2"
	word="entry-$$-$RANDOM"
	run vm_ask log "$word"
	assert_output logged
	wait_log 'event=end .*reason=idle'
	run vm_ask read /var/log/probe/probe.log
	assert_output --partial "$word"
	run "$IMGTOOL" logs "$D/out/vmprobe.qcow2"
	assert_success
	assert_output --partial "$word"
}

@test "a guest that hangs is destroyed at its wall limit and the next session works" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask hang
	wait_log 'event=end .*reason=wall'
	run vm_ask id
	assert_output $'101\n101'
}

@test "a guest that crashes is destroyed and logged, and the supervisor goes on" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask id
	assert_output $'101\n101'
	# The session's VM (the first one booted): kill its qemu, as a crash
	# would end it. imgtool serve execs imgsupd, so $SERVER is its PID.
	pkill -KILL -f "guest=vmprobe-$SERVER-1,"
	wait_log 'event=end instance=1 .*reason=crashed'
	run vm_ask id
	assert_output $'101\n101'
}

@test "a guest that never comes up is destroyed and logged" {
	PORT=$(pick_port)
	"$IMGTOOL" serve "$D/out/vmprobe.qcow2" --boot-timeout 1 \
		--listen "127.0.0.1:$PORT" 2>"$W/server.log" &
	SERVER=$!
	wait_log 'event=end .*reason=boot-timeout'
	run grep -E 'event=error what=boot .*no ready message in 1 s' "$W/server.log"
	assert_success
	kill -0 "$SERVER"
}

@test "SIGTERM stops the VMs and leaves no qemu or virtiofsd behind" {
	start_vm_server "$D/out/vmprobe.qcow2"
	run vm_ask id
	assert_output $'101\n101'
	pid=$SERVER
	stop_server
	run leftovers "vmprobe"
	assert_output 0
	run grep -E 'event=stop' "$W/server.log"
	assert_success
}

@test "VMs of a supervisor killed by SIGKILL are removed by the next start" {
	start_vm_server "$D/out/vmprobe.qcow2"
	# imgtool serve execs imgsupd: $SERVER is the supervisor itself.
	kill -KILL "$SERVER"
	wait "$SERVER" 2>/dev/null || true
	SERVER=
	[ "$(leftovers vmprobe)" -gt 0 ]
	start_vm_server "$D/out/vmprobe.qcow2" --pool 1
	run vm_ask id
	assert_output $'101\n101'
	stop_server
	run leftovers "vmprobe"
	assert_output 0
}

@test "a VM image whose kernel is missing is refused, naming the file" {
	cp -a "$D/out" "$W/copy"
	rm "$W/copy/vmprobe.vmlinuz"
	run "$IMGTOOL" serve "$W/copy/vmprobe.qcow2" --listen 127.0.0.1:1
	assert_failure
	assert_output --partial "vmprobe.vmlinuz"
}

@test "a VM's manifest edited beside it is refused, naming what differs from the spec the guest runs" {
	cp -a "$D/out" "$W/copy"
	m="$W/copy/vmprobe.manifest.xml"
	cp "$m" "$W/good.xml"
	# The initramfs's digest still matches: only the outside spec changed.
	sed -i 's|<exec>/bin/probe</exec>|<exec>/bin/sh -c evil</exec>|' "$m"
	run "$IMGTOOL" serve "$W/copy/vmprobe.qcow2" --listen 127.0.0.1:1
	assert_failure 3
	assert_output --partial "vmprobe.manifest.xml: the service differs from the image's own manifest: exec \"/bin/sh -c evil\" (the image's: \"/bin/probe\") (the spec in its initramfs)"
	# The wall limit is the supervisor's to enforce: 0 would be none.
	cp "$W/good.xml" "$m"
	sed -i 's|wall="[0-9]*"|wall="0"|' "$m"
	run "$IMGTOOL" serve "$W/copy/vmprobe.qcow2" --listen 127.0.0.1:1
	assert_failure 3
	assert_output --partial "limits wall 0 (the image's: 8)"
}

@test "a VM build killed between its renames leaves the previous disk, kernel and initramfs served together" {
	# The probe recipe where it includes what it includes, with a variable
	# of the service that the guest shows (env).
	mkdir -p "$W/f/tests/fixtures/serve" "$W/f/templates"
	cp "$ROOT/tests/fixtures/serve/vmprobe.xml" "$ROOT/tests/fixtures/serve/probe.sh" \
		"$W/f/tests/fixtures/serve/"
	cp "$ROOT"/templates/*.xml "$W/f/templates/"
	r="$W/f/tests/fixtures/serve/vmprobe.xml"
	sed -i 's|<exec>|<env name="SPEC" value="old"/><exec>|' "$r"
	"$IMGTOOL" build -q -o "$W/out" "$r"
	sed -i 's|value="old"|value="new"|' "$r"
	# Faults 1-3 are the fsyncs of vmlinuz, initrd and the disk, 4-6 their
	# moves beside the outputs, 7-9 the exchanges: killed before the
	# disk's, with a new initramfs beside the old disk.
	run env IMGTOOL_FAULT=rename:9 "$IMGTOOL" build -q -o "$W/out" "$r"
	assert_failure 137
	ls "$W"/out/vmprobe.initrd.tmp.* "$W"/out/vmprobe.qcow2.tmp.*
	start_vm_server "$W/out/vmprobe.qcow2"
	run vm_ask env
	assert_line SPEC=old
	run grep -c 'event=warning what=image file=.*vmprobe.initrd message="does not match its manifest' "$W/server.log"
	assert_output 1
	stop_server
	# The next build puts the new set in place, and nothing else is left.
	"$IMGTOOL" build -q -o "$W/out" "$r"
	run ls -A "$W/out"
	assert_output "$(printf 'vmprobe.initrd\nvmprobe.logs.img\nvmprobe.manifest.xml\nvmprobe.qcow2\nvmprobe.vmlinuz')"
	start_vm_server "$W/out/vmprobe.qcow2"
	run vm_ask env
	assert_line SPEC=new
	run grep -c 'event=warning what=image' "$W/server.log"
	assert_output 0
}

@test "without qemu, imgsupd says what is missing and which package brings it" {
	run env PATH=/nonexistent "$ROOT/build/bin/imgsupd" --listen 127.0.0.1:1 \
		"$D/out/vmprobe.qcow2"
	assert_failure 1
	assert_output --partial "qemu-system-x86_64 not found"
	assert_output --partial "qemu-system-x86"
}

@test "a libvirt URI that cannot be opened is refused, naming it" {
	run "$ROOT/build/bin/imgsupd" --connect "nowhere:///system" \
		--listen 127.0.0.1:1 "$D/out/vmprobe.qcow2"
	assert_failure 1
	assert_output --partial "libvirt: cannot open nowhere:///system"
}

# A libvirtd of the host (qemu:///system), started here when none runs,
# stopped again by the test that started it.
start_libvirtd() {
	STARTED_LIBVIRTD=
	[ -S /run/libvirt/libvirt-sock ] && pgrep -x libvirtd >/dev/null && return 0
	mkdir -p /var/log/libvirt
	pgrep -x virtlogd >/dev/null || virtlogd -d -p "$W/virtlogd.pid"
	libvirtd -d -p "$W/libvirtd.pid"
	STARTED_LIBVIRTD=1
	for _ in $(seq 100); do
		[ -S /run/libvirt/libvirt-sock ] && return 0
		sleep 0.1
	done
	return 1
}

stop_libvirtd() {
	[ -n "${STARTED_LIBVIRTD:-}" ] || return 0
	for f in "$W/libvirtd.pid" "$W/virtlogd.pid"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
}

@test "with --connect, the VMs are a local libvirtd's, and the log is shared with them" {
	command -v libvirtd >/dev/null || skip "no libvirtd (package libvirt-daemon)"
	start_libvirtd
	# A libvirtd's qemu opens the image by its path, as its own user: the
	# image must sit where that user can reach it (bats' directories are
	# private).
	PUB=$(mktemp -d /var/tmp/imgtool-test.XXXXXX)
	chmod 755 "$PUB"
	cp -a "$D/out/." "$PUB/"
	start_vm_server "$PUB/vmprobe.qcow2" --connect qemu:///system
	word="system-$$-$RANDOM"
	run vm_ask log "$word"
	assert_output logged
	run grep -F 'vm=qemu:///system' "$W/server.log"
	assert_success
	stop_server
	run "$IMGTOOL" logs "$PUB/vmprobe.qcow2"
	assert_output --partial "$word"
	# The log volume was mounted where libvirtd sees it; it is gone now.
	run grep -c "/run/imgsupd/vmprobe\." /proc/mounts
	assert_output 0
	stop_libvirtd
	rm -rf "$PUB"
}

