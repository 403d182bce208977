/*
 * seal.h - what instances wrote to the log areas, made append-only.
 *
 * The seed of this project: the web server "has write permission only to
 * the logs", which must not mean "may rewrite history". An instance may
 * create files in a log area and append to them; once it has ended, what
 * it wrote carries FS_APPEND_FL (chattr +a): no later instance can
 * truncate, rewrite, rename or remove it, and a sealed directory lets
 * entries be added to it, never removed or renamed. The supervisor seals
 * every log area when it starts (what earlier supervisors' instances left)
 * and again after each instance ends. State areas are not sealed: their
 * files are meant to be rewritten (a browser's bookmarks).
 *
 * What a running instance has written is not sealed until it ends: an
 * instance running at the same time, as the same uid, could change it
 * meanwhile.
 */
#ifndef IMGTOOL_SEAL_H
#define IMGTOOL_SEAL_H

#define SEAL_MAX_DEPTH 16	/* directory levels below an area */
#define SEAL_MAX_ENTRIES 100000	/* entries one walk looks at */

struct seal_walk {
	unsigned long sealed;	/* entries made append-only by this walk */
	unsigned long seen;	/* entries looked at */
	int truncated;		/* the walk stopped at SEAL_MAX_DEPTH or
				   SEAL_MAX_ENTRIES: some were not sealed */
	int error;		/* the first errno that stopped a seal, or 0 */
};

/*
 * Seals the directory area (a descriptor of a log area's directory on the
 * log volume, O_RDONLY | O_DIRECTORY) and every regular file and directory
 * below it. Entries are looked at with statx (sealed ones are skipped
 * without being opened) and opened beneath their directory's descriptor,
 * never through a link, never blocking, never as a terminal: the tree is
 * the instances' to change while it is walked. Anything else (links,
 * FIFOs, sockets, devices) is left as it is. Fills w.
 */
void seal_tree(int area, struct seal_walk *w);

#endif
