/*
 * tests/fuzz/fuzz_seg.c — open arbitrary bytes as a segment file.
 *
 * Byte 0 is a mode, the rest the file (written to a temp file, read through
 * the real I/O table). Mode bit 0: before opening, recompute the header,
 * footer and index CRCs, and after a successful open every block's CRC, so
 * mutations reach the index parser and the block decoders instead of
 * stopping at a checksum. Then: iterate every column (find must return
 * it, last value readable, value-at lookups), read every block through a small cache (count
 * must match the index, timestamps inside the block's range), read every
 * page table (its pages must tile the block in time order), and run
 * seg_verify. Never a crash, a leak or an out-of-bounds read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "storage/bcache.h"
#include "storage/io.h"
#include "storage/seg.h"
#include "storage/seg_format.h"

static char g_path[256];

static void cleanup(void)
{
    if (g_path[0]) unlink(g_path);
}

static int put_file(const unsigned char *p, size_t n)
{
    FILE *f = fopen(g_path, "wb");
    if (!f) return -1;
    if (n && fwrite(p, 1, n, f) != n) { fclose(f); return -1; }
    return fclose(f);
}

static void fix_outer_crcs(unsigned char *b, size_t n)
{
    if (n >= SEG_HDR_SIZE) seg__put32(b + 60, st_crc32c(0, b, 60));
    if (n < SEG_HDR_SIZE + SEG_FOOTER_SIZE) return;
    unsigned char *f = b + n - SEG_FOOTER_SIZE;
    uint64_t off = seg__get64(f);
    uint32_t len = seg__get32(f + 8);
    if (off <= n - SEG_FOOTER_SIZE && len <= n - SEG_FOOTER_SIZE - off) seg__put32(f + 16, st_crc32c(0, b + off, len));
    seg__put32(f + 36, st_crc32c(0, f, 36));
}

static void exercise(seg *sg)
{
    volatile uint64_t sink = 0;
    for (size_t i = 0; i < seg_column_count(sg); i++) {
        const seg_column *col = seg_column_at(sg, i), *again = NULL;
        if (seg_column_find(sg, col->series_id, col->field_id, &again) != 0 || again != col) abort();
        int64_t lt;
        st_value lv;
        seg_column_last(sg, col, &lt, &lv);
        if (lv.type == ST_TYPE_STRING)
            for (size_t k = 0; k < lv.v.s.len; k++) sink += (unsigned char)lv.v.s.ptr[k];
        (void)seg_column_seek(col, lt);
        int64_t probes[3] = { col->blocks[0].min_ts, col->blocks[0].max_ts + 1, lt };
        for (int k = 0; k < 3; k++) {
            seg_point pt;
            if (seg_column_value_at(sg, col, probes[k], &pt) == 0) {
                if (pt.ts > probes[k]) abort();
                sink += (uint64_t)pt.ts;
                seg_block_release(pt.hold);
            }
        }
        for (uint32_t b = 0; b < col->nblocks; b++) {
            const seg_block *blk = NULL;
            if (seg_block_read(sg, col, b, &blk) != 0) continue;
            const seg_block_info *bi = &col->blocks[b];
            if (blk->n != bi->count || blk->ts[0] != bi->min_ts || blk->ts[blk->n - 1] != bi->max_ts) abort();
            for (uint32_t k = 0; k < blk->n; k++) {
                st_value v = seg_block_value(blk, k);
                sink += (uint64_t)blk->ts[k] + seg_block_quality(blk, k);
                if (v.type == ST_TYPE_STRING) {
                    for (size_t j = 0; j < v.v.s.len; j++) sink += (unsigned char)v.v.s.ptr[j];
                } else {
                    sink += v.v.u;
                }
            }
            seg_block_release(blk);
            const seg_pages *pg = NULL;
            if (bi->has_pages && seg_block_pages(sg, col, b, &pg) == 0) {
                /* a page table that decoded tiles the block in time order */
                uint32_t next = 0;
                for (uint32_t k = 0; k < pg->n; k++) {
                    const seg_page *x = &pg->pages[k];
                    if (x->start != next || x->count == 0 || x->min_ts > x->max_ts ||
                        (k && x->min_ts <= pg->pages[k - 1].max_ts))
                        abort();
                    next += x->count;
                    sink += x->stats.sum.u;
                }
                if (next != bi->count || pg->pages[0].min_ts != bi->min_ts || pg->pages[pg->n - 1].max_ts != bi->max_ts)
                    abort();
                seg_pages_release(pg);
            }
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_path[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_path, sizeof g_path, "%s/strata-fuzz-seg-XXXXXX", t && *t ? t : "/tmp");
        int fd = mkstemp(g_path);
        if (fd < 0) abort();
        close(fd);
        atexit(cleanup);
        st_log_set_level(ST_LOG_OFF);
    }
    if (size < 1) return 0;
    unsigned mode = data[0];
    size_t n = size - 1;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) return 0;
    if (n) memcpy(b, data + 1, n);
    if (mode & 1) fix_outer_crcs(b, n);
    if (put_file(b, n) != 0) { free(b); return 0; }
    const stor_io *io = stor_io_posix();
    seg *sg = NULL;
    if (seg_open(io, g_path, NULL, &sg) == 0) {
        if (mode & 1) {
            /* The index is trusted now (it parsed): fix each block's CRC. */
            for (size_t i = 0; i < seg_column_count(sg); i++) {
                const seg_column *col = seg_column_at(sg, i);
                for (uint32_t k = 0; k < col->nblocks; k++) {
                    const seg_block_info *bi = &col->blocks[k];
                    seg__put32(b + bi->offset, st_crc32c(0, b + bi->offset + 4, bi->len - 4));
                }
            }
            seg_unref(sg);
            sg = NULL;
            if (put_file(b, n) != 0 || seg_open(io, g_path, NULL, &sg) != 0) { free(b); return 0; }
        }
        bcache *bc = NULL;
        if (bcache_create(16384, &bc) == 0) {
            seg *cached = NULL;
            if (seg_open(io, g_path, bc, &cached) == 0) {
                exercise(cached);
                exercise(cached); /* second pass: cache hits */
                seg_unref(cached);
            }
            bcache_destroy(bc);
        }
        exercise(sg);
        seg_unref(sg);
    }
    seg_verify_result vr;
    (void)seg_verify(io, g_path, NULL, NULL, &vr);
    free(b);
    return 0;
}
