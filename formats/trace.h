/*
 * formats/trace.h: the vcr trace file, written and read.
 *
 * A trace is a header (what ran: layout sizes, KVM API facts, memory layout,
 * CPUID, guest image, command line, key/values), a sequence of independently
 * decodable zstd chunks of records, and an index footer. The byte-level format
 * is specified in docs/format.md; this header is the C contract.
 *
 * Records (enum vcr_rec_type) are what happened, in order:
 *   EXIT       one KVM_RUN exit of one vCPU: reason, payload, and the register
 *              classes KVM synced (regs/sregs/events, `valid` mask), i.e. the
 *              full vCPU state after the exit. Stored as a delta against the
 *              previous state of the same vCPU; callers always see full state.
 *   INPUT      data the VMM handed to the guest while serving the preceding
 *              exit of that vCPU: IN data (written to the kvm_run io area),
 *              MMIO read data (kvm_run->mmio.data).
 *   SET_STATE  state the VMM changed before the next KVM_RUN of that vCPU
 *              through kvm_run->s.regs + kvm_dirty_regs (`dirty` mask).
 *   INJECT     an interrupt or event the VMM injected (KVM_INTERRUPT, NMI).
 *   MEM_WRITE  bytes the VMM wrote into guest memory (loader, device DMA).
 *   MEM_PAGES  guest memory pages (full image or dirty pages), gpa + data.
 *   MARKER     a user marker (text).
 *   END        how the run ended (at most one, last).
 *   IRQ_LINE   an interrupt line the VMM drove into the in-kernel irqchip
 *              (KVM_IRQ_LINE gsi, level): raised or lowered while serving
 *              the preceding exit of that vCPU, or (VCR_IRQ_ASYNC) by a
 *              thread that was serving no exit (a device's input thread).
 *              Interrupts the irqchip delivers are not exits: this is what
 *              a trace holds of them. An input, like INPUT.
 *   NOTE       text the VMM hands over with a kind (enum vcr_note_kind):
 *              the last lines of the guest's console, when it ended.
 *   CKPT       a memory checkpoint of one RAM region taken at the exit it
 *              follows, with every vCPU out of KVM_RUN: which pages the
 *              guest dirtied since the previous checkpoint (and, when
 *              `full`, which pages are stored: every page touched so far).
 *              Its pages follow in CKPT_PAGES records.
 *   CKPT_PAGES the contents of a run of the pages a CKPT stores, in
 *              bitmap order: each a zero page, 4096 raw bytes, or a repeat
 *              of an earlier page of the same checkpoint and region.
 * IRQ_LINE and NOTE came with format 1.1, CKPT and CKPT_PAGES with 1.2;
 * all four are optional records: an older reader skips them
 * (docs/format.md).
 * Keyframes (full state of every vCPU) are written by the writer itself at
 * the start of every chunk; readers use them for seeking and never return
 * them as records.
 *
 * Numbering: every EXIT record gets `seq`, its ordinal among all EXIT records
 * of the trace (0, 1, 2, ...), and `vcpu_exit`, its ordinal among the EXIT
 * records of its vCPU. Non-EXIT records carry the seq of the last EXIT
 * record before them (UINT64_MAX if none) and belong to it. Order across
 * vCPUs is the order in which the writer received records.
 *
 * Threading: a writer or a reader is used by one thread at a time.
 * Errors: functions return 0 (or a count) on success and a negative errno
 * value on failure; readers also describe the failure in a struct vcr_err,
 * with the file offset concerned.
 */
#ifndef VCR_FORMATS_TRACE_H
#define VCR_FORMATS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "core/end.h"
#include "core/mem.h"
#include "core/state.h"
#include "core/util.h"

#define VCR_TRACE_MAX_VCPUS 256

enum vcr_arch {
	VCR_ARCH_X86_64 = 1,
};

/* How the guest image is kept in the trace. */
enum vcr_image_mode {
	VCR_IMAGE_NONE = 0,
	VCR_IMAGE_EMBEDDED = 1,	/* bytes stored (compressed) in the header */
	VCR_IMAGE_REFERENCE = 2,/* path + SHA-256 only */
};

struct vcr_kv {
	const char *key;
	const char *value;
};

/* What the header says. All pointers are borrowed: the writer copies what it
 * needs during vcr_writer_open; a reader's info lives as long as the reader. */
struct vcr_trace_info {
	uint32_t arch;			/* enum vcr_arch */
	uint32_t kvm_api_version;	/* KVM_GET_API_VERSION */
	uint32_t sync_regs_mask;	/* KVM_CHECK_EXTENSION(KVM_CAP_SYNC_REGS) */
	uint32_t nvcpus;
	const struct vcr_mem_region *mem;	/* guest memory layout */
	uint32_t nmem;
	const struct kvm_cpuid_entry2 *cpuid;	/* as given to KVM_SET_CPUID2 */
	uint32_t ncpuid;
	uint32_t image_mode;		/* enum vcr_image_mode */
	const char *image_path;		/* as the user named it */
	uint8_t image_sha256[32];
	const uint8_t *image;		/* EMBEDDED: the image bytes */
	uint64_t image_size;
	const char *cmdline;		/* the vcr command line that recorded */
	const struct vcr_kv *kv;	/* free-form key/values (loader, mode...) */
	uint32_t nkv;
	/* Filled by the reader only: */
	uint16_t version_major, version_minor;
	const char *tool_version;	/* vcr version that wrote the trace */
};

/* Value of key in info's key/values, or NULL. */
const char *vcr_trace_info_get(const struct vcr_trace_info *info, const char *key);

enum vcr_rec_type {
	VCR_REC_EXIT = 1,
	VCR_REC_INPUT = 2,
	VCR_REC_SET_STATE = 3,
	VCR_REC_INJECT = 4,
	VCR_REC_MEM_WRITE = 5,
	VCR_REC_MEM_PAGES = 6,
	VCR_REC_MARKER = 7,
	VCR_REC_END = 8,
	VCR_REC_IRQ_LINE = 9,
	VCR_REC_NOTE = 10,
	VCR_REC_CKPT = 11,
	VCR_REC_CKPT_PAGES = 12,
};
#define VCR_REC_LAST VCR_REC_CKPT_PAGES	/* highest type this vcr knows */

/* Memory checkpoints (CKPT, CKPT_PAGES). */
#define VCR_CKPT_PAGE 4096u
#define VCR_CKPT_FINAL 1u	/* taken when the run ended */
#define VCR_CKPT_FULL 2u	/* stores every page touched since recording
				 * began, not only the interval's dirty ones */
#define VCR_CKPT_FLAGS (VCR_CKPT_FINAL | VCR_CKPT_FULL)
#define VCR_CKPT_MAX_PAGES (1ull << 24)	/* pages of one region (64 GiB) */
#define VCR_CKPT_RUN_MAX 1024u		/* pages of one CKPT_PAGES record */

/* One page of a CKPT_PAGES record, as vcr_ckpt_pages_scan finds it. */
enum vcr_ckpt_enc {
	VCR_CKPT_ZERO = 0,	/* 4096 zero bytes */
	VCR_CKPT_RAW = 1,	/* 4096 bytes at data + off */
	VCR_CKPT_REPEAT = 2,	/* equal to stored page `ref` (an ordinal among
				 * the checkpoint's stored pages of the region,
				 * smaller than this page's) */
	VCR_CKPT_XOR = 3,	/* the page's version `back` checkpoints earlier
				 * XOR runs of bytes (vcr_ckpt_xor_apply): the
				 * runs are at data + off, len bytes */
};
struct vcr_ckpt_page {
	uint32_t enc;		/* enum vcr_ckpt_enc */
	uint32_t off;		/* RAW: offset of the bytes in the record's
				 * data; XOR: of the runs */
	uint64_t ref;		/* REPEAT: the ordinal; XOR: back (>= 1) */
	uint32_t len;		/* XOR: bytes of the runs */
};
/* A writer makes XOR chains (a version XOR a version XOR ...) at most this
 * long before it stores a page raw again; a reader must follow at least
 * VCR_CKPT_XOR_READ_DEPTH and may treat a longer chain as damage. */
#define VCR_CKPT_XOR_WRITE_DEPTH 4u
#define VCR_CKPT_XOR_READ_DEPTH 64u

/* Walk the `count` page encodings in a CKPT_PAGES record's data: fills
 * out[0..count). first is the record's first ordinal (a REPEAT must point
 * below its own ordinal). 0, or -EBADMSG when the bytes are not exactly
 * count well-formed encodings. */
int vcr_ckpt_pages_scan(const uint8_t *data, uint64_t len, uint64_t first, uint32_t count,
			struct vcr_ckpt_page *out);
/* Encode one page into dst (at most 1 + 10 + 4096 bytes): zero, repeat of
 * ordinal ref (ref != UINT64_MAX) or raw. Returns the bytes written. */
size_t vcr_ckpt_page_put(uint8_t *dst, const uint8_t *page, uint64_t ref);
/* Encode page as XOR against prev, its version `back` (>= 1) checkpoints
 * earlier, into dst (room for 1 + 4096 bytes) when that is smaller than
 * raw (1 + 4096 bytes): returns the bytes written, or 0 (dst untouched:
 * encode it otherwise; also when the page equals prev). */
size_t vcr_ckpt_page_put_xor(uint8_t *dst, const uint8_t *page, const uint8_t *prev,
			     uint64_t back);
/* Apply the XOR runs of one page (data + off, len bytes, from
 * vcr_ckpt_pages_scan) to page, which holds the earlier version. 0, or
 * -EBADMSG when the runs are malformed (page unchanged then). */
int vcr_ckpt_xor_apply(uint8_t *page, const uint8_t *runs, uint32_t len);

/* IRQ_LINE flags. */
#define VCR_IRQ_ASYNC 1u	/* raised by no exit's service (VMM_NO_VCPU): the
				 * record's vcpu is 0 and it follows every exit
				 * the vCPUs had handed over when it was made */

enum vcr_note_kind {
	VCR_NOTE_CONSOLE_TAIL = 1,	/* the guest console's last bytes (lines),
					 * as the VMM kept them: what a panic
					 * printed */
};
#define VCR_NOTE_MAX (64u << 10)	/* text bytes a writer stores at most */

enum vcr_input_kind {
	VCR_INPUT_IO_IN = 1,	/* bytes for kvm_run io data area (size*count) */
	VCR_INPUT_MMIO_READ = 2,/* bytes for kvm_run->mmio.data (len) */
};

enum vcr_inject_kind {
	VCR_INJECT_IRQ = 1,	/* KVM_INTERRUPT with `vector` */
	VCR_INJECT_NMI = 2,	/* KVM_NMI */
};


/* Stable lower-case names, used by dump, stats, diff, JSON and messages:
 * record types "exit", "input", "set_state", ...; input kinds "io_in",
 * "mmio_read"; "unknown" for values this vcr does not know. End reasons
 * (enum vcr_end_how, vcr_end_how_name) are in core/end.h. */
const char *vcr_rec_type_name(uint32_t type);
const char *vcr_input_kind_name(uint32_t kind);
/* Note kinds: "console-tail"; "unknown" otherwise. */
const char *vcr_note_kind_name(uint32_t kind);

struct vcr_record {
	uint32_t type;		/* enum vcr_rec_type */
	uint32_t vcpu;		/* 0 for records not tied to a vCPU */
	uint64_t seq;		/* see "Numbering" above */
	uint64_t vcpu_exit;	/* EXIT: per-vCPU ordinal */
	union {
		struct {
			uint32_t valid;	/* VCR_CLASS_* synced by KVM at this exit */
			struct vcr_exit exit;
			struct vcr_vcpu_state state;	/* full state after the
							 * exit; classes not in
							 * `valid` carry the last
							 * known values */
		} exit;
		struct {
			uint32_t kind;	/* enum vcr_input_kind */
			uint32_t len;
			uint8_t data[VCR_EXIT_DATA_MAX];
		} input;
		struct {
			uint32_t dirty;	/* VCR_CLASS_* written via kvm_dirty_regs */
			struct vcr_vcpu_state state;	/* classes in `dirty` */
		} set_state;
		struct {
			uint32_t kind;	/* enum vcr_inject_kind */
			uint32_t vector;
		} inject;
		struct {
			uint64_t gpa;
			uint64_t len;
			const uint8_t *data;	/* reader: valid until the next
						 * call on the reader */
		} mem;		/* MEM_WRITE and MEM_PAGES */
		struct {
			const char *text;	/* NUL-terminated, as mem.data */
		} marker;
		struct {
			uint32_t gsi;	/* KVM_IRQ_LINE's irq */
			uint32_t level;	/* its level: 1 raised, 0 lowered */
			uint32_t flags;	/* VCR_IRQ_* */
		} irq_line;
		struct {
			uint32_t kind;	/* enum vcr_note_kind (unknown kinds kept) */
			uint32_t len;	/* bytes of text, NUL excluded; the writer
					 * stores at most VCR_NOTE_MAX: the last
					 * ones (a console's newest) */
			const char *text;	/* NUL-terminated after len bytes
						 * (it may hold NULs), as mem.data */
		} note;
		struct {
			uint64_t number;	/* checkpoint number (0, 1, ...): the
						 * CKPT records of one checkpoint
						 * (one per region) share it */
			uint32_t flags;		/* VCR_CKPT_* */
			uint64_t gpa;		/* region start, page-aligned */
			uint64_t npages;	/* pages in the region */
			const uint8_t *dirty;	/* npages bits (LSB first): dirtied
						 * since the previous checkpoint */
			const uint8_t *stored;	/* npages bits: stored here; the
						 * same pointer as dirty unless
						 * VCR_CKPT_FULL. Both as mem.data */
		} ckpt;
		struct {
			uint64_t number;	/* the CKPT's */
			uint64_t gpa;		/* the CKPT's region start */
			uint64_t first;		/* ordinal of the first page among
						 * the stored ones */
			uint32_t count;		/* pages, 1..VCR_CKPT_RUN_MAX */
			uint64_t len;
			const uint8_t *data;	/* count encodings
						 * (vcr_ckpt_pages_scan), as
						 * mem.data */
		} ckpt_pages;
		struct {
			uint32_t how;	/* enum vcr_end_how */
			int32_t status;
			const char *msg;	/* as mem.data */
		} end;
	} u;
};

/* ---------------------------------------------------------------- writer */

struct vcr_writer;

struct vcr_writer_opts {
	int zstd_level;		/* 0: default (fast) */
	uint32_t chunk_exits;	/* exits per chunk (keyframe interval); 0: default */
	uint64_t ring_bytes;	/* 0: keep everything; else keep only about the
				 * newest ring_bytes of chunks on disk */
	uint32_t flush_exits;	/* buffer compressed chunks and write() at most
				 * once per this many exits; 0: default 4096 */
};

/* Create `path` (truncating) and write the header. The writer keeps the fd.
 * Defaults: zstd level 1, write() every 4096 exits, and up to 3072 exits per
 * chunk: fewer when exits compress poorly, so that a chunk's records
 * compress to about 4 KiB, and memory records over 16 KiB end a chunk at the
 * next exit (a seek decodes one chunk). A chunk_exits set in opts is used as
 * is.
 * Ring mode (ring_bytes > 0, at least 16 KiB) reuses the chunk area; readers
 * then see the newest contiguous run of chunks (docs/format.md). */
int vcr_writer_open(struct vcr_writer **out, const char *path,
		    const struct vcr_trace_info *info,
		    const struct vcr_writer_opts *opts, struct vcr_err *err);

/* Append a record. rec->seq and rec->vcpu_exit are assigned by the writer and
 * ignored on input. For EXIT, rec->u.exit.state must be normalized
 * (vcr_state_normalize); classes not in `valid` are taken from the vCPU's
 * previous state. vcpu must be < info->nvcpus. */
int vcr_writer_append(struct vcr_writer *w, const struct vcr_record *rec);

/* Complete the current chunk and write everything buffered (fdatasync not
 * implied). After a crash, everything appended before the last successful
 * flush is readable. */
int vcr_writer_flush(struct vcr_writer *w);

/* Flush, write the index footer, close the file. Frees w even on error. */
int vcr_writer_close(struct vcr_writer *w);

/* Free without writing a footer (the file stays readable by scanning). */
void vcr_writer_abort(struct vcr_writer *w);

struct vcr_writer_stats {
	uint64_t exits, records, chunks;
	uint64_t bytes_written;		/* file size so far */
	uint64_t raw_bytes;		/* what the records would take as raw structs */
	uint64_t write_calls;		/* write()/pwrite() syscalls made */
	uint64_t chunk_bytes_total;	/* bytes of every chunk made, also those
					 * a ring trace overwrote since */
};
void vcr_writer_get_stats(const struct vcr_writer *w, struct vcr_writer_stats *st);

/* ---------------------------------------------------------------- reader */

struct vcr_reader;

/* Open and validate the header; load the footer index, or rebuild it by
 * scanning when the footer is missing or damaged (the writer died). Refuses
 * traces of another architecture or struct layout with a message saying
 * which sizes differ. */
int vcr_reader_open(struct vcr_reader **out, const char *path, struct vcr_err *err);
void vcr_reader_close(struct vcr_reader *r);

const struct vcr_trace_info *vcr_reader_info(const struct vcr_reader *r);

/* Next record in file order: 1 and *rec filled, 0 at the end, negative on
 * error (details in vcr_reader_error). Pointers inside *rec stay valid until
 * the next call on r. A damaged chunk is reported as an error; iteration can
 * continue after it with the next chunk. */
int vcr_reader_next(struct vcr_reader *r, struct vcr_record *rec);

/* What vcr_reader_next_ref points to instead of copying it. */
struct vcr_record_ref {
	const struct vcr_vcpu_state *state;	/* EXIT, SET_STATE: the vCPU's
						 * full state after the record */
	const uint8_t *data;	/* EXIT: exit.data_len bytes; INPUT: input.len bytes */
	/* EXIT, SET_STATE: what the record changed in its vCPU's state, as
	 * XORs: 8-byte word delta_word[i] of the state (0..64, increasing) was
	 * XORed with delta_xor[i], i < delta_n. Cheaper to follow than the
	 * full state for a reader of every record (the cursor keeps these
	 * instead of states), and reversible: applying them again undoes them. */
	uint32_t delta_n;
	const uint8_t *delta_word;
	const uint64_t *delta_xor;
	/* The reader set vCPU states from something other than the records'
	 * deltas since the record it returned before: a chunk's keyframe (a
	 * new chunk), or a seek. In a well-formed trace read on in order, a
	 * keyframe changes nothing; a damaged chunk skipped, a seek or a
	 * hostile file can. Whoever follows states through the deltas then
	 * takes them again (vcr_reader_state). */
	bool rebased;
};

/* vcr_reader_next without the bulky copies, for hot loops (cursor, diff):
 * *rec is filled the same way except rec->u.exit.state,
 * rec->u.exit.exit.data, rec->u.set_state.state and rec->u.input.data, which
 * are left untouched; ref points to them instead (NULL when the record has
 * none), and gives the record's delta (delta_n 0 when none). All stay valid
 * until the next call on r. */
int vcr_reader_next_ref(struct vcr_reader *r, struct vcr_record *rec, struct vcr_record_ref *ref);

/* Position the reader so that the next vcr_reader_next returns the EXIT
 * record with sequence number seq (or the end, if seq >= number of exits).
 * Costs one chunk decode at most, whatever seq is (a seek forward inside the
 * chunk being read costs no decode). -ERANGE when seq is before the first
 * exit kept (ring traces: stats.first_seq > 0); -ENOENT when seq fell in a
 * damaged chunk. After a seek, vcr_reader_state gives every vCPU's state
 * just before that exit. */
int vcr_reader_seek(struct vcr_reader *r, uint64_t seq);

/* Where a record is: chunk (index among the readable chunks) and byte of
 * its decompressed payload. vcr_reader_tell gives the record the last
 * vcr_reader_next(_ref) returned; vcr_reader_read_at decodes a memory
 * record (MEM_WRITE, MEM_PAGES, CKPT, CKPT_PAGES) at such a position again,
 * at the cost of one chunk decode unless the chunk is one of the two the
 * reader keeps (1 and *rec filled, pointers valid until the next call;
 * negative on error). After read_at, the next vcr_reader_next needs a
 * vcr_reader_seek first. Readers that index memory keep positions instead
 * of the bytes. */
struct vcr_reader_pos {
	uint64_t chunk, byte;
};
void vcr_reader_tell(const struct vcr_reader *r, struct vcr_reader_pos *pos);
/* File offset of chunk pos->chunk (for messages), UINT64_MAX if none. */
uint64_t vcr_reader_chunk_offset(const struct vcr_reader *r, const struct vcr_reader_pos *pos);
/* Bytes chunk `chunk` (index among the readable chunks) takes in the file,
 * 0 if none. */
uint64_t vcr_reader_chunk_bytes(const struct vcr_reader *r, uint64_t chunk);
int vcr_reader_read_at(struct vcr_reader *r, const struct vcr_reader_pos *pos,
		       struct vcr_record *rec);

/* Sequence number of exit n of vCPU v, or negative (-ERANGE) if none. */
int vcr_reader_vcpu_exit_seq(struct vcr_reader *r, uint32_t vcpu, uint64_t n,
			     uint64_t *seq);

/* State of vCPU v as of the records returned so far (after the last EXIT or
 * SET_STATE of v); -ENOENT before v's first keyframe or exit. */
int vcr_reader_state(const struct vcr_reader *r, uint32_t vcpu,
		     struct vcr_vcpu_state *st);

/* The last error, with offset and message. */
const struct vcr_err *vcr_reader_error(const struct vcr_reader *r);

struct vcr_reader_stats {
	uint64_t exits;			/* EXIT records in readable chunks */
	uint64_t vcpu_exits[VCR_TRACE_MAX_VCPUS];
	uint64_t chunks;
	uint64_t file_size;
	uint64_t header_bytes, chunk_bytes, keyframe_bytes, index_bytes;
	uint64_t raw_bytes;		/* records as raw structs (for ratios) */
	bool has_footer;		/* false: index rebuilt by scanning */
	bool truncated;			/* trailing bytes after the last complete chunk */
	uint64_t damaged_chunks;	/* chunks that failed their checksum */
	/* Malformed CKPT / CKPT_PAGES records in chunks that passed their
	 * checksum, skipped alone as they were read (their length frames
	 * them; the rest of the chunk reads on): the count, and the first
	 * one's description (chunk offset, payload byte; "" none; valid while
	 * the reader is open). */
	uint64_t damaged_records;
	const char *damaged_record_msg;
	bool has_end;			/* an END record exists */
	uint64_t first_seq;		/* seq of the first exit kept: 0, or more
					 * in a ring trace (opts.ring_bytes) */
};
void vcr_reader_get_stats(const struct vcr_reader *r, struct vcr_reader_stats *st);

#endif
