/*
 * storage/enc_block.c — segment blocks: the header byte, the choice of
 * encoding per type (each enc_*.c picks its smallest candidate), and zstd
 * over the payload where it saves at least 1/8. Format in storage/enc.h.
 * Any thread. zstd contexts: compression uses the caller's enc_zctx, or one
 * per call; decompression one per thread (the only global state: a
 * pthread key whose destructor frees a thread's context when it ends),
 * since ZSTD_decompress sets up a ~100 KB context for a few KB of payload.
 */
#include "storage/enc.h"

#include <pthread.h>
#include <zstd.h>

#include "common/alloc.h"
#include "common/err.h"

/* Largest decompressed payload we accept for n values of a type: bounds the
 * scratch allocation a corrupt length could ask for. */
static uint64_t payload_bound(enc_type type, size_t n)
{
    if (type == ENC_TYPE_STRING) return (uint64_t)1 << 31;
    return 64 + (uint64_t)n * 32;
}

static int encode_payload(enc_type type, const void *values, size_t n, int force, enc_hint *h, st_buf *out, int *id)
{
    switch (type) {
    case ENC_TYPE_TIME:    return enc__time_block_encode(values, n, force, h, out, id);
    case ENC_TYPE_FLOAT:   return enc__float_block_encode(values, n, force, h, out, id);
    case ENC_TYPE_INT:
    case ENC_TYPE_UINT:    return enc__int_block_encode(values, n, force, h, out, id);
    case ENC_TYPE_BOOL:    return enc__bool_block_encode(values, n, force, out, id);
    case ENC_TYPE_STRING:  return enc__str_block_encode(values, n, force, out, id);
    case ENC_TYPE_QUALITY: return enc__qual_block_encode(values, n, force, out, id);
    }
    return ST_EINVAL;
}

int enc_block_encode(enc_type type, const void *values, size_t n, st_buf *out, int zstd_level)
{
    return enc_block_encode_with(type, -1, values, n, out, zstd_level);
}

int enc_block_encode_with(enc_type type, int id_wanted, const void *values, size_t n, st_buf *out, int zstd_level)
{
    return enc_block_encode_z(type, id_wanted, values, n, out, zstd_level, NULL);
}

void enc_zctx_init(enc_zctx *z)
{
    z->cctx = NULL;
    st_buf_init(&z->scratch);
    st_buf_init(&z->alt);
}

void enc_zctx_fini(enc_zctx *z)
{
    ZSTD_freeCCtx(z->cctx); /* NULL ok */
    z->cctx = NULL;
    st_buf_fini(&z->scratch);
    st_buf_fini(&z->alt);
}

/* Take out back to start (a failed append leaves nothing); returns rc. */
static int cut_back(st_buf *out, size_t start, int rc)
{
    out->len = start;
    if (out->ptr) out->ptr[start] = 0;
    return rc;
}

/* Append one block (header byte, n, payload, zstd over it where that saves
 * at least 1/8) to out; *planes_used as enc_hint's. */
static int encode_one(enc_type type, int id_wanted, const void *values, size_t n, st_buf *out, int zstd_level,
                      enc_zctx *zc, int planes, int *planes_used)
{
    size_t start = out->len;
    int id = ENC_RAW;
    enc_hint h = { planes, 0 };
    int rc = st_buf_put_u8(out, 0);
    if (!rc) rc = st_buf_put_uvarint(out, n);
    size_t pstart = out->len;
    if (!rc) rc = encode_payload(type, values, n, id_wanted, &h, out, &id);
    if (rc) goto fail;
    *planes_used = h.planes_used;
    out->ptr[start] = (char)id;
    size_t plen = out->len - pstart;
    if (zstd_level <= 0 || plen < 64) return 0;
    size_t cap = ZSTD_compressBound(plen);
    int level = zstd_level > 19 ? 19 : zstd_level;
    char *z;
    size_t zl;
    if (zc) {
        if (!zc->cctx && !(zc->cctx = ZSTD_createCCtx())) { rc = ST_ENOMEM; goto fail; }
        st_buf_clear(&zc->scratch);
        if ((rc = st_buf_reserve(&zc->scratch, cap)) != 0) goto fail;
        z = zc->scratch.ptr;
        zl = ZSTD_compressCCtx(zc->cctx, z, cap, out->ptr + pstart, plen, level);
    } else {
        if (!(z = st_malloc(cap))) { rc = ST_ENOMEM; goto fail; }
        zl = ZSTD_compress(z, cap, out->ptr + pstart, plen, level);
    }
    if (!ZSTD_isError(zl) && zl + enc__uvarint_len(plen) + plen / 8 < plen) {
        out->len = start;
        rc = st_buf_put_u8(out, (uint8_t)(id | ENC_FLAG_ZSTD));
        if (!rc) rc = st_buf_put_uvarint(out, n);
        if (!rc) rc = st_buf_put_uvarint(out, plen);
        if (!rc) rc = st_buf_append(out, z, zl);
    }
    if (!zc) st_free(z);
    if (rc) goto fail;
    return 0;
fail:
    return cut_back(out, start, rc);
}

int enc_block_encode_z(enc_type type, int id_wanted, const void *values, size_t n, st_buf *out, int zstd_level,
                       enc_zctx *zc)
{
    if ((unsigned)type > ENC_TYPE_QUALITY) return ST_EINVAL;
    size_t start = out->len;
    int planes = zc && zstd_level >= ENC_PLANES_MIN_LEVEL, used = 0;
    int rc = encode_one(type, id_wanted, values, n, out, zstd_level, zc, planes, &used);
    if (rc || !used) return rc;
    /* Byte planes were chosen by an estimate: the block without them is
     * kept unless they come out ENC_PLANES_MIN_GAIN percent smaller. */
    st_buf_clear(&zc->alt);
    int unused;
    rc = encode_one(type, id_wanted, values, n, &zc->alt, zstd_level, zc, 0, &unused);
    if (rc) return cut_back(out, start, rc);
    if ((out->len - start) * 100 > zc->alt.len * (100 - ENC_PLANES_MIN_GAIN)) {
        out->len = start;
        rc = st_buf_append(out, zc->alt.ptr, zc->alt.len);
        if (rc) return cut_back(out, start, rc);
    }
    return 0;
}

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void dctx_free(void *d) { ZSTD_freeDCtx(d); }
static void dctx_key_make(void) { dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0; }

/* This thread's decompression context, made on first use; NULL when that
 * failed (the caller then decompresses with a context of its own). */
static ZSTD_DCtx *thread_dctx(void)
{
    pthread_once(&dctx_once, dctx_key_make);
    if (!dctx_key_ok) return NULL;
    ZSTD_DCtx *d = pthread_getspecific(dctx_key);
    if (!d && (d = ZSTD_createDCtx()) != NULL && pthread_setspecific(dctx_key, d) != 0) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

/* Payload of a block: borrowed from bytes, or decompressed into *scratch
 * (st_malloc'd, the caller frees). */
static int open_payload(const uint8_t *p, size_t len, enc_type type, size_t n, int *id,
                        const uint8_t **pl, size_t *pll, char **scratch)
{
    *scratch = NULL;
    if (len < 1) return ST_ECORRUPT;
    *id = p[0] & 0x7f;
    size_t pos = 1;
    uint64_t cnt, raw;
    if (enc__get_uvarint(p, len, &pos, &cnt) || cnt != n) return ST_ECORRUPT;
    if (!(p[0] & ENC_FLAG_ZSTD)) { *pl = p + pos; *pll = len - pos; return 0; }
    if (enc__get_uvarint(p, len, &pos, &raw) || raw > payload_bound(type, n)) return ST_ECORRUPT;
    unsigned long long fcs = ZSTD_getFrameContentSize(p + pos, len - pos);
    if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs != raw) return ST_ECORRUPT;
    char *buf = st_malloc((size_t)raw + 1); /* + NUL, so it can become an st_buf */
    if (!buf) return ST_ENOMEM;
    ZSTD_DCtx *d = thread_dctx();
    size_t got = d ? ZSTD_decompressDCtx(d, buf, (size_t)raw, p + pos, len - pos)
                   : ZSTD_decompress(buf, (size_t)raw, p + pos, len - pos);
    if (ZSTD_isError(got) || got != raw) { st_free(buf); return ST_ECORRUPT; }
    buf[raw] = 0;
    *scratch = buf;
    *pl = (const uint8_t *)buf;
    *pll = (size_t)raw;
    return 0;
}

int enc_block_decode(const void *bytes, size_t len, enc_type type, size_t n, void *out)
{
    if ((unsigned)type > ENC_TYPE_QUALITY || type == ENC_TYPE_STRING) return ST_EINVAL;
    int id;
    const uint8_t *pl;
    size_t pll;
    char *scratch;
    int rc = open_payload(bytes, len, type, n, &id, &pl, &pll, &scratch);
    if (rc) return rc;
    switch (type) {
    case ENC_TYPE_TIME:    rc = enc__time_block_decode(id, pl, pll, n, out); break;
    case ENC_TYPE_FLOAT:   rc = enc__float_block_decode(id, pl, pll, n, out); break;
    case ENC_TYPE_INT:
    case ENC_TYPE_UINT:    rc = enc__int_block_decode(id, pl, pll, n, out); break;
    case ENC_TYPE_BOOL:    rc = enc__bool_block_decode(id, pl, pll, n, out); break;
    case ENC_TYPE_QUALITY: rc = enc__qual_block_decode(id, pl, pll, n, out); break;
    default:               rc = ST_EINVAL; break;
    }
    st_free(scratch);
    return rc;
}

int enc_block_decode_str(const void *bytes, size_t len, size_t n, st_buf *store, st_slice *out)
{
    int id;
    const uint8_t *pl;
    size_t pll;
    char *scratch;
    int rc = open_payload(bytes, len, ENC_TYPE_STRING, n, &id, &pl, &pll, &scratch);
    if (rc) return rc;
    if (scratch) {
        /* The slices must outlive this call: the payload moves into store. */
        st_buf_fini(store);
        store->ptr = scratch;
        store->len = pll;
        store->cap = pll + 1;
        pl = (const uint8_t *)store->ptr;
    }
    return enc__str_block_decode(id, pl, pll, n, out);
}

int enc_block_id(const void *bytes, size_t len)
{
    return len ? ((const uint8_t *)bytes)[0] & 0x7f : -1;
}

int enc_block_is_zstd(const void *bytes, size_t len)
{
    return len ? (((const uint8_t *)bytes)[0] & ENC_FLAG_ZSTD) != 0 : 0;
}

const char *enc_id_name(int id)
{
    static const char *const names[ENC_ID_COUNT] = {
        "raw", "ts-const", "intpack", "gorilla", "decimal",
        "bool-bits", "bool-rle", "str-plain", "str-dict", "qual-rle", "intpack-div10",
        "floatpack",
    };
    return id >= 0 && id < ENC_ID_COUNT ? names[id] : "unknown";
}
