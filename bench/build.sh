#!/bin/sh
# Benchmark: cold and warm build of recipes/web.xml, and the erofs image's
# size against the bytes of the files it holds. The peer is a bare
# mkfs.erofs of the same staged tree in the same run: the floor a build
# cannot go below.
#
#   sh bench/build.sh [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-10}
IMGTOOL=$PWD/build/bin/imgtool
export IMGTOOL_SCHEMA="$PWD/builder/recipe.rng"
. bench/common.sh

now() { date +%s%N; }

run_cold() {
	for _ in $(seq "$ROUNDS"); do
		rm -rf "$T/out"
		s=$(now); "$IMGTOOL" build -q -o "$T/out" recipes/web.xml; e=$(now)
		echo $(((e - s) / 1000))
	done | median
}

# The same cold build as an unprivileged user: owners through fakeroot.
run_cold_rootless() {
	id nobody >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] || { echo 0; return; }
	R=$(mktemp -d /tmp/imgtool-bench.XXXXXX)
	cp -r recipes templates "$R/"
	chmod 755 "$R"
	chown -R nobody "$R"
	for _ in $(seq "$ROUNDS"); do
		rm -rf "$R/out"
		s=$(now)
		setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
			env IMGTOOL_SCHEMA="$IMGTOOL_SCHEMA" "$IMGTOOL" build -q -o "$R/out" "$R/recipes/web.xml"
		e=$(now)
		echo $(((e - s) / 1000))
	done | median
	rm -rf "$R"
}

run_warm() {
	"$IMGTOOL" build -q -o "$T/out" recipes/web.xml
	for _ in $(seq "$ROUNDS"); do
		s=$(now); "$IMGTOOL" build -q -o "$T/out" recipes/web.xml; e=$(now)
		echo $(((e - s) / 1000))
	done | median
}

run_bare_mkfs() {
	"$IMGTOOL" build -q -o "$T/tree" --format tree recipes/web.xml
	for _ in $(seq "$ROUNDS"); do
		rm -f "$T/bare.erofs"
		s=$(now); mkfs.erofs --quiet -T0 "$T/bare.erofs" "$T/tree/web.tree"; e=$(now)
		echo $(((e - s) / 1000))
	done | median
}

cold=$(run_cold)
rootless=$(run_cold_rootless)
warm=$(run_warm)
bare=$(run_bare_mkfs)
image=$(stat -c %s "$T/out/web.erofs")
files=$(sed -n 's/.*<files count="[0-9]*" bytes="\([0-9]*\)".*/\1/p' "$T/out/web.manifest.xml")

echo "rounds: $ROUNDS (median)"
echo "cold build:          $((cold / 1000)) ms"
echo "cold, rootless:      $((rootless / 1000)) ms (as nobody, through fakeroot)"
echo "warm build:          $((warm / 1000)) ms (up to date)"
echo "bare mkfs.erofs:     $((bare / 1000)) ms (peer: packing alone)"
awk -v c="$cold" -v b="$bare" 'BEGIN {printf "cold / bare mkfs:    %.1f\n", c / b}'
echo "erofs image:         $image bytes"
echo "files in it:         $files bytes"
awk -v i="$image" -v f="$files" 'BEGIN {printf "image / files:       %.2f\n", i / f}'
