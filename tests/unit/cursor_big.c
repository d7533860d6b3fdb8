/*
 * tests/unit/cursor_big.c: the cursor over a 1,000,000-exit trace (writer
 * defaults, 4 vCPUs, inputs and SET_STATEs between exits) agrees with a
 * linear read. The linear read uses the bare trace reader and tracks every
 * vCPU's state itself (EXIT states, SET_STATE dirty classes); for each exit
 * it keeps a 64-bit digest of the exit record and of every vCPU's state
 * there. Then: random seeks, random per-vCPU seeks, and a backward walk over
 * the last 20,000 exits, each position's digest recomputed from the cursor.
 *
 * Usage: cursor_big [NEXITS]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replayer/cursor.h"
#include "tests/lib/tap.h"

#define NV 4

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t digest(const struct vcr_record *e, const struct vcr_vcpu_state *st,
		       const bool *known)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h = fnv(h, &e->vcpu, sizeof(e->vcpu));
	h = fnv(h, &e->vcpu_exit, sizeof(e->vcpu_exit));
	h = fnv(h, &e->u.exit.exit.reason, sizeof(e->u.exit.exit.reason));
	h = fnv(h, &e->u.exit.exit.u, sizeof(e->u.exit.exit.u));
	h = fnv(h, e->u.exit.exit.data, e->u.exit.exit.data_len);
	for (int v = 0; v < NV; v++)
		if (known[v])
			h = fnv(h, &st[v], sizeof(st[v]));
	return h;
}

static int write_trace(const char *path, uint64_t nexits)
{
	static const struct vcr_mem_region mem[1] = { { 0, 1 << 20, 0 } };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = NV, .mem = mem, .nmem = 1,
	};
	struct vcr_writer *w;
	struct vcr_err err;
	static struct vcr_record rec;
	struct vcr_vcpu_state st[NV];

	if (vcr_writer_open(&w, path, &info, NULL, &err))
		tap_bail("writer_open: %s", err.msg);
	memset(st, 0, sizeof(st));
	for (uint64_t i = 0; i < nexits; i++) {
		uint32_t v = (uint32_t)(rnd() % NV);
		memset(&rec, 0, offsetof(struct vcr_record, u));
		rec.type = VCR_REC_EXIT;
		rec.vcpu = v;
		rec.u.exit.valid = VCR_CLASS_ALL;
		memset(&rec.u.exit.exit.u, 0, sizeof(rec.u.exit.exit.u));
		rec.u.exit.exit.reason = KVM_EXIT_IO;
		rec.u.exit.exit.u.io.direction = rnd() % 2;
		rec.u.exit.exit.u.io.size = 1;
		rec.u.exit.exit.u.io.port = (uint16_t)(0x3f8 + rnd() % 8);
		rec.u.exit.exit.u.io.count = 1;
		rec.u.exit.exit.data_len = rec.u.exit.exit.u.io.direction;
		rec.u.exit.exit.data[0] = (uint8_t)i;
		st[v].regs.rip += 1 + rnd() % 16;
		st[v].regs.rax = rnd() % 4 ? st[v].regs.rax : rnd();
		if (rnd() % 5000 == 0)
			st[v].sregs.cr3 = rnd() & ~0xfffull;
		rec.u.exit.state = st[v];
		if (vcr_writer_append(w, &rec))
			tap_bail("append failed");
		if (!rec.u.exit.exit.u.io.direction) {
			memset(&rec, 0, offsetof(struct vcr_record, u));
			rec.type = VCR_REC_INPUT;
			rec.vcpu = v;
			rec.u.input.kind = VCR_INPUT_IO_IN;
			rec.u.input.len = 1;
			rec.u.input.data[0] = 0x60;
			if (vcr_writer_append(w, &rec))
				tap_bail("append failed");
		}
		if (rnd() % 300 == 0) {
			uint32_t u = (uint32_t)(rnd() % NV);
			st[u].regs.rbx = rnd();
			memset(&rec, 0, offsetof(struct vcr_record, u));
			rec.type = VCR_REC_SET_STATE;
			rec.vcpu = u;
			rec.u.set_state.dirty = VCR_CLASS_REGS;
			rec.u.set_state.state = st[u];
			if (vcr_writer_append(w, &rec))
				tap_bail("append failed");
		}
	}
	return vcr_writer_close(w);
}

int main(int argc, char **argv)
{
	uint64_t nexits = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	char path[] = "/tmp/vcr-cursor-big-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || nexits < 30000)
		tap_bail("setup");
	close(fd);
	tap_plan(5);
	if (write_trace(path, nexits))
		tap_bail("writing the trace failed");

	/* Linear read with the bare reader. */
	uint64_t *dig = malloc(nexits * sizeof(*dig));
	uint32_t *vof = malloc(nexits * sizeof(*vof));
	uint64_t *vex = malloc(nexits * sizeof(*vex));
	struct vcr_reader *r;
	struct vcr_err err;
	static struct vcr_record rec;
	struct vcr_vcpu_state st[NV];
	bool known[NV] = { false };
	if (!dig || !vof || !vex || vcr_reader_open(&r, path, &err))
		tap_bail("reader");
	uint64_t k = 0;
	int rc;
	while ((rc = vcr_reader_next(r, &rec)) > 0) {
		if (rec.type == VCR_REC_SET_STATE) {
			vcr_state_copy(&st[rec.vcpu], &rec.u.set_state.state, rec.u.set_state.dirty);
			continue;
		}
		if (rec.type != VCR_REC_EXIT)
			continue;
		st[rec.vcpu] = rec.u.exit.state;
		known[rec.vcpu] = true;
		if (k < nexits) {
			dig[k] = digest(&rec, st, known);
			vof[k] = rec.vcpu;
			vex[k] = rec.vcpu_exit;
		}
		k++;
	}
	vcr_reader_close(r);
	tap_ok(rc == 0 && k == nexits, "linear read: %" PRIu64 " exits", k);

	struct vcr_cursor *c;
	if (vcr_cursor_open(&c, path, &err))
		tap_bail("cursor_open: %s", err.msg);
	const char *why = NULL;
	uint64_t bad = 0;
	for (int i = 0; i < 3000 && !why; i++) {
		uint64_t s = i < 10 ? (i < 5 ? (uint64_t)i : nexits - 1 - (uint64_t)i) : rnd() % nexits;
		if (vcr_cursor_seek(c, s)) {
			why = "seek failed";
			break;
		}
		for (int v = 0; v < NV; v++)
			known[v] = vcr_cursor_state(c, (uint32_t)v, &st[v]) == 0;
		if (digest(vcr_cursor_exit(c), st, known) != dig[s]) {
			bad = s;
			why = "digest differs";
		}
	}
	tap_ok(!why, "3000 random seeks agree with the linear read");
	if (why)
		tap_diag("%s at exit %" PRIu64, why, bad);

	why = NULL;
	for (int i = 0; i < 2000 && !why; i++) {
		uint64_t s = rnd() % nexits;
		uint32_t v = vof[s];
		if (vcr_cursor_seek_vcpu(c, v, vex[s]) || vcr_cursor_pos(c) != s) {
			bad = s;
			why = "seek_vcpu landed elsewhere";
		}
	}
	tap_ok(!why, "2000 per-vCPU seeks land on the linear read's exit");
	if (why)
		tap_diag("%s at exit %" PRIu64, why, bad);

	why = NULL;
	if (vcr_cursor_seek(c, nexits - 1))
		why = "seek to the end";
	for (uint64_t s = nexits - 1; !why; s--) {
		for (int v = 0; v < NV; v++)
			known[v] = vcr_cursor_state(c, (uint32_t)v, &st[v]) == 0;
		if (vcr_cursor_pos(c) != s || digest(vcr_cursor_exit(c), st, known) != dig[s]) {
			bad = s;
			why = "digest differs";
			break;
		}
		if (s == nexits - 20000)
			break;
		if (vcr_cursor_step(c, -1, UINT32_MAX))
			why = "step back failed";
	}
	tap_ok(!why, "backward walk over the last 20000 exits agrees");
	if (why)
		tap_diag("%s at exit %" PRIu64, why, bad);

	/* Per-vCPU backward steps from the end agree with the vCPU map. */
	why = NULL;
	uint32_t v = vof[nexits - 1];
	if (vcr_cursor_seek(c, nexits - 1))
		why = "seek to the end";
	for (int i = 0; i < 5000 && !why; i++) {
		uint64_t p = vcr_cursor_pos(c), q = p;
		while (q > 0 && vof[--q] != v)
			;
		if (vcr_cursor_step(c, -1, v) || vcr_cursor_pos(c) != q || vcr_cursor_vcpu(c) != v) {
			bad = p;
			why = "per-vCPU step back landed elsewhere";
		}
	}
	tap_ok(!why, "5000 per-vCPU backward steps agree");
	if (why)
		tap_diag("%s from exit %" PRIu64, why, bad);

	vcr_cursor_close(c);
	unlink(path);
	free(dig);
	free(vof);
	free(vex);
	return tap_exit_status();
}
