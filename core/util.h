/*
 * core/util.h: small helpers every module uses: error reporting for library
 * code (return -errno, keep a message), overflow-checked arithmetic, logging.
 *
 * Library code never exits: it returns 0 or a negative errno value and, where
 * a caller needs more than errno, fills a struct vcr_err. Only the CLI and the
 * tests exit.
 */
#ifndef VCR_CORE_UTIL_H
#define VCR_CORE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define VCR_VERSION "0.1.0"

#define VCR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VCR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* An error with context: errno-style code, the byte offset in the input it
 * concerns (or UINT64_MAX when none), and a message for humans. */
struct vcr_err {
	int code;		/* negative errno, 0 when no error */
	uint64_t offset;	/* offset in the file or stream, UINT64_MAX if n/a */
	char msg[256];
};

/* Fill err (if not NULL) and return code (negative errno), so that library
 * code can write `return vcr_err_set(err, -EINVAL, off, "bad magic");`. */
int vcr_err_set(struct vcr_err *err, int code, uint64_t offset, const char *fmt, ...)
	VCR_PRINTF(4, 5);
void vcr_err_clear(struct vcr_err *err);

/* Overflow-checked arithmetic: true on overflow. */
/* Growable arrays: make room for `need` elements of `elem` bytes in *p
 * (capacity *cap, doubling from 64). 0, or -ENOMEM (nothing changed). */
int vcr_grow(void **p, size_t *cap, size_t need, size_t elem);

static inline bool vcr_add_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_add_overflow(a, b, r);
}
static inline bool vcr_mul_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
	return __builtin_mul_overflow(a, b, r);
}
/* True when [off, off+len) lies inside [0, size). */
static inline bool vcr_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Zero n bytes (n a multiple of 16) / copy n bytes (n a multiple of 8) with
 * 16-byte moves: for the few hundred bytes of a record or a state per exit,
 * gcc's choice (rep stos / rep movs) costs a startup of tens of cycles. The
 * empty asm keeps gcc from turning the loops back into memset/memcpy; the
 * unroll pragma makes a constant n (every caller's sizeof) straight-line
 * moves, without the loop's three instructions a move. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline __attribute__((always_inline)) void vcr_zero16n(void *dst, size_t n)
{
	uint8_t *d = dst;
#pragma GCC unroll 40
	for (size_t i = 0; i < n; i += 16) {
		_mm_storeu_si128((__m128i *)(d + i), _mm_setzero_si128());
		__asm__("" : : "r"(d) : "memory");
	}
}
static inline __attribute__((always_inline)) void vcr_copy8n(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;
	size_t i = 0;
#pragma GCC unroll 40
	for (; i + 16 <= n; i += 16) {
		_mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(s + i)));
		__asm__("" : : "r"(d) : "memory");
	}
	if (i < n)
		memcpy(d + i, s + i, 8);
}
#else
#define vcr_zero16n(d, n) memset((d), 0, (n))
#define vcr_copy8n(d, s, n) memcpy((d), (s), (n))
#endif

/* CLOCK_MONOTONIC in ns: the clock of every duration library code keeps
 * (the recorder's run time and ring stalls, the replayer's progress watch). */
static inline uint64_t vcr_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Diagnostics on stderr, prefixed with "vcr: ". warn/error return -1 style
 * helpers are for the CLI; library code uses vcr_err. */
void vcr_log(const char *fmt, ...) VCR_PRINTF(1, 2);
void vcr_vlog(const char *fmt, va_list ap);
extern int vcr_verbose;	/* set by the CLI (-v); debug logs print when > 0 */
#define vcr_debug(...) do { if (vcr_verbose > 0) vcr_log(__VA_ARGS__); } while (0)

#endif
