/* cli/progress.c: the progress line on a terminal (progress.h). */
#include "cli/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define PROGRESS_REDRAW_NS 250000000ull	/* four redraws a second at most */

/* n with three significant digits and a k/M/G suffix: "950", "12.3k". */
static void human(char *buf, size_t len, double n)
{
	static const char sfx[] = { 0, 'k', 'M', 'G', 'T' };
	unsigned i = 0;
	while (n >= 999.5 && i + 1 < sizeof(sfx)) {
		n /= 1000;
		i++;
	}
	if (!i)
		snprintf(buf, len, "%.0f", n);
	else
		snprintf(buf, len, "%.*f%c", n < 9.995 ? 2 : n < 99.95 ? 1 : 0, n, sfx[i]);
}

static void clock_text(char *buf, size_t len, uint64_t s)
{
	if (s >= 3600)
		snprintf(buf, len, "%llu:%02llu:%02llu", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llu:%02llu", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
}

/* The line for `done` of `total` units after `elapsed_ns`. */
static void progress_format(char *buf, size_t len, const char *cmd, const char *unit,
			    uint64_t done, uint64_t total, uint64_t elapsed_ns)
{
	char d[16], t[16], r[16], left[32];
	double secs = (double)elapsed_ns / 1e9;
	double rate = secs > 0 ? (double)done / secs : 0;

	human(d, sizeof(d), (double)done);
	human(r, sizeof(r), rate);
	if (!total) {
		snprintf(buf, len, "vcr %s: %s %s, %s %s/s", cmd, d, unit, r, unit);
		return;
	}
	if (done > total)
		done = total;
	human(t, sizeof(t), (double)total);
	if (rate > 0)
		clock_text(left, sizeof(left), (uint64_t)((double)(total - done) / rate + 0.5));
	else
		snprintf(left, sizeof(left), "?");
	snprintf(buf, len, "vcr %s: %s/%s %s (%u%%), %s %s/s, %s left", cmd, d, t, unit,
		 (unsigned)(done * 100 / total), r, unit, left);
}

static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	struct cli_progress *cp = ctx;
	uint64_t now = vcr_now_ns();
	char line[160];

	if (!cp->on || (cp->last_ns && now - cp->last_ns < PROGRESS_REDRAW_NS))
		return;
	cp->last_ns = now;
	progress_format(line, sizeof(line), cp->cmd, cp->unit, done, total, now - cp->t0_ns);
	/* \033[K: erase what a longer line before left. */
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	cp->shown = true;
}

struct vcr_progress *cli_progress_start(struct cli_progress *cp, const char *cmd,
					const char *unit, uint64_t total, bool quiet)
{
	memset(cp, 0, sizeof(*cp));
	cp->cmd = cmd;
	cp->unit = unit;
	cp->on = !quiet && isatty(STDERR_FILENO);
	cp->t0_ns = vcr_now_ns();
	cp->p.fn = progress_cb;
	cp->p.ctx = cp;
	cp->p.total = total;
	/* Often enough for four redraws a second at any rate above 16k
	 * units/s, rarely enough that the clock is read once per 4096. */
	cp->p.step = 4096;
	return cp->on ? &cp->p : NULL;
}

void cli_progress_clear(struct cli_progress *cp)
{
	if (!cp->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	cp->shown = false;
	cp->last_ns = 0;	/* redraw at the next report */
}

void cli_progress_end(struct cli_progress *cp)
{
	cli_progress_clear(cp);
	cp->on = false;
}
