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
