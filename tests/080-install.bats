#!/usr/bin/env bats
# make install puts the programs, the schema, the templates and the man pages
# where PREFIX and DESTDIR say, and the installed imgtool finds its schema.

load helpers

# A VM build and boot under TCG (tests/helpers.bash: the default is for
# the jail suites).
BATS_TEST_TIMEOUT=300

@test "make install honours PREFIX and DESTDIR" {
	W=$(workdir)
	run make -C "$ROOT" install PREFIX=/opt/imgtool DESTDIR="$W/dest"
	assert_success
	for f in bin/imgtool sbin/imgsupd sbin/imgsupd-vm lib/imgtool/imgtool-init \
		share/imgtool/recipe.rng share/imgtool/templates/busybox.xml \
		share/imgtool/templates/domain.xml share/man/man1/imgtool.1 \
		share/man/man5/imgtool-recipe.5 share/man/man8/imgsupd.8; do
		assert_file_exists "$W/dest/opt/imgtool/$f"
	done
	run man -l "$W/dest/opt/imgtool/share/man/man8/imgsupd.8"
	assert_success
}

# The installed tree's programs run with nothing installed under the
# prefix compiled into them (helpers.bash: hide_install_of): what they
# find is their tree's.

@test "an installed imgtool uses the installed schema" {
	W=$(workdir)
	make -C "$ROOT" install PREFIX="$W/prefix" >/dev/null
	unset IMGTOOL_SCHEMA
	hide_install_of "$W/prefix/bin/imgtool"
	run timeout 60 "${HIDE_INSTALL[@]}" "$W/prefix/bin/imgtool" validate "$ROOT/recipes/web.xml"
	assert_success
	rm "$W/prefix/share/imgtool/recipe.rng"
	run timeout 60 "${HIDE_INSTALL[@]}" "$W/prefix/bin/imgtool" validate "$ROOT/recipes/web.xml"
	assert_failure
	assert_output --partial "recipe.rng"
}

@test "an installed imgtool puts the installed guest init into a VM, and imgsupd finds its domain template" {
	W=$(workdir)
	make -C "$ROOT" install PREFIX="$W/prefix" >/dev/null
	unset IMGTOOL_SCHEMA IMGTOOL_INIT IMGTOOL_DOMAIN
	export IMGTOOL_ACCEL=tcg
	hide_install_of "$W/prefix/bin/imgtool"
	run timeout 120 "${HIDE_INSTALL[@]}" "$W/prefix/bin/imgtool" build -q -o "$W/out" \
		"$ROOT/tests/fixtures/serve/vmprobe.xml"
	assert_success
	# The init inside the initramfs is the installed one.
	mkdir "$W/ir"
	(cd "$W/ir" && cpio -i --quiet <"$W/out/vmprobe.initrd")
	cmp "$W/ir/init" "$W/prefix/lib/imgtool/imgtool-init"
	# The installed imgsupd boots a VM from the installed template...
	hide_install_of "$W/prefix/sbin/imgsupd-vm"
	"${HIDE_INSTALL[@]}" "$W/prefix/sbin/imgsupd" --listen "127.0.0.1:$((20000 + $$ % 9000))" \
		"$W/out/vmprobe.qcow2" 2>"$W/server.log" 3>&- &
	pid=$!
	for _ in $(seq 600); do
		grep -q 'event=ready' "$W/server.log" && break
		sleep 0.1
	done
	kill "$pid"
	wait "$pid" || true
	run grep -c 'event=ready' "$W/server.log"
	assert_output 1
	# ... and without it, says which file it misses (and does not serve
	# for ever from another one).
	rm "$W/prefix/share/imgtool/templates/domain.xml"
	run timeout 60 "${HIDE_INSTALL[@]}" "$W/prefix/sbin/imgsupd" --listen 127.0.0.1:1 \
		"$W/out/vmprobe.qcow2"
	assert_failure
	refute_output --partial "event=start"
	assert_output --partial "templates/domain.xml: No such file or directory"
}
