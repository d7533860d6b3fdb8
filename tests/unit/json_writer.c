/* json_writer: core/json.h against JSON written out by hand here: commas and
 * colons at every nesting, JSON Lines, each value kind, string escaping,
 * misuse and write errors reported by vcr_json_status, the exit and
 * register forms (payload of every exit reason with one). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "tests/lib/tap.h"

/* A writer on a memory buffer. */
struct cap {
	char *buf;
	size_t len;
	FILE *f;
	struct vcr_json j;
};

static struct vcr_json *cap_open(struct cap *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	if (!c->f)
		tap_bail("open_memstream: %s", strerror(errno));
	vcr_json_init(&c->j, c->f);
	return &c->j;
}

/* Close c; ok if it holds exactly `want` and the status is `status`. */
static int cap_is(struct cap *c, const char *want, int status, const char *what)
{
	int st = vcr_json_status(&c->j);
	fclose(c->f);
	int ok = tap_ok(!strcmp(c->buf, want) && st == status, "%s", what);
	if (!ok)
		tap_diag("got  '%s' status %d\n# want '%s' status %d", c->buf, st, want, status);
	free(c->buf);
	return ok;
}

static void test_structure(void)
{
	struct cap c;
	struct vcr_json *j = cap_open(&c);
	vcr_json_obj(j, NULL);
	vcr_json_u64(j, "a", 1);
	vcr_json_arr(j, "b");
	vcr_json_u64(j, NULL, 18446744073709551615ull);
	vcr_json_str(j, NULL, "x");
	vcr_json_null(j, NULL);
	vcr_json_bool(j, NULL, true);
	vcr_json_obj(j, NULL);
	vcr_json_end(j);
	vcr_json_arr(j, NULL);
	vcr_json_end(j);
	vcr_json_end(j);
	vcr_json_obj(j, "c");
	vcr_json_i64(j, "d", -5);
	vcr_json_bool(j, "e", false);
	vcr_json_obj(j, "f");
	vcr_json_end(j);
	vcr_json_end(j);
	vcr_json_arr(j, "g");
	vcr_json_end(j);
	vcr_json_end(j);
	vcr_json_obj(j, NULL);
	vcr_json_str(j, "next", "line");
	vcr_json_end(j);
	vcr_json_u64(j, NULL, 7);
	cap_is(&c, "{\"a\":1,\"b\":[18446744073709551615,\"x\",null,true,{},[]],"
		   "\"c\":{\"d\":-5,\"e\":false,\"f\":{}},\"g\":[]}\n{\"next\":\"line\"}\n7\n", 0,
	       "commas, colons and nesting; one top-level value per line");
}

static void test_values(void)
{
	struct cap c;
	struct vcr_json *j = cap_open(&c);
	static const uint8_t bytes[] = { 0x00, 0x0f, 0xa0, 0xff };
	vcr_json_arr(j, NULL);
	vcr_json_hex64(j, NULL, 0);
	vcr_json_hex64(j, NULL, 0x3f8);
	vcr_json_hex64(j, NULL, UINT64_MAX);
	vcr_json_hexbytes(j, NULL, bytes, sizeof(bytes));
	vcr_json_hexbytes(j, NULL, NULL, 0);
	vcr_json_i64(j, NULL, INT64_MIN);
	vcr_json_fixed(j, NULL, 1.5, 3);
	vcr_json_fixed(j, NULL, 2.0 / 3.0, 3);
	vcr_json_fixed(j, NULL, 0.0, 0);
	vcr_json_fixed(j, NULL, NAN, 3);
	vcr_json_fixed(j, NULL, INFINITY, 3);
	vcr_json_end(j);
	cap_is(&c, "[\"0x0\",\"0x3f8\",\"0xffffffffffffffff\",\"000fa0ff\",\"\","
		   "-9223372036854775808,1.500,0.667,0,null,null]\n", 0,
	       "hex64, hex bytes, signed, fixed decimals, non-finite as null");
}

static void test_strings(void)
{
	struct cap c;
	struct vcr_json *j = cap_open(&c);
	vcr_json_obj(j, NULL);
	vcr_json_str(j, "s", "a\"b\\c\n\x01\xc3\xa9\xff\xc3(\xed\xa0\x80\xf0\x9f\x98\x80");
	vcr_json_str(j, "ctl", "\r\t\b\f\x1f\x7f");
	vcr_json_str(j, "k\"ey", NULL);
	vcr_json_str(j, "empty", "");
	vcr_json_end(j);
	cap_is(&c, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\u00ff\\u00c3(\\u00ed\\u00a0\\u0080"
		   "\xf0\x9f\x98\x80\",\"ctl\":\"\\r\\t\\b\\f\\u001f\\u007f\",\"k\\\"ey\":null,"
		   "\"empty\":\"\"}\n", 0,
	       "escaping: quotes, backslash, control bytes; valid UTF-8 kept, stray bytes, "
	       "overlong forms and surrogates as \\u00XX; keys escaped; NULL is null");

	/* The 4-byte limit: U+10FFFF is kept, U+110000 (f4 90 ...) is not;
	 * overlong 2- and 3-byte forms are not. */
	j = cap_open(&c);
	vcr_json_str(j, NULL, "\xf4\x8f\xbf\xbf|\xf4\x90\x80\x80|\xc1\xbf|\xe0\x9f\xbf|\xe2\x82");
	cap_is(&c, "\"\xf4\x8f\xbf\xbf|\\u00f4\\u0090\\u0080\\u0080|\\u00c1\\u00bf|"
		   "\\u00e0\\u009f\\u00bf|\\u00e2\\u0082\"\n", 0,
	       "UTF-8 bounds: U+10FFFF kept; above it, overlong and cut sequences escaped");

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	vcr_json_quote(f, "t\"x");
	putc(' ', f);
	vcr_json_quote(f, NULL);
	fclose(f);
	tap_ok(!strcmp(buf, "\"t\\\"x\" null"), "vcr_json_quote on its own, no newline: %s", buf);
	free(buf);
}

static void test_misuse(void)
{
	struct cap c;
	struct vcr_json *j = cap_open(&c);
	vcr_json_u64(j, "k", 1);
	cap_is(&c, "1\n", -EINVAL, "a key at the top level: -EINVAL");

	j = cap_open(&c);
	vcr_json_obj(j, NULL);
	vcr_json_u64(j, NULL, 1);
	vcr_json_end(j);
	cap_is(&c, "{1}\n", -EINVAL, "a value without key in an object: -EINVAL");

	j = cap_open(&c);
	vcr_json_arr(j, NULL);
	vcr_json_u64(j, "k", 1);
	vcr_json_end(j);
	cap_is(&c, "[\"k\":1]\n", -EINVAL, "a key in an array: -EINVAL");

	j = cap_open(&c);
	vcr_json_end(j);
	cap_is(&c, "", -EINVAL, "an end with nothing open: -EINVAL, nothing written");

	j = cap_open(&c);
	vcr_json_obj(j, NULL);
	cap_is(&c, "{", -EINVAL, "an object left open: -EINVAL");

	/* 64 levels are fine; the 65th is reported, and the ends still balance. */
	j = cap_open(&c);
	char want[2 * 70 + 2];
	for (int i = 0; i < 64; i++) {
		vcr_json_arr(j, NULL);
		want[i] = '[';
	}
	for (int i = 0; i < 64; i++) {
		vcr_json_end(j);
		want[64 + i] = ']';
	}
	want[128] = '\n';
	want[129] = 0;
	cap_is(&c, want, 0, "64 levels of nesting");
	j = cap_open(&c);
	for (int i = 0; i < 65; i++)
		vcr_json_arr(j, NULL);
	int st = vcr_json_status(j);
	for (int i = 0; i < 65; i++)
		vcr_json_end(j);
	tap_ok(st == -E2BIG && j->depth == 0 && vcr_json_status(j) == -E2BIG,
	       "65 levels: -E2BIG (got %d), depth back to 0", st);
	fclose(c.f);
	free(c.buf);

	FILE *full = fopen("/dev/full", "w");
	if (!full) {
		tap_ok(0, "open /dev/full: %s", strerror(errno));
		return;
	}
	setvbuf(full, NULL, _IONBF, 0);
	struct vcr_json jf;
	vcr_json_init(&jf, full);
	vcr_json_u64(&jf, NULL, 1);
	tap_ok(vcr_json_status(&jf) == -EIO, "a write error: -EIO");
	fclose(full);
}

/* vcr_json_exit inside {"x":0,...}: the members follow the one before. */
static void exit_is(const struct vcr_exit *e, uint32_t shown, const char *want, const char *what)
{
	struct cap c;
	struct vcr_json *j = cap_open(&c);
	vcr_json_obj(j, NULL);
	vcr_json_u64(j, "x", 0);
	vcr_json_exit(j, e, shown);
	vcr_json_end(j);
	cap_is(&c, want, 0, what);
}

static void test_exits(void)
{
	static struct vcr_exit e;

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_IO;
	e.u.io.direction = KVM_EXIT_IO_OUT;
	e.u.io.size = 1;
	e.u.io.port = 0x3f8;
	e.u.io.count = 3;
	e.data_len = 3;
	memcpy(e.data, "Hi\n", 3);
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"IO\",\"reason_code\":2,\"io\":{\"direction\":\"out\","
		"\"port\":1016,\"size\":1,\"count\":3},\"data\":\"48690a\"}\n", "IO out with data");
	exit_is(&e, 2, "{\"x\":0,\"reason\":\"IO\",\"reason_code\":2,\"io\":{\"direction\":\"out\","
		"\"port\":1016,\"size\":1,\"count\":3},\"data\":\"4869\",\"data_len\":3}\n",
		"data cut at data_shown: data_len follows");
	e.u.io.direction = KVM_EXIT_IO_IN;
	e.data_len = 0;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"IO\",\"reason_code\":2,\"io\":{\"direction\":\"in\","
		"\"port\":1016,\"size\":1,\"count\":3}}\n", "IO in, no data");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_MMIO;
	e.u.mmio.phys_addr = 0xfee00000;
	e.u.mmio.len = 4;
	e.u.mmio.is_write = 1;
	e.data_len = 4;
	memcpy(e.data, "\x01\x02\x03\x04", 4);
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"MMIO\",\"reason_code\":6,\"mmio\":{\"direction\":"
		"\"write\",\"addr\":\"0xfee00000\",\"len\":4},\"data\":\"01020304\"}\n", "MMIO write");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_DEBUG;
	e.u.debug.exception = 1;
	e.u.debug.pc = 0x100010;
	e.u.debug.dr6 = 0xffff0ff1;
	e.u.debug.dr7 = 0x401;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"DEBUG\",\"reason_code\":4,\"debug\":{\"exception\":1,"
		"\"pc\":\"0x100010\",\"dr6\":\"0xffff0ff1\",\"dr7\":\"0x401\"}}\n", "DEBUG");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_FAIL_ENTRY;
	e.u.fail_entry.hardware_entry_failure_reason = 0x80000021;
	e.u.fail_entry.cpu = 1;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"FAIL_ENTRY\",\"reason_code\":9,\"fail_entry\":"
		"{\"hardware_entry_failure_reason\":\"0x80000021\",\"cpu\":1}}\n", "FAIL_ENTRY");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_INTERNAL_ERROR;
	e.u.internal.suberror = 1;
	e.u.internal.ndata = 2;
	e.u.internal.data[0] = 0x10;
	e.u.internal.data[1] = 0xabc;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"INTERNAL_ERROR\",\"reason_code\":17,\"internal\":"
		"{\"suberror\":1,\"data\":[\"0x10\",\"0xabc\"]}}\n", "INTERNAL_ERROR with 2 words");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_SYSTEM_EVENT;
	e.u.system_event.type = 2;
	e.u.system_event.ndata = 40;	/* more than the 16 that exist */
	for (int i = 0; i < 16; i++)
		e.u.system_event.data[i] = (uint64_t)i;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"SYSTEM_EVENT\",\"reason_code\":24,\"system_event\":"
		"{\"type\":2,\"data\":[\"0x0\",\"0x1\",\"0x2\",\"0x3\",\"0x4\",\"0x5\",\"0x6\",\"0x7\","
		"\"0x8\",\"0x9\",\"0xa\",\"0xb\",\"0xc\",\"0xd\",\"0xe\",\"0xf\"]}}\n",
		"SYSTEM_EVENT: ndata above 16 shows 16");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_HYPERCALL;
	e.u.hypercall.nr = 9;
	for (int i = 0; i < 6; i++)
		e.u.hypercall.args[i] = (uint64_t)(i + 1) << 32;
	e.u.hypercall.ret = 0xffffffffffffffffull;
	e.u.hypercall.longmode = 1;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"HYPERCALL\",\"reason_code\":3,\"hypercall\":{\"nr\":"
		"\"0x9\",\"args\":[\"0x100000000\",\"0x200000000\",\"0x300000000\",\"0x400000000\","
		"\"0x500000000\",\"0x600000000\"],\"ret\":\"0xffffffffffffffff\",\"longmode\":1}}\n",
		"HYPERCALL");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_UNKNOWN;
	e.u.unknown.hardware_exit_reason = 0x7b;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"UNKNOWN\",\"reason_code\":0,\"unknown\":"
		"{\"hardware_exit_reason\":\"0x7b\"}}\n", "UNKNOWN");

	memset(&e, 0, sizeof(e));
	e.reason = KVM_EXIT_HLT;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"HLT\",\"reason_code\":5}\n", "HLT: no payload");
	e.reason = 4000;
	exit_is(&e, 32, "{\"x\":0,\"reason\":\"?\",\"reason_code\":4000}\n", "a reason without a name");
}

static void test_regs(void)
{
	struct vcr_vcpu_state st;
	memset(&st, 0, sizeof(st));
	st.regs.rax = 0x3f8;
	st.sregs.cs.type = 0xb;
	st.sregs.cs.s = 1;
	st.sregs.cs.present = 1;
	st.sregs.cs.l = 1;
	st.sregs.cs.g = 1;
	st.sregs.cs.selector = 0x10;
	const struct vcr_reg *rax = vcr_reg_by_name("rax"), *attr = vcr_reg_by_name("cs.attr");
	const struct vcr_reg *sel = vcr_reg_by_name("cs");
	if (!rax || !attr || !sel)
		tap_bail("register names rax, cs.attr, cs not in the table");
	struct cap c;
	struct vcr_json *j = cap_open(&c);
	vcr_json_obj(j, NULL);
	vcr_json_reg(j, "rax", &st, rax);
	vcr_json_reg(j, "cs.attr", &st, attr);
	vcr_json_reg(j, "cs", &st, sel);
	vcr_json_end(j);
	/* cs.attr: type 0xb | s 0x10 | present 0x80 | l 0x2000 | g 0x8000. */
	cap_is(&c, "{\"rax\":\"0x00000000000003f8\",\"cs.attr\":\"0x0a09b\",\"cs\":\"0x0010\"}\n",
	       0, "register values: full width, segment attributes in 5 digits");
}

int main(void)
{
	tap_plan(26);
	test_structure();	/* 1 */
	test_values();		/* 1 */
	test_strings();		/* 3 */
	test_misuse();		/* 8 */
	test_exits();		/* 12 */
	test_regs();		/* 1 */
	return tap_exit_status();
}
