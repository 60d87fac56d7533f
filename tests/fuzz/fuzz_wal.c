/*
 * tests/fuzz/fuzz_wal.c — WAL replay over arbitrary bytes.
 *
 * The input becomes one or two segment files in an in-memory I/O table
 * (no disk, so libFuzzer runs fast): bytes 0..1 give the length of the
 * first file, the rest is the second (absent when empty). Replay must
 * never crash or read out of bounds, every record it hands over must have
 * its declared length, and a second replay (after the torn-tail repair of
 * the first) must return the same records and truncate nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "storage/io.h"
#include "storage/wal.h"

typedef struct mem_file {
    const char *name;
    unsigned char *data;
    size_t len;
    int present;
} mem_file;

static mem_file files[2] = { { "0000000000000001.wal", NULL, 0, 0 }, { "0000000000000100.wal", NULL, 0, 0 } };

static mem_file *by_path(const char *path)
{
    const char *sl = strrchr(path, '/');
    const char *name = sl ? sl + 1 : path;
    for (int i = 0; i < 2; i++)
        if (files[i].present && strcmp(files[i].name, name) == 0) return &files[i];
    return NULL;
}

static int m_open(void *ctx, const char *path, int flags, int mode, int *fd_out)
{
    (void)ctx; (void)flags; (void)mode;
    mem_file *f = by_path(path);
    if (!f) return ST_ENOTFOUND;
    *fd_out = (int)(f - files) + 3;
    return 0;
}
static mem_file *fdf(int fd) { return fd >= 3 && fd < 5 ? &files[fd - 3] : NULL; }
static int m_close(void *ctx, int fd) { (void)ctx; (void)fd; return 0; }
static int m_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    (void)ctx;
    mem_file *f = fdf(fd);
    if (!f) return ST_EIO;
    size_t n = off >= f->len ? 0 : (f->len - off < len ? f->len - (size_t)off : len);
    if (n) memcpy(buf, f->data + off, n);
    *got = n;
    return 0;
}
static int m_ftruncate(void *ctx, int fd, uint64_t len)
{
    (void)ctx;
    mem_file *f = fdf(fd);
    if (!f) return ST_EIO;
    if (len < f->len) f->len = (size_t)len; /* growing is never asked for by replay */
    return 0;
}
static int m_ok(void *ctx, int fd) { (void)ctx; (void)fd; return 0; }
static int m_list(void *ctx, const char *path, stor_dir_cb cb, void *arg)
{
    (void)ctx; (void)path;
    for (int i = 0; i < 2; i++) {
        if (!files[i].present) continue;
        int rc = cb(arg, files[i].name);
        if (rc) return rc;
    }
    return 0;
}
static int m_size(void *ctx, int fd, uint64_t *out)
{
    (void)ctx;
    mem_file *f = fdf(fd);
    if (!f) return ST_EIO;
    *out = f->len;
    return 0;
}
static int m_unsupported(void) { return ST_EUNSUPPORTED; }

static stor_io mem_io = {
    .open = m_open, .close = m_close, .pread = m_pread, .ftruncate = m_ftruncate,
    .fsync = m_ok, .fdatasync = m_ok, .list_dir = m_list, .file_size = m_size,
};

typedef struct sum { uint64_t n, xor_seq, bytes; } sum;

static int rec_cb(void *arg, int type, uint64_t seq, const void *payload, size_t len)
{
    sum *s = arg;
    if (type < 1 || type > 4) abort();
    /* touch every byte: ASan checks the declared length is really there */
    const unsigned char *p = payload;
    unsigned acc = 0;
    for (size_t i = 0; i < len; i++) acc += p[i];
    s->bytes += len + (acc & 1);
    s->n++;
    s->xor_seq ^= seq * 0x9E3779B97F4A7C15ull;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        st_log_set_level(ST_LOG_OFF);
        (void)m_unsupported;
        init = 1;
    }
    if (size < 2) return 0;
    size_t split = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    if (split > size) split = size;
    files[0].len = split;
    files[0].data = malloc(split ? split : 1);
    memcpy(files[0].data, data, split);
    files[0].present = 1;
    files[1].len = size - split;
    files[1].data = malloc(files[1].len ? files[1].len : 1);
    memcpy(files[1].data, data + split, files[1].len);
    files[1].present = files[1].len > 0;

    sum a = {0}, b = {0};
    wal_replay_result r1, r2;
    int rc1 = wal_replay("wal", &mem_io, (uint64_t)(split & 3), rec_cb, &a, &r1);
    int rc2 = wal_replay("wal", &mem_io, (uint64_t)(split & 3), rec_cb, &b, &r2);
    if (rc1 != 0 || rc2 != 0) abort();
    if (a.n != b.n || a.xor_seq != b.xor_seq || a.bytes != b.bytes) abort();
    if (r2.bytes_truncated != 0 || r1.records != a.n || r1.next_seq != r2.next_seq) abort();
    free(files[0].data);
    free(files[1].data);
    files[0].data = files[1].data = NULL;
    return 0;
}
