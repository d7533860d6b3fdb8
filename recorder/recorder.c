/*
 * recorder/recorder.c: the recorder's lifecycle: open (the rings, the trace
 * writer, the writer thread), end (how the run ended), close (join the
 * writer thread, write the duration MARKER and END, finalise the trace,
 * fill the summary). See recorder.h for the contract, internal.h for which
 * file owns the rest.
 */
#include "recorder/internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- open / close ------------------------------------------------------- */

static void rec_free(struct vcr_recorder *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nvcpus; i++)
		vcr_ring_destroy(&r->vcpus[i].ring);
	vcr_ring_destroy(&r->control);
	pthread_mutex_destroy(&r->control_lock);
	pthread_mutex_destroy(&r->lock);
	vcr_rec_ckpt_free(r);
	free(r->scratch_run);
	free(r->path);
	free(r);
}

int vcr_recorder_open(struct vcr_recorder **out, const char *path,
		      const struct vcr_trace_info *info,
		      const struct vcr_recorder_opts *opts, struct vcr_err *err)
{
	struct vcr_recorder *r = NULL;
	uint64_t buf = opts->buffer_bytes ? opts->buffer_bytes : VCR_RECORDER_BUFFER_DEFAULT;
	int rc;

	*out = NULL;
	if (info->nvcpus == 0 || info->nvcpus > VCR_TRACE_MAX_VCPUS)
		return vcr_err_set(err, -EINVAL, UINT64_MAX, "recorder: %u vCPUs (1..%u)",
				   info->nvcpus, VCR_TRACE_MAX_VCPUS);
	if (opts->run_size < sizeof(struct kvm_run))
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "recorder: run_size %zu smaller than struct kvm_run",
				   opts->run_size);
	if (buf > VCR_RING_MAX_BYTES)
		return vcr_err_set(err, -EINVAL, UINT64_MAX,
				   "recorder: buffer of %llu bytes too large",
				   (unsigned long long)buf);

	size_t rsz = (sizeof(*r) + (size_t)info->nvcpus * sizeof(r->vcpus[0]) + 63) &
		     ~(size_t)63;
	r = aligned_alloc(64, rsz);
	if (!r)
		return vcr_err_set(err, -ENOMEM, UINT64_MAX, "recorder: out of memory");
	memset(r, 0, rsz);
	pthread_mutex_init(&r->control_lock, NULL);
	pthread_mutex_init(&r->lock, NULL);
	r->t_open_ns = vcr_now_ns();
	r->nvcpus = info->nvcpus;
	r->run_size = opts->run_size;
	r->flush_ms = opts->flush_ms ? opts->flush_ms : 1000;
	r->on_error = opts->on_error;
	r->on_error_arg = opts->on_error_arg;
	r->path = strdup(path);
	r->scratch_run = calloc(1, opts->run_size);
	if (!r->path || !r->scratch_run || vcr_rec_ckpt_init(r, info, opts)) {
		rc = vcr_err_set(err, -ENOMEM, UINT64_MAX, "recorder: out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < r->nvcpus; i++) {
		struct vcr_recorder_vcpu *v = &r->vcpus[i];
		v->index = i;
		v->run_size = opts->run_size;
		memset(v->se_poison, 0xff, sizeof(v->se_poison));
		v->rec = r;
		rc = vcr_ring_init(&v->ring, buf);
		v->ring.doorbell = &r->doorbell;
		if (rc < 0) {
			vcr_err_set(err, rc, UINT64_MAX, "recorder: buffer of vCPU %u: %s", i,
				    strerror(-rc));
			goto fail;
		}
	}
	rc = vcr_ring_init(&r->control, buf);
	r->control.doorbell = &r->doorbell;
	if (rc < 0) {
		vcr_err_set(err, rc, UINT64_MAX, "recorder: control buffer: %s", strerror(-rc));
		goto fail;
	}

	struct vcr_writer_opts wo = {
		.zstd_level = opts->zstd_level,
		.chunk_exits = opts->chunk_exits,
		.ring_bytes = opts->ring_bytes,
		.flush_exits = opts->flush_exits,
	};
	rc = vcr_writer_open(&r->w, path, info, &wo, err);
	if (rc < 0)
		goto fail;

	/* The writer thread takes no asynchronous signal: SIGINT/SIGTERM are
	 * the VMM's to handle, and must not interrupt trace writes. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = -pthread_create(&r->thread, NULL, vcr_rec_writer_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0) {
		vcr_err_set(err, rc, UINT64_MAX, "recorder: writer thread: %s", strerror(-rc));
		vcr_writer_abort(r->w);
		goto fail;
	}
	r->thread_started = true;
	*out = r;
	return 0;

fail:
	rec_free(r);
	return rc;
}

void vcr_recorder_end(struct vcr_recorder *r, uint32_t how, int32_t status,
		      const char *msg)
{
	pthread_mutex_lock(&r->lock);
	if (!r->ended) {
		r->ended = true;
		r->t_end_ns = vcr_now_ns();
		r->end_how = how;
		r->end_status = status;
		snprintf(r->end_msg, sizeof(r->end_msg), "%s", msg ? msg : "");
	}
	pthread_mutex_unlock(&r->lock);
}

int vcr_recorder_close(struct vcr_recorder *r, struct vcr_recorder_summary *sum)
{
	struct vcr_recorder_summary local;
	int rc = 0;

	if (!r)
		return 0;
	if (!sum)
		sum = &local;
	__atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
	if (r->thread_started)
		pthread_join(r->thread, NULL);
	/* From here on this thread is the writer's only user. */
	for (uint32_t i = 0; i < r->nvcpus; i++)
		vcr_ring_consumer_gone(&r->vcpus[i].ring);
	vcr_ring_consumer_gone(&r->control);

	if (!r->discard) {
		struct vcr_record *rec = &r->rec;
		/* How long the run took (docs/recorder.md): a MARKER right
		 * before END, since the header is written before the run and
		 * END's body ends with its free text. */
		char dur[64];
		pthread_mutex_lock(&r->lock);
		uint64_t t_end = r->ended ? r->t_end_ns : vcr_now_ns();
		pthread_mutex_unlock(&r->lock);
		snprintf(dur, sizeof(dur), VCR_RECORDER_DURATION_MARKER "%llu",
			 (unsigned long long)(t_end - r->t_open_ns));
		memset(rec, 0, offsetof(struct vcr_record, u) + sizeof(rec->u.marker));
		rec->type = VCR_REC_MARKER;
		rec->u.marker.text = dur;
		rc = vcr_writer_append(r->w, rec);
		if (rc < 0)
			vcr_rec_fail(r, rc, "writing trace");
	}
	if (!r->discard) {
		struct vcr_record *rec = &r->rec;
		memset(rec, 0, offsetof(struct vcr_record, u) + sizeof(rec->u.end));
		rec->type = VCR_REC_END;
		pthread_mutex_lock(&r->lock);
		if (r->ended) {
			rec->u.end.how = r->end_how;
			rec->u.end.status = r->end_status;
		} else {
			r->ended = true;
			r->end_how = VCR_END_ERROR;
			r->end_status = 0;
			snprintf(r->end_msg, sizeof(r->end_msg), "run ended without a reason");
			rec->u.end.how = r->end_how;
		}
		rec->u.end.msg = r->end_msg;
		pthread_mutex_unlock(&r->lock);
		rc = vcr_writer_append(r->w, rec);
		if (rc < 0)
			vcr_rec_fail(r, rc, "writing trace");
	}
	vcr_rec_publish_stats(r);
	if (r->discard) {
		vcr_writer_abort(r->w);
	} else {
		rc = vcr_writer_close(r->w);
		if (rc < 0)
			vcr_rec_fail(r, rc, "closing trace");
	}
	r->w = NULL;

	vcr_rec_fill_summary(r, sum);
	sum->dropped += r->w_dropped;
	struct stat st;
	if (stat(r->path, &st) == 0)
		sum->trace_bytes = (uint64_t)st.st_size;
	rc = sum->error;
	rec_free(r);
	return rc;
}
