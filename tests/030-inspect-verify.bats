#!/usr/bin/env bats
# imgtool inspect and verify.

load helpers

setup() {
	W=$(workdir)
}

@test "inspect summarizes contents, sizes, writable areas and service" {
	imgtool build -q -o "$W/out" recipes/web.xml
	run "$IMGTOOL" inspect "$W/out/web.erofs"
	assert_success
	assert_line --regexp '^name +web version 1$'
	assert_line --regexp '^output +erofs +web.erofs \('
	assert_line --regexp '^  /www +3 entries'
	assert_line --regexp '^writable +/var/log/httpd +log +16.0 MiB +owner 100:100$'
	assert_line --regexp '^service +user www \(100:100\), recycle connection, network none$'
	assert_line '  exec     /bin/busybox httpd -i -vv -h /www'
}

@test "inspect of something that is not an image fails with status 3" {
	echo hello >"$W/x.erofs"
	echo '<nope/>' >"$W/x.manifest.xml"
	run "$IMGTOOL" inspect "$W/x.erofs"
	assert_failure 3
	assert_output "$W/x.erofs: not an image (erofs, squashfs, tar, tree, qcow2 or raw)"
	run "$IMGTOOL" inspect "$W/x.manifest.xml"
	assert_failure 3
	assert_output --partial "not a manifest"
}

@test "inspect and verify of a missing image fail and say it does not exist, even beside its manifest" {
	imgtool build -q -o "$W/out" recipes/web.xml
	rm "$W/out/web.erofs"
	for cmd in inspect verify; do
		run "$IMGTOOL" "$cmd" "$W/out/web.erofs"
		assert_failure 3
		assert_output "$W/out/web.erofs: No such file or directory"
	done
	# the manifest alone can still be inspected
	run "$IMGTOOL" inspect "$W/out/web.manifest.xml"
	assert_success
	assert_line --regexp '^name +web version 1$'
}

@test "inspect, verify, serve and run of an empty file say it is empty, not that it is bad XML" {
	: >"$W/x.erofs"
	for cmd in inspect verify; do
		run "$IMGTOOL" "$cmd" "$W/x.erofs"
		assert_failure 3
		assert_output "$W/x.erofs: an empty file (0 bytes), not an image"
	done
	for cmd in serve run; do
		run "$IMGTOOL" "$cmd" "$W/x.erofs"
		assert_failure 3
		assert_output "$W/x.erofs: an empty file (0 bytes), not an image or a recipe"
	done
}

@test "verify passes on every fresh format" {
	imgtool build -q -o "$W/out" --format erofs,squashfs,tar,tree recipes/web.xml
	for f in web.erofs web.squashfs web.tar web.tree; do
		run "$IMGTOOL" verify "$W/out/$f"
		assert_success
		assert_output --partial "$W/out/$f: ok"
	done
}

@test "verify names each changed, added and removed file and fails" {
	imgtool build -q -o "$W/out" --format tree recipes/web.xml
	t="$W/out/web.tree"
	echo defaced >"$t/www/index.html"
	echo new >"$t/www/extra.html"
	rm "$t/www/robots.txt"
	chmod 0777 "$t/etc/motd"
	run "$IMGTOOL" verify "$t"
	assert_failure 1
	assert_line "changed /www/index.html: content"
	assert_line "added /www/extra.html"
	assert_line "removed /www/robots.txt"
	assert_line "changed /etc/motd: mode"
	assert_line --partial "DIFFERS"
}

@test "verify of a replaced erofs image names the image and the changed file" {
	mkdir -p "$W/a" "$W/b"
	cp -r "$ROOT/recipes" "$ROOT/templates" "$W/a/"
	cp -r "$ROOT/recipes" "$ROOT/templates" "$W/b/"
	echo defaced >"$W/b/recipes/web/site/index.html"
	(cd "$W/a" && "$IMGTOOL" build -q -o out recipes/web.xml)
	(cd "$W/b" && "$IMGTOOL" build -q -o out recipes/web.xml)
	cp "$W/b/out/web.erofs" "$W/a/out/web.erofs"
	run "$IMGTOOL" verify "$W/a/out/web.erofs"
	assert_failure 1
	assert_line "changed $W/a/out/web.erofs: image digest differs from the manifest"
	assert_line "changed /www/index.html: content"
}

@test "verify compares owners in a tar" {
	imgtool build -q -o "$W/out" --format tar recipes/web.xml
	mkdir "$W/x"
	tar -C "$W/x" -xpf "$W/out/web.tar"
	chown 7:7 "$W/x/www/index.html"
	tar -C "$W/x" --sort=name -cf "$W/out/web.tar" .
	run "$IMGTOOL" verify "$W/out/web.tar"
	assert_failure 1
	assert_line "changed /www/index.html: owner"
}

# Writes $W/out/web.manifest.xml to $W/dup.manifest.xml with the element
# that starts at the first line holding $1 and ends at the line holding $2
# written twice, the copy's per-client raised to 64.
duplicate() {
	awk -v s="$1" -v e="$2" '
		!done && index($0, s) { inr = 1 }
		{ print }
		inr { buf = buf $0 "\n" }
		inr && index($0, e) { gsub(/per-client="8"/, "per-client=\"64\"", buf)
			printf "%s", buf; inr = 0; done = 1 }' \
		"$W/out/web.manifest.xml" >"$W/dup.manifest.xml"
}

@test "a manifest with a second service, exec, limits, files, logs, area, user or output is refused, never merged" {
	imgtool build -q -o "$W/out" recipes/web.xml
	local pair
	for pair in '<service |</service>|service' '<exec>|</exec>|exec' \
		'<limits |/>|limits' '<files |</files>|files' '<logs |/>|logs' \
		'<writable path="/tmp"|/>|area "/tmp" is listed twice' \
		'<user |/>|user "www" is listed twice' \
		'<output |/>|format "erofs" is listed twice'; do
		IFS='|' read -r start end message <<<"$pair"
		duplicate "$start" "$end"
		[ "$(wc -l <"$W/dup.manifest.xml")" -gt "$(wc -l <"$W/out/web.manifest.xml")" ]
		run "$IMGTOOL" inspect "$W/dup.manifest.xml"
		assert_failure 3
		case $message in
		*twice) assert_output --regexp "dup\.manifest\.xml:[0-9]+: .*$message" ;;
		*) assert_output --regexp "dup\.manifest\.xml:[0-9]+: $message: more than one $message" ;;
		esac
		refute_output --partial "per-client"
	done
}

@test "a manifest with a variable set twice, a second syscalls or a second vm is refused" {
	imgtool build -q -o "$W/out" recipes/web.xml
	local m=$W/out/web.manifest.xml add message
	for add in '<env name="A" value="1"/><env name="A" value="2"/>|"A" is set twice' \
		'<syscalls default="allow"/><syscalls default="allow"/>|syscalls: more than one syscalls' \
		'<vm memory="134217728" vcpus="1" kernel-version="6.1.0"/><vm memory="134217728" vcpus="1" kernel-version="6.1.0"/>|vm: more than one vm'; do
		IFS='|' read -r add message <<<"$add"
		case $message in
		vm*) sed "s|^  <logs |  $add<logs |" "$m" >"$W/dup.manifest.xml" ;;
		*) sed "s|</exec>|</exec>$add|" "$m" >"$W/dup.manifest.xml" ;;
		esac
		run "$IMGTOOL" inspect "$W/dup.manifest.xml"
		assert_failure 3
		assert_output --regexp "dup\.manifest\.xml:[0-9]+: .*$message"
		# once is well-formed and read
		sed "s|$add|${add%%/>*}/>|" "$W/dup.manifest.xml" >"$W/one.manifest.xml"
		run "$IMGTOOL" inspect "$W/one.manifest.xml"
		assert_success
	done
}

@test "verify compares the manifest beside the image with the image's own, in every format" {
	imgtool build -q -o "$W/out" --format erofs,squashfs,tar,tree recipes/web.xml
	sed -i -e 's|<exec>/bin/busybox httpd|<exec>/bin/busybox sh -c evil; httpd|' \
	       -e 's|<limits memory="[0-9]*"|<limits memory="0"|' "$W/out/web.manifest.xml"
	for f in web.erofs web.squashfs web.tar web.tree; do
		run "$IMGTOOL" verify "$W/out/$f"
		assert_failure 1
		assert_line "changed $W/out/web.manifest.xml: the service differs from the image's own manifest: exec \"/bin/busybox sh -c evil; httpd -i -vv -h /www\" (the image's: \"/bin/busybox httpd -i -vv -h /www\")"
		assert_line "$W/out/$f: DIFFERS, 35 entries checked"
	done
}
