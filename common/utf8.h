/*
 * common/utf8.h — UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF). Pure; any thread.
 */
#ifndef ST_UTF8_H
#define ST_UTF8_H

#include <stddef.h>

/* 1 when [s, s+n) is valid UTF-8. ASCII runs are checked 8 bytes at a time. */
int st_utf8_valid(const char *s, size_t n);

#endif
