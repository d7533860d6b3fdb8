/* tests/unit/trace_sha256.c: formats/sha256 against FIPS 180-4 / NIST
 * vectors, incremental updates split at every offset, and a file digest;
 * the vectors and the million a's again with the portable code forced
 * (VCR_SHA256_PORTABLE) where the CPU has the SHA extensions, and 1 MiB of
 * varied bytes hashed by both ways. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "formats/sha256.h"
#include "tests/lib/tap.h"

static const char *hex(const uint8_t *d)
{
	static char h[65];
	vcr_sha256_hex(d, h);
	return h;
}

int main(void)
{
	static const struct { const char *msg; const char *want; } v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	uint8_t d[32];
	tap_plan(10);
	for (size_t i = 0; i < 4; i++) {
		vcr_sha256(v[i].msg, strlen(v[i].msg), d);
		tap_ok(!strcmp(hex(d), v[i].want), "vector %zu: %s", i, hex(d));
	}

	/* One million 'a' (FIPS 180-2 appendix B.3), fed in uneven pieces. */
	struct vcr_sha256 c;
	char *a = malloc(1000000);
	memset(a, 'a', 1000000);
	vcr_sha256_init(&c);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 1000 + 1)
		vcr_sha256_update(&c, a + off, off + step > 1000000 ? 1000000 - off : step);
	vcr_sha256_final(&c, d);
	tap_ok(!strcmp(hex(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	       "million a, uneven updates: %s", hex(d));

	/* Split at every offset of a 200-byte message equals one shot. */
	uint8_t m[200], one[32];
	for (int i = 0; i < 200; i++)
		m[i] = (uint8_t)(i * 7 + 1);
	vcr_sha256(m, sizeof(m), one);
	int bad = 0;
	for (size_t k = 0; k <= sizeof(m); k++) {
		vcr_sha256_init(&c);
		vcr_sha256_update(&c, m, k);
		vcr_sha256_update(&c, m + k, sizeof(m) - k);
		vcr_sha256_final(&c, d);
		bad += memcmp(d, one, 32) != 0;
	}
	tap_ok(bad == 0, "split at every offset equals one shot (%d differ)", bad);

	/* The other path: the portable code when the SHA extensions serve the
	 * above, and the same again otherwise (then both lines test it). */
	setenv("VCR_SHA256_PORTABLE", "1", 1);
	int vbad = 0;
	for (size_t i = 0; i < 4; i++) {
		vcr_sha256(v[i].msg, strlen(v[i].msg), d);
		vbad += strcmp(hex(d), v[i].want) != 0;
	}
	vcr_sha256(a, 1000000, d);
	tap_ok(vbad == 0 && !strcmp(hex(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	       "portable code: the vectors and the million a's (%d vectors wrong)", vbad);
	uint8_t *big = malloc(1 << 20), dp[32], dn[32];
	uint32_t x = 12345;
	for (size_t i = 0; i < (1 << 20); i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (uint8_t)(x >> 16);
	}
	vcr_sha256(big, (1 << 20) - 13, dp);
	unsetenv("VCR_SHA256_PORTABLE");
	vcr_sha256(big, (1 << 20) - 13, dn);
	tap_ok(!memcmp(dp, dn, 32), "1 MiB - 13 of varied bytes: both ways agree (%s)", hex(dn));
	vcr_sha256(a, 1000000, d);
	tap_ok(!strcmp(hex(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	       "million a, one call, default path: %s", hex(d));
	free(big);

	char path[256];
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof(path), "%s/vcr-sha-%d", tmp ? tmp : "/tmp", getpid());
	FILE *f = fopen(path, "w");
	fwrite(a, 1, 1000000, f);
	fclose(f);
	int rc = vcr_sha256_file(path, d);
	unlink(path);
	tap_ok(rc == 0 && !strcmp(hex(d), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
	       "file digest");
	free(a);
	return tap_exit_status();
}
