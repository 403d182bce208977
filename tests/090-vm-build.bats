#!/usr/bin/env bats
# imgtool build of a VM output: disk, kernel, initramfs; inspect and verify.
#
# Every appliance launch costs about 7 s under TCG, so the suite makes four:
# the build in setup_file (shared), one rebuild, and two verifies.

load helpers

# Builds and verifies through libguestfs, under TCG on a machine without
# KVM (tests/helpers.bash: the default is for the jail suites).
BATS_TEST_TIMEOUT=300

export SOURCE_DATE_EPOCH=1700000000

# The web recipe, copied with what it includes, with a VM output beside
# its erofs jail image: the two must hold the same bytes.
vm_recipe() {
	mkdir -p "$1/recipes" "$1/templates"
	cp -r "$ROOT/recipes/web.xml" "$ROOT/recipes/web" "$1/recipes/"
	cp "$ROOT"/templates/*.xml "$1/templates/"
	sed -i "s|<jail format=\"erofs\"/>|<jail format=\"erofs\"/><vm memory=\"128M\" vcpus=\"2\" $2/>|" \
		"$1/recipes/web.xml"
}

setup_file() {
	S="$BATS_FILE_TMPDIR/src"
	vm_recipe "$S" ""
	(cd "$S" && "$IMGTOOL" build -q -o out recipes/web.xml) \
		>"$BATS_FILE_TMPDIR/build.out" 2>&1
	echo $? >"$BATS_FILE_TMPDIR/build.status"
}

setup() {
	W=$(workdir)
	S="$BATS_FILE_TMPDIR/src"
	O="$S/out"
	if grep -q "launching the libguestfs appliance" "$BATS_FILE_TMPDIR/build.out"; then
		skip "libguestfs cannot launch an appliance here: $(cat "$BATS_FILE_TMPDIR/build.out")"
	fi
}

@test "a vm build writes the disk, the kernel and the initramfs, all in the manifest" {
	run cat "$BATS_FILE_TMPDIR/build.status" "$BATS_FILE_TMPDIR/build.out"
	assert_output 0
	for f in web.qcow2 web.vmlinuz web.initrd web.erofs web.logs.img; do
		assert_file_exists "$O/$f"
	done
	run qemu-img info --output=json "$O/web.qcow2"
	assert_output --partial '"format": "qcow2"'
	run cmp "$O/web.vmlinuz" "$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1)"
	assert_success
	m="$O/web.manifest.xml"
	run xmllint --noout "$m"
	assert_success
	for f in qcow2 vmlinuz initrd; do
		sum=$(sha256sum "$O/web.$f" | cut -d' ' -f1)
		size=$(stat -c %s "$O/web.$f")
		run grep -F "<output format=\"$f\" file=\"web.$f\" size=\"$size\" sha256=\"$sum\"/>" "$m"
		assert_success
	done
	version=$(basename "$(ls /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -1)" | sed 's/^vmlinuz-//')
	run grep -F "<vm memory=\"134217728\" vcpus=\"2\" kernel-version=\"$version\"/>" "$m"
	assert_success
}

@test "the initramfs holds the init, the spec, the filter and the modules in load order" {
	mkdir "$W/x"
	(cd "$W/x" && cpio -id --quiet <"$O/web.initrd")
	run cmp "$W/x/init" "$ROOT/build/bin/imgtool-init"
	assert_success
	run head -1 "$W/x/imgtool/spec"
	assert_output "imgtool-guestspec 2"
	run grep -E "^exec /bin/busybox httpd( |$)" "$W/x/imgtool/spec"
	assert_success
	# struct sock_filter is 8 bytes; the filter is a whole number of them.
	size=$(stat -c %s "$W/x/imgtool/seccomp.bpf")
	[ "$size" -gt 0 ] && [ $((size % 8)) -eq 0 ]
	run ls "$W/x/imgtool/modules"
	assert_line --regexp '^[0-9]{2}-virtio_blk\.ko$'
	assert_line --regexp '^[0-9]{2}-erofs\.ko$'
	ring=$(ls "$W/x/imgtool/modules" | grep -n -- '-virtio_ring.ko' | cut -d: -f1)
	virtio=$(ls "$W/x/imgtool/modules" | grep -n -- '-virtio.ko' | cut -d: -f1)
	[ "$ring" -lt "$virtio" ]
	run cpio -tv --quiet <"$O/web.initrd"
	assert_line --regexp '^crw------- +1 root +root +5, +1 .* dev/console$'
	# Root owns everything; every time is the epoch (2023-11-14).
	run sh -c "cpio -tv --numeric-uid-gid --quiet <'$O/web.initrd' | awk '\$3 != 0 || \$4 != 0'"
	assert_output ""
	run sh -c "cpio -tv --quiet <'$O/web.initrd' | grep -vc 'Nov 14  2023'"
	assert_output 0
}

@test "the disk's root partition holds the jail's erofs image byte for byte" {
	qemu-img convert -O raw "$O/web.qcow2" "$W/disk.raw"
	run sfdisk -d "$W/disk.raw"
	assert_line --regexp 'start= +2048, .*name="root"$'
	size=$(stat -c %s "$O/web.erofs")
	dd if="$W/disk.raw" of="$W/part" bs=1M skip=1 count=$(( (size + 1048575) / 1048576 )) status=none
	run cmp -n "$size" "$W/part" "$O/web.erofs"
	assert_success
	# The rest of the partition is zeros.
	run sh -c "tail -c +$((size + 1)) '$W/part' | tr -d '\\0' | wc -c"
	assert_output 0
}

@test "verify reads the disk through libguestfs and finds every file as recorded" {
	run "$IMGTOOL" verify "$O/web.qcow2"
	assert_success
	assert_output --regexp "web.qcow2: ok, [0-9]+ entries checked$"
	run "$IMGTOOL" inspect "$O/web.qcow2"
	assert_success
	assert_line --regexp '^output +qcow2 +web.qcow2 \('
	assert_line --regexp '^output +vmlinuz +web.vmlinuz \('
	assert_line --regexp '^vm +memory 128.0 MiB, vcpus 2, kernel .*-cloud-amd64$'
	assert_line --regexp '^  disk +qcow2, virtual size [0-9.]+ MiB, GPT partition 1 "root": erofs$'
}

@test "a rebuild elsewhere with the same SOURCE_DATE_EPOCH is bit-identical" {
	vm_recipe "$W/b" ""
	(cd "$W/b" && "$IMGTOOL" build -q -o out recipes/web.xml)
	for f in web.qcow2 web.initrd web.vmlinuz web.erofs; do
		run cmp "$O/$f" "$W/b/out/$f"
		assert_success
	done
}

@test "an unchanged vm recipe is a cache hit that launches nothing" {
	before=$(stat -c '%i %Y' "$O/web.qcow2" "$O/web.initrd" "$O/web.manifest.xml")
	run bash -c "cd '$S' && '$IMGTOOL' build -o out recipes/web.xml"
	assert_success
	assert_line "web: up to date"
	assert_equal "$(stat -c '%i %Y' "$O/web.qcow2" "$O/web.initrd" "$O/web.manifest.xml")" "$before"
}

@test "a missing kernel fails with status 1, naming the path and the package" {
	vm_recipe "$W/k" 'kernel="/boot/vmlinuz-0.0.0-none"'
	run bash -c "cd '$W/k' && '$IMGTOOL' build -q -o out recipes/web.xml"
	assert_failure 1
	assert_output "imgtool: recipes/web.xml: kernel /boot/vmlinuz-0.0.0-none: No such file or directory (install the package linux-image-cloud-amd64, or name another with <vm kernel=\"...\"/>)"
	assert_not_exist "$W/k/out/web.qcow2"
}

@test "a missing guest init fails with status 1 and says where it looked" {
	run env IMGTOOL_INIT="$W/no-init" "$IMGTOOL" build -q -o "$W/out" "$S/recipes/web.xml"
	assert_failure 1
	assert_output "imgtool: $S/recipes/web.xml: IMGTOOL_INIT=$W/no-init: No such file or directory"
	# Without the variable, from a copy with no init beside it, and none
	# under the prefix compiled into it (hidden, if one is installed there).
	mkdir -p "$W/bin"
	cp "$IMGTOOL" "$W/bin/imgtool"
	hide_install_of "$W/bin/imgtool"
	run env IMGTOOL_SCHEMA="$ROOT/builder/recipe.rng" timeout 60 "${HIDE_INSTALL[@]}" \
		"$W/bin/imgtool" build -q -o "$W/out" "$S/recipes/web.xml"
	assert_failure 1
	assert_output --partial "the guest init is missing: no imgtool-init beside this program nor at $(compiled_prefix "$IMGTOOL")/lib/imgtool/imgtool-init"
}

@test "verify of a raw copy with a file changed inside names the file, a changed initramfs and an edited manifest" {
	mkdir "$W/t"
	cp "$O/web.manifest.xml" "$O/web.vmlinuz" "$O/web.initrd" "$W/t/"
	qemu-img convert -O raw "$O/web.qcow2" "$W/t/web.raw"
	# /etc/motd's text sits uncompressed in the erofs image.
	perl -pi -e 's/the defaceless web server/the DEFACELESS web server/' "$W/t/web.raw"
	echo x >>"$W/t/web.initrd"
	# The manifest beside it says otherwise than the disk's own.
	sed -i 's|<limits memory="[0-9]*"|<limits memory="0"|' "$W/t/web.manifest.xml"
	run "$IMGTOOL" verify "$W/t/web.raw"
	assert_failure 1
	assert_line "changed /etc/motd: content"
	assert_line "changed $W/t/web.initrd: digest differs from the manifest"
	assert_line "changed $W/t/web.manifest.xml: the service differs from the image's own manifest: limits memory 0 (the image's: 33554432)"
	assert_line --regexp "web.raw: DIFFERS, [0-9]+ entries checked$"
	assert_equal "$(grep -c '^changed' <<<"$output")" 3
}
