/*
 * storage/wal_format.h — the write-ahead log on disk, format v1, byte by
 * byte. Format only: encode/decode helpers, no I/O. Any thread.
 *
 * FILES. data/wal/NNNNNNNNNNNNNNNN.wal, N = the sequence number of the
 * first record the file was created for, 16 lower-case hex digits, so name
 * order is sequence order. A file is preallocated (fallocate) to the
 * segment size; the unwritten tail reads as zeros.
 *
 * SEGMENT HEADER, 32 bytes at offset 0, little-endian:
 *   0  8  magic      "STRATAWL"
 *   8  4  version    1
 *  12  4  reserved   0
 *  16  8  first_seq  equal to N in the file name
 *  24  4  reserved   0
 *  28  4  crc        CRC32C of bytes 0..27
 *
 * RECORDS follow from offset 32, each starting on an 8-byte boundary:
 *   0  4  magic      "SWR1" (0x53 0x57 0x52 0x31)
 *   4  1  type       1 write, 2 delete, 3 schema, 4 checkpoint marker
 *   5  1  flags      bit 0: payload is an LZ4 block (LZ4_compress_default);
 *                    other bits 0
 *   6  2  reserved   0
 *   8  8  seq        sequence number; consecutive within and across files
 *  16  4  stored_len bytes of payload that follow the header
 *  20  4  raw_len    payload length after decompression (== stored_len
 *                    when not compressed)
 *  24  4  data_crc   CRC32C of the stored_len payload bytes
 *  28  4  hdr_crc    CRC32C of header bytes 0..27
 *  32  stored_len payload bytes, then zero padding to a multiple of 8
 *
 * A record is VALID when its magic, hdr_crc, type, flags, reserved and
 * lengths check, it fits in the file, and data_crc matches. Bytes on disk
 * are untrusted: the decoder never asserts, and never trusts a length
 * before the header CRC has matched and the payload fits in the file.
 *
 * CRASH AND RECOVERY STORY
 *  1. The writer only ever appends, in one thread, at the end of the
 *     current file; a group of records is written with one pwrite and (in
 *     group mode) made durable with one fdatasync before any of them is
 *     acknowledged. So at a power cut, everything acknowledged is intact,
 *     and only the last, unacknowledged group can be torn.
 *  2. Files are preallocated and their headers fsynced (file and
 *     directory) before the first record goes in; a file that is not yet
 *     durable holds nothing acknowledged.
 *  3. Replay reads files in name order and records in file order. After
 *     the last valid record a file ends cleanly in zeros. Anything else
 *     there is torn or corrupt:
 *       - nothing valid follows in the file and no later file exists: a
 *         torn tail; it is cut off (WARN) and the WAL continues from the
 *         last valid record;
 *       - a valid record follows (found by scanning 8-byte boundaries for
 *         a valid header + payload): the records between are lost; one
 *         ERROR line names the sequence range, and replay continues.
 *     A sequence gap between files (or to the next file) is reported the
 *     same way.
 *  4. After a restart the writer never appends to an old file: it starts
 *     a new one at the next sequence number, so a torn region is never
 *     followed by new records in the same file except by corruption.
 *  5. Sequence numbers are assigned at write time; a group that fails
 *     (ENOSPC) is cut back (zeroed) and its numbers are reused, so gaps on
 *     disk only come from loss.
 */
#ifndef STOR_WAL_FORMAT_H
#define STOR_WAL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/crc32c.h"

#define WAL_FORMAT_VERSION 1u
#define WAL_SEG_HDR_SIZE 32
#define WAL_REC_HDR_SIZE 32
#define WAL_REC_ALIGN 8
#define WAL_SEG_MAGIC "STRATAWL"
#define WAL_REC_MAGIC0 0x53 /* 'S' */
#define WAL_REC_MAGIC1 0x57 /* 'W' */
#define WAL_REC_MAGIC2 0x52 /* 'R' */
#define WAL_REC_MAGIC3 0x31 /* '1' */
#define WAL_FLAG_LZ4 0x01u
/* Largest payload (raw or stored) a record may carry. */
#define WAL_MAX_PAYLOAD (256u * 1024u * 1024u)
/* "0000000000000400.wal" */
#define WAL_SEG_NAME_LEN 20

enum wal_rec_type {
    WAL_REC_WRITE = 1,
    WAL_REC_DELETE = 2,
    WAL_REC_SCHEMA = 3,
    WAL_REC_CHECKPOINT = 4,
};

/* Decoded record header (a value; not a byte image). */
typedef struct wal_rec_hdr {
    uint8_t  type;
    uint8_t  flags;
    uint64_t seq;
    uint32_t stored_len;
    uint32_t raw_len;
    uint32_t data_crc;
} wal_rec_hdr;

typedef struct wal_seg_hdr {
    uint32_t version;
    uint64_t first_seq;
} wal_seg_hdr;

_Static_assert(WAL_REC_HDR_SIZE == 32, "record header is 32 bytes");
_Static_assert(WAL_SEG_HDR_SIZE == 32, "segment header is 32 bytes");
_Static_assert(WAL_SEG_HDR_SIZE % WAL_REC_ALIGN == 0, "records start aligned");
_Static_assert(sizeof(WAL_SEG_MAGIC) - 1 == 8, "segment magic is 8 bytes");

static inline void wal__put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void wal__put64(unsigned char *p, uint64_t v)
{
    wal__put32(p, (uint32_t)v);
    wal__put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t wal__get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t wal__get64(const unsigned char *p)
{
    return (uint64_t)wal__get32(p) | (uint64_t)wal__get32(p + 4) << 32;
}

/* Bytes a record with this stored payload occupies (header + padding). */
static inline uint64_t wal_rec_size(uint32_t stored_len)
{
    return ((uint64_t)WAL_REC_HDR_SIZE + stored_len + WAL_REC_ALIGN - 1) & ~(uint64_t)(WAL_REC_ALIGN - 1);
}

static inline void wal_rec_hdr_encode(const wal_rec_hdr *h, unsigned char out[WAL_REC_HDR_SIZE])
{
    out[0] = WAL_REC_MAGIC0; out[1] = WAL_REC_MAGIC1;
    out[2] = WAL_REC_MAGIC2; out[3] = WAL_REC_MAGIC3;
    out[4] = h->type;
    out[5] = h->flags;
    out[6] = 0; out[7] = 0;
    wal__put64(out + 8, h->seq);
    wal__put32(out + 16, h->stored_len);
    wal__put32(out + 20, h->raw_len);
    wal__put32(out + 24, h->data_crc);
    wal__put32(out + 28, st_crc32c(0, out, 28));
}

/* Checks and decodes 32 untrusted header bytes: 1 when valid (out
 * written), 0 when not. The payload CRC is checked separately
 * (wal_rec_payload_ok), once the payload is known to fit in the file. */
static inline int wal_rec_hdr_decode(const unsigned char in[WAL_REC_HDR_SIZE], wal_rec_hdr *out)
{
    if (in[0] != WAL_REC_MAGIC0 || in[1] != WAL_REC_MAGIC1 ||
        in[2] != WAL_REC_MAGIC2 || in[3] != WAL_REC_MAGIC3) return 0;
    if (wal__get32(in + 28) != st_crc32c(0, in, 28)) return 0;
    wal_rec_hdr h;
    h.type = in[4];
    h.flags = in[5];
    if (h.type < WAL_REC_WRITE || h.type > WAL_REC_CHECKPOINT) return 0;
    if (h.flags & ~WAL_FLAG_LZ4) return 0;
    if (in[6] || in[7]) return 0;
    h.seq = wal__get64(in + 8);
    h.stored_len = wal__get32(in + 16);
    h.raw_len = wal__get32(in + 20);
    h.data_crc = wal__get32(in + 24);
    if (h.stored_len > WAL_MAX_PAYLOAD || h.raw_len > WAL_MAX_PAYLOAD) return 0;
    if (!(h.flags & WAL_FLAG_LZ4) && h.raw_len != h.stored_len) return 0;
    /* LZ4 expands at most ~255x; a larger claim is corrupt (and would make
     * us allocate on an attacker's say-so). */
    if ((h.flags & WAL_FLAG_LZ4) && (uint64_t)h.raw_len > (uint64_t)h.stored_len * 255u + 16u) return 0;
    *out = h;
    return 1;
}

static inline int wal_rec_payload_ok(const wal_rec_hdr *h, const void *payload)
{
    return st_crc32c(0, payload, h->stored_len) == h->data_crc;
}

static inline void wal_seg_hdr_encode(uint64_t first_seq, unsigned char out[WAL_SEG_HDR_SIZE])
{
    memcpy(out, WAL_SEG_MAGIC, 8);
    wal__put32(out + 8, WAL_FORMAT_VERSION);
    wal__put32(out + 12, 0);
    wal__put64(out + 16, first_seq);
    wal__put32(out + 24, 0);
    wal__put32(out + 28, st_crc32c(0, out, 28));
}

/* 1 when valid (and the version is one we read), else 0. */
static inline int wal_seg_hdr_decode(const unsigned char in[WAL_SEG_HDR_SIZE], wal_seg_hdr *out)
{
    if (memcmp(in, WAL_SEG_MAGIC, 8) != 0) return 0;
    if (wal__get32(in + 28) != st_crc32c(0, in, 28)) return 0;
    uint32_t v = wal__get32(in + 8);
    if (v != WAL_FORMAT_VERSION) return 0;
    out->version = v;
    out->first_seq = wal__get64(in + 16);
    return 1;
}

#endif
