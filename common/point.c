/* common/point.c — names of the data model's types. */
#include "common/point.h"

const char *st_type_name(st_type t)
{
    switch (t) {
    case ST_TYPE_FLOAT:  return "float";
    case ST_TYPE_INT:    return "integer";
    case ST_TYPE_UINT:   return "unsigned";
    case ST_TYPE_BOOL:   return "boolean";
    case ST_TYPE_STRING: return "string";
    default:             return "none";
    }
}
