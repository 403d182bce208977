/*
 * digest.c - sha256 of buffers and files (libcrypto); see digest.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "digest.h"

static void to_hex(const unsigned char *md, unsigned n, char out[DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (unsigned i = 0; i < n && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

void sha256_hex(const void *data, size_t len, char out[DIGEST_HEX])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL))
		out_of_memory();
	to_hex(md, n, out);
}

int sha256_file_hex(const char *path, char out[DIGEST_HEX], struct error *e)
{
	unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
	unsigned n = 0;
	int rc = -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (!ctx)
		out_of_memory();
	if (fd < 0) {
		error_errno(e, "%s", path);
		goto out;
	}
	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			error_errno(e, "%s: read", path);
			goto out;
		}
		if (r == 0)
			break;
		EVP_DigestUpdate(ctx, chunk, (size_t)r);
	}
	if (EVP_DigestFinal_ex(ctx, md, &n)) {
		to_hex(md, n, out);
		rc = 0;
	}
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	return rc;
}
