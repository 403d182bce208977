# Shared by every bats suite: assertions, paths, and a private work dir.
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load '/usr/lib/bats/bats-file/load'

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
