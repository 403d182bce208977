#!/usr/bin/env bats
# imgtool build: outputs, rootless owners, reproducibility, atomicity, cache.

load helpers

setup() {
	W=$(workdir)
}

# Copies the web recipe with everything it needs into $1, so that a test
# can change its inputs without touching the repository.
copy_web() {
	mkdir -p "$1/recipes" "$1/templates"
	cp -r "$ROOT/recipes/web.xml" "$ROOT/recipes/web" "$1/recipes/"
	cp "$ROOT"/templates/*.xml "$1/templates/"
}

# Mounts an erofs or squashfs image read-only at $2 (the test runs as root).
mount_image() {
	mkdir -p "$2"
	mount -o loop,ro "$1" "$2"
}

@test "build writes the erofs image, the log volume and the manifest" {
	run imgtool build -q -o "$W/out" recipes/web.xml
	assert_success
	assert_output ""
	assert_file_exists "$W/out/web.erofs"
	assert_file_exists "$W/out/web.logs.img"
	assert_file_exists "$W/out/web.manifest.xml"
	run fsck.erofs "$W/out/web.erofs"
	assert_success
	run xmllint --noout "$W/out/web.manifest.xml"
	assert_success
}

@test "options may follow the recipe, as in the README's tour" {
	run imgtool build recipes/web.xml -o "$W/out" -q
	assert_success
	assert_file_exists "$W/out/web.erofs"
}

@test "the manifest records every file with its sha256, the areas and the service" {
	imgtool build -q -o "$W/out" recipes/web.xml
	want=$(sha256sum "$ROOT/recipes/web/site/index.html" | cut -d' ' -f1)
	run grep -F "path=\"/www/index.html\"" "$W/out/web.manifest.xml"
	assert_success
	assert_output --partial "sha256=\"$want\""
	run grep -F '<writable path="/var/log/httpd" kind="log"' "$W/out/web.manifest.xml"
	assert_success
	run grep -F '<service user="www" uid="100" gid="100" recycle="connection"' "$W/out/web.manifest.xml"
	assert_success
}

@test "the manifest is also inside the image" {
	imgtool build -q -o "$W/out" recipes/web.xml
	mount_image "$W/out/web.erofs" "$W/mnt"
	run grep -c 'path="/www/index.html"' "$W/mnt/etc/imgtool/manifest.xml"
	umount "$W/mnt"
	assert_output 1
}

@test "a chrooted dynamically linked program runs from the built tree" {
	cat >"$W/dyn.xml" <<-XML
	<recipe name="dyn" version="1">
	  <contents><program path="/usr/bin/ls"/></contents>
	  <outputs><jail format="tree"/></outputs>
	</recipe>
	XML
	run "$IMGTOOL" build -q -o "$W/out" "$W/dyn.xml"
	assert_success
	run readelf -d /usr/bin/ls
	assert_output --partial "NEEDED"
	run chroot "$W/out/dyn.tree" /usr/bin/ls /usr/bin
	assert_success
	assert_output "ls"
}

@test "a jail build needs no root and the image carries the declared owners and modes" {
	# bats' own temporary directories are private to root.
	R=$(mktemp -d /tmp/imgtool-rootless.XXXXXX)
	chmod 755 "$R"
	copy_web "$R/src"
	chown -R nobody "$R"
	run as_nobody "$IMGTOOL" build -q -o "$R/out" --format erofs,squashfs,tar "$R/src/recipes/web.xml"
	mv "$R/out" "$W/out"
	rm -rf "$R"
	assert_success
	run stat -c '%U' "$W/out/web.erofs"
	assert_output nobody
	for img in erofs squashfs; do
		mount_image "$W/out/web.$img" "$W/mnt-$img"
		run stat -c '%a %u:%g' "$W/mnt-$img/www" "$W/mnt-$img/www/index.html" \
			"$W/mnt-$img/etc/motd" "$W/mnt-$img/var/log/httpd" "$W/mnt-$img/bin/busybox"
		umount "$W/mnt-$img"
		assert_output "$(printf '555 0:0\n444 0:0\n444 0:0\n755 100:100\n755 0:0')"
	done
	run tar -tvf "$W/out/web.tar" ./var/log/httpd
	assert_output --regexp '^drwxr-xr-x 100/100 '
	# The log volume's area belongs to the service user.
	run debugfs -R 'stat /var/log/httpd' "$W/out/web.logs.img"
	assert_output --regexp 'User: +100 +Group: +100'
}

@test "the same recipe and inputs give bit-identical images in other directories at other times" {
	copy_web "$W/a"
	copy_web "$W/b"
	touch -d '2001-01-01' "$W/b/recipes/web/site/index.html" "$W/b/recipes/web.xml"
	(cd "$W/a" && "$IMGTOOL" build -q -o out --format erofs,squashfs,tar recipes/web.xml)
	sleep 1
	(cd "$W/b" && "$IMGTOOL" build -q -o "$W/b/elsewhere" --format erofs,squashfs,tar recipes/web.xml)
	# the log volume too: mke2fs -d copies the staged directories' times
	for f in web.erofs web.squashfs web.tar web.logs.img; do
		run cmp "$W/a/out/$f" "$W/b/elsewhere/$f"
		assert_success
	done
}

@test "a full disk fails the build with the path of the file that could not be written" {
	mkdir "$W/small"
	mount -t tmpfs -o size=1m tmpfs "$W/small"
	run "$IMGTOOL" build -o "$W/small/out" recipes/web.xml
	umount "$W/small"
	assert_failure
	assert_output --regexp "imgtool: $W/small/out/[^ ]+: No space left on device"
}

@test "SOURCE_DATE_EPOCH sets every timestamp in the image" {
	SOURCE_DATE_EPOCH=1700000000 imgtool build -q -o "$W/out" --format tar recipes/web.xml
	run tar -tvf "$W/out/web.tar" --full-time ./www/index.html
	assert_output --partial "2023-11-14 22:13:20"
	run grep -c 'epoch="1700000000"' "$W/out/web.manifest.xml"
	assert_output 1
}

@test "an unchanged rebuild is a cache hit that writes nothing" {
	imgtool build -q -o "$W/out" recipes/web.xml
	before=$(stat -c '%i %Y' "$W/out/web.erofs" "$W/out/web.manifest.xml")
	run imgtool build -o "$W/out" recipes/web.xml
	assert_success
	assert_output "web: up to date"
	assert_equal "$(stat -c '%i %Y' "$W/out/web.erofs" "$W/out/web.manifest.xml")" "$before"
}

@test "a change to any input rebuilds: a tree file, an included template, the recipe, a host binary" {
	copy_web "$W/s"
	cp /bin/busybox "$W/s/busybox"
	# The copy lives under /tmp, which the recipe makes a scratch area.
	sed -i -e "s|<contents>|<contents><program path=\"$W/s/busybox\"/>|" \
		-e 's|path="/tmp"|path="/scratch"|' "$W/s/recipes/web.xml"
	cd "$W/s"
	"$IMGTOOL" build -q -o out recipes/web.xml
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_output "web: up to date"

	echo changed >>recipes/web/site/index.html
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_output --partial "web: wrote"

	sed -i 's|"/bin/sh"|"/bin/ash"|' templates/busybox.xml
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_output --partial "web: wrote"

	sed -i 's|size="16M"|size="17M"|' recipes/web.xml
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_output --partial "web: wrote"

	printf 'x' >>"$W/s/busybox"
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_output --partial "web: wrote"
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_output "web: up to date"
}

@test "a build killed with SIGKILL at any point leaves no partial file under a final name" {
	copy_web "$W/s"
	cd "$W/s"
	for delay in 0 0.005 0.01 0.02 0.04 0.06 0.08 0.1 0.15 0.2 0.3; do
		rm -rf out
		"$IMGTOOL" build -q -o out --format erofs,squashfs,tar recipes/web.xml &
		pid=$!
		sleep "$delay"
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" || true
		# Whatever stands under a final name is complete.
		[ ! -e out/web.erofs ] || fsck.erofs out/web.erofs >/dev/null
		[ ! -e out/web.squashfs ] || unsquashfs -s out/web.squashfs >/dev/null
		[ ! -e out/web.tar ] || tar -tf out/web.tar >/dev/null
		[ ! -e out/web.logs.img ] || e2fsck -fn out/web.logs.img >/dev/null
		[ ! -e out/web.manifest.xml ] || xmllint --noout out/web.manifest.xml
		# The next build completes and removes what the killed one left.
		"$IMGTOOL" build -q -o out --format erofs,squashfs,tar recipes/web.xml
		run "$IMGTOOL" verify out/web.erofs
		assert_success
		run sh -c 'ls -A out | grep -c "^\.web\.build"'
		assert_output 0
	done
}

@test "a failed rebuild leaves the previous good image in place" {
	copy_web "$W/s"
	cd "$W/s"
	"$IMGTOOL" build -q -o out recipes/web.xml
	good=$(sha256sum out/web.erofs out/web.manifest.xml)
	echo changed >>recipes/web/site/index.html
	# mkfs.erofs fails half-way through this rebuild.
	mkdir fail
	printf '#!/bin/sh\necho partial >"$6"; exit 1\n' >fail/mkfs.erofs
	chmod +x fail/mkfs.erofs
	run env PATH="$PWD/fail:$PATH" "$IMGTOOL" build -q -o out recipes/web.xml
	assert_failure 1
	assert_output --partial "mkfs.erofs exited with status 1"
	assert_equal "$(sha256sum out/web.erofs out/web.manifest.xml)" "$good"
	run ls -A out
	assert_output "$(printf 'web.erofs\nweb.logs.img\nweb.manifest.xml')"
}

@test "a rebuild keeps the log volume and what instances wrote to it" {
	copy_web "$W/s"
	cd "$W/s"
	"$IMGTOOL" build -q -o out recipes/web.xml
	echo "GET / 200" >"$W/line"
	debugfs -w -R "write $W/line /var/log/httpd/access.log" out/web.logs.img
	echo changed >>recipes/web/site/index.html
	"$IMGTOOL" build -q -o out recipes/web.xml
	run debugfs -R 'cat /var/log/httpd/access.log' out/web.logs.img
	assert_output --partial "GET / 200"
}

@test "a build shows its stages on a terminal, and -q silences it" {
	run script -qec "$IMGTOOL build --force -o $W/out $ROOT/recipes/web.xml" /dev/null
	assert_success
	assert_output --partial "[1/"
	assert_output --partial "writing web.erofs"
	run script -qec "$IMGTOOL build -q --force -o $W/out $ROOT/recipes/web.xml" /dev/null
	assert_success
	assert_output ""
}

@test "device nodes in a tree are refused" {
	mkdir -p "$W/site"
	mknod "$W/site/null" c 1 3
	cat >"$W/dev.xml" <<-XML
	<recipe name="dev" version="1">
	  <contents><tree src="site" dest="/www"/></contents>
	</recipe>
	XML
	run "$IMGTOOL" build -o "$W/out" "$W/dev.xml"
	assert_failure 3
	assert_output --partial "$W/site/null: only files, directories and symlinks"
	assert_file_not_exists "$W/out/dev.erofs"
}

@test "a symlink in a tree pointing outside the image is refused" {
	mkdir -p "$W/site"
	ln -s ../../../etc/shadow "$W/site/shadow"
	cat >"$W/link.xml" <<-XML
	<recipe name="link" version="1">
	  <contents><tree src="site" dest="/www"/></contents>
	</recipe>
	XML
	run "$IMGTOOL" build -o "$W/out" "$W/link.xml"
	assert_failure 3
	assert_output --partial "points outside the image"
}

@test "--format chooses the outputs and refuses an unknown one" {
	run imgtool build -q -o "$W/out" --format squashfs,tree recipes/web.xml
	assert_success
	assert_file_exists "$W/out/web.squashfs"
	assert_dir_exists "$W/out/web.tree/www"
	assert_file_not_exists "$W/out/web.erofs"
	run imgtool build -o "$W/out" --format zip recipes/web.xml
	assert_failure 2
	assert_output --partial 'unknown format "zip"'
}

# What the built image serves, through the serving path (imgsupd's checks
# of the image and of both manifests included): /www/index.html, a file,
# and $SPEC, a variable of the recipe's service, so that a mix of two
# builds' files and specs would show.
served() {
	"$IMGTOOL" run "$1" -- /bin/sh -c 'cat /www/index.html; echo "spec=$SPEC"' 2>/dev/null
}

@test "a build killed before any of its renames and fsyncs leaves the previous or the new image servable, and the next build puts things right" {
	copy_web "$W/s"
	cd "$W/s"
	f=recipes/web/site/index.html
	sed -i 's|<exec>|<env name="SPEC" value="a"/><exec>|' recipes/web.xml
	cp recipes/web.xml "$W/a.xml"
	sed 's|value="a"|value="b"|' "$W/a.xml" >"$W/b.xml"
	cp "$f" "$W/a"
	printf 'B\n' >>"$f"
	cp "$f" "$W/b"
	printf '%s\nspec=a\n' "$(cat "$W/a")" >"$W/a.served"
	printf '%s\nspec=b\n' "$(cat "$W/b")" >"$W/b.served"
	cp "$W/a" "$f"
	"$IMGTOOL" build -q -o out --format erofs,tree recipes/web.xml
	have=a want=b n=1
	while :; do
		cp "$W/$want" "$f"
		cp "$W/$want.xml" recipes/web.xml
		run env IMGTOOL_FAULT="rename:$n" "$IMGTOOL" build -q -o out \
			--format erofs,tree recipes/web.xml
		[ "$status" -ne 0 ] || break
		assert_equal "$status" 137
		# Killed before rename or fsync N: the old set or the new, whole,
		# for every output, from its plain name.
		for img in out/web.erofs out/web.tree; do
			run served "$img"
			assert_success
			[ "$output" = "$(cat "$W/$have.served")" ] ||
				[ "$output" = "$(cat "$W/$want.served")" ] ||
				fail "fault $n: $img served a mix: $output"
			# verify says whether the name holds what its manifest says.
			run "$IMGTOOL" verify "$img"
			[ "$status" -eq 0 ] ||
				assert_output --partial "a build was killed before its manifest was in place"
		done
		# The next build completes and leaves nothing else behind: no
		# leftover of the killed build, nor a manifest temporary.
		: >out/web.manifest.xml.tmp.Ab12Cd
		"$IMGTOOL" build -q -o out --format erofs,tree recipes/web.xml
		run ls -A out
		assert_output "$(printf 'web.erofs\nweb.logs.img\nweb.manifest.xml\nweb.tree')"
		for img in out/web.erofs out/web.tree; do
			run served "$img"
			assert_output "$(cat "$W/$want.served")"
			run "$IMGTOOL" verify "$img"
			assert_success
		done
		t=$have have=$want want=$t n=$((n + 1))
		[ "$n" -lt 40 ] || fail "the build never completed"
	done
	# Every rename and fsync of the install was a fault point.
	[ "$n" -gt 8 ]
	run served out/web.tree
	assert_output "$(cat "$W/$want.served")"
}

@test "a killed build's leftovers go with the next build, even one that is up to date" {
	copy_web "$W/s"
	cd "$W/s"
	"$IMGTOOL" build -q -o out recipes/web.xml
	printf 'C\n' >>recipes/web/site/index.html
	run env IMGTOOL_FAULT="rename:4" "$IMGTOOL" build -q -o out recipes/web.xml
	assert_failure 137
	: >out/web.manifest.xml.tmp.Ab12Cd
	# Back to what the manifest in place describes: a cache hit.
	sed -i '$d' recipes/web/site/index.html
	run "$IMGTOOL" build -o out recipes/web.xml
	assert_success
	assert_output "web: up to date"
	run ls -A out
	assert_output "$(printf 'web.erofs\nweb.logs.img\nweb.manifest.xml')"
	run "$IMGTOOL" verify out/web.erofs
	assert_success
}

@test "a source file rewritten in place at the same size during a build fails it, naming the file" {
	copy_web "$W/s"
	cd "$W/s"
	f=recipes/web/site/index.html
	run env IMGTOOL_FAULT="gathered:tr a-z A-Z <$f >x && cat x >$f" \
		"$IMGTOOL" build -q -o out recipes/web.xml
	assert_failure 1
	assert_output --partial "$f changed during the build"
	[ ! -e out/web.manifest.xml ]
	[ ! -e out/web.erofs ]
	# Unchanged from here on, it builds.
	"$IMGTOOL" build -q -o out recipes/web.xml
	run "$IMGTOOL" verify out/web.erofs
	assert_success
}
