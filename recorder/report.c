/*
 * recorder/report.c: what the recorder tells about a run: its error
 * (vcr_recorder_error), the counters (vcr_recorder_get_stats while running,
 * the summary close fills) and the end-of-run line
 * (vcr_recorder_summary_format).
 */
#include "recorder/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* A ring's producer-side counters (its producer updates them as it runs). */
int vcr_recorder_error(const struct vcr_recorder *r)
{
	return __atomic_load_n(&r->error, __ATOMIC_ACQUIRE);
}

static void rec_add_ring_counters(struct vcr_recorder_summary *s, const struct vcr_ring *g)
{
	s->stalls += __atomic_load_n(&g->stalls, __ATOMIC_RELAXED);
	s->stall_ns += __atomic_load_n(&g->stall_ns, __ATOMIC_RELAXED);
	s->dropped += __atomic_load_n(&g->dropped, __ATOMIC_RELAXED);
}

void vcr_rec_fill_summary(struct vcr_recorder *r, struct vcr_recorder_summary *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&r->lock);
	s->how = r->ended ? r->end_how : 0;
	s->status = r->end_status;
	snprintf(s->msg, sizeof(s->msg), "%s", r->end_msg);
	s->exits = r->wstats.exits;
	s->records = r->wstats.records;
	s->trace_bytes = r->wstats.bytes_written;
	s->raw_bytes = r->wstats.raw_bytes;
	s->chunks = r->wstats.chunks;
	s->write_calls = r->wstats.write_calls;
	snprintf(s->error_msg, sizeof(s->error_msg), "%s", r->error_msg);
	s->ckpts = r->ck.count;
	s->ckpt_skipped = r->ck.skipped;
	s->ckpt_dirty = r->ck.dirty;
	s->ckpt_stored = r->ck.stored;
	s->ckpt_copy_ns = r->ck.copy_ns;
	s->ckpt_copy_max_ns = r->ck.copy_max_ns;
	s->ckpt_pre = r->ck.pre_count;
	s->ckpt_pre_ns = r->ck.pre_ns;
	s->ckpt_pre_served = r->ck.pre_served;
	pthread_mutex_unlock(&r->lock);
	s->error = vcr_recorder_error(r);
	for (uint32_t i = 0; i < r->nvcpus; i++)
		rec_add_ring_counters(s, &r->vcpus[i].ring);
	rec_add_ring_counters(s, &r->control);
}

void vcr_recorder_get_stats(struct vcr_recorder *r, struct vcr_recorder_summary *s)
{
	vcr_rec_fill_summary(r, s);
	/* w_dropped belongs to the writer thread; read it only at close. */
}

int vcr_recorder_summary_format(const struct vcr_recorder_summary *s, const char *path,
				char *buf, size_t len)
{
	char extra[384] = "";
	size_t x = 0;

	if (s->stalls)
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
				      ", %llu stalls (%.1f ms)", (unsigned long long)s->stalls,
				      (double)s->stall_ns / 1e6);
	if (s->dropped && x < sizeof(extra))
		x += (size_t)snprintf(extra + x, sizeof(extra) - x,
				      ", %llu records LOST", (unsigned long long)s->dropped);
	if (s->error && x < sizeof(extra))
		snprintf(extra + x, sizeof(extra) - x, ", %s", s->error_msg);
	return snprintf(buf, len,
			"record: %s status %d: %llu exits recorded, trace %s %llu bytes, "
			"%.1f bytes/exit%s",
			vcr_end_how_name(s->how), (int)s->status,
			(unsigned long long)s->exits, path ? path : "",
			(unsigned long long)s->trace_bytes,
			s->exits ? (double)s->trace_bytes / (double)s->exits : 0.0, extra);
}
