/*
 * ingest/lpstor.h — the one adapter from parsed lines (lp_line: line
 * protocol over HTTP, MQTT payloads, the offline import) to the storage
 * engine's write batch, with the checks every producer applies (names must
 * be UTF-8, as InfluxDB requires). One lpstor per producer thread; its
 * scratch arrays grow to the widest line and are reused (no allocation per
 * line).
 */
#ifndef ST_LPSTOR_H
#define ST_LPSTOR_H

#include <stddef.h>
#include <stdint.h>

#include "ingest/lp.h"
#include "storage/stor.h"

typedef struct lpstor {
    st_slice *tag_keys, *tag_vals; /* owned scratch */
    stor_field_in *fields;         /* owned scratch */
    uint32_t cap_tags, cap_fields;
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
