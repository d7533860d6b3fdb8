/*
 * gdb_mktrace: helper for the gdb replay tests and bench (tests/host/gdb_*,
 * bench/gdb_bench.sh). Writes a synthetic long-mode trace with the writer
 * API and can serve a trace to gdb. The values below are closed forms: the
 * tests compute what gdb must show from them, never from the cursor or the
 * stub they test.
 *
 *   gdb_mktrace make FILE [NEXITS [NVCPUS [BLOB]]]
 *                                    write the trace (default 64 exits, 2 vCPUs;
 *                                    BLOB: a file of up to 1 MiB the "loader"
 *                                    writes at 0x200000, for the bench)
 *   gdb_mktrace serve ADDR FILE      gdbstub_serve_replay (like vcr replay --gdb)
 *
 * The trace: 2 vCPUs (or 1: the bench's equivalent of QEMU's one CPU), 4 MiB
 * of memory, identity-mapped with 2 MiB pages by page tables the "loader"
 * wrote. Exit i is made by vCPU (i % 3 == 2 ? 1 : 0) (always 0 with 1 vCPU),
 * an OUT to port 0xf1 with rip = CODE + 16*(i % 1024) + 5, rax = i, rbx = vCPU,
 * fs.base = 0xf5000000 + i. The code area holds "inc rax; out 0xf1, al; nop..."
 * per 16-byte slot. After exit 30 the VMM writes 0x3030 at DATA (visible from
 * exit 31 on); before it DATA holds 0x1111. Exit 40 has a #GP pending.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/trace.h"
#include "gdbstub/gdbstub.h"
#include "replayer/cursor.h"

#define CODE 0x100000ull
#define DATA 0x180000ull
#define BLOB 0x200000ull
#define BLOB_MAX (1u << 20)
#define MEMSZ (4ull << 20)

static int die(const char *what, int rc, const struct vcr_err *err)
{
	fprintf(stderr, "gdb_mktrace: %s: %s%s%s\n", what, strerror(rc < 0 ? -rc : rc),
		err && err->msg[0] ? ": " : "", err && err->msg[0] ? err->msg : "");
	return 1;
}

static int mem_write(struct vcr_writer *w, uint64_t gpa, const void *p, uint64_t len)
{
	struct vcr_record r;
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_MEM_WRITE;
	r.u.mem.gpa = gpa;
	r.u.mem.len = len;
	r.u.mem.data = p;
	return vcr_writer_append(w, &r);
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int make(const char *path, unsigned nexits, unsigned nvcpus, const char *blob)
{
	struct vcr_mem_region mem = { 0, MEMSZ, 0 };
	struct vcr_kv kv[] = { { "mode", "long64" }, { "generator", "gdb_mktrace" } };
	struct vcr_trace_info info = {
		.arch = VCR_ARCH_X86_64, .kvm_api_version = 12, .sync_regs_mask = 7,
		.nvcpus = nvcpus, .mem = &mem, .nmem = 1, .cmdline = "gdb_mktrace make",
		.kv = kv, .nkv = 2,
	};
	struct vcr_writer_opts opts = { .chunk_exits = 8 };
	struct vcr_writer *w;
	struct vcr_err err = { 0 };
	static struct vcr_record r;
	int rc;

	rc = vcr_writer_open(&w, path, &info, &opts, &err);
	if (rc)
		return die("open", rc, &err);

	/* Page tables: PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000: 2 x 2 MiB. */
	uint64_t pt[3][2] = { { 0x2003, 0 }, { 0x3003, 0 }, { 0x83, 0x200083 } };
	for (int i = 0; i < 3; i++)
		if ((rc = mem_write(w, 0x1000 + 0x1000 * (uint64_t)i, pt[i], 16)))
			goto fail;
	static uint8_t code[16 * 1024];
	memset(code, 0x90, sizeof(code));
	for (size_t s = 0; s + 16 <= sizeof(code); s += 16)
		memcpy(code + s, "\x48\xff\xc0\xe6\xf1", 5);
	if ((rc = mem_write(w, CODE, code, sizeof(code))))
		goto fail;
	if (blob) {
		static uint8_t b[BLOB_MAX];
		FILE *f = fopen(blob, "rb");
		if (!f) {
			rc = -errno;
			vcr_writer_abort(w);
			return die(blob, rc, NULL);
		}
		size_t n = fread(b, 1, sizeof(b), f);
		fclose(f);
		if (n && (rc = mem_write(w, BLOB, b, n)))
			goto fail;
	}
	uint64_t d = 0x1111;
	if ((rc = mem_write(w, DATA, &d, 8)))
		goto fail;

	for (unsigned i = 0; i < nexits; i++) {
		unsigned v = nvcpus > 1 && i % 3 == 2 ? 1 : 0;
		memset(&r, 0, sizeof(r));
		r.type = VCR_REC_EXIT;
		r.vcpu = v;
		r.u.exit.valid = VCR_CLASS_ALL;
		struct vcr_exit *e = &r.u.exit.exit;
		e->reason = KVM_EXIT_IO;
		e->u.io.direction = KVM_EXIT_IO_OUT;
		e->u.io.size = 1;
		e->u.io.port = 0xf1;
		e->u.io.count = 1;
		e->data_len = 1;
		e->data[0] = (uint8_t)i;
		struct vcr_vcpu_state *st = &r.u.exit.state;
		st->regs.rip = CODE + 16ull * (i % 1024) + 5;
		st->regs.rax = i;
		st->regs.rbx = v;
		st->regs.rsp = 0x90000 - 0x1000ull * v;
		st->regs.rflags = 0x2;
		seg(&st->sregs.cs, 8, 11, true);
		seg(&st->sregs.ds, 0x10, 3, false);
		st->sregs.es = st->sregs.ss = st->sregs.gs = st->sregs.fs = st->sregs.ds;
		st->sregs.fs.base = 0xf5000000ull + i;
		st->sregs.tr.type = 11;
		st->sregs.tr.present = 1;
		st->sregs.cr0 = 0x80000011;
		st->sregs.cr3 = 0x1000;
		st->sregs.cr4 = 0x20;
		st->sregs.efer = 0x500;
		if (i == 40) {
			st->events.exception.pending = 1;
			st->events.exception.nr = 13;
			st->events.exception.has_error_code = 1;
		}
		vcr_state_normalize(st);
		if ((rc = vcr_writer_append(w, &r)))
			goto fail;
		if (i == 30) {
			d = 0x3030;
			if ((rc = mem_write(w, DATA, &d, 8)))
				goto fail;
		}
	}
	memset(&r, 0, sizeof(r));
	r.type = VCR_REC_END;
	r.u.end.how = VCR_END_EXIT_PORT;
	r.u.end.msg = "synthetic";
	if ((rc = vcr_writer_append(w, &r)))
		goto fail;
	rc = vcr_writer_close(w);
	return rc ? die("close", rc, NULL) : 0;
fail:
	vcr_writer_abort(w);
	return die("append", rc, NULL);
}

static int serve(const char *addr, const char *path)
{
	struct vcr_cursor *c;
	struct vcr_err err = { 0 };
	int rc = vcr_cursor_open(&c, path, &err);

	if (rc)
		return die("open", rc, &err);
	rc = gdbstub_serve_replay(c, addr, &err);
	vcr_cursor_close(c);
	return rc ? die("serve", rc, &err) : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && argc <= 6 && !strcmp(argv[1], "make")) {
		unsigned nv = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 2;
		if (nv != 1 && nv != 2) {
			fprintf(stderr, "gdb_mktrace: NVCPUS is 1 or 2\n");
			return 2;
		}
		return make(argv[2], argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 64, nv,
			    argc > 5 ? argv[5] : NULL);
	}
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], argv[3]);
	fprintf(stderr, "usage: gdb_mktrace make FILE [N [NVCPUS [BLOB]]] | serve ADDR FILE\n");
	return 2;
}
