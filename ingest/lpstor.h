/*
 * ingest/lpstor.h — the one adapter from parsed lines (lp_line: line
 * protocol over HTTP, MQTT payloads, the offline import) to the storage
 * engine's write batch, with the checks every producer applies (names must
 * be UTF-8, as InfluxDB requires). One lpstor per producer thread; its
 * scratch arrays grow to the widest line and are reused (no allocation per
 * line).
 *
 * Series cache: a line that carries its series key as written (lp_line.key)
 * is looked up by it among the series this lpstor met in the same batch;
 * a hit skips the UTF-8 check of measurement and tags and the series index
 * (stor_batch_add_ref). The cache follows the batch: a line for another
 * batch (stor_batch_id) empties it. It holds at most LPSTOR_CACHE_MAX
 * series; past that, new series go the long way.
 */
#ifndef ST_LPSTOR_H
#define ST_LPSTOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "ingest/lp.h"
#include "storage/stor.h"

#define LPSTOR_CACHE_MAX 16384u

typedef struct lpstor_slot {
    uint64_t hash;                 /* 0 = empty */
    size_t key_off;                /* in keys */
    uint32_t key_len;
    stor_series_ref ref;
} lpstor_slot;

typedef struct lpstor {
    st_slice *tag_keys, *tag_vals; /* owned scratch */
    stor_field_in *fields;         /* owned scratch */
    uint32_t cap_tags, cap_fields;
    lpstor_slot *slots;            /* owned: the series cache, cap a power of two */
    uint32_t cap_slots, nslots;
    st_buf keys;                   /* owned: the cached keys' bytes */
    uint64_t batch_id;             /* the batch the cache belongs to */
} lpstor;

void lpstor_init(lpstor *x);
void lpstor_fini(lpstor *x);

enum {
    LPSTOR_BAD_NAME = 1, /* a name is not UTF-8: msg names the part; nothing added */
    LPSTOR_REFUSED = 2,  /* storage refused the line or some fields (type conflict, max-series,
                            retention, bad series): msg says why, *dropped counts the values */
};

/* Add one line to b. 0, LPSTOR_BAD_NAME, LPSTOR_REFUSED, or ST_ENOMEM.
 * msg (NUL-terminated, truncated to msg_cap) is set for the two refusals. */
int lpstor_add(lpstor *x, stor_batch *b, const lp_line *ln, char *msg, size_t msg_cap, uint32_t *dropped);

#endif
