/* cli/common.c: options, trace opening and output check shared by the
 * commands that read traces (see common.h). */
#include "cli/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* getopt values of the common options: above any command's own (1..255). */
enum {
	CLI_VAL_JSON = 0x100,
	CLI_VAL_VCPU,
	CLI_VAL_FROM,
	CLI_VAL_TO,
	CLI_VAL_QUIET,
};

int cli_number(const char *cmd, const char *opt, const char *arg, int base, uint64_t min,
	       uint64_t max, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(arg, &end, base);
	/* strtoull takes "-1" as ULLONG_MAX: refuse signs outright. */
	if (errno || !*arg || *end || arg[0] == '-') {
		fprintf(stderr, "vcr %s: bad --%s '%s'\n", cmd, opt, arg);
		return -1;
	}
	if (x < min || x > max) {
		fprintf(stderr, "vcr %s: bad --%s '%s' (%llu..%llu)\n", cmd, opt, arg,
			(unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*v = x;
	return 0;
}

/* One common option; 0 or -1 after printing why. */
static int common_opt(const struct cli_cmd *c, struct cli_opts *o, int val, const char *arg)
{
	uint64_t v;
	switch (val) {
	case CLI_VAL_JSON:
		o->json = true;
		return 0;
	case CLI_VAL_VCPU:
		if (cli_number(c->name, "vcpu", arg, 0, 0, VCR_TRACE_MAX_VCPUS - 1, &v))
			return -1;
		o->vcpu = (uint32_t)v;
		return 0;
	case CLI_VAL_FROM:
		return cli_number(c->name, "from", arg, 0, 0, UINT64_MAX, &o->from);
	case CLI_VAL_TO:
		return cli_number(c->name, "to", arg, 0, 0, UINT64_MAX, &o->to);
	case CLI_VAL_QUIET:
		o->quiet = true;
		return 0;
	}
	return -1;
}

int cli_parse(const struct cli_cmd *c, struct cli_opts *o, int argc, char **argv)
{
	static const struct option common[] = {
		{ "from", 1, 0, CLI_VAL_FROM }, { "to", 1, 0, CLI_VAL_TO },
		{ "vcpu", 1, 0, CLI_VAL_VCPU }, { "json", 0, 0, CLI_VAL_JSON },
		{ "quiet", 0, 0, CLI_VAL_QUIET },
	};
	static const unsigned need[] = { CLI_OPT_RANGE, CLI_OPT_RANGE, CLI_OPT_VCPU,
					 CLI_OPT_JSON, CLI_OPT_QUIET };
	struct option lo[CLI_MAX_OWN + VCR_ARRAY_SIZE(common) + 2];
	unsigned n = 0;
	int val;

	*o = (struct cli_opts){ .vcpu = UINT32_MAX, .to = UINT64_MAX };
	if (c->nown > CLI_MAX_OWN) {
		fprintf(stderr, "vcr %s: too many options for the option table\n", c->name);
		return 2;
	}
	for (unsigned i = 0; i < VCR_ARRAY_SIZE(common); i++)
		if (c->common & need[i])
			lo[n++] = common[i];
	for (unsigned i = 0; i < c->nown; i++)
		lo[n++] = c->own[i];
	lo[n++] = (struct option){ "help", 0, 0, 'h' };
	lo[n] = (struct option){ 0, 0, 0, 0 };

	optind = 1;
	/* -q is --quiet's short form where the command takes it. */
	char shorts[32];
	snprintf(shorts, sizeof(shorts), "h%s%s", c->common & CLI_OPT_QUIET ? "q" : "",
		 c->shorts ? c->shorts : "");
	while ((val = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		if (val == 'q')
			val = CLI_VAL_QUIET;
		if (val == 'h') {
			c->usage(stdout);
			return 0;
		}
		if (val == '?') {
			c->usage(stderr);
			return 2;
		}
		int rc = val >= CLI_VAL_JSON ? common_opt(c, o, val, optarg) :
					       c->own_opt(c->ctx, val, optarg);
		if (rc < 0)
			return 2;
	}
	if (argc - optind != c->nargs) {
		c->usage(stderr);
		return 2;
	}
	if (o->from > o->to) {
		fprintf(stderr, "vcr %s: --from is after --to\n", c->name);
		return 2;
	}
	return CLI_GO_ON;
}

struct vcr_reader *cli_open_trace(const char *cmd, const char *path)
{
	struct vcr_reader *r;
	struct vcr_err err;
	vcr_err_clear(&err);
	int rc = vcr_reader_open(&r, path, &err);
	if (rc < 0) {
		fprintf(stderr, "vcr %s: %s: %s\n", cmd, path, err.msg[0] ? err.msg : strerror(-rc));
		return NULL;
	}
	return r;
}

int cli_read_next(struct cli_read *rd, struct vcr_record *rec)
{
	if (rd->stop)
		return 0;
	int rc = vcr_reader_next(rd->r, rec);
	if (rc < 0 && (++rd->errors >= CLI_MAX_READ_ERRORS || rc == -EIO || rc == -ENOMEM))
		rd->stop = true;
	return rc;
}

int cli_flush(const char *cmd, FILE *f)
{
	if (fflush(f) || ferror(f)) {
		fprintf(stderr, "vcr %s: write error\n", cmd);
		return -1;
	}
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	char *end;
	uint64_t mul = 1;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'B')	/* accept "MiB", "MB" spelling too */
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end || vcr_mul_overflow(v, mul, out))
		return -EINVAL;
	return 0;
}
