/*
 * tests/fuzz/fuzz_file.h: the fuzz input as a file, for targets whose API
 * opens a path (trace reader, cursor). Header only.
 */
#ifndef VCR_TESTS_FUZZ_FILE_H
#define VCR_TESTS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Write data to a new memfd and put its /proc/self/fd path in path.
 * Returns the fd (close it when done), or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
	int fd = memfd_create("fuzz_input", 0);
	if (fd < 0)
		return -1;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
