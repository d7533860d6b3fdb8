/*
 * core/json.h: the JSON writer behind every machine-readable output of vcr
 * (`vcr dump --json`, `vcr diff --json`, `vcr stats --json`, tools), and the
 * JSON forms of core's own types: an exit (struct vcr_exit), a register
 * value (core/regs.h) and a decoded instruction (core/disasm.h). The schemas built with it are in docs/tools.md.
 *
 * Output is compact JSON Lines: no white space inside a value, and every
 * top-level value is followed by a newline. The writer places the commas
 * and the colons: a value inside an object is written with its member name
 * (`key`), a value inside an array or at the top level with key NULL.
 * Strings are escaped as RFC 8259 asks (vcr_json_quote). 64-bit register
 * values and addresses are strings ("0x3f8", vcr_json_hex64), because JSON
 * numbers do not keep 64 bits in most readers; counts are plain numbers.
 *
 * Lifecycle: vcr_json_init() on an open FILE, then values; vcr_json_obj()
 * and vcr_json_arr() open a container that vcr_json_end() closes, nesting
 * at most VCR_JSON_MAX_DEPTH deep. No allocation; nothing to free.
 * Ownership: the FILE stays the caller's; strings are only read during the
 * call. Threading: a writer is used by one thread at a time; no global
 * state.
 * Errors: the writing calls return nothing, so that an output is written
 * as a sequence of calls; a misuse (a key where none is due or a missing
 * one, an end with nothing open, too deep) is remembered, and
 * vcr_json_status() reports it, or the FILE's write error.
 */
#ifndef VCR_CORE_JSON_H
#define VCR_CORE_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "core/disasm.h"
#include "core/regs.h"
#include "core/state.h"

#define VCR_JSON_MAX_DEPTH 64

struct vcr_json {
	FILE *f;
	uint32_t depth;		/* containers open */
	uint64_t is_obj;	/* bit d: the container at depth d + 1 is an object */
	uint64_t nonempty;	/* bit d: it has a value already (a comma is due) */
	int err;		/* first misuse: -EINVAL, -E2BIG; 0 if none */
};

void vcr_json_init(struct vcr_json *j, FILE *f);
/* 0; -EINVAL after a misuse or while a container is still open; -E2BIG if
 * nested too deep; -EIO if the FILE has a write error. */
int vcr_json_status(const struct vcr_json *j);

/* Open an object or an array (as member `key` of the enclosing object, or
 * key NULL), and close the innermost one. */
void vcr_json_obj(struct vcr_json *j, const char *key);
void vcr_json_arr(struct vcr_json *j, const char *key);
void vcr_json_end(struct vcr_json *j);

/* Values. A NULL string is written as null. */
void vcr_json_str(struct vcr_json *j, const char *key, const char *s);
void vcr_json_u64(struct vcr_json *j, const char *key, uint64_t v);
void vcr_json_i64(struct vcr_json *j, const char *key, int64_t v);
void vcr_json_bool(struct vcr_json *j, const char *key, bool v);
void vcr_json_null(struct vcr_json *j, const char *key);
/* "0x" and lower-case hex digits, no padding, as a string: "0x3f8". */
void vcr_json_hex64(struct vcr_json *j, const char *key, uint64_t v);
/* n bytes as a string of two lower-case hex digits each: "48690a". */
void vcr_json_hexbytes(struct vcr_json *j, const char *key, const uint8_t *p, size_t n);
/* A number with `decimals` digits after the point (printf "%.*f"); null if
 * v is not finite, which JSON cannot write. */
void vcr_json_fixed(struct vcr_json *j, const char *key, double v, int decimals);

/* s as a JSON string literal, on its own (text outputs quote strings the
 * same way): quote, backslash and control characters escaped, valid UTF-8
 * (RFC 3629) kept, any other byte written as the code point of the same
 * value (\u00ff), so that every output line is valid JSON. NULL: null. */
void vcr_json_quote(FILE *f, const char *s);

/* Register r of st as a string in vcr_reg_format's form ("0x" and the
 * register's full width in hex digits). */
void vcr_json_reg(struct vcr_json *j, const char *key, const struct vcr_vcpu_state *st,
		  const struct vcr_reg *r);
/* The members describing exit e, into the open object: "reason" (name, "?"
 * if unknown), "reason_code", one object named after the payload ("io",
 * "mmio", "debug", "fail_entry", "internal", "system_event", "hypercall",
 * "unknown"; none for other reasons), and if e has data, "data" (hex of the
 * first min(data_len, data_shown) bytes) and, when that is not all of it,
 * "data_len". */
void vcr_json_exit(struct vcr_json *j, const struct vcr_exit *e, uint32_t data_shown);
/* An instruction as an object: "status" ("ok", "unknown", "invalid"),
 * "mode" (16, 32, 64), "linear", "gpa" (when a byte was read), "bytes" (hex
 * of the instruction when ok, of every byte known otherwise), and "text"
 * when ok, "why" and "where" when unknown ("no_bytes": gpa, "not_mapped":
 * linear address, "no_tables": gpa of the page-table entry, "short").
 * NULL: null. */
void vcr_json_insn(struct vcr_json *j, const char *key, const struct vcr_insn *in);

#endif
