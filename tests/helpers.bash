# Shared by every bats suite: assertions, paths, and a private work dir.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '/usr/lib/bats/bats-file/load'

# Every test has a time limit: BATS_TEST_TIMEOUT seconds (bats-core 1.7 and
# later), 120 unless the environment says otherwise: a jail test takes
# seconds, and the waits of the helpers that a test chains (a start, a log
# line, an answer: 10, 60, 10 s) stay below it, so that a wait that runs
# out reports itself. A suite that needs more (the VM suites) sets its own
# after loading this file. A test that runs over is killed, reported
# "not ok ... # timeout after Ns", and its teardown runs.
: "${BATS_TEST_TIMEOUT:=120}"

# The processes below $1, one per line, but the trees of $2 ... .
process_tree() {
	local -A children=() skip=()
	local pid ppid todo next
	for pid in "${@:2}"; do
		skip[$pid]=1
	done
	while read -r pid ppid; do
		children[$ppid]+=" $pid"
	done < <(ps -e -o pid= -o ppid=)
	todo=${children[$1]:-}
	while [ -n "$todo" ]; do
		next=
		for pid in $todo; do
			[ -z "${skip[$pid]:-}" ] || continue
			echo "$pid"
			next+=${children[$pid]:-}
		done
		todo=$next
	done
}

# The start time of process $1 (field 22 of proc_pid_stat(5)), in clock
# ticks since boot; nothing for a zombie or a process that is gone.
start_time() {
	local stat f
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# what follows the command's name: field 3 (the state) on
	read -ra f <<<"${stat##*) }"
	[ "${f[0]}" != Z ] && echo "${f[19]}"
}

# SIGTERM to the processes below $1 (but the trees of $2 ...), and 5 s
# later SIGKILL to those of them that are still there: the ones that were
# seen at first, never a process started since (a teardown's) nor another
# that took a PID of theirs.
kill_tree() {
	local -A started=()
	local pid t alive
	for pid in $(process_tree "$@"); do
		t=$(start_time "$pid") && started[$pid]=$t
	done
	[ ${#started[@]} -gt 0 ] || return 0
	kill -TERM "${!started[@]}" 2>/dev/null
	for _ in $(seq 50); do
		alive=
		for pid in "${!started[@]}"; do
			[ "$(start_time "$pid")" != "${started[$pid]}" ] || alive+=" $pid"
		done
		[ -n "$alive" ] || return 0
		sleep 0.1
	done
	# shellcheck disable=SC2086 # one pid per word
	kill -KILL $alive 2>/dev/null
	return 0
}

# At the timeout, bats 1.8 sends SIGABRT to the test's process, which exits
# (and runs the teardown) once its current command is over, and kills that
# process' children: a command under `run` that never ends, a grandchild
# below run's command substitution, would hold the test, and so the whole
# run, for ever. Two functions of bats, called by name after this file is
# loaded, also end the rest of the test's processes:
#  - bats_kill_childprocesses_of, in bats' countdown process, for a test
#    whose command blocks: all the processes below the test's (but the
#    countdown's own). The countdown ignores the SIGABRT with which the
#    test ends it, and the test's SIGTERM, so that it gets to the SIGKILL.
#  - bats_timeout_trap, in the test's process, when the SIGABRT is handled:
#    its processes that the countdown did not see, as they were still
#    running when the test exited (its background ones, when it was in
#    `wait` or a loop of builtins). The countdown is left alone.
if declare -F bats_kill_childprocesses_of >/dev/null; then
	bats_kill_childprocesses_of() {
		trap '' ABRT TERM
		kill_tree "$1" "$BASHPID"
	}
fi
if declare -F bats_timeout_trap >/dev/null; then
	eval "bats_timeout_trap_of_bats() $(declare -f bats_timeout_trap | tail -n +2)"
	bats_timeout_trap() {
		# shellcheck disable=SC2086 # the countdown's PID, or none
		kill_tree $$ ${BATS_killer_pid:-}
		bats_timeout_trap_of_bats "$@"
	}
fi

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
IMGTOOL="$ROOT/build/bin/imgtool"
export IMGTOOL_SCHEMA="$ROOT/builder/recipe.rng"

# Runs imgtool from the repository root, so that messages carry the same
# relative paths as the fixtures' expectations.
imgtool() {
	(cd "$ROOT" && "$IMGTOOL" "$@")
}

# A fresh directory per test, removed by bats afterwards.
workdir() {
	W="$BATS_TEST_TMPDIR/w"
	mkdir -p "$W"
	echo "$W"
}

# Runs a command as an unprivileged user (nobody), for the rootless tests.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
}

# The prefix compiled into program $1 (make's PREFIX at its build), where
# it looks for its files last, when they are neither where the
# environment says nor in its own tree (base/util.c: locate_file).
compiled_prefix() {
	strings -n 8 "$1" | sed -n -E 's@^(/.+)/(share|lib)/imgtool/.*@\1@p' | head -n 1
}

# Sets HIDE_INSTALL to a command that runs its arguments where the
# prefix compiled into program $1 holds no imgtool files: its share/imgtool
# and lib/imgtool are empty tmpfs mounts in a mount namespace of their own.
# A machine where imgtool is installed (make install PREFIX=/usr/local)
# would otherwise lend its files to a tree of ours that lacks one. The
# command execs what it runs: $! of it in the background is that program.
hide_install_of() {
	local prefix
	prefix=$(compiled_prefix "$1")
	[ -n "$prefix" ] || { echo "no install prefix in $1" >&2; return 1; }
	# shellcheck disable=SC2016,SC2034 # expanded by that sh; for the suites
	HIDE_INSTALL=(unshare -m --propagation private sh -c '
		set -e
		for d in "$1/share/imgtool" "$1/lib/imgtool"; do
			[ ! -d "$d" ] || mount -t tmpfs -o mode=0755 tmpfs "$d"
		done
		shift
		exec "$@"' sh "$prefix")
}
