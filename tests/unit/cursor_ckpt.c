/*
 * tests/unit/cursor_ckpt.c: the cursor's memory classes against a model of
 * a guest. The model keeps the guest's real memory at every exit (what a
 * checkpoint-free oracle would see), the guest's writes (which the dirty
 * log would report), the VMM's whole-page writes (MEM_WRITE answers to an
 * exit) and a checkpoint every K exits plus a final one at the last exit,
 * written as the recorder writes them (CKPT + CKPT_PAGES with zero, repeat
 * and raw pages). At random exits and pages it checks vcr_cursor_mem_class
 * against the model's definition (docs/replay.md: exact, stale, unknown),
 * that strict reads serve exactly the exact pages with the guest's real
 * bytes, and that lenient reads of stale pages give the last recorded
 * contents.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/trace.h"
#include "replayer/cursor.h"
#include "tests/lib/tap.h"

#define NP 12		/* pages in the region */
#define NE 300		/* exits */
#define K 17		/* checkpoint interval, exits */
#define PG VCR_CKPT_PAGE

static uint64_t rng = 0x1234567;
static uint64_t rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* truth[e]: memory at exit e (guest writes before it, the VMM's answers
 * to earlier exits). rec[e]: what the trace holds as the last recorded
 * contents at e (model of the sources), have[e][p] whether anything. */
static uint8_t truth[NE][NP][PG];
static uint8_t gw[NE][NP];		/* guest wrote p just before exit e */
static uint8_t vw[NE][NP];		/* VMM wrote p answering exit e */
static uint8_t vdata[NE][NP][PG];
static int ckat[NE];			/* checkpoint number at exit e, -1 */
static uint64_t ckseq[NE];
static uint8_t ckst[NE / 8 + 2][NP];	/* checkpoint i stores page p */
static uint8_t ckmem[NE / 8 + 2][NP][PG];	/* and with these bytes */
static int nck;

int main(void)
{
	static uint8_t mem[NP][PG], enc[NP * (PG + 11)], buf[PG];
	static struct vcr_record rec;
	char path[] = "/tmp/vcr-cursor-ckpt-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		tap_bail("mkstemp: %s", strerror(errno));
	close(fd);
	tap_plan(5);

	struct vcr_mem_region mr = { .gpa = 0, .size = NP * PG };
	struct vcr_trace_info info = { .arch = VCR_ARCH_X86_64, .nvcpus = 1, .mem = &mr, .nmem = 1 };
	struct vcr_writer_opts wo = { .chunk_exits = 16 };
	struct vcr_writer *w;
	struct vcr_err err;
	if (vcr_writer_open(&w, path, &info, &wo, &err))
		tap_bail("writer: %s", err.msg);
	uint8_t dirty[NP];
	memset(dirty, 0, sizeof(dirty));
	int wrc = 0, number = 0;
	for (int e = 0; e < NE; e++) {
		/* The guest runs up to exit e. */
		for (int p = 0; p < NP; p++) {
			unsigned r = (unsigned)(rnd() % 100);
			if (r < 3) {
				int n = 1 + (int)(rnd() % 64), o = (int)(rnd() % (PG - 64));
				for (int i = 0; i < n; i++)
					mem[p][o + i] = (uint8_t)rnd();
			} else if (r == 3) {
				memset(mem[p], 0, PG);		/* a zero page */
			} else if (r == 4) {
				memcpy(mem[p], mem[(p + 1) % NP], PG);	/* a repeat */
			} else {
				continue;
			}
			gw[e][p] = 1;
			dirty[p] = 1;
		}
		memcpy(truth[e], mem, sizeof(mem));
		memset(&rec, 0, sizeof(rec));
		rec.type = VCR_REC_EXIT;
		rec.u.exit.valid = VCR_CLASS_ALL;
		rec.u.exit.exit.reason = KVM_EXIT_IO;
		rec.u.exit.state.regs.rip = (uint64_t)e;
		vcr_state_normalize(&rec.u.exit.state);
		wrc |= vcr_writer_append(w, &rec);
		/* The VMM answers some exits with a whole-page write. */
		if (rnd() % 9 == 0 && e + 1 < NE) {
			int p = (int)(rnd() % NP);
			for (int i = 0; i < (int)PG; i++)
				mem[p][i] = (uint8_t)rnd();
			vw[e][p] = 1;
			memcpy(vdata[e][p], mem[p], PG);
			memset(&rec, 0, sizeof(rec));
			rec.type = VCR_REC_MEM_WRITE;
			rec.u.mem.gpa = (uint64_t)p * PG;
			rec.u.mem.len = PG;
			rec.u.mem.data = mem[p];
			wrc |= vcr_writer_append(w, &rec);
		}
		ckat[e] = -1;
		if (e % K == K - 1 || e == NE - 1) {
			uint8_t bm[(NP + 7) / 8] = { 0 };
			int ns = 0;
			size_t n = 0;
			uint64_t ords[NP];
			for (int p = 0; p < NP; p++)
				if (dirty[p]) {
					bm[p / 8] |= (uint8_t)(1u << (p % 8));
					uint64_t ref = UINT64_MAX;
					for (int q = 0; q < ns; q++)
						if (!memcmp(mem[ords[q]], mem[p], PG))
							ref = (uint64_t)q;
					ords[ns++] = (uint64_t)p;
					n += vcr_ckpt_page_put(enc + n, mem[p], ref);
				}
			memset(&rec, 0, sizeof(rec));
			rec.type = VCR_REC_CKPT;
			rec.u.ckpt.number = (uint64_t)number;
			rec.u.ckpt.flags = e == NE - 1 ? VCR_CKPT_FINAL : 0;
			rec.u.ckpt.npages = NP;
			rec.u.ckpt.dirty = rec.u.ckpt.stored = bm;
			wrc |= vcr_writer_append(w, &rec);
			if (ns) {
				memset(&rec, 0, sizeof(rec));
				rec.type = VCR_REC_CKPT_PAGES;
				rec.u.ckpt_pages.number = (uint64_t)number;
				rec.u.ckpt_pages.count = (uint32_t)ns;
				rec.u.ckpt_pages.len = n;
				rec.u.ckpt_pages.data = enc;
				wrc |= vcr_writer_append(w, &rec);
			}
			ckat[e] = number++;
			memcpy(ckst[nck], dirty, NP);
			memcpy(ckmem[nck], mem, sizeof(mem));
			ckseq[nck++] = (uint64_t)e;
			memset(dirty, 0, sizeof(dirty));
		}
	}
	wrc |= vcr_writer_close(w);
	if (wrc)
		tap_bail("writing the trace failed");

	struct vcr_cursor *c;
	if (vcr_cursor_open(&c, path, &err))
		tap_bail("cursor: %s", err.msg);
	struct vcr_cursor_mem_info mi;
	tap_ok(vcr_cursor_mem_info(c, &mi) == 0 && mi.checkpoints == (uint64_t)nck && !mi.damaged,
	       "the index finds the %d checkpoints", nck);

	int bad_cls = 0, bad_exact = 0, bad_stale = 0, served = 0, stale = 0, unknown = 0;
	int last_bad = 0;
	for (int t = 0; t < 3000; t++) {
		int N = t < NP ? NE - 1 : (int)(rnd() % NE), p = t < NP ? t : (int)(rnd() % NP);
		/* The model: last checkpoint k at or before N (index in ckseq). */
		int k = -1;
		for (int i = 0; i < nck; i++)
			if ((int)ckseq[i] <= N)
				k = i;
		/* The last recorded contents: the page in the last checkpoint
		 * up to k that stores it (its memory then, the VMM's answer to
		 * that exit included), unless the VMM wrote the page answering
		 * a later exit before N. */
		int srcseq = -1;
		const uint8_t *bytes = NULL;
		for (int i = 0; i <= k; i++)
			if (ckst[i][p]) {
				bytes = ckmem[i][p];
				srcseq = (int)ckseq[i];
			}
		for (int e = srcseq + 1; e < N; e++)
			if (vw[e][p])
				bytes = vdata[e][p];
		bool known = bytes != NULL;
		enum vcr_mem_class want;
		if (!known) {
			want = VCR_MEM_UNKNOWN;
		} else if (k >= 0 && (int)ckseq[k] == N) {
			want = vw[N][p] ? VCR_MEM_STALE : VCR_MEM_EXACT;
		} else if (k + 1 >= nck) {
			want = VCR_MEM_STALE;
		} else {
			want = VCR_MEM_EXACT;
			for (int e = k >= 0 ? (int)ckseq[k] + 1 : 0; e <= (int)ckseq[k + 1]; e++)
				if (gw[e][p])
					want = VCR_MEM_STALE;
		}
		if (vcr_cursor_seek(c, (uint64_t)N))
			tap_bail("seek %d", N);
		struct vcr_mem_range r;
		uint64_t gpa = (uint64_t)p * PG + rnd() % PG;
		if (vcr_cursor_mem_class(c, gpa, &r) || r.cls != want) {
			if (!bad_cls++)
				tap_diag("exit %d page %d: class %s, want %s", N, p,
					 vcr_mem_class_name(r.cls), vcr_mem_class_name(want));
			last_bad = N;
		}
		int rc = vcr_cursor_read_mem(c, (uint64_t)p * PG, buf, PG);
		if (want == VCR_MEM_EXACT) {
			served++;
			if (rc || memcmp(buf, truth[N][p], PG)) {
				if (!bad_exact++)
					tap_diag("exit %d page %d: exact read rc %d, bytes %s", N, p, rc,
						 rc ? "-" : "differ from the guest's");
			}
		} else if (rc != -ENOENT) {
			if (!bad_exact++)
				tap_diag("exit %d page %d: %s page served by a strict read", N, p,
					 vcr_mem_class_name(want));
		}
		if (want == VCR_MEM_STALE) {
			stale++;
			rc = vcr_cursor_read_mem_stale(c, (uint64_t)p * PG, buf, PG);
			if (bytes && (rc || memcmp(buf, bytes, PG))) {
				if (!bad_stale++)
					tap_diag("exit %d page %d: lenient read rc %d, bytes %s", N, p,
						 rc, rc ? "-" : "not the last recorded");
			}
		}
		unknown += want == VCR_MEM_UNKNOWN;
	}
	(void)last_bad;
	tap_ok(!bad_cls, "classes match the model (%d wrong of 3000; %d exact, %d stale, %d unknown)",
	       bad_cls, served, stale, unknown);
	tap_ok(!bad_exact && served > 100, "strict reads serve exact pages with the guest's bytes, "
	       "refuse the others (%d wrong)", bad_exact);
	tap_ok(!bad_stale && stale > 100, "lenient reads of stale pages give the last recorded "
	       "contents (%d wrong)", bad_stale);
	/* At the last exit (a final checkpoint) every page the guest touched
	 * is exact. */
	int fin = 1;
	vcr_cursor_seek(c, NE - 1);
	for (int p = 0; p < NP; p++) {
		int touched = 0;
		for (int e = 0; e < NE; e++)
			touched |= gw[e][p] | vw[e][p];
		if (touched && (vcr_cursor_read_mem(c, (uint64_t)p * PG, buf, PG) ||
				memcmp(buf, truth[NE - 1][p], PG)))
			fin = 0;
	}
	tap_ok(fin, "at the final checkpoint every touched page is exact");
	vcr_cursor_close(c);
	unlink(path);
	return tap_exit_status();
}
