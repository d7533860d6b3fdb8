/*
 * formats/sha256.h: SHA-256 (FIPS 180-4), our own small implementation, used
 * to identify guest images in trace headers (and by anyone else who needs a
 * content hash). Incremental: init, update any number of times, final.
 *
 * Plain data, no allocation, no global state; one context per thread.
 */
#ifndef VCR_FORMATS_SHA256_H
#define VCR_FORMATS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define VCR_SHA256_LEN 32

struct vcr_sha256 {
	uint32_t h[8];
	uint64_t nbytes;	/* message length so far */
	uint8_t buf[64];	/* partial block */
	uint32_t nbuf;		/* bytes used in buf */
};

void vcr_sha256_init(struct vcr_sha256 *c);
void vcr_sha256_update(struct vcr_sha256 *c, const void *data, size_t len);
/* Write the digest; c must be re-initialized before reuse. */
void vcr_sha256_final(struct vcr_sha256 *c, uint8_t out[VCR_SHA256_LEN]);

/* One-shot digest of a buffer. */
void vcr_sha256(const void *data, size_t len, uint8_t out[VCR_SHA256_LEN]);

/* Digest of a whole file; 0 or negative errno. */
int vcr_sha256_file(const char *path, uint8_t out[VCR_SHA256_LEN]);

/* Lower-case hex of a digest into hex (65 bytes with the NUL). */
void vcr_sha256_hex(const uint8_t d[VCR_SHA256_LEN], char hex[2 * VCR_SHA256_LEN + 1]);

#endif
