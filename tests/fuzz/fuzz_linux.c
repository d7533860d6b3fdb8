/*
 * tests/fuzz/fuzz_linux.c: libFuzzer target for the Linux boot protocol
 * loader (vmm/loader_linux.h): any bytes given as a bzImage must be refused
 * with a message or be placed inside guest memory without two written ranges
 * overlapping, never crash or write out of bounds.
 *
 * The input is the image. Its first bytes (the legacy boot sector, which the
 * loader never reads) also choose the rest of the run, so the fuzzer explores
 * the plan too: RAM size, initrd size, command line length and up to two
 * reserved ranges. Seeds: tests/host/fuzz_linux.sh writes a valid synthetic
 * header and, when present, the head of Debian's bzImage.
 */
#include <stdlib.h>
#include <string.h>

#include "vmm/loader_linux.h"

#define FUZZ_RAM_MAX (34u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_written(const struct vmm_linux_plan *p)
{
	for (uint32_t i = 0; i < p->nwritten; i++) {
		const struct vmm_linux_range *a = &p->written[i];
		if (!vcr_range_ok(a->gpa, a->size, p->ram_size))
			abort();
		for (uint32_t j = i + 1; j < p->nwritten; j++) {
			const struct vmm_linux_range *b = &p->written[j];
			if (a->gpa < b->gpa + b->size && b->gpa < a->gpa + a->size)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_linux_kernel k;
	struct vmm_linux_plan p;
	struct vmm_linux_layout l;
	struct vcr_err err = { 0 };
	struct vcr_vcpu_state st;
	uint8_t *img, *initrd = NULL;
	char *cmdline = NULL;
	uint64_t initrd_size = 0, cl = 0;

	if (!ram)
		ram = calloc(1, FUZZ_RAM_MAX);
	if (!ram || size < 32)
		return 0;
	memset(&l, 0, sizeof(l));
	l.ram_size = ((uint64_t)(data[0] % 33) + 1) << 20;	/* 1 MiB (refused) .. 33 MiB */
	initrd_size = (uint64_t)data[1] << 14 | data[2];
	cl = (uint64_t)data[3] << 4;
	l.nreserved = data[4] % 3;
	for (uint32_t i = 0; i < l.nreserved; i++) {
		l.reserved[i].gpa = (uint64_t)rd32(data + 8 + 8 * i) << 4;
		l.reserved[i].size = rd32(data + 12 + 8 * i) & 0xffffff;
	}
	/* Exact-size copies, so that ASan sees any read past them. */
	img = malloc(size);
	if (!img)
		return 0;
	memcpy(img, data, size);
	if (vmm_linux_probe(&k, img, size, "fuzz", &err)) {
		if (!err.msg[0])
			abort();	/* every failure must say why */
		goto out;
	}
	if (vmm_linux_plan(&p, &k, &l, initrd_size, cl, &err)) {
		if (!err.msg[0])
			abort();
		goto out;
	}
	initrd = malloc(initrd_size ? initrd_size : 1);
	cmdline = malloc(cl + 1);
	if (!initrd || !cmdline)
		goto out;
	memset(initrd, 0x5a, initrd_size);
	memset(cmdline, 'x', cl);
	cmdline[cl] = 0;
	if (vmm_linux_build(&p, &k, img, size, initrd, initrd_size, cmdline, ram, l.ram_size, &err))
		abort();	/* a plan that was accepted must build */
	check_written(&p);
	memset(&st, 0, sizeof(st));
	vmm_linux_set_state(&k, &st);
	if (st.regs.rip >= l.ram_size)
		abort();
out:
	free(cmdline);
	free(initrd);
	free(img);
	return 0;
}
