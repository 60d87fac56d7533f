/*
 * storage/enc_misc.c — booleans (1 bit a value; blocks: bit-packed or
 * run-length), strings (length-prefixed; blocks: plain or dictionary) and
 * quality StatusCodes (run-length: the head keeps fixed 8-byte runs it can
 * extend in place, blocks use varint runs or raw). Formats in
 * storage/enc.h. No global state; one owner per appender/reader.
 */
#include "storage/enc.h"

#include "common/alloc.h"
#include "common/err.h"
#include "common/hmap.h"

int enc_buf_trim(st_buf *buf)
{
    if (!buf->ptr) return 0;
    size_t want = buf->len + ENC_BITW_SLACK + 1;
    if (want >= buf->cap) return 0;
    char *p = st_realloc(buf->ptr, want);
    if (!p) return ST_ENOMEM;
    buf->ptr = p;
    buf->cap = want;
    return 0;
}

/* ---- booleans ---- */

void enc_bool_appender_init(enc_bool_appender *a)
{
    memset(a, 0, sizeof *a);
    st_buf_init(&a->buf);
}

void enc_bool_appender_fini(enc_bool_appender *a)
{
    if (!a) return;
    st_buf_fini(&a->buf);
    memset(a, 0, sizeof *a);
}

int enc_bool_appender_append(enc_bool_appender *a, int v)
{
    int rc = st_buf_reserve(&a->buf, ENC_BITW_SLACK);
    if (rc) return rc;
    enc__bitw_put(&a->buf, &a->nbits, v ? 1 : 0, 1);
    a->count++;
    return 0;
}

void enc_bool_reader_init(enc_bool_reader *r, const void *bytes, size_t len, uint64_t count)
{
    enc__bitr_init(&r->br, bytes, len);
    r->left = count;
}

int enc_bool_reader_next(enc_bool_reader *r, int *out)
{
    if (!r->left) return 0;
    unsigned b = enc__bitr_bit(&r->br);
    if (r->br.bad) return ST_ECORRUPT;
    r->left--;
    *out = (int)b;
    return 1;
}

int enc_bool_decode(const void *bytes, size_t len, size_t n, uint8_t *out)
{
    const uint8_t *p = bytes;
    if (n > (size_t)len * 8) return ST_ECORRUPT;
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)((p[i >> 3] >> (i & 7)) & 1u);
    return 0;
}

int enc__bool_block_encode(const uint8_t *v, size_t n, int force, st_buf *out, int *id)
{
    if (force >= 0 && force != ENC_BOOL_BITS && force != ENC_BOOL_RLE) return ST_EINVAL;
    size_t bits = (n + 7) / 8, rle = 1, run = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && !v[i] != !v[i - 1]) { rle += enc__uvarint_len(run); run = 0; }
        run++;
    }
    if (n) rle += enc__uvarint_len(run);
    int rc;
    if (force == ENC_BOOL_RLE || (force < 0 && rle < bits)) {
        *id = ENC_BOOL_RLE;
        rc = st_buf_put_u8(out, n && v[0] ? 1 : 0);
        run = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            if (i && !v[i] != !v[i - 1]) { rc = st_buf_put_uvarint(out, run); run = 0; }
            run++;
        }
        if (!rc && n) rc = st_buf_put_uvarint(out, run);
        return rc;
    }
    *id = ENC_BOOL_BITS;
    rc = st_buf_reserve(out, bits);
    if (rc) return rc;
    uint8_t *p = (uint8_t *)out->ptr + out->len;
    memset(p, 0, bits);
    for (size_t i = 0; i < n; i++) p[i >> 3] |= (uint8_t)((v[i] ? 1u : 0u) << (i & 7));
    out->len += bits;
    out->ptr[out->len] = 0;
    return 0;
}

int enc__bool_block_decode(int id, const uint8_t *p, size_t len, size_t n, uint8_t *out)
{
    if (id == ENC_BOOL_BITS) {
        if (len != (n + 7) / 8 || n > len * 8) return ST_ECORRUPT;
        return enc_bool_decode(p, len, n, out);
    }
    if (id != ENC_BOOL_RLE) return ST_ECORRUPT;
    if (len < 1 || p[0] > 1) return ST_ECORRUPT;
    uint8_t cur = p[0];
    size_t pos = 1, at = 0;
    while (at < n) {
        uint64_t run;
        if (enc__get_uvarint(p, len, &pos, &run) || run == 0 || run > n - at) return ST_ECORRUPT;
        memset(out + at, cur, (size_t)run);
        at += (size_t)run;
        cur ^= 1;
    }
    return pos == len ? 0 : ST_ECORRUPT;
}

/* ---- strings ---- */

void enc_str_appender_init(enc_str_appender *a)
{
    memset(a, 0, sizeof *a);
    st_buf_init(&a->buf);
}

void enc_str_appender_fini(enc_str_appender *a)
{
    if (!a) return;
    st_buf_fini(&a->buf);
    memset(a, 0, sizeof *a);
}

int enc_str_appender_append(enc_str_appender *a, const void *s, size_t len)
{
    size_t before = a->buf.len;
    int rc = st_buf_reserve(&a->buf, len + 10);
    if (!rc) rc = st_buf_put_uvarint(&a->buf, len);
    if (!rc) rc = st_buf_append(&a->buf, s, len);
    if (rc) { a->buf.len = before; return rc; }
    a->count++;
    return 0;
}

void enc_str_reader_init(enc_str_reader *r, const void *bytes, size_t len, uint64_t count)
{
    r->p = bytes;
    r->len = len;
    r->pos = 0;
    r->left = count;
}

int enc_str_reader_next(enc_str_reader *r, st_slice *out)
{
    if (!r->left) return 0;
    uint64_t l;
    if (enc__get_uvarint(r->p, r->len, &r->pos, &l) || l > r->len - r->pos) return ST_ECORRUPT;
    out->ptr = (const char *)r->p + r->pos;
    out->len = (size_t)l;
    r->pos += (size_t)l;
    r->left--;
    return 1;
}

int enc_str_decode(const void *bytes, size_t len, size_t n, st_slice *out)
{
    enc_str_reader r;
    enc_str_reader_init(&r, bytes, len, n);
    for (size_t i = 0; i < n; i++) {
        int rc = enc_str_reader_next(&r, &out[i]);
        if (rc != 1) return rc < 0 ? rc : ST_ECORRUPT;
    }
    return 0;
}

static int str_plain(const st_slice *v, size_t n, st_buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        rc = st_buf_put_uvarint(out, v[i].len);
        if (!rc) rc = st_buf_append(out, v[i].ptr, v[i].len);
    }
    return rc;
}

int enc__str_block_encode(const st_slice *v, size_t n, int force, st_buf *out, int *id)
{
    if (force >= 0 && force != ENC_STR_PLAIN && force != ENC_STR_DICT) return ST_EINVAL;
    size_t plain = 0;
    for (size_t i = 0; i < n; i++) plain += enc__uvarint_len(v[i].len) + v[i].len;
    *id = ENC_STR_PLAIN;
    if (force == ENC_STR_PLAIN || (force < 0 && n < 4) || n == 0) return str_plain(v, n, out);
    st_hmap *m = NULL;
    uint64_t *idx = NULL;
    int rc = st_hmap_create(64, &m);
    if (rc) return rc;
    idx = st_malloc(n * sizeof *idx);
    if (!idx) { rc = ST_ENOMEM; goto done; }
    size_t d = 0, dict_bytes = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k;
        const char *key = v[i].len ? v[i].ptr : "";
        if (st_hmap_get(m, key, v[i].len, &k)) { idx[i] = k; continue; }
        if (force < 0 && d >= n / 2) goto plain; /* too many distinct values */
        rc = st_hmap_put(m, key, v[i].len, d);
        if (rc) goto done;
        dict_bytes += enc__uvarint_len(v[i].len) + v[i].len;
        idx[i] = d++;
    }
    unsigned w = enc__bitwidth(d - 1);
    size_t dsz = enc__uvarint_len(d) + dict_bytes + 1 + (size_t)enc__packed_bytes(n, w);
    if (force < 0 && dsz >= plain) goto plain;
    *id = ENC_STR_DICT;
    rc = st_buf_put_uvarint(out, d);
    /* Entries in first-seen order: walk the values, emit each new index once. */
    uint64_t next = 0;
    for (size_t i = 0; i < n && !rc && next < d; i++) {
        if (idx[i] != next) continue;
        rc = st_buf_put_uvarint(out, v[i].len);
        if (!rc) rc = st_buf_append(out, v[i].ptr, v[i].len);
        next++;
    }
    if (!rc) rc = st_buf_put_u8(out, (uint8_t)w);
    if (!rc) rc = enc__pack(out, idx, n, w);
    goto done;
plain:
    *id = ENC_STR_PLAIN;
    rc = str_plain(v, n, out);
done:
    st_free(idx);
    st_hmap_destroy(m);
    return rc;
}

int enc__str_block_decode(int id, const uint8_t *p, size_t len, size_t n, st_slice *out)
{
    if (id == ENC_STR_PLAIN) {
        enc_str_reader r;
        enc_str_reader_init(&r, p, len, n);
        for (size_t i = 0; i < n; i++)
            if (enc_str_reader_next(&r, &out[i]) != 1) return ST_ECORRUPT;
        return r.pos == len ? 0 : ST_ECORRUPT;
    }
    if (id != ENC_STR_DICT) return ST_ECORRUPT;
    size_t pos = 0;
    uint64_t d;
    if (enc__get_uvarint(p, len, &pos, &d) || d == 0 || d > n) return ST_ECORRUPT;
    /* First pass validates the dictionary, the second builds its slices. */
    size_t dict_start = pos;
    for (uint64_t j = 0; j < d; j++) {
        uint64_t l;
        if (enc__get_uvarint(p, len, &pos, &l) || l > len - pos) return ST_ECORRUPT;
        pos += (size_t)l;
    }
    if (pos >= len) return ST_ECORRUPT;
    unsigned w = p[pos++];
    if (w > 64 || enc__packed_bytes(n, w) != len - pos) return ST_ECORRUPT;
    if (d > 1 && enc__bitwidth(d - 1) > w) return ST_ECORRUPT;
    st_slice *dict = st_malloc((size_t)d * sizeof *dict);
    if (!dict) return ST_ENOMEM;
    size_t q = dict_start;
    for (uint64_t j = 0; j < d; j++) {
        uint64_t l = 0;
        (void)enc__get_uvarint(p, len, &q, &l);
        dict[j].ptr = (const char *)p + q;
        dict[j].len = (size_t)l;
        q += (size_t)l;
    }
    enc_bitr r;
    enc__bitr_init(&r, p + pos, len - pos);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = enc__bitr_get(&r, w);
        if (k >= d || r.bad) { rc = ST_ECORRUPT; break; }
        out[i] = dict[k];
    }
    st_free(dict);
    return rc;
}

/* ---- quality ---- */

void enc_quality_appender_init(enc_quality_appender *a)
{
    memset(a, 0, sizeof *a);
    st_buf_init(&a->buf);
}

void enc_quality_appender_fini(enc_quality_appender *a)
{
    if (!a) return;
    st_buf_fini(&a->buf);
    memset(a, 0, sizeof *a);
}

static uint32_t ld32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void st32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int enc_quality_appender_append(enc_quality_appender *a, uint32_t status)
{
    if (a->buf.len >= 8) {
        uint8_t *last = (uint8_t *)a->buf.ptr + a->buf.len - 8;
        uint32_t run = ld32(last + 4);
        if (ld32(last) == status && run < UINT32_MAX) {
            st32(last + 4, run + 1);
            a->count++;
            return 0;
        }
    }
    int rc = st_buf_reserve(&a->buf, 8);
    if (rc) return rc;
    uint8_t *p = (uint8_t *)a->buf.ptr + a->buf.len;
    st32(p, status);
    st32(p + 4, 1);
    a->buf.len += 8;
    a->buf.ptr[a->buf.len] = 0;
    a->count++;
    return 0;
}

void enc_quality_reader_init(enc_quality_reader *r, const void *bytes, size_t len, uint64_t count)
{
    r->p = bytes;
    r->len = len;
    r->pos = 0;
    r->left = count;
    r->cur = 0;
    r->run_left = 0;
}

int enc_quality_reader_next(enc_quality_reader *r, uint32_t *out)
{
    if (!r->left) return 0;
    while (r->run_left == 0) {
        if (r->len - r->pos < 8) return ST_ECORRUPT;
        r->cur = ld32(r->p + r->pos);
        r->run_left = ld32(r->p + r->pos + 4);
        r->pos += 8;
        if (r->run_left == 0) return ST_ECORRUPT;
    }
    r->run_left--;
    r->left--;
    *out = r->cur;
    return 1;
}

int enc_quality_decode(const void *bytes, size_t len, size_t n, uint32_t *out)
{
    const uint8_t *p = bytes;
    size_t pos = 0, at = 0;
    while (at < n) {
        if (len - pos < 8) return ST_ECORRUPT;
        uint32_t q = ld32(p + pos), run = ld32(p + pos + 4);
        pos += 8;
        if (run == 0) return ST_ECORRUPT;
        size_t k = run < n - at ? run : n - at;
        for (size_t j = 0; j < k; j++) out[at + j] = q;
        at += k;
    }
    return 0;
}

int enc__qual_block_encode(const uint32_t *v, size_t n, int force, st_buf *out, int *id)
{
    if (force >= 0 && force != ENC_QUAL_RLE && force != ENC_RAW) return ST_EINVAL;
    size_t rle = 0, i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && v[j] == v[i]) j++;
        rle += enc__uvarint_len(v[i]) + enc__uvarint_len(j - i);
        i = j;
    }
    int rc = 0;
    if (force == ENC_QUAL_RLE || (force < 0 && rle <= n * 4)) {
        *id = ENC_QUAL_RLE;
        for (i = 0; i < n && !rc;) {
            size_t j = i + 1;
            while (j < n && v[j] == v[i]) j++;
            rc = st_buf_put_uvarint(out, v[i]);
            if (!rc) rc = st_buf_put_uvarint(out, j - i);
            i = j;
        }
        return rc;
    }
    *id = ENC_RAW;
    for (i = 0; i < n && !rc; i++) rc = st_buf_put_u32le(out, v[i]);
    return rc;
}

int enc__qual_block_decode(int id, const uint8_t *p, size_t len, size_t n, uint32_t *out)
{
    if (id == ENC_RAW) {
        if (n > len / 4 || len != n * 4) return ST_ECORRUPT;
        for (size_t i = 0; i < n; i++) out[i] = ld32(p + 4 * i);
        return 0;
    }
    if (id != ENC_QUAL_RLE) return ST_ECORRUPT;
    size_t pos = 0, at = 0;
    while (at < n) {
        uint64_t q, run;
        if (enc__get_uvarint(p, len, &pos, &q) || q > UINT32_MAX) return ST_ECORRUPT;
        if (enc__get_uvarint(p, len, &pos, &run) || run == 0 || run > n - at) return ST_ECORRUPT;
        for (size_t j = 0; j < run; j++) out[at + j] = (uint32_t)q;
        at += (size_t)run;
    }
    return pos == len ? 0 : ST_ECORRUPT;
}
