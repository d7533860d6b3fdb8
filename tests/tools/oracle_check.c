/*
 * oracle_check LOG TRACE: the differential oracle's comparison
 * (docs/testing.md): LOG is what `vcr run --oracle-log LOG` wrote
 * (recorder/oracle.h: KVM_GET_REGS / KVM_GET_SREGS / KVM_GET_VCPU_EVENTS
 * after every exit), TRACE what a recorder made of the same run. The k-th
 * EXIT of vCPU v in the trace must carry, field by field, the state of the
 * log's k-th record of v, normalized as the recorder normalizes snapshots
 * (vcr_state_normalize: padding and reserved bytes), with all three classes
 * synced; the exit reasons agree (but for the recorder's KVM_EXIT_INTR,
 * which KVM leaves unwritten); both have the same number of exits per vCPU.
 * Prints one summary line; exits 0 when they agree, 1 when not, 2 on
 * unreadable input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/regs.h"
#include "core/state.h"
#include "formats/trace.h"
#include "recorder/oracle.h"

#define MAX_VCPUS 256u

struct vlog {
	struct vcr_oracle_rec *r;
	size_t n, cap, seen;
};

static struct vlog logs[MAX_VCPUS];

static int read_log(const char *path)
{
	FILE *f = fopen(path, "rb");
	char magic[8];
	struct vcr_oracle_rec rec;

	if (!f || fread(magic, 8, 1, f) != 1 || memcmp(magic, VCR_ORACLE_MAGIC, 8)) {
		fprintf(stderr, "oracle_check: %s: not an oracle log\n", path);
		if (f)
			fclose(f);
		return -1;
	}
	while (fread(&rec, sizeof(rec), 1, f) == 1) {
		if (rec.vcpu >= MAX_VCPUS)
			continue;
		struct vlog *l = &logs[rec.vcpu];
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 1024;
			l->r = realloc(l->r, l->cap * sizeof(*l->r));
			if (!l->r) {
				fclose(f);
				return -1;
			}
		}
		l->r[l->n++] = rec;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	struct vcr_reader *r = NULL;
	struct vcr_err err = { 0 };
	struct vcr_record *rec;
	char why[1024] = "";
	size_t wl = 0;
	unsigned bad = 0, exits = 0, nv = 0;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: oracle_check LOG TRACE\n");
		return 2;
	}
	if (read_log(argv[1]))
		return 2;
	if (vcr_reader_open(&r, argv[2], &err)) {
		fprintf(stderr, "oracle_check: %s: %s\n", argv[2], err.msg);
		return 2;
	}
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return 2;
#define WHY(...) do { if (bad++ < 4 && wl < sizeof(why) - 200) \
	wl += (size_t)snprintf(why + wl, sizeof(why) - wl, __VA_ARGS__); } while (0)
	while ((rc = vcr_reader_next(r, rec)) > 0) {
		if (rec->type != VCR_REC_EXIT)
			continue;
		uint32_t v = rec->vcpu;
		exits++;
		if (v >= MAX_VCPUS || logs[v].seen >= logs[v].n) {
			WHY("; vCPU %u exit %llu: not in the log", v,
			    (unsigned long long)rec->vcpu_exit);
			continue;
		}
		const struct vcr_oracle_rec *o = &logs[v].r[logs[v].seen++];
		struct vcr_vcpu_state want = { o->regs, o->sregs, o->events };
		const struct vcr_vcpu_state *got = &rec->u.exit.state;
		vcr_state_normalize(&want);
		if (o->got != VCR_CLASS_ALL || rec->u.exit.valid != VCR_CLASS_ALL) {
			WHY("; vCPU %u exit %llu: classes log %#x trace %#x", v,
			    (unsigned long long)o->exit, o->got, rec->u.exit.valid);
			continue;
		}
		if (rec->u.exit.exit.reason != KVM_EXIT_INTR && rec->u.exit.exit.reason != o->reason)
			WHY("; vCPU %u exit %llu: reason log %u trace %u", v,
			    (unsigned long long)o->exit, o->reason, rec->u.exit.exit.reason);
		if (!memcmp(&want, got, sizeof(want)))
			continue;
		const struct vcr_reg *d = NULL;
		for (size_t i = 0; i < vcr_nregs && !d; i++)
			if (vcr_regs[i].fmt != VCR_REG_NONE && vcr_reg_differs(&want, got, &vcr_regs[i]))
				d = &vcr_regs[i];
		if (d) {
			char a[64], b[64];
			vcr_reg_format(&want, d, a, sizeof(a));
			vcr_reg_format(got, d, b, sizeof(b));
			WHY("; vCPU %u exit %llu: %s log %s trace %s", v,
			    (unsigned long long)o->exit, d->name, a, b);
		} else {
			size_t k = 0;
			while (((const uint8_t *)&want)[k] == ((const uint8_t *)got)[k])
				k++;
			WHY("; vCPU %u exit %llu: byte %zu of the state differs", v,
			    (unsigned long long)o->exit, k);
		}
	}
	if (rc < 0)
		WHY("; trace: %s", r ? "read error" : "");
	for (uint32_t v = 0; v < MAX_VCPUS; v++) {
		if (!logs[v].n)
			continue;
		nv++;
		if (logs[v].seen != logs[v].n)
			WHY("; vCPU %u: %zu exits logged, %zu in the trace", v, logs[v].n,
			    logs[v].seen);
	}
	if (!exits)
		WHY("; no exits");
	printf("%u exits on %u vCPUs: %s%s\n", exits, nv, bad ? "differ" : "same",
	       bad ? why : "");
	free(rec);
	vcr_reader_close(r);
	return bad ? 1 : 0;
}
