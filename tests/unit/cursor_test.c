/*
 * tests/unit/cursor_test.c: the replay cursor against a model built while a
 * random multi-vCPU stream is written (tests/unit/trace_gen.h): every exit,
 * every vCPU's state at every position, the extras of each exit and guest
 * memory, checked on a forward walk, a backward walk, random seeks mixed with
 * steps, per-vCPU seeks and steps, and memory reads at random positions.
 * Pure logic: the writer and the reader of formats/, no KVM.
 *
 * Usage: cursor_test [SEED]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replayer/cursor.h"
#include "tests/lib/tap.h"
#include "tests/unit/trace_gen.h"

struct m_exit {
	struct vcr_record want;		/* the EXIT as a reader returns it */
	size_t xfirst, xcount;		/* extras in m.xs */
};

struct m_mem {
	uint64_t key, gpa, len, off;	/* visible at exits >= key */
};

struct model {
	uint32_t nvcpus;
	struct m_exit *ex;
	size_t nex;
	struct vcr_vcpu_state *st;	/* [exit][vcpu] */
	uint8_t *known;			/* [exit][vcpu] */
	struct vcr_record *xs;
	size_t nxs;
	struct m_mem *mem;
	size_t nmem;
	uint8_t *data;			/* mem bytes, texts */
	size_t dlen, dcap;
	uint64_t vcount[VCR_TRACE_MAX_VCPUS];
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		tap_bail("out of memory");
	return p;
}

static uint64_t m_put(struct model *m, const void *d, size_t n)
{
	if (m->dlen + n + 1 > m->dcap) {
		m->dcap = (m->dlen + n + 1) * 2;
		m->data = xrealloc(m->data, m->dcap);
	}
	memcpy(m->data + m->dlen, d, n);
	m->data[m->dlen + n] = 0;
	uint64_t off = m->dlen;
	m->dlen += n + 1;
	return off;
}

/* tgen's stream, but END (after which tgen only makes exits) only last, so
 * that extras and memory records run through the whole trace. */
static void gen_next(struct tgen *g, struct vcr_record *rec, struct vcr_record *want,
		     size_t i, size_t nrec)
{
	for (;;) {
		tgen_next(g, rec, want);
		if (want->type != VCR_REC_END || i + 1 == nrec)
			return;
		g->ended = false;
	}
}

/* Write nrec records of stream `seed` to path and build the model. */
static void make_trace(const char *path, uint64_t seed, uint32_t nvcpus, size_t nrec,
		       uint32_t chunk_exits, struct model *m)
{
	static struct tgen g;
	static struct vcr_record rec, want;
	struct vcr_trace_info info;
	struct vcr_writer *w;
	struct vcr_err err;
	struct vcr_writer_opts o = { .chunk_exits = chunk_exits };
	struct vcr_vcpu_state cur[VCR_TRACE_MAX_VCPUS];
	uint8_t known[VCR_TRACE_MAX_VCPUS] = { 0 };

	memset(m, 0, sizeof(*m));
	m->nvcpus = nvcpus;
	tgen_init(&g, seed, nvcpus);
	tgen_info(&info, nvcpus);
	if (vcr_writer_open(&w, path, &info, &o, &err))
		tap_bail("writer_open: %s", err.msg);
	size_t capx = 0, capxs = 0, capmem = 0;
	for (size_t i = 0; i < nrec; i++) {
		gen_next(&g, &rec, &want, i, nrec);
		if (vcr_writer_append(w, &rec))
			tap_bail("writer_append failed at record %zu", i);
		if (want.type == VCR_REC_EXIT) {
			if (m->nex == capx) {
				capx = capx ? 2 * capx : 1024;
				m->ex = xrealloc(m->ex, capx * sizeof(*m->ex));
				m->st = xrealloc(m->st, capx * nvcpus * sizeof(*m->st));
				m->known = xrealloc(m->known, capx * nvcpus);
			}
			cur[want.vcpu] = want.u.exit.state;
			known[want.vcpu] = 1;
			struct m_exit *x = &m->ex[m->nex];
			x->want = want;
			x->xfirst = m->nxs;
			x->xcount = 0;
			memcpy(m->st + m->nex * nvcpus, cur, nvcpus * sizeof(*cur));
			memcpy(m->known + m->nex * nvcpus, known, nvcpus);
			m->vcount[want.vcpu]++;
			m->nex++;
			continue;
		}
		if (want.type == VCR_REC_SET_STATE) {
			cur[want.vcpu] = want.u.set_state.state;
			known[want.vcpu] = 1;
		}
		if (want.type == VCR_REC_MEM_WRITE || want.type == VCR_REC_MEM_PAGES) {
			if (m->nmem == capmem) {
				capmem = capmem ? 2 * capmem : 256;
				m->mem = xrealloc(m->mem, capmem * sizeof(*m->mem));
			}
			m->mem[m->nmem++] = (struct m_mem){ want.seq + 1, want.u.mem.gpa,
							    want.u.mem.len,
							    m_put(m, want.u.mem.data, want.u.mem.len) };
		}
		if (m->nex == 0)
			continue;	/* before the first exit: no extras */
		if (m->nxs == capxs) {
			capxs = capxs ? 2 * capxs : 1024;
			m->xs = xrealloc(m->xs, capxs * sizeof(*m->xs));
		}
		m->xs[m->nxs++] = want;
		m->ex[m->nex - 1].xcount++;
	}
	if (vcr_writer_close(w))
		tap_bail("writer_close failed");
}

/* Fix the pointers of the extras (done in a second pass, once data no
 * longer moves): regenerate the stream and copy data at the same indexes. */
static void rehome(uint64_t seed, uint32_t nvcpus, size_t nrec, struct model *m)
{
	static struct tgen g;
	static struct vcr_record rec, want;
	size_t xi = 0, nex = 0;
	uint64_t *offs = xrealloc(NULL, (m->nxs + 1) * sizeof(*offs));
	tgen_init(&g, seed, nvcpus);
	for (size_t i = 0; i < nrec; i++) {
		gen_next(&g, &rec, &want, i, nrec);
		if (want.type == VCR_REC_EXIT) {
			nex++;
			continue;
		}
		if (!nex)
			continue;
		const void *d = NULL;
		size_t n = 0;
		if (want.type == VCR_REC_MEM_WRITE || want.type == VCR_REC_MEM_PAGES) {
			d = want.u.mem.data;
			n = want.u.mem.len;
		} else if (want.type == VCR_REC_MARKER) {
			d = want.u.marker.text;
			n = strlen(want.u.marker.text);
		} else if (want.type == VCR_REC_END) {
			d = want.u.end.msg;
			n = strlen(want.u.end.msg);
		} else if (want.type == VCR_REC_NOTE) {
			d = want.u.note.text;
			n = want.u.note.len;
		}
		offs[xi++] = d ? m_put(m, d, n) : UINT64_MAX;
	}
	for (size_t i = 0; i < m->nxs; i++) {
		struct vcr_record *r = &m->xs[i];
		if (offs[i] == UINT64_MAX)
			continue;
		const uint8_t *p = m->data + offs[i];
		if (r->type == VCR_REC_MARKER)
			r->u.marker.text = (const char *)p;
		else if (r->type == VCR_REC_END)
			r->u.end.msg = (const char *)p;
		else if (r->type == VCR_REC_NOTE)
			r->u.note.text = (const char *)p;
		else
			r->u.mem.data = p;
	}
	free(offs);
}

/* Compare everything the cursor says at its position with the model.
 * Returns NULL when equal, else what differs (static buffer). */
static const char *check_pos(struct vcr_cursor *c, const struct model *m, bool extras)
{
	static char why[256];
	uint64_t p = vcr_cursor_pos(c);
	if (p >= m->nex)
		return "position out of range";
	const struct m_exit *x = &m->ex[p];
	const struct vcr_record *r = vcr_cursor_exit(c);
	if (!r)
		return "no exit record";
	if (!tgen_same(r, &x->want, why, sizeof(why)))
		return why;
	for (uint32_t v = 0; v < m->nvcpus; v++) {
		struct vcr_vcpu_state st;
		int rc = vcr_cursor_state(c, v, &st);
		bool k = m->known[p * m->nvcpus + v];
		if (k != (rc == 0)) {
			snprintf(why, sizeof(why), "exit %" PRIu64 " vCPU %u: state %s", p, v,
				 k ? "missing" : "present but none expected");
			return why;
		}
		if (k && memcmp(&st, &m->st[p * m->nvcpus + v], sizeof(st))) {
			snprintf(why, sizeof(why), "exit %" PRIu64 " vCPU %u: state differs", p, v);
			return why;
		}
	}
	if (extras) {
		size_t n;
		const struct vcr_record *xr = vcr_cursor_extras(c, &n);
		if (n != x->xcount) {
			snprintf(why, sizeof(why), "exit %" PRIu64 ": %zu extras, want %zu", p, n,
				 x->xcount);
			return why;
		}
		for (size_t i = 0; i < n; i++) {
			char w2[200];
			if (!tgen_same(&xr[i], &m->xs[x->xfirst + i], w2, sizeof(w2))) {
				snprintf(why, sizeof(why), "exit %" PRIu64 " extra %zu: %s", p, i, w2);
				return why;
			}
		}
	}
	return NULL;
}

/* Expected memory at position p: -ENOENT if a byte was never written. */
static int model_mem(const struct model *m, uint64_t p, uint64_t gpa, size_t len, uint8_t *out,
		     uint8_t *have)
{
	memset(have, 0, len);
	for (size_t i = 0; i < m->nmem; i++) {
		const struct m_mem *w = &m->mem[i];
		if (w->key > p)
			break;
		for (uint64_t b = 0; b < len; b++) {
			uint64_t a = gpa + b;
			if (a >= w->gpa && a - w->gpa < w->len) {
				out[b] = m->data[w->off + (a - w->gpa)];
				have[b] = 1;
			}
		}
	}
	for (size_t b = 0; b < len; b++)
		if (!have[b])
			return -ENOENT;
	return 0;
}

struct rangelist {
	struct vcr_mem_range *r;
	size_t n;
};

static int range_push(void *arg, const struct vcr_mem_range *r)
{
	struct rangelist *l = arg;
	l->r = xrealloc(l->r, (l->n + 1) * sizeof(*l->r));
	l->r[l->n++] = *r;
	return 0;
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void run_trace(const char *path, uint64_t seed, uint32_t nvcpus, size_t nrec,
		      uint32_t chunk_exits)
{
	struct model m;
	struct vcr_cursor *c;
	struct vcr_err err;
	const char *why = NULL;

	make_trace(path, seed, nvcpus, nrec, chunk_exits, &m);
	rehome(seed, nvcpus, nrec, &m);
	tap_diag("trace: seed %" PRIu64 ", %u vCPUs, %zu exits, %zu extras, %zu memory records, "
		 "%u exits per chunk", seed, nvcpus, m.nex, m.nxs, m.nmem, chunk_exits);

	int rc = vcr_cursor_open(&c, path, &err);
	if (!tap_ok(rc == 0, "open (%u vCPUs, chunk %u)", nvcpus, chunk_exits))
		tap_bail("cursor_open: %s", err.msg);
	bool cnt_ok = vcr_cursor_nexits(c) == m.nex && vcr_cursor_pos(c) == 0 &&
		      vcr_cursor_first(c) == 0;
	for (uint32_t v = 0; v < nvcpus; v++)
		cnt_ok = cnt_ok && vcr_cursor_vcpu_nexits(c, v) == m.vcount[v];
	tap_ok(cnt_ok, "exit counts match (%zu)", m.nex);

	/* Forward walk, everything at every exit. */
	uint64_t steps = 0;
	for (;;) {
		if ((why = check_pos(c, &m, true)))
			break;
		uint64_t p = vcr_cursor_pos(c);
		uint32_t v = m.ex[p].want.vcpu;
		uint64_t n;
		if (vcr_cursor_vcpu_index(c, v, &n) || n != m.ex[p].want.vcpu_exit) {
			why = "vcpu_index of the exit's own vCPU";
			break;
		}
		rc = vcr_cursor_step(c, 1, UINT32_MAX);
		if (rc == -ERANGE)
			break;
		if (rc || vcr_cursor_pos(c) != p + 1) {
			why = "step forward failed";
			break;
		}
		steps++;
	}
	tap_ok(!why && steps + 1 == m.nex, "forward walk matches a linear read (%" PRIu64 " steps)%s%s",
	       steps, why ? ": " : "", why ? why : "");

	/* Backward walk from the end. */
	why = NULL;
	steps = 0;
	for (;;) {
		if ((why = check_pos(c, &m, true)))
			break;
		uint64_t p = vcr_cursor_pos(c);
		rc = vcr_cursor_step(c, -1, UINT32_MAX);
		if (rc == -ERANGE)
			break;
		if (rc || vcr_cursor_pos(c) != p - 1) {
			why = "step backward failed";
			break;
		}
		steps++;
	}
	tap_ok(!why && steps + 1 == m.nex && vcr_cursor_pos(c) == 0,
	       "backward walk matches (%" PRIu64 " steps)%s%s", steps, why ? ": " : "", why ? why : "");

	/* Random seeks, each followed by a few random steps. */
	why = NULL;
	for (int i = 0; i < 3000 && !why; i++) {
		uint64_t s = rnd() % m.nex;
		if (vcr_cursor_seek(c, s) || vcr_cursor_pos(c) != s) {
			why = "seek failed";
			break;
		}
		why = check_pos(c, &m, i % 4 == 0);
		for (int k = 0; k < 5 && !why; k++) {
			uint64_t p = vcr_cursor_pos(c);
			int dir = rnd() % 2 ? 1 : -1;
			uint32_t v = rnd() % 3 ? UINT32_MAX : (uint32_t)(rnd() % nvcpus);
			/* Expected target from the model. */
			int64_t want = -1;
			for (int64_t q = (int64_t)p + dir; q >= 0 && q < (int64_t)m.nex; q += dir)
				if (v == UINT32_MAX || m.ex[q].want.vcpu == v) {
					want = q;
					break;
				}
			rc = vcr_cursor_step(c, dir, v);
			if (want < 0 ? (rc != -ERANGE || vcr_cursor_pos(c) != p)
				     : (rc != 0 || vcr_cursor_pos(c) != (uint64_t)want)) {
				static char b[128];
				snprintf(b, sizeof(b), "step %d vcpu %d from %" PRIu64 ": rc %d pos %" PRIu64
					 " want %" PRId64, dir, (int)v, p, rc, vcr_cursor_pos(c), want);
				why = b;
				break;
			}
			why = check_pos(c, &m, true);
		}
	}
	tap_ok(!why, "3000 random seeks and 15000 steps match%s%s", why ? ": " : "", why ? why : "");

	/* Per-vCPU seeks and ordinals. */
	why = NULL;
	for (int i = 0; i < 1000 && !why; i++) {
		uint32_t v = (uint32_t)(rnd() % nvcpus);
		if (!m.vcount[v])
			continue;
		uint64_t n = rnd() % m.vcount[v];
		if (vcr_cursor_seek_vcpu(c, v, n)) {
			why = "seek_vcpu failed";
			break;
		}
		const struct vcr_record *r = vcr_cursor_exit(c);
		if (r->vcpu != v || r->vcpu_exit != n) {
			why = "seek_vcpu landed on the wrong exit";
			break;
		}
		why = check_pos(c, &m, false);
		/* Ordinal of another vCPU at this position. */
		uint32_t u = (uint32_t)(rnd() % nvcpus);
		uint64_t k = 0, got;
		bool any = false;
		for (uint64_t q = 0; q <= vcr_cursor_pos(c); q++)
			if (m.ex[q].want.vcpu == u) {
				k = m.ex[q].want.vcpu_exit;
				any = true;
			}
		rc = vcr_cursor_vcpu_index(c, u, &got);
		if (!why && (any ? (rc || got != k) : rc != -ENOENT))
			why = "vcpu_index of another vCPU";
	}
	tap_ok(!why, "per-vCPU seeks and ordinals match%s%s", why ? ": " : "", why ? why : "");

	/* Out of range: refused, position unchanged. */
	uint64_t p0 = vcr_cursor_pos(c);
	tap_ok(vcr_cursor_seek(c, m.nex) == -ERANGE && vcr_cursor_pos(c) == p0 &&
	       vcr_cursor_seek_vcpu(c, 0, m.vcount[0]) == -ERANGE && vcr_cursor_pos(c) == p0 &&
	       vcr_cursor_seek(c, m.nex - 1) == 0 && vcr_cursor_step(c, 1, UINT32_MAX) == -ERANGE &&
	       vcr_cursor_pos(c) == m.nex - 1 && vcr_cursor_seek(c, 0) == 0 &&
	       vcr_cursor_step(c, -1, UINT32_MAX) == -ERANGE && vcr_cursor_pos(c) == 0,
	       "out-of-range seeks and steps are refused and leave the position");

	/* Memory at random positions: ranges inside, across and outside
	 * recorded writes. */
	why = NULL;
	int ok_reads = 0, enoent = 0;
	static uint8_t got[70000], exp[70000], have[70000];
	for (int i = 0; i < 400 && !why && m.nmem; i++) {
		const struct m_mem *w = &m.mem[rnd() % m.nmem];
		uint64_t s = rnd() % m.nex;
		uint64_t off = w->len ? rnd() % (w->len + 1) : 0;
		size_t len = 1 + rnd() % (rnd() % 4 ? 64 : 9000);
		uint64_t gpa = w->gpa + off - (rnd() % 2 ? 0 : rnd() % 32);
		if (vcr_cursor_seek(c, s)) {
			why = "seek failed";
			break;
		}
		int erc = model_mem(&m, s, gpa, len, exp, have);
		memset(got, 0x5a, len);
		rc = vcr_cursor_read_mem(c, gpa, got, len);
		if (rc != erc || (rc == 0 && memcmp(got, exp, len))) {
			static char b[160];
			snprintf(b, sizeof(b), "read_mem at exit %" PRIu64 " gpa 0x%" PRIx64 " len %zu: rc %d, want %d%s",
				 s, gpa, len, rc, erc, rc == erc ? " (bytes differ)" : "");
			why = b;
		}
		if (rc == 0)
			ok_reads++;
		else
			enoent++;
	}
	tap_ok(!why && (m.nmem == 0 || (ok_reads > 0 && enoent > 0)),
	       "memory reads match the model (%d read, %d refused)%s%s", ok_reads, enoent,
	       why ? ": " : "", why ? why : "");

	/* Classes and ranges at random positions agree with the model: a
	 * byte is known (UNTRACKED: these traces have no dirty tracking) iff
	 * the model has it, the ranges are sorted, merged and cover exactly
	 * the known bytes, and mem_class's run lies in one range. */
	why = NULL;
	int nclass = 0;
	for (int i = 0; i < 40 && !why && m.nmem; i++) {
		uint64_t s = rnd() % m.nex;
		if (vcr_cursor_seek(c, s)) {
			why = "seek failed";
			break;
		}
		struct rangelist rl = { 0 };
		rc = vcr_cursor_mem_ranges(c, range_push, &rl);
		for (size_t k = 0; k < rl.n && !rc && !why; k++)
			if (rl.r[k].cls != VCR_MEM_UNTRACKED || !rl.r[k].len ||
			    (k && rl.r[k].gpa <= rl.r[k - 1].gpa + rl.r[k - 1].len))
				why = "ranges not sorted, merged and untracked";
		for (int j = 0; j < 50 && !rc && !why; j++) {
			const struct m_mem *w = &m.mem[rnd() % m.nmem];
			uint64_t gpa = w->gpa + (w->len ? rnd() % (w->len + 8) : 0) - rnd() % 8;
			uint8_t b;
			int known = model_mem(&m, s, gpa, 1, exp, have) == 0;
			struct vcr_mem_range r;
			int in = 0;
			for (size_t k = 0; k < rl.n; k++)
				in |= gpa >= rl.r[k].gpa && gpa - rl.r[k].gpa < rl.r[k].len;
			if (vcr_cursor_mem_class(c, gpa, &r) ||
			    (r.cls == VCR_MEM_UNTRACKED) != known || in != known ||
			    gpa < r.gpa || gpa - r.gpa >= r.len || (r.gpa ^ (r.gpa + r.len - 1)) >> 12 ||
			    (known && vcr_cursor_read_mem(c, gpa, &b, 1)))
				why = "class, ranges and model disagree";
			nclass++;
		}
		if (rc)
			why = "mem_ranges failed";
		free(rl.r);
	}
	tap_ok(!why, "memory classes and ranges match the model (%d bytes)%s%s", nclass,
	       why ? ": " : "", why ? why : "");

	vcr_cursor_close(c);
	free(m.ex);
	free(m.st);
	free(m.known);
	free(m.xs);
	free(m.mem);
	free(m.data);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 12345;
	char path[] = "/tmp/vcr-cursor-test-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp failed");
	close(fd);
	rnd_state ^= seed * 0x9e3779b97f4a7c15ull;

	tap_plan(2 * 9 + 2);
	/* Small chunks: windows, reloads and compaction cross many chunks. */
	run_trace(path, seed, 3, 30000, 64);
	/* The writer's default chunk size, one vCPU. */
	run_trace(path, seed + 1, 1, 12000, 0);

	/* A trace that is not one, and an empty one. */
	struct vcr_cursor *c;
	struct vcr_err err;
	FILE *f = fopen(path, "w");
	fputs("not a trace\n", f);
	fclose(f);
	int rc = vcr_cursor_open(&c, path, &err);
	tap_ok(rc < 0 && err.msg[0], "a file that is not a trace is refused: %s", err.msg);

	struct vcr_trace_info info;
	struct vcr_writer *w;
	tgen_info(&info, 1);
	if (vcr_writer_open(&w, path, &info, NULL, &err) || vcr_writer_close(w))
		tap_bail("writing an empty trace failed");
	rc = vcr_cursor_open(&c, path, &err);
	tap_ok(rc == -ENODATA, "a trace without exits is refused with -ENODATA (%d: %s)", rc, err.msg);
	unlink(path);
	return tap_exit_status();
}
