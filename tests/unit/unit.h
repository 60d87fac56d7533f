/*
 * tests/unit/unit.h — the unit-test harness (header only).
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_EQ_STR(s, "x"); }
 *   int main(void) { RUN(name); ...; return unit_done(); }
 *
 * Prints "PASS name" / "FAIL name: file:line: detail" per test; tests/run.py
 * counts those lines. A failed CHECK records and continues; REQUIRE returns.
 * unit_tmpdir makes a fresh directory under $TMPDIR (else /tmp).
 */
#ifndef ST_UNIT_H
#define ST_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"

static int unit__failed_checks;
static int unit__pass, unit__fail;
static const char *unit__name;

#define TEST(name) static void name(void)

/* Allocation counting (st_alloc_live, st_alloc_count) from before main. */
__attribute__((constructor)) static void unit__track(void) { st_alloc_track(); }

#define UNIT__FAIL(...) do { \
    if (unit__failed_checks++ < 5) { \
        printf("  %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

#define CHECK(cond) do { if (!(cond)) UNIT__FAIL("CHECK(%s)", #cond); } while (0)
#define REQUIRE(cond) do { if (!(cond)) { UNIT__FAIL("REQUIRE(%s)", #cond); return; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long unit__a = (long long)(a), unit__b = (long long)(b); \
    if (unit__a != unit__b) UNIT__FAIL("%s == %s: %lld != %lld", #a, #b, unit__a, unit__b); } while (0)
#define CHECK_EQ_U64(a, b) do { unsigned long long unit__a = (a), unit__b = (b); \
    if (unit__a != unit__b) UNIT__FAIL("%s == %s: %llu != %llu", #a, #b, unit__a, unit__b); } while (0)
#define CHECK_EQ_STR(a, b) do { const char *unit__a = (a), *unit__b = (b); \
    if (!unit__a || !unit__b || strcmp(unit__a, unit__b) != 0) \
        UNIT__FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, unit__a ? unit__a : "(null)", unit__b ? unit__b : "(null)"); } while (0)
#define CHECK_EQ_MEM(a, alen, b, blen) do { size_t unit__al = (alen), unit__bl = (blen); \
    if (unit__al != unit__bl || memcmp((a), (b), unit__al) != 0) \
        UNIT__FAIL("%s == %s: \"%.*s\" != \"%.*s\"", #a, #b, (int)unit__al, (const char *)(a), (int)unit__bl, (const char *)(b)); } while (0)

#define RUN(fn) do { \
    unit__failed_checks = 0; unit__name = #fn; fn(); \
    if (unit__failed_checks) { unit__fail++; printf("FAIL %s\n", unit__name); } \
    else { unit__pass++; printf("PASS %s\n", unit__name); } \
    fflush(stdout); \
} while (0)

/* A new directory $TMPDIR/strata-<name>-NNNNNN (/tmp without TMPDIR) into
 * buf; buf, or NULL when it cannot be made. */
static inline char *unit_tmpdir(char *buf, size_t len, const char *name)
{
    const char *t = getenv("TMPDIR");
    /* mkdtemp(3) replaces the six X of its template */
    int n = snprintf(buf, len, "%s/strata-%s-XXXXXX", t && *t ? t : "/tmp", name);
    if (n < 0 || (size_t)n >= len) return NULL;
    return mkdtemp(buf);
}

static inline int unit_done(void)
{
    printf("%d passed, %d failed\n", unit__pass, unit__fail);
    return unit__fail ? 1 : 0;
}

#endif
