/*
 * tap.h: Test Anything Protocol output for vcr's C tests (header only).
 *
 * A test binary declares its plan, reports each point, and returns
 * tap_exit_status() from main:
 *
 *     tap_plan(3);
 *     tap_ok(fd >= 0, "open /dev/kvm");          // "ok 1 - open /dev/kvm"
 *     tap_is_u64(got, want, "rax after exit");   // prints both on failure
 *     tap_diag("size %zu", n);                   // "# size 8"
 *     return tap_exit_status();                  // 0 iff all planned points passed
 *
 * tap_bail() prints "Bail out!" and exits 1: for a failure after which the
 * remaining points cannot run. tap_skip_all() prints "1..0 # SKIP why" and
 * exits 0. tests/run counts every point, and a plan that was not fully run, a
 * non-zero status or no point at all as failure.
 *
 * Single-threaded: the counters are file-scope statics of the including test.
 */
#ifndef VCR_TESTS_TAP_H
#define VCR_TESTS_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_planned = -1;
static int tap_run;
static int tap_failed;

__attribute__((unused)) static void tap_plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

__attribute__((format(printf, 1, 2), unused))
static void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Reports one point; returns ok so that callers can add details on failure. */
__attribute__((format(printf, 2, 3), unused))
static int tap_ok(int ok, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!ok)
		tap_failed++;
	printf("%s %d - ", ok ? "ok" : "not ok", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	return ok;
}

#define tap_is_u64(got, want, ...)                                             \
	({                                                                     \
		uint64_t tap_g_ = (got), tap_w_ = (want);                      \
		int tap_r_ = tap_ok(tap_g_ == tap_w_, __VA_ARGS__);            \
		if (!tap_r_)                                                   \
			tap_diag("  %s: expected 0x%" PRIx64 ", got 0x%" PRIx64, \
				 #got, tap_w_, tap_g_);                        \
		tap_r_;                                                        \
	})

__attribute__((format(printf, 1, 2), noreturn, unused))
static void tap_bail(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	exit(1);
}

__attribute__((noreturn, unused)) static void tap_skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	fflush(stdout);
	exit(0);
}

__attribute__((unused)) static int tap_exit_status(void)
{
	if (tap_planned >= 0 && tap_run != tap_planned) {
		tap_diag("planned %d points, ran %d", tap_planned, tap_run);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

#endif
