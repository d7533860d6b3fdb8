/*
 * tests/fuzz/fuzz_core.c: libFuzzer target for the ELF core writer
 * (replayer/core.h), which `vcr core` runs on traces users hand it. The
 * input is a trace file (written to a memfd); the core of its last exit and
 * of an exit chosen from the input's last bytes is written to another memfd.
 * Page tables in the trace's memory are walked for the kernel-half
 * mappings: tables that share or point back at themselves must not make it
 * hang. A core that was written must be as long as reported and start with
 * the ELF magic; nothing may crash, hang or allocate without bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_file.h"
#include "replayer/core.h"
#include "replayer/cursor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(struct vcr_cursor *c, uint64_t at)
{
	struct vcr_core_opts o = { .at = at };
	struct vcr_core_result res;
	struct vcr_err err;
	int out = memfd_create("fuzz_core", 0);
	if (out < 0)
		return;
	if (vcr_core_write(c, out, &o, &res, &err) == 0) {
		struct stat sb;
		char magic[4];
		if (fstat(out, &sb) || (uint64_t)sb.st_size != res.file_bytes ||
		    pread(out, magic, 4, 0) != 4 || memcmp(magic, "\177ELF", 4))
			abort();
	}
	close(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	struct vcr_cursor *c;
	struct vcr_err err;
	int fd = fuzz_file(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	if (vcr_cursor_open(&c, path, &err) == 0) {
		uint64_t first = vcr_cursor_first(c), n = vcr_cursor_nexits(c);
		one(c, UINT64_MAX);
		if (size >= 2 && n)
			one(c, first + (data[size - 1] | (uint64_t)data[size - 2] << 8) % (n + 1));
		vcr_cursor_close(c);
	}
	close(fd);
	return 0;
}
