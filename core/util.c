/* core/util.c: see util.h. */
#include "core/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vcr_verbose;

int vcr_err_set(struct vcr_err *err, int code, uint64_t offset, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		err->code = code;
		err->offset = offset;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void vcr_err_clear(struct vcr_err *err)
{
	if (err) {
		err->code = 0;
		err->offset = UINT64_MAX;
		err->msg[0] = 0;
	}
}

void vcr_vlog(const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	fprintf(stderr, "vcr: %s\n", buf);
}

void vcr_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vcr_vlog(fmt, ap);
	va_end(ap);
}

int vcr_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need) {
		if (n > SIZE_MAX / 2)
			return -ENOMEM;
		n *= 2;
	}
	if (n > SIZE_MAX / elem)
		return -ENOMEM;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}
