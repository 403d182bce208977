#!/usr/bin/env bats
# The launch plan (runtime/launch.h): a jail and a VM start the service
# from the same plan, built from the same service spec. The probe
# (tests/fixtures/serve/plan.sh) prints every field of the plan as the
# service sees it; every field of the fixture's service is set to a value
# that no default gives, so a path that ignores one shows it.

load helpers
load serve-helpers
bats_require_minimum_version 1.5.0

export IMGTOOL_ACCEL=tcg
BATS_TEST_TIMEOUT=180

setup_file() {
	D="$BATS_FILE_TMPDIR/plan"
	mkdir -p "$D"
	"$IMGTOOL" build -q -o "$D/out" "$ROOT/tests/fixtures/serve/plan.xml"
	# The same recipe without a workdir: the service starts in the home.
	mkdir -p "$D/home"
	cp "$ROOT/tests/fixtures/serve/plan.sh" "$D/home/"
	sed -e 's| workdir="/srv/work"||' -e 's|name="plan"|name="planhome"|' \
	    -e "s|href=\"../../../templates/|href=\"$ROOT/templates/|" \
	    "$ROOT/tests/fixtures/serve/plan.xml" >"$D/home/planhome.xml"
	"$IMGTOOL" build -q -o "$D/out" "$D/home/planhome.xml"
}

setup() {
	W=$(workdir)
	D="$BATS_FILE_TMPDIR/plan"
}

teardown() {
	stop_server
}

# What the plan says, for the lines the probe prints in every mode.
expected() {
	cat <<'END'
argv /bin/plan first second
cwd /srv/work
ids 123 124 124
env GREETING=hello there
env HOME=/srv
env LOGNAME=planner
env PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
env USER=planner
limit cpu 7 7
limit fsize 3145728 3145728
limit core 0 0
limit nofile 50 50
status CapPrm: 0000000000000000
status CapEff: 0000000000000000
status CapBnd: 0000000000000000
status NoNewPrivs: 1
status Seccomp: 2
END
}

# The probe's lines that the plan decides: not those of the shell (PWD,
# SHLVL), the terminal (TERM) or the connection (stdio, TCP variables).
planned() {
	grep -vE '^env (PWD|SHLVL|TERM|PROTO|TCP[A-Z]*|REMOTE_[A-Z]*)=|^(stdin|stderr) '
}

@test "imgtool run starts a jail's service as the plan says: argv, workdir, user, environment, limits, filter" {
	run --separate-stderr "$IMGTOOL" run "$D/out/plan.erofs" </dev/null
	assert_success
	[ "$(planned <<<"$output")" = "$(expected)" ]
}

@test "imgtool run starts a VM's service from the same plan" {
	run --separate-stderr "$IMGTOOL" run "$D/out/plan.qcow2" </dev/null
	assert_success
	[ "$(planned <<<"$output")" = "$(expected)" ]
}

@test "without a workdir, the service starts in the user's home, in a jail and in a VM" {
	run "$IMGTOOL" run "$D/out/planhome.erofs" </dev/null
	assert_success
	assert_line "cwd /srv"
	run "$IMGTOOL" run "$D/out/planhome.qcow2" </dev/null
	assert_success
	assert_line "cwd /srv"
}

# Connects, sends nothing, prints what the probe wrote.
probe_once() {
	timeout 60 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; cat <&3' _ "$PORT"
}

@test "served, a jail and a VM give the service the same plan, the connection on stdin and the recipe's stderr file" {
	start_server "$D/out/plan.erofs"
	jail=$(probe_once)
	stop_server
	start_vm_server "$D/out/plan.qcow2"
	vm=$(probe_once)
	stop_server
	[ "$(planned <<<"$jail")" = "$(expected)" ]
	[ "$(planned <<<"$vm")" = "$(expected)" ]
	for out in "$jail" "$vm"; do
		grep -qx "stdin socket" <<<"$out"
		grep -qx "stderr /var/log/plan/err.log" <<<"$out"
		grep -qx "env PROTO=TCP" <<<"$out"
		grep -qx "env TCPLOCALPORT=$PORT" <<<"$out" ||
			grep -qx "env TCPLOCALIP=127.0.0.1" <<<"$out"
		grep -qx "env REMOTE_ADDR=127.0.0.1" <<<"$out"
	done
	# The TCP variables are the same names in both.
	[ "$(grep -oE '^env (TCP[A-Z]*|REMOTE_[A-Z]*|PROTO)=' <<<"$jail")" = \
	  "$(grep -oE '^env (TCP[A-Z]*|REMOTE_[A-Z]*|PROTO)=' <<<"$vm")" ]
	run "$IMGTOOL" logs "$D/out/plan.erofs"
	assert_output --partial "plan probe on stderr"
}

@test "imgtool run of a VM image refuses a command of its own: a VM runs its recipe's service" {
	run "$IMGTOOL" run "$D/out/plan.qcow2" -- /bin/busybox true </dev/null
	assert_failure 2
	assert_output --partial "-- CMD is for jail images"
}
