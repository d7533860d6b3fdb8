/* core/json.c: JSON Lines writer and the JSON forms of exits and registers
 * (see json.h). */
#include "core/json.h"

#include <errno.h>
#include <math.h>

void vcr_json_init(struct vcr_json *j, FILE *f)
{
	*j = (struct vcr_json){ .f = f };
}

int vcr_json_status(const struct vcr_json *j)
{
	if (j->err)
		return j->err;
	if (j->depth)
		return -EINVAL;
	return ferror(j->f) ? -EIO : 0;
}

static void json_misuse(struct vcr_json *j, int code)
{
	if (!j->err)
		j->err = code;
}

/* Before a value: the comma after the previous one, and the member name.
 * Beyond VCR_JSON_MAX_DEPTH (already an error) the commas are not kept. */
static void json_prefix(struct vcr_json *j, const char *key)
{
	if (!j->depth) {
		if (key)
			json_misuse(j, -EINVAL);
		return;
	}
	if (j->depth > VCR_JSON_MAX_DEPTH)
		return;
	uint64_t bit = 1ull << (j->depth - 1);
	if (!(j->is_obj & bit) != !key)
		json_misuse(j, -EINVAL);
	if (j->nonempty & bit)
		putc(',', j->f);
	j->nonempty |= bit;
	if (key) {
		vcr_json_quote(j->f, key);
		putc(':', j->f);
	}
}

/* After a value: a top-level one ends its line. */
static void json_suffix(struct vcr_json *j)
{
	if (!j->depth)
		putc('\n', j->f);
}

static void json_open(struct vcr_json *j, const char *key, bool obj)
{
	json_prefix(j, key);
	putc(obj ? '{' : '[', j->f);
	if (j->depth >= VCR_JSON_MAX_DEPTH) {
		json_misuse(j, -E2BIG);
		j->depth++;
		return;
	}
	uint64_t bit = 1ull << j->depth;
	j->nonempty &= ~bit;
	j->is_obj = obj ? j->is_obj | bit : j->is_obj & ~bit;
	j->depth++;
}

void vcr_json_obj(struct vcr_json *j, const char *key)
{
	json_open(j, key, true);
}

void vcr_json_arr(struct vcr_json *j, const char *key)
{
	json_open(j, key, false);
}

void vcr_json_end(struct vcr_json *j)
{
	if (!j->depth) {
		json_misuse(j, -EINVAL);
		return;
	}
	/* Too deep: which kind it was is not known; '}' keeps the count. */
	bool obj = j->depth > VCR_JSON_MAX_DEPTH || (j->is_obj >> (j->depth - 1) & 1);
	putc(obj ? '}' : ']', j->f);
	j->depth--;
	json_suffix(j);
}

void vcr_json_str(struct vcr_json *j, const char *key, const char *s)
{
	json_prefix(j, key);
	vcr_json_quote(j->f, s);
	json_suffix(j);
}

void vcr_json_u64(struct vcr_json *j, const char *key, uint64_t v)
{
	json_prefix(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
	json_suffix(j);
}

void vcr_json_i64(struct vcr_json *j, const char *key, int64_t v)
{
	json_prefix(j, key);
	fprintf(j->f, "%lld", (long long)v);
	json_suffix(j);
}

void vcr_json_bool(struct vcr_json *j, const char *key, bool v)
{
	json_prefix(j, key);
	fputs(v ? "true" : "false", j->f);
	json_suffix(j);
}

void vcr_json_null(struct vcr_json *j, const char *key)
{
	json_prefix(j, key);
	fputs("null", j->f);
	json_suffix(j);
}

void vcr_json_hex64(struct vcr_json *j, const char *key, uint64_t v)
{
	json_prefix(j, key);
	fprintf(j->f, "\"0x%llx\"", (unsigned long long)v);
	json_suffix(j);
}

void vcr_json_hexbytes(struct vcr_json *j, const char *key, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	json_prefix(j, key);
	putc('"', j->f);
	for (size_t i = 0; i < n; i++) {
		putc(digits[p[i] >> 4], j->f);
		putc(digits[p[i] & 15], j->f);
	}
	putc('"', j->f);
	json_suffix(j);
}

void vcr_json_fixed(struct vcr_json *j, const char *key, double v, int decimals)
{
	json_prefix(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.*f", decimals, v);
	else
		fputs("null", j->f);
	json_suffix(j);
}

/* ------------------------------------------------------------ strings */

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n;
	unsigned min;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	unsigned cp = c & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void vcr_json_quote(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(f, "\\u%04x", *p);
			} else if (*p < 0x80) {
				putc(*p, f);
			} else {
				/* A stray byte is taken as Latin-1 rather than
				 * dropped: what the guest wrote stays visible. */
				size_t n = utf8_len(p);
				if (n) {
					fwrite(p, 1, n, f);
					p += n - 1;
				} else {
					fprintf(f, "\\u%04x", *p);
				}
			}
		}
	}
	putc('"', f);
}

/* ------------------------------------------------------ core's types */

void vcr_json_reg(struct vcr_json *j, const char *key, const struct vcr_vcpu_state *st,
		  const struct vcr_reg *r)
{
	char buf[40];
	vcr_reg_format(st, r, buf, sizeof(buf));
	vcr_json_str(j, key, buf);
}

static void json_hex64s(struct vcr_json *j, const char *key, const uint64_t *v, uint32_t n)
{
	vcr_json_arr(j, key);
	for (uint32_t i = 0; i < n; i++)
		vcr_json_hex64(j, NULL, v[i]);
	vcr_json_end(j);
}

void vcr_json_exit(struct vcr_json *j, const struct vcr_exit *e, uint32_t data_shown)
{
	const char *name = vcr_exit_reason_name(e->reason);
	vcr_json_str(j, "reason", name ? name : "?");
	vcr_json_u64(j, "reason_code", e->reason);
	switch (e->reason) {
	case KVM_EXIT_IO:
		vcr_json_obj(j, "io");
		vcr_json_str(j, "direction", e->u.io.direction == KVM_EXIT_IO_OUT ? "out" : "in");
		vcr_json_u64(j, "port", e->u.io.port);
		vcr_json_u64(j, "size", e->u.io.size);
		vcr_json_u64(j, "count", e->u.io.count);
		vcr_json_end(j);
		break;
	case KVM_EXIT_MMIO:
		vcr_json_obj(j, "mmio");
		vcr_json_str(j, "direction", e->u.mmio.is_write ? "write" : "read");
		vcr_json_hex64(j, "addr", e->u.mmio.phys_addr);
		vcr_json_u64(j, "len", e->u.mmio.len);
		vcr_json_end(j);
		break;
	case KVM_EXIT_DEBUG:
		vcr_json_obj(j, "debug");
		vcr_json_u64(j, "exception", e->u.debug.exception);
		vcr_json_hex64(j, "pc", e->u.debug.pc);
		vcr_json_hex64(j, "dr6", e->u.debug.dr6);
		vcr_json_hex64(j, "dr7", e->u.debug.dr7);
		vcr_json_end(j);
		break;
	case KVM_EXIT_FAIL_ENTRY:
		vcr_json_obj(j, "fail_entry");
		vcr_json_hex64(j, "hardware_entry_failure_reason",
			       e->u.fail_entry.hardware_entry_failure_reason);
		vcr_json_u64(j, "cpu", e->u.fail_entry.cpu);
		vcr_json_end(j);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		vcr_json_obj(j, "internal");
		vcr_json_u64(j, "suberror", e->u.internal.suberror);
		json_hex64s(j, "data", e->u.internal.data,
			    e->u.internal.ndata > 16 ? 16 : e->u.internal.ndata);
		vcr_json_end(j);
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		vcr_json_obj(j, "system_event");
		vcr_json_u64(j, "type", e->u.system_event.type);
		json_hex64s(j, "data", e->u.system_event.data,
			    e->u.system_event.ndata > 16 ? 16 : e->u.system_event.ndata);
		vcr_json_end(j);
		break;
	case KVM_EXIT_HYPERCALL:
		vcr_json_obj(j, "hypercall");
		vcr_json_hex64(j, "nr", e->u.hypercall.nr);
		json_hex64s(j, "args", e->u.hypercall.args, 6);
		vcr_json_hex64(j, "ret", e->u.hypercall.ret);
		vcr_json_u64(j, "longmode", e->u.hypercall.longmode);
		vcr_json_end(j);
		break;
	case KVM_EXIT_UNKNOWN:
		vcr_json_obj(j, "unknown");
		vcr_json_hex64(j, "hardware_exit_reason", e->u.unknown.hardware_exit_reason);
		vcr_json_end(j);
		break;
	default:
		break;
	}
	if (e->data_len) {
		uint32_t n = e->data_len < data_shown ? e->data_len : data_shown;
		if (n > VCR_EXIT_DATA_MAX)
			n = VCR_EXIT_DATA_MAX;
		vcr_json_hexbytes(j, "data", e->data, n);
		if (n < e->data_len)
			vcr_json_u64(j, "data_len", e->data_len);
	}
}

void vcr_json_insn(struct vcr_json *j, const char *key, const struct vcr_insn *in)
{
	if (!in) {
		vcr_json_null(j, key);
		return;
	}
	vcr_json_obj(j, key);
	vcr_json_str(j, "status", vcr_insn_status_name(in->status));
	vcr_json_u64(j, "mode", in->mode);
	vcr_json_hex64(j, "linear", in->linear);
	if (in->nbytes)
		vcr_json_hex64(j, "gpa", in->gpa);
	vcr_json_hexbytes(j, "bytes", in->bytes,
			  in->status == VCR_INSN_OK ? in->len : in->nbytes);
	if (in->stale)
		vcr_json_bool(j, "stale", true);
	if (in->status == VCR_INSN_OK) {
		vcr_json_str(j, "text", in->text);
	} else if (in->status == VCR_INSN_UNKNOWN) {
		vcr_json_str(j, "why", vcr_insn_why_name(in->why));
		if (in->why != VCR_INSN_WHY_SHORT)
			vcr_json_hex64(j, "where", in->where);
	}
	vcr_json_end(j);
}
