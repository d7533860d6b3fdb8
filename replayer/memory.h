/*
 * replayer/memory.h: the cursor's memory index (internal to replayer/; the
 * contract users see is vcr_cursor_read_mem & co. in replayer/cursor.h).
 *
 * Built by one pass over the trace (the cursor's whole-trace index): the
 * VMM's writes (MEM_WRITE / MEM_PAGES: small, kept as bytes, per-page
 * pieces), and the memory checkpoints (CKPT / CKPT_PAGES: kept as
 * positions in the trace, one entry per stored page version, decoded on
 * demand through a reader of its own and a small page cache). Memory of a
 * 512 MiB guest therefore costs the index ~32 bytes per stored page
 * version, not the pages.
 *
 * The model (docs/replay.md, "Memory at an exit"): checkpoint k, taken at
 * exit s_k with every vCPU paused, holds the pages the guest dirtied since
 * checkpoint k-1 as they were then (and after the VMM's answer to exit s_k,
 * which it follows). At exit N, with k the last checkpoint at or before N,
 * a page's bytes are the newest of: its latest version in checkpoints
 * 0..k, and the VMM's writes up to N. The page is
 *   EXACT  when the guest did not write it between s_k and s_{k+1} (the
 *          next checkpoint's dirty bitmap says so), or N = s_k and the VMM
 *          did not answer exit N with a write to it;
 *   STALE  when it did, when there is no checkpoint after N, or when a
 *          checkpoint is missing (a damaged chunk) between its version and
 *          N, or after N;
 *   UNKNOWN when nothing holds it.
 * A trace without checkpoints gives the VMM's writes as UNTRACKED.
 *
 * Threading: the cursor's (one thread). Errors: 0 or -errno.
 */
#ifndef VCR_REPLAYER_MEMORY_H
#define VCR_REPLAYER_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "formats/trace.h"
#include "replayer/cursor.h"

struct rmem;

int rmem_open(struct rmem **out, const char *path);
void rmem_close(struct rmem *m);

/* During the index pass: rec as the reader r just returned it (memory
 * records only; others are ignored). Damaged checkpoint pages are not
 * fatal: they are counted, the first is described by its chunk's file
 * offset and payload byte (rmem_damage), and their pages are unknown. */
int rmem_add(struct rmem *m, struct vcr_reader *r, const struct vcr_record *rec,
	     struct vcr_err *err);
/* After the pass, with the reader r that made it (the malformed checkpoint
 * records it skipped count as damage). */
int rmem_finish(struct rmem *m, struct vcr_reader *r, struct vcr_err *err);

/* Damaged checkpoint records skipped (and the first one's message). */
uint64_t rmem_damage(const struct rmem *m, const char **msg);
/* Checkpoints indexed. */
uint64_t rmem_ncheckpoints(const struct rmem *m);

/* Bytes at exit pos: -ENOENT when a byte is UNKNOWN, or STALE and !stale_ok
 * (nothing copied then). */
int rmem_read(struct rmem *m, uint64_t pos, uint64_t gpa, void *buf, size_t len,
	      bool stale_ok);
int rmem_class(struct rmem *m, uint64_t pos, uint64_t gpa, struct vcr_mem_range *r);
int rmem_ranges(struct rmem *m, uint64_t pos,
		int (*fn)(void *arg, const struct vcr_mem_range *r), void *arg);

#endif
