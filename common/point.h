/*
 * common/point.h — the data model's small value types, shared by ingest,
 * storage and query. Open types (see DESIGN.md "Data model").
 */
#ifndef ST_POINT_H
#define ST_POINT_H

#include <stdint.h>

#include "common/slice.h"

/* Field types; the numbers are stored on disk and in the catalog: never renumber. */
typedef enum st_type {
    ST_TYPE_NONE   = 0,
    ST_TYPE_FLOAT  = 1,
    ST_TYPE_INT    = 2,
    ST_TYPE_UINT   = 3,
    ST_TYPE_BOOL   = 4,
    ST_TYPE_STRING = 5,
} st_type;

/* InfluxDB's names for the types: "float", "integer", "unsigned", "boolean", "string". */
const char *st_type_name(st_type t);

/* OPC UA StatusCode: 0 = Good. */
#define ST_QUALITY_GOOD      0x00000000u
#define ST_QUALITY_UNCERTAIN 0x40900000u
#define ST_QUALITY_BAD       0x80000000u

/* Valid timestamp range (InfluxDB's: the two extremes are sentinels). */
#define ST_TIME_MIN_NS (INT64_MIN + 2)
#define ST_TIME_MAX_NS (INT64_MAX - 1)

typedef struct st_value {
    uint8_t type; /* st_type */
    union {
        double   f;
        int64_t  i;
        uint64_t u;
        int      b;
        st_slice s; /* borrowed */
    } v;
} st_value;

#endif
