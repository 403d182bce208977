/*
 * guestfs-launch - the peer of a VM build: one bare libguestfs appliance
 * launch (and shutdown) with a scratch disk, nothing else. A VM build of
 * imgtool does exactly one launch; bench/vm.sh compares the two.
 * TCG unless IMGTOOL_ACCEL=kvm, as the builder does on this machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <guestfs.h>

int main(void)
{
	const char *accel = getenv("IMGTOOL_ACCEL");
	guestfs_h *g = guestfs_create();
	int rc = 1;

	if (!g)
		return 1;
	if ((!accel || strcmp(accel, "kvm")) && guestfs_set_backend_setting(g, "force_tcg", "1") < 0)
		goto out;
	if (guestfs_add_drive_scratch(g, 1 << 20, -1) < 0 || guestfs_launch(g) < 0 ||
	    guestfs_shutdown(g) < 0)
		goto out;
	rc = 0;
out:
	guestfs_close(g);
	return rc;
}
