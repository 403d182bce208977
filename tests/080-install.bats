#!/usr/bin/env bats
# make install puts the programs, the schema, the templates and the man pages
# where PREFIX and DESTDIR say, and the installed imgtool finds its schema.

load helpers

@test "make install honours PREFIX and DESTDIR" {
	W=$(workdir)
	run make -C "$ROOT" install PREFIX=/opt/imgtool DESTDIR="$W/dest"
	assert_success
	for f in bin/imgtool sbin/imgsupd share/imgtool/recipe.rng \
		share/imgtool/templates/busybox.xml share/man/man1/imgtool.1 \
		share/man/man5/imgtool-recipe.5 share/man/man8/imgsupd.8; do
		assert_file_exists "$W/dest/opt/imgtool/$f"
	done
	run man -l "$W/dest/opt/imgtool/share/man/man8/imgsupd.8"
	assert_success
}

@test "an installed imgtool uses the installed schema" {
	W=$(workdir)
	make -C "$ROOT" install PREFIX="$W/prefix" >/dev/null
	unset IMGTOOL_SCHEMA
	run "$W/prefix/bin/imgtool" validate "$ROOT/recipes/web.xml"
	assert_success
	rm "$W/prefix/share/imgtool/recipe.rng"
	run "$W/prefix/bin/imgtool" validate "$ROOT/recipes/web.xml"
	assert_failure
	assert_output --partial "recipe.rng"
}
