/*
 * digest.h - sha256, the digest of every file, image and manifest.
 *
 * Kept apart from util.c because it needs libcrypto: the guest init links
 * libc only, and takes util.o without it.
 */
#ifndef IMGTOOL_DIGEST_H
#define IMGTOOL_DIGEST_H

#include <stddef.h>
#include "util.h"

/* sha256 of a buffer or a file, as 64 lowercase hex digits plus NUL. */
#define DIGEST_HEX 65
void sha256_hex(const void *data, size_t len, char out[DIGEST_HEX]);
int sha256_file_hex(const char *path, char out[DIGEST_HEX], struct error *e);

#endif
