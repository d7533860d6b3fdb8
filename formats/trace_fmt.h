/*
 * formats/trace_fmt.h: on-disk constants and byte-level helpers shared by the
 * trace writer and reader. Internal to formats/; docs/format.md is the spec
 * these constants implement (keep the two in step).
 */
#ifndef VCR_FORMATS_TRACE_FMT_H
#define VCR_FORMATS_TRACE_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "core/state.h"

#define TRF_MAJOR 1
#define TRF_MINOR 2	/* 1.1: IRQ_LINE and NOTE records; 1.2: CKPT, CKPT_PAGES */

#define TRF_FILE_MAGIC "VCRTRACE"
#define TRF_CHUNK_MAGIC "VCRCHUNK"
#define TRF_INDEX_MAGIC "VCRINDEX"
#define TRF_TRAIL_MAGIC "VCRTRAIL"

#define TRF_FILE_HDR_SIZE 24	/* magic, major, minor, fields_len, hash */
#define TRF_CHUNK_HDR_FIXED 64	/* before the per-vCPU table */
#define TRF_TRAILER_SIZE 32
#define TRF_INDEX_HDR_SIZE 32
#define TRF_INDEX_ENT_FIXED 32	/* before the per-vCPU table */
#define TRF_ALIGN 8		/* chunks start 8-aligned from data start */

/* Header fields (TLV tags). */
enum trf_tag {
	TRF_TAG_TOOL_VERSION = 1,
	TRF_TAG_ARCH = 2,
	TRF_TAG_LAYOUT = 3,
	TRF_TAG_KVM = 4,
	TRF_TAG_NVCPUS = 5,
	TRF_TAG_MEM_REGION = 6,
	TRF_TAG_CPUID = 7,
	TRF_TAG_IMAGE = 8,
	TRF_TAG_CMDLINE = 9,
	TRF_TAG_KV = 10,
	TRF_TAG_CHUNK_EXITS = 11,
	TRF_TAG_RING = 12,
};
#define TRF_TLV_REQUIRED 1u	/* flags bit: refuse the file if tag unknown */

/* Record tag byte: low 7 bits type, bit 7 "required". */
#define TRF_REC_REQUIRED 0x80u
#define TRF_REC_TYPE_MASK 0x7fu

/* Sane limits a reader enforces on hostile input. */
#define TRF_MAX_CHUNK_RAW (64u << 20)	/* decompressed record section */
#define TRF_MAX_REC_DATA (16u << 20)	/* one MEM record's bytes */
#define TRF_MAX_IMAGE (1ull << 30)
#define TRF_MAX_NMEM 4096u
#define TRF_MAX_NCPUID 4096u
#define TRF_MAX_NKV 4096u

/* 8-byte words per register class: the delta unit. */
#define TRF_WORDS_REGS (sizeof(struct kvm_regs) / 8)
#define TRF_WORDS_SREGS (sizeof(struct kvm_sregs) / 8)
#define TRF_WORDS_EVENTS (sizeof(struct kvm_vcpu_events) / 8)
#define TRF_WORDS_ALL (sizeof(struct vcr_vcpu_state) / 8)
_Static_assert(sizeof(struct kvm_regs) % 8 == 0, "kvm_regs words");
_Static_assert(sizeof(struct kvm_sregs) % 8 == 0, "kvm_sregs words");
_Static_assert(sizeof(struct kvm_vcpu_events) % 8 == 0, "kvm_vcpu_events words");
_Static_assert(sizeof(struct vcr_vcpu_state) ==
	       sizeof(struct kvm_regs) + sizeof(struct kvm_sregs) +
	       sizeof(struct kvm_vcpu_events), "state has no padding");

static inline void trf_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8);
}
static inline void trf_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void trf_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t trf_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t trf_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}
static inline uint64_t trf_get64(const uint8_t *p)
{
	return (uint64_t)trf_get32(p) | (uint64_t)trf_get32(p + 4) << 32;
}

/* LEB128 unsigned varint; returns bytes written (at most 10). */
static inline size_t trf_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}
static inline size_t trf_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}
/* Decode a varint from [*pp, end); false if truncated or longer than 64 bits. */
static inline bool trf_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	if (p < end && *p < 0x80) {	/* the common one-byte case */
		*v = *p;
		*pp = p + 1;
		return true;
	}
	if (end - p >= 2 && p[1] < 0x80) {	/* two bytes: ports, small XORs */
		*v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
		*pp = p + 2;
		return true;
	}
	uint64_t r = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (p >= end)
			return false;
		uint8_t b = *p++;
		if (shift == 63 && b > 1)
			return false;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			*pp = p;
			return true;
		}
	}
	return false;
}

static inline uint64_t trf_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t trf_unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* FNV-1a 64 over bytes, continuing from h (start with TRF_HASH_INIT). Any
 * change confined to one byte always changes the result: each step is a
 * bijection of the state. */
#define TRF_HASH_INIT 0xcbf29ce484222325ull
uint64_t trf_hash(uint64_t h, const void *data, size_t len);
/* trf_hash of n <= 4 byte ranges at once, continuing from h[i] for range
 * i: the chains are independent, so they run side by side in about the
 * time of one. */
void trf_hash_n(uint64_t *h, const uint8_t *const *p, const size_t *len, unsigned n);

/* True when a stored hash does not match. Fuzzing builds accept every hash,
 * so that the fuzzer gets past them into the parsers behind (as zstd does
 * with its checksums); never define this macro elsewhere. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define TRF_HASH_BAD(stored, computed) ((void)(stored), (void)(computed), false)
#else
#define TRF_HASH_BAD(stored, computed) ((stored) != (computed))
#endif

/* Largest keyframe entry of one vCPU: vCPU varint, flags, 3 bitmaps, one
 * 10-byte varint per word. */
#define TRF_KF_VCPU_MAX (5 + 1 + 9 + 10 * TRF_WORDS_ALL)

/* Register classes in delta order, with their word ranges in the state. */
struct trf_class {
	unsigned bit;		/* VCR_CLASS_* */
	unsigned first;		/* first word */
	unsigned nwords;
};
extern const struct trf_class trf_classes[3];

/* Grow *buf (capacity *cap, doubling from 4 KiB) to hold need bytes:
 * 0 or -ENOMEM (buffer unchanged then). */
int trf_grow(uint8_t **buf, size_t *cap, size_t need);

_Static_assert(sizeof(((struct vcr_exit *)0)->u) % 16 == 0, "exit payload size");
_Static_assert(sizeof(struct vcr_vcpu_state) % 8 == 0, "state size");

static inline size_t trf_align(size_t x)
{
	return (x + TRF_ALIGN - 1) & ~(size_t)(TRF_ALIGN - 1);
}

#ifdef VCR_TEST_HOOKS
struct vcr_writer;
/* Test hook: append a record with an arbitrary tag byte and body, as a newer
 * writer might (tests/unit/trace_damage.c checks that readers skip unknown
 * optional records and refuse unknown required ones). Only in the tests'
 * library (tests/module.mk builds BUILD/libvcr-test.a with VCR_TEST_HOOKS);
 * libvcr.a, the installed one, has no such entry point. */
int trf_writer_append_raw(struct vcr_writer *w, uint8_t tag, const void *body, size_t len);
#endif

#endif
