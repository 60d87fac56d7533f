/*
 * tests/unit/test_lp.c — the line protocol parser (ingest/lp.c).
 *
 * Most cases parse a text and compare a dump of what the parser delivered:
 * one row per line, "N: meas,tag=val field=type:value ts [q=Q]" for a good
 * line and "N! message" for a bad one. Then streaming (every split point),
 * lp_batch ownership, stats and out-of-memory at every allocation.
 * Single-threaded.
 */
#include <math.h>
#include <stdlib.h>

#include "common/alloc.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/num.h"
#include "ingest/lp.h"
#include "tests/unit/unit.h"

#define DEF_TS 42

static void dump_slice(st_buf *b, st_slice s) { st_buf_append(b, s.ptr, s.len); }

static int dump_line(void *ctx, const lp_line *l)
{
    st_buf *b = ctx;
    st_buf_printf(b, "%" PRIu64 ": ", l->lineno);
    dump_slice(b, l->measurement);
    for (uint32_t k = 0; k < l->tag_count; k++) {
        st_buf_append_byte(b, ',');
        dump_slice(b, l->tags[k].key);
        st_buf_append_byte(b, '=');
        dump_slice(b, l->tags[k].val);
    }
    for (uint32_t k = 0; k < l->field_count; k++) {
        const lp_field *f = &l->fields[k];
        st_buf_append_byte(b, k ? ',' : ' ');
        dump_slice(b, f->key);
        char nb[ST_DOUBLE_BUF];
        switch (f->value.type) {
        case ST_TYPE_FLOAT: st_format_double(f->value.v.f, nb); st_buf_printf(b, "=f:%s", nb); break;
        case ST_TYPE_INT: st_buf_printf(b, "=i:%" PRId64, f->value.v.i); break;
        case ST_TYPE_UINT: st_buf_printf(b, "=u:%" PRIu64, f->value.v.u); break;
        case ST_TYPE_BOOL: st_buf_printf(b, "=b:%d", f->value.v.b); break;
        case ST_TYPE_STRING:
            st_buf_append_str(b, "=s:\"");
            dump_slice(b, f->value.v.s);
            st_buf_append_byte(b, '"');
            break;
        default: st_buf_append_str(b, "=?"); break;
        }
    }
    st_buf_printf(b, " %" PRId64 "%s", l->ts_ns, l->has_ts ? "" : "d");
    if (l->has_quality) st_buf_printf(b, " q=0x%x", l->quality);
    st_buf_append_byte(b, '\n');
    return 0;
}

static int dump_error(void *ctx, uint64_t lineno, st_slice msg)
{
    st_buf *b = ctx;
    st_buf_printf(b, "%" PRIu64 "! ", lineno);
    dump_slice(b, msg);
    st_buf_append_byte(b, '\n');
    return 0;
}

static lp_opts def_opts(void)
{
    lp_opts o = { .precision = LP_PRECISION_NS, .default_ts_ns = DEF_TS,
                  .quality_field = ST_SLICE_LIT("quality"), .max_line_bytes = 0 };
    return o;
}

static st_buf out_buf;

/* Parse in one piece; the dump without its last newline. */
static const char *PO_len(const lp_opts *o, const char *in, size_t n)
{
    st_buf_fini(&out_buf);
    st_buf_init(&out_buf);
    st_buf_append(&out_buf, "", 0);
    int rc = lp_parse_buffer(o, in, n, dump_line, dump_error, &out_buf, NULL);
    if (rc) st_buf_printf(&out_buf, "rc=%d\n", rc);
    if (out_buf.len && out_buf.ptr[out_buf.len - 1] == '\n') out_buf.ptr[--out_buf.len] = 0;
    return out_buf.ptr;
}
static const char *PO(const lp_opts *o, const char *in) { return PO_len(o, in, strlen(in)); }
static const char *P(const char *in) { lp_opts o = def_opts(); return PO(&o, in); }
static const char *PP(lp_precision prec, const char *in)
{
    lp_opts o = def_opts();
    o.precision = prec;
    return PO(&o, in);
}

/* A case: input and the expected dump. */
#define T(name, in, want) TEST(name) { CHECK_EQ_STR(P(in), want); }
#define E(name, in, reason) TEST(name) { CHECK_EQ_STR(P(in), "1! unable to parse '" in "': " reason); }

/* ---- basics ---- */
T(basic_float, "cpu value=1.5 1000", "1: cpu value=f:1.5 1000")
T(basic_tags, "cpu,host=a,region=eu value=1 7", "1: cpu,host=a,region=eu value=f:1 7")
T(no_timestamp_default, "cpu value=1", "1: cpu value=f:1 42d")
T(trailing_spaces_after_ts, "cpu value=1 5   ", "1: cpu value=f:1 5")
T(trailing_spaces_no_ts, "cpu value=1   ", "1: cpu value=f:1 42d")
T(multiple_spaces_between, "cpu    value=1     5", "1: cpu value=f:1 5")
T(multi_fields, "m a=1,b=2i,c=3u,d=t,e=\"x\"", "1: m a=f:1,b=i:2,c=u:3,d=b:1,e=s:\"x\" 42d")
T(leading_space_tab_skipped, " \t cpu v=1", "1: cpu v=f:1 42d")
T(negative_ts, "cpu v=1 -1", "1: cpu v=f:1 -1")
T(ts_zero, "cpu v=1 0", "1: cpu v=f:1 0")
T(multi_lines, "a v=1 1\nb v=2 2\nc v=3 3\n", "1: a v=f:1 1\n2: b v=f:2 2\n3: c v=f:3 3")
T(blank_and_comment_lines_counted, "\n# comment\n  \n\ta v=1 1\n   # indented comment\nb v=2 2",
  "4: a v=f:1 1\n6: b v=f:2 2")
T(crlf_accepted, "a v=1 1\r\nb v=2i\r\n", "1: a v=f:1 1\n2: b v=i:2 42d")
T(crlf_last_line_no_lf, "a v=1 1\r", "1: a v=f:1 1")
T(only_one_cr_dropped, "a v=1\r\r\n", "1! unable to parse 'a v=1\r': invalid number")
T(cr_alone_blank, "\r\n\r\na v=1", "3: a v=f:1 42d")
T(hash_in_keys_ok, "cpu,#tag=x #f=1", "1: cpu,#tag=x #f=f:1 42d")
T(utf8_passthrough, "t\xc3\xa9,h\xc3\xb4=\xe2\x82\xac v=1", "1: t\xc3\xa9,h\xc3\xb4=\xe2\x82\xac v=f:1 42d")
T(tab_inside_tag_value_literal, "cpu,a=x\ty v=1", "1: cpu,a=x\ty v=f:1 42d")
T(unsorted_tags_sorted, "cpu,z=1,b=2,a=3 v=1", "1: cpu,a=3,b=2,z=1 v=f:1 42d")
T(tag_sort_byte_order, "cpu,b=1,B=2,a=3,_=4 v=1", "1: cpu,B=2,_=4,a=3,b=1 v=f:1 42d")
T(measurement_with_equals, "c=pu v=1", "1: c=pu v=f:1 42d")
T(quote_in_names_literal, "\"m\",\"host\"=\"serverA\" \"f\"=1", "1: \"m\",\"host\"=\"serverA\" \"f\"=f:1 42d")

/* ---- escapes, by position ---- */
T(esc_meas_comma_space, "c\\,p\\ u v=1", "1: c,p u v=f:1 42d")
T(esc_meas_equals_kept, "c\\=pu v=1", "1: c\\=pu v=f:1 42d")
T(esc_meas_other_kept, "c\\tpu v=1", "1: c\\tpu v=f:1 42d")
T(esc_tag_key_all, "m,a\\,b\\=c\\ d=v v=1", "1: m,a,b=c d=v v=f:1 42d")
T(esc_tag_val_all, "m,k=a\\,b\\=c\\ d v=1", "1: m,k=a,b=c d v=f:1 42d")
T(esc_tag_backslash_space, "m,k=a\\\\ b v=1", "1: m,k=a\\ b v=f:1 42d")
T(esc_tag_double_backslash_kept, "m,k=a\\\\b v=1", "1: m,k=a\\\\b v=f:1 42d")
T(esc_tag_quote_kept, "m,k=a\\\"b v=1", "1: m,k=a\\\"b v=f:1 42d")
E(esc_tag_trailing_backslash, "m,k=ab\\ v=1", "invalid tag format")
E(esc_tag_trailing_backslash_end, "m,k=ab\\", "missing fields")
T(esc_field_key, "m a\\,b\\=c\\ d=1", "1: m a,b=c d=f:1 42d")
T(esc_string_quote_backslash, "m s=\"a\\\"b\\\\c\"", "1: m s=s:\"a\"b\\c\" 42d")
T(esc_string_n_kept, "m s=\"a\\nb\\tc\\,\"", "1: m s=s:\"a\\nb\\tc\\,\" 42d")
T(string_with_comma_space_equals, "m s=\"a, b=c d\",x=1", "1: m s=s:\"a, b=c d\",x=f:1 42d")
T(string_raw_newline, "m s=\"a\nb\" 5\nn v=1", "1: m s=s:\"a\nb\" 5\n3: n v=f:1 42d")
T(string_empty, "m s=\"\"", "1: m s=s:\"\" 42d")
T(string_escaped_backslash_then_quote, "m s=\"a\\\\\",t=1", "1: m s=s:\"a\\\",t=f:1 42d")
E(err_backslash_in_number, "m v=1\\0", "invalid number")
E(err_backslash_in_ts, "a v=1 0\\", "bad timestamp")

/* ---- floats ---- */
T(float_forms, "m a=1,b=1.0,c=-1.5e-3,d=.5,e=1.,f=1E4,g=01.50,h=-0",
  "1: m a=f:1,b=f:1,c=f:-0.0015,d=f:0.5,e=f:1,f=f:10000,g=f:1.5,h=f:-0 42d")
T(float_1e308, "m v=1e308", "1: m v=f:1e+308 42d")
E(err_float_1e309, "m v=1e309", "invalid number")
E(err_nan, "m v=NaN", "invalid number")
E(err_nan_lower, "m v=nan", "invalid number")
E(err_inf, "m v=Inf", "invalid boolean")
E(err_neg_inf, "m v=-Inf", "invalid number")
E(err_plus, "m v=+1", "invalid boolean")
E(err_hex, "m v=0x10", "invalid number")
E(err_underscore, "m v=1_000", "invalid number")
E(err_two_dots, "m v=1.2.3", "invalid number")
E(err_dot_only, "m v=.", "invalid number")
E(err_minus_only, "m v=-", "invalid number")
E(err_exp_no_digits, "m v=1e", "invalid number")

TEST(float_exact_bits)
{
    /* The parsed double must be the correctly rounded one (same as strtod). */
    static const char *const v[] = {
        "58.2930114357", "0.1", "0.3", "2.675", "1.7976931348623157e308", "4.9e-324",
        "9007199254740993", "123456789012345678901234567890", "0.000001", "99.99", "3.14159265358979323846",
        "1.00000000000000011102230246251565404236316680908203125", "12345678901234567890.5",
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) {
        char in[256];
        snprintf(in, sizeof in, "m v=%s", v[k]);
        double got = NAN;
        struct cap { double *d; } c = { &got };
        lp_opts o = def_opts();
        int rc = lp_parse_buffer(&o, in, strlen(in), NULL, NULL, NULL, NULL);
        CHECK_EQ_INT(rc, 0);
        /* via the dump callback path */
        st_arena a;
        st_arena_init(&a, 0);
        lp_batch b;
        lp_batch_init(&b, &a, 4);
        rc = lp_parse_buffer(&o, in, strlen(in), lp_batch_on_line, lp_batch_on_error, &b, NULL);
        CHECK_EQ_INT(rc, 0);
        REQUIRE(b.count == 1 && b.lines[0].field_count == 1);
        *c.d = b.lines[0].fields[0].value.v.f;
        double want = strtod(v[k], NULL);
        if (memcmp(&got, &want, sizeof got) != 0) UNIT__FAIL("%s: %.17g != %.17g", v[k], got, want);
        st_arena_fini(&a);
    }
}

/* Digits eight at a time: runs of 7, 8, 9, 16, 17 digits on either side of the point. */
T(float_digit_runs, "m a=12345678,b=1234567.8,c=12345678.12345678,d=0.1234567890123456,e=123456789.1234567,f=-87654321i,g=1234567812345678u 1234567812345678",
  "1: m a=f:12345678,b=f:1234567.8,c=f:12345678.12345678,d=f:0.1234567890123456,e=f:123456789.1234567,f=i:-87654321,g=u:1234567812345678 1234567812345678")
T(ts_digit_runs, "a v=1 12345678\nb v=1 123456789012345678\nc v=1 -9223372036854775806",
  "1: a v=f:1 12345678\n2: b v=f:1 123456789012345678\n3: c v=f:1 -9223372036854775806")
E(err_ts_digits_over, "m v=1 12345678123456781234", "time outside range -9223372036854775806 - 9223372036854775806")
E(err_ts_digit_then_junk, "m v=1 1234567x", "bad timestamp")

/* ---- integers ---- */
T(int_limits, "m a=9223372036854775807i,b=-9223372036854775808i,c=0i,d=-0i,e=007i",
  "1: m a=i:9223372036854775807,b=i:-9223372036854775808,c=i:0,d=i:0,e=i:7 42d")
E(err_int_over, "m v=9223372036854775808i", "invalid number")
E(err_int_under, "m v=-9223372036854775809i", "invalid number")
E(err_int_float_syntax, "m v=1.0i", "invalid number")
E(err_int_exp, "m v=9e10i", "invalid number")
E(err_int_ii, "m v=1ii", "invalid number")
E(err_int_double_minus, "m v=--1i", "invalid number")
E(err_int_empty, "m v=-i", "invalid number")
T(uint_limits, "m a=18446744073709551615u,b=0u,c=9223372036854775808u",
  "1: m a=u:18446744073709551615,b=u:0,c=u:9223372036854775808 42d")
E(err_uint_over, "m v=18446744073709551616u", "invalid number")
E(err_uint_negative, "m v=-1u", "invalid number")
E(err_uint_neg_zero, "m v=-0u", "invalid number")
E(err_uint_float, "m v=1.5u", "invalid number")

/* ---- booleans ---- */
T(bool_all, "m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE",
  "1: m a=b:1,b=b:1,c=b:1,d=b:1,e=b:1,f=b:0,g=b:0,h=b:0,i=b:0,j=b:0 42d")
E(err_bool_case, "m v=tRUE", "invalid boolean")
E(err_bool_truE, "m v=truE", "invalid boolean")
E(err_bool_T1, "m v=T1", "invalid boolean")
E(err_bool_word, "m v=yes", "invalid boolean")

/* ---- structure errors ---- */
E(err_missing_fields_meas_only, "cpu", "missing fields")
E(err_missing_fields_space, "cpu ", "missing fields")
E(err_missing_fields_tags_only, "cpu,a=b", "missing fields")
E(err_missing_fields_tags_space, "cpu,a=b   ", "missing fields")
E(err_missing_measurement, ",a=b v=1", "missing measurement")
E(err_missing_tag_key_empty, "cpu,=b v=1", "missing tag key")
E(err_missing_tag_key_comma, "cpu,,a=b v=1", "missing tag key")
E(err_missing_tag_key_space, "cpu, v=1", "missing tag key")
E(err_missing_tag_key_end, "cpu,", "missing tag key")
E(err_missing_tag_value_noeq, "cpu,a v=1", "missing tag value")
E(err_missing_tag_value_empty, "cpu,a= v=1", "missing tag value")
E(err_missing_tag_value_comma, "cpu,a=,b=c v=1", "missing tag value")
E(err_invalid_tag_format, "cpu,a=b=c v=1", "invalid tag format")
E(err_missing_field_key, "cpu =1", "missing field key")
E(err_missing_field_key_2nd, "cpu a=1,=2", "missing field key")
E(err_missing_field_value_end, "cpu a=", "missing field value")
E(err_missing_field_value_comma, "cpu a=,b=1", "missing field value")
E(err_missing_field_value_space, "cpu a= 1", "missing field value")
E(err_invalid_field_format_noeq, "cpu a", "invalid field format")
E(err_invalid_field_format_trailing_comma, "cpu a=1,", "invalid field format")
E(err_invalid_field_format_key_only, "cpu a=1,b", "invalid field format")
E(err_invalid_field_format_after_string, "cpu a=\"x\"y", "invalid field format")
E(err_unbalanced_quotes, "cpu a=\"x", "unbalanced quotes")
E(err_unbalanced_quotes_escaped, "cpu a=\"x\\\"", "unbalanced quotes")
E(err_tab_separator, "cpu\tvalue=1", "missing fields")
E(err_tab_before_ts, "cpu v=1\t5", "invalid number")
E(err_bad_timestamp_alpha, "cpu v=1 12a", "bad timestamp")
E(err_bad_timestamp_float, "cpu v=1 1.5", "bad timestamp")
E(err_bad_timestamp_plus, "cpu v=1 +5", "bad timestamp")
E(err_bad_timestamp_minus_only, "cpu v=1 -", "bad timestamp")
E(err_trailing_garbage, "cpu v=1 5 x", "point is invalid")
E(err_second_field_set, "cpu a=1 b=2", "bad timestamp")
E(err_duplicate_tags, "cpu,a=1,a=2 v=1", "duplicate tags")
E(err_duplicate_tags_unsorted, "cpu,b=1,a=1,b=2 v=1", "duplicate tags")
E(err_duplicate_tags_escaped_same, "cpu,a\\ b=1,a\\ b=2 v=1", "duplicate tags")
E(err_tag_key_time, "cpu,time=1 v=1", "invalid tag key: input tag \"time\" on measurement \"cpu\" is invalid")
E(err_field_time_only, "cpu time=1", "invalid field name: input field \"time\" on measurement \"cpu\" is invalid")
E(err_ts_sentinel_max, "cpu v=1 9223372036854775807",
  "time outside range -9223372036854775806 - 9223372036854775806")
E(err_ts_sentinel_min, "cpu v=1 -9223372036854775808",
  "time outside range -9223372036854775806 - 9223372036854775806")
E(err_ts_sentinel_min1, "cpu v=1 -9223372036854775807",
  "time outside range -9223372036854775806 - 9223372036854775806")
E(err_ts_too_many_digits, "cpu v=1 99999999999999999999999",
  "time outside range -9223372036854775806 - 9223372036854775806")
T(ts_limits_ok, "a v=1 9223372036854775806\na v=1 -9223372036854775806",
  "1: a v=f:1 9223372036854775806\n2: a v=f:1 -9223372036854775806")

/* ---- semantics ---- */
T(dup_field_last_wins, "m a=1,b=2,a=3i", "1: m b=f:2,a=i:3 42d")
T(dup_field_many, "m a=1,a=2,a=3,b=4,a=\"x\"", "1: m b=f:4,a=s:\"x\" 42d")
T(field_time_stripped, "m time=1,v=2", "1: m v=f:2 42d")
T(errors_do_not_stop, "a v=1\nbad\nc v=3", "1: a v=f:1 42d\n2! unable to parse 'bad': missing fields\n3: c v=f:3 42d")

TEST(many_fields_and_tags)
{
    /* 100 tags in reverse order and 100 fields with a duplicate: sort and dedup paths. */
    st_buf in, want;
    st_buf_init(&in);
    st_buf_init(&want);
    st_buf_append_str(&in, "m");
    st_buf_append_str(&want, "1: m");
    for (int k = 99; k >= 0; k--) st_buf_printf(&in, ",t%03d=v%d", k, k);
    for (int k = 0; k < 100; k++) st_buf_printf(&want, ",t%03d=v%d", k, k);
    for (int k = 0; k < 100; k++) st_buf_printf(&in, "%cf%d=%di", k ? ',' : ' ', k, k);
    st_buf_append_str(&in, ",f0=-1i 9");
    for (int k = 1; k < 100; k++) st_buf_printf(&want, "%cf%d=i:%d", k > 1 ? ',' : ' ', k, k);
    st_buf_append_str(&want, ",f0=i:-1 9");
    CHECK_EQ_STR(P(in.ptr), want.ptr);
    st_buf_fini(&in);
    st_buf_fini(&want);
}

TEST(max_key_length)
{
    size_t n = 65536;
    char *in = malloc(n + 32);
    memset(in, 'a', n);
    strcpy(in + n, " v=1");
    const char *got = P(in);
    CHECK(strstr(got, "': max key length exceeded: 65536 > 65535") != NULL);
    CHECK(strstr(got, "1! unable to parse 'aaaa") == got);
    CHECK(strstr(got, "aaa...'") != NULL);
    in[1] = ',';
    in[2] = 'k';
    in[3] = '=';
    in[n - 1] = 0;
    strcat(in, " v=1");
    got = P(in);
    CHECK(strncmp(got, "1: a,k=", 7) == 0);
    free(in);
}

TEST(string_limit)
{
    size_t n = LP_MAX_STRING_BYTES;
    char *in = malloc(n + 64);
    memcpy(in, "m s=\"", 5);
    memset(in + 5, 'x', n);
    strcpy(in + 5 + n, "\"");
    const char *got = P(in);
    CHECK(strncmp(got, "1: m s=s:\"xxx", 13) == 0);
    CHECK_EQ_INT(strlen(got), 10 + n + 5);
    memset(in + 5, 'x', n + 1);
    strcpy(in + 6 + n, "\"");
    got = P(in);
    CHECK(strstr(got, "': input field \"s\" on measurement \"m\" is too long, 1048577 > 1048576") != NULL);
    free(in);
}

TEST(error_message_truncated)
{
    char in[600];
    memset(in, 'x', 500);
    strcpy(in + 500, " v=zz");
    const char *got = P(in);
    char want[400];
    snprintf(want, sizeof want, "1! unable to parse '%.256s...': invalid boolean", in);
    CHECK_EQ_STR(got, want);
}

TEST(line_too_long)
{
    lp_opts o = def_opts();
    o.max_line_bytes = 10;
    CHECK_EQ_STR(PO(&o, "a v=1 1234\nab v=1 1234\n"), "1: a v=f:1 1234\n2! unable to parse 'ab v=1 1234': line too long");
    CHECK_EQ_STR(PO(&o, "a v=1 1234\r\n"), "1: a v=f:1 1234");
    /* comments and blank lines are never "too long" */
    CHECK_EQ_STR(PO(&o, "# a long comment line here\n                    \na v=1"), "3: a v=f:1 42d");
}

/* ---- quality ---- */
T(quality_int, "m v=1,quality=192i", "1: m v=f:1 42d q=0xc0")
T(quality_uint_max, "m v=1,quality=4294967295u", "1: m v=f:1 42d q=0xffffffff")
T(quality_over_stays_field, "m v=1,quality=4294967296i", "1: m v=f:1,quality=i:4294967296 42d")
T(quality_negative_stays_field, "m v=1,quality=-1i", "1: m v=f:1,quality=i:-1 42d")
T(quality_float_integer, "m quality=2147483648,v=1", "1: m v=f:1 42d q=0x80000000")
T(quality_float_fraction_stays, "m v=1,quality=1.5", "1: m v=f:1,quality=f:1.5 42d")
T(quality_string_ok, "m v=1,quality=\"OK (0x0)\"", "1: m v=f:1 42d q=0x0")
T(quality_string_bad, "m v=1,quality=\"BadNodeIdUnknown (0x80340000)\"", "1: m v=f:1 42d q=0x80340000")
T(quality_string_upper_hex, "m v=1,quality=\"x(0X4090ABCD)\"", "1: m v=f:1 42d q=0x4090abcd")
T(quality_string_9_digits_stays, "m v=1,quality=\"(0x123456789)\"", "1: m v=f:1,quality=s:\"(0x123456789)\" 42d")
T(quality_string_plain_stays, "m v=1,quality=\"good\"", "1: m v=f:1,quality=s:\"good\" 42d")
T(quality_bool_stays, "m v=1,quality=t", "1: m v=f:1,quality=b:1 42d")
E(err_quality_only_field, "m quality=0i", "missing fields")
T(quality_dup_last_wins, "m v=1,quality=1i,quality=2i", "1: m v=f:1 42d q=0x2")

TEST(quality_field_off)
{
    lp_opts o = def_opts();
    o.quality_field = (st_slice){ NULL, 0 };
    CHECK_EQ_STR(PO(&o, "m v=1,quality=192i"), "1: m v=f:1,quality=i:192 42d");
    o.quality_field = ST_SLICE_LIT("status");
    CHECK_EQ_STR(PO(&o, "m v=1,status=\"Good (0x00000000)\""), "1: m v=f:1 42d q=0x0");
}

/* ---- precision ---- */
TEST(precision_parse)
{
    lp_precision p = LP_PRECISION_H;
    CHECK(lp_precision_parse_v1("", 0, &p) == 0 && p == LP_PRECISION_NS);
    CHECK(lp_precision_parse_v1("n", 1, &p) == 0 && p == LP_PRECISION_NS);
    CHECK(lp_precision_parse_v1("ns", 2, &p) == 0 && p == LP_PRECISION_NS);
    CHECK(lp_precision_parse_v1("u", 1, &p) == 0 && p == LP_PRECISION_US);
    CHECK(lp_precision_parse_v1("ms", 2, &p) == 0 && p == LP_PRECISION_MS);
    CHECK(lp_precision_parse_v1("s", 1, &p) == 0 && p == LP_PRECISION_S);
    CHECK(lp_precision_parse_v1("m", 1, &p) == 0 && p == LP_PRECISION_M);
    CHECK(lp_precision_parse_v1("h", 1, &p) == 0 && p == LP_PRECISION_H);
    p = LP_PRECISION_H;
    CHECK_EQ_INT(lp_precision_parse_v1("us", 2, &p), ST_EINVAL);
    CHECK_EQ_INT(lp_precision_parse_v1("x", 1, &p), ST_EINVAL);
    CHECK_EQ_INT(lp_precision_parse_v1("nss", 2 + 1, &p), ST_EINVAL);
    CHECK(p == LP_PRECISION_H);
    CHECK(lp_precision_parse_v2("ns", 2, &p) == 0 && p == LP_PRECISION_NS);
    CHECK(lp_precision_parse_v2("us", 2, &p) == 0 && p == LP_PRECISION_US);
    CHECK(lp_precision_parse_v2("ms", 2, &p) == 0 && p == LP_PRECISION_MS);
    CHECK(lp_precision_parse_v2("s", 1, &p) == 0 && p == LP_PRECISION_S);
    CHECK_EQ_INT(lp_precision_parse_v2("u", 1, &p), ST_EINVAL);
    CHECK_EQ_INT(lp_precision_parse_v2("n", 1, &p), ST_EINVAL);
    CHECK_EQ_INT(lp_precision_parse_v2("m", 1, &p), ST_EINVAL);
    CHECK_EQ_INT(lp_precision_parse_v2("h", 1, &p), ST_EINVAL);
    CHECK_EQ_INT(lp_precision_ns(LP_PRECISION_H), INT64_C(3600000000000));
}

TEST(precision_multiply)
{
    CHECK_EQ_STR(PP(LP_PRECISION_US, "c v=1 946730096789012"), "1: c v=f:1 946730096789012000");
    CHECK_EQ_STR(PP(LP_PRECISION_MS, "c v=1 946730096789"), "1: c v=f:1 946730096789000000");
    CHECK_EQ_STR(PP(LP_PRECISION_S, "c v=1 946730096"), "1: c v=f:1 946730096000000000");
    CHECK_EQ_STR(PP(LP_PRECISION_M, "c v=1 15778834"), "1: c v=f:1 946730040000000000");
    CHECK_EQ_STR(PP(LP_PRECISION_H, "c v=1 262980"), "1: c v=f:1 946728000000000000");
    CHECK_EQ_STR(PP(LP_PRECISION_S, "c v=1 -5"), "1: c v=f:1 -5000000000");
    /* overflow of ts * multiplier */
    CHECK_EQ_STR(PP(LP_PRECISION_S, "c v=1 9223372037"),
                 "1! unable to parse 'c v=1 9223372037': time outside range -9223372036854775806 - 9223372036854775806");
    CHECK_EQ_STR(PP(LP_PRECISION_S, "c v=1 9223372036"), "1: c v=f:1 9223372036000000000");
    CHECK_EQ_STR(PP(LP_PRECISION_H, "c v=1 -2562048"),
                 "1! unable to parse 'c v=1 -2562048': time outside range -9223372036854775806 - 9223372036854775806");
    CHECK_EQ_STR(PP(LP_PRECISION_H, "c v=1 -2562047"), "1: c v=f:1 -9223369200000000000");
    /* the default is not multiplied */
    CHECK_EQ_STR(PP(LP_PRECISION_S, "c v=1"), "1: c v=f:1 42d");
}

/* ---- streaming ---- */
static const char *const tricky[] = {
    "cpu,host=a\\ b,r=x value=1.5,s=\"q\\\"uo\nted\\\\\" 100\r\nmem v=2i 200\n",
    "# c \"x\n\na,k=v\\,w f=\"line1\nline2\r\nline3\",g=t\r\nb v=1u\r\n\r\n",
    "m s=\"unbalanced\nx v=1\ny v=2\n",
    "m v=1 1\r\n m\\  v=\"\\\\\",w=\"\\\"\" 2\r\n\tm,z=1,a=2 v=-1e3\rbad line\nlast v=3",
    "a\\\nb v=1\nc v=\"x\\\ny\"\n#\"\nd v=1",
    "q v=1,quality=\"OK (0x0)\" 5\nq v=1,quality=7i\nbad=\"\n\n\nz v=1",
    "m a=1,b=\"\",c=\"\\\"\",d=\"\n\" 9\r",
};

static char *split_dump(const lp_opts *o, const char *in, size_t n, const size_t *cuts, size_t ncuts)
{
    st_buf b;
    st_buf_init(&b);
    st_buf_append(&b, "", 0);
    lp_parser *p = NULL;
    if (lp_parser_create(o, dump_line, dump_error, &b, &p)) return NULL;
    size_t at = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t to = k < ncuts ? cuts[k] : n;
        int rc = lp_parser_feed(p, in + at, to - at);
        if (rc) st_buf_printf(&b, "rc=%d\n", rc);
        at = to;
    }
    int rc = lp_parser_finish(p);
    if (rc) st_buf_printf(&b, "rc=%d\n", rc);
    lp_stats s;
    lp_parser_stats(p, &s);
    st_buf_printf(&b, "stats %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, s.lines, s.bad_lines, s.fields, s.bytes);
    lp_parser_destroy(p);
    return st_buf_take(&b);
}

static void check_splits(const lp_opts *o)
{
    for (size_t t = 0; t < sizeof tricky / sizeof tricky[0]; t++) {
        const char *in = tricky[t];
        size_t n = strlen(in);
        char *whole = split_dump(o, in, n, NULL, 0);
        REQUIRE(whole != NULL);
        for (size_t a = 0; a <= n; a++) {
            char *got = split_dump(o, in, n, &a, 1);
            if (strcmp(got, whole) != 0) UNIT__FAIL("case %zu split %zu:\n%s\n--- vs whole ---\n%s", t, a, got, whole);
            st_free(got);
            for (size_t c = a; c <= n; c += 3) {
                size_t cuts[2] = { a, c };
                got = split_dump(o, in, n, cuts, 2);
                if (strcmp(got, whole) != 0) UNIT__FAIL("case %zu split %zu,%zu", t, a, c);
                st_free(got);
            }
        }
        /* byte by byte */
        size_t *cuts = malloc(n * sizeof(size_t));
        for (size_t k = 0; k < n; k++) cuts[k] = k;
        char *got = split_dump(o, in, n, cuts, n);
        if (strcmp(got, whole) != 0) UNIT__FAIL("case %zu byte by byte:\n%s\n--- vs ---\n%s", t, got, whole);
        st_free(got);
        free(cuts);
        st_free(whole);
    }
}

TEST(stream_split_every_byte)
{
    lp_opts o = def_opts();
    check_splits(&o);
}

TEST(stream_split_every_byte_small_limit)
{
    lp_opts o = def_opts();
    for (size_t m = 1; m < 40; m += 3) {
        o.max_line_bytes = m;
        check_splits(&o);
    }
}

TEST(stream_expected_content)
{
    lp_opts o = def_opts();
    const char *in = tricky[0];
    char *got = split_dump(&o, in, strlen(in), NULL, 0);
    CHECK_EQ_STR(got, "1: cpu,host=a b,r=x value=f:1.5,s=s:\"q\"uo\nted\\\" 100\n3: mem v=i:2 200\nstats 2 0 3 62");
    st_free(got);
    in = tricky[1];
    got = split_dump(&o, in, strlen(in), NULL, 0);
    CHECK_EQ_STR(got, "3: a,k=v,w f=s:\"line1\nline2\r\nline3\",g=b:1 42d\n6: b v=u:1 42d\nstats 2 0 3 55");
    st_free(got);
    in = tricky[2];
    got = split_dump(&o, in, strlen(in), NULL, 0);
    CHECK_EQ_STR(got, "1! unable to parse 'm s=\"unbalanced\nx v=1\ny v=2\n': unbalanced quotes\nstats 1 1 0 28");
    st_free(got);
}

static const char *chunk_lo, *chunk_hi;
static int in_chunk, out_chunk;

static int where_line(void *ctx, const lp_line *l)
{
    (void)ctx;
    if (l->raw.ptr >= chunk_lo && l->raw.ptr + l->raw.len <= chunk_hi) in_chunk++;
    else out_chunk++;
    return 0;
}

TEST(stream_in_place)
{
    /* Lines wholly inside a chunk point into the chunk; only the straddling one is copied. */
    const char *a = "a v=1\nb v=\"x\ny\"\nc v=", *b = "2\nd v=3\n";
    lp_parser *p;
    REQUIRE(lp_parser_create(NULL, where_line, NULL, NULL, &p) == 0);
    in_chunk = out_chunk = 0;
    chunk_lo = a;
    chunk_hi = a + strlen(a);
    CHECK_EQ_INT(lp_parser_feed(p, a, strlen(a)), 0);
    CHECK_EQ_INT(in_chunk, 2);
    CHECK_EQ_INT(out_chunk, 0);
    chunk_lo = b;
    chunk_hi = b + strlen(b);
    CHECK_EQ_INT(lp_parser_feed(p, b, strlen(b)), 0);
    CHECK_EQ_INT(lp_parser_finish(p), 0);
    CHECK_EQ_INT(in_chunk, 3);
    CHECK_EQ_INT(out_chunk, 1);
    lp_parser_destroy(p);
}

static int key_line(void *ctx, const lp_line *l)
{
    st_buf *b = ctx;
    st_buf_append(b, l->key.ptr, l->key.len);
    st_buf_append_byte(b, '|');
    return 0;
}

TEST(series_key_as_written)
{
    /* The key: first non-blank byte to the space before the fields, escapes kept. */
    const char *in = "m v=1\n \tcpu,b=2,a=1 v=1 5\nm\\ x,t=a\\,b\\ c  v=\"s p\" 6\r\nm,t=\"q\" v=1\n";
    st_buf b;
    st_buf_init(&b);
    lp_opts o;
    memset(&o, 0, sizeof o);
    CHECK_EQ_INT(lp_parse_buffer(&o, in, strlen(in), key_line, NULL, &b, NULL), 0);
    st_buf_append_byte(&b, 0);
    CHECK_EQ_STR(b.ptr, "m|cpu,b=2,a=1|m\\ x,t=a\\,b\\ c|m,t=\"q\"|");
    st_buf_fini(&b);
}

/* One line through the scanner, whole and byte by byte: its kind and inner LFs. */
static int scan_one(const char *line, int bytewise, uint64_t *lfs)
{
    size_t n = strlen(line);
    lp_scan sc = { 0 };
    const char *lf = NULL;
    if (!bytewise) lf = lp_scan_line(&sc, line, line + n);
    for (size_t i = 0; bytewise && !lf && i < n; i++) lf = lp_scan_line(&sc, line + i, line + i + 1);
    size_t len = lf ? (size_t)(lf - line) : n;
    *lfs = sc.inner_lfs;
    return lp_scan_kind(&sc, line, len);
}

TEST(scanner_kinds)
{
    static const struct { const char *line; int kind; uint64_t lfs; } cases[] = {
        { "\n", LP_SCAN_BLANK, 0 },
        { "  \t\r\n", LP_SCAN_BLANK, 0 },
        { "\r\n", LP_SCAN_BLANK, 0 },
        { " # m v=1 1\n", LP_SCAN_BLANK, 0 },
        { "m v=1 1\n", LP_SCAN_TS, 0 },
        { "m v=1 1\r\n", LP_SCAN_TS, 0 },
        { "m,t=a\\ b v=1,w=2 1\n", LP_SCAN_TS, 0 },
        { "m v=1\n", LP_SCAN_NO_TS, 0 },
        { "m v=1   \r\n", LP_SCAN_NO_TS, 0 },
        { "m v=1", LP_SCAN_NO_TS, 0 },                  /* last line, no LF */
        { "m v=\"a\nb\\\"\nc\" 5\n", LP_SCAN_TS, 2 },   /* LFs inside a string */
        { "m v=\"a\nb\",w=1\n", LP_SCAN_NO_TS, 1 },
        { "m s=\"x y\" \n", LP_SCAN_NO_TS, 0 },
        { "m\n", LP_SCAN_OTHER, 0 },
        { "m \n", LP_SCAN_OTHER, 0 },
        { "m v\n", LP_SCAN_OTHER, 0 },
        { "m v=\"open\n", LP_SCAN_OTHER, 1 },           /* unbalanced: runs to the end */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            uint64_t lfs;
            int kind = scan_one(cases[i].line, bytewise, &lfs);
            if (kind != cases[i].kind || lfs != cases[i].lfs)
                UNIT__FAIL("case %zu%s: kind %d lfs %llu", i, bytewise ? " (byte by byte)" : "", kind,
                           (unsigned long long)lfs);
        }
}

/* Repeated keys come from the key cache: every line must read as it did the
 * first time, through evictions (more keys than slots) and the buffer
 * reset (more key bytes than it keeps); key_hash is the key's hash or 0. */
static int key_hash_line(void *ctx, const lp_line *l)
{
    int *bad = ctx;
    if (l->key_hash && l->key_hash != lp_key_hash(l->key.ptr, l->key.len)) (*bad)++;
    return dump_line(&out_buf, l);
}

static int key_hash_error(void *ctx, uint64_t lineno, st_slice msg)
{
    (void)ctx;
    return dump_error(&out_buf, lineno, msg);
}

TEST(key_cache_repeats)
{
    static const char *const keys[] = { "m", "cpu,host=a", "cpu,z=1,a=2,m=3", "m\\ x,t=1", "m,t=a\\,b",
                                        "cpu,time=1", "cpu,a=1,a=2", "m,=x", "cpu,host=a,zone=" };
    st_buf in;
    st_buf_init(&in);
    for (int pass = 0; pass < 3; pass++)
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) st_buf_printf(&in, "%s v=%zu %d\n", keys[k], k, pass);
    /* 5000 keys of ~150 bytes: past the slots and past the bytes kept */
    for (int pass = 0; pass < 2; pass++)
        for (int k = 0; k < 5000; k++)
            st_buf_printf(&in, "cpu,host=h%d,pad=%0120d,z=%d v=%d %d\n", k, k, k % 7, k, pass);
    int bad = 0;
    st_buf_fini(&out_buf);
    st_buf_init(&out_buf);
    lp_opts o = def_opts();
    REQUIRE(lp_parse_buffer(&o, in.ptr, in.len, key_hash_line, key_hash_error, &bad, NULL) == 0);
    CHECK_EQ_INT(bad, 0);
    /* Line n of a pass reads as line n of the first pass, but for lineno, value and time. */
    size_t nk = sizeof keys / sizeof keys[0];
    char *lines[3 * 9 + 10000];
    size_t nl = 0;
    for (char *t = strtok(out_buf.ptr, "\n"); t && nl < sizeof lines / sizeof lines[0]; t = strtok(NULL, "\n")) lines[nl++] = t;
    REQUIRE(nl == 3 * nk + 10000);
    for (size_t k = 0; k < nk; k++)
        for (int pass = 1; pass < 3; pass++) {
            const char *a = strchr(lines[k], ' '), *b = strchr(lines[pass * nk + k], ' ');
            REQUIRE(a && b);
            if (strstr(a, "': ") && strstr(b, "': ")) { /* errors: the same reason */
                a = strstr(a, "': ");
                b = strstr(b, "': ");
            }
            size_t la = strlen(a), lb = strlen(b);
            /* strip the trailing " <time>" (the value is the same k) */
            while (la && a[la - 1] != ' ') la--;
            while (lb && b[lb - 1] != ' ') lb--;
            CHECK_EQ_MEM(a, la, b, lb);
        }
    for (int k = 0; k < 5000; k++) {
        const char *a = strchr(lines[3 * nk + k], ' '), *b = strchr(lines[3 * nk + 5000 + k], ' ');
        REQUIRE(a && b);
        CHECK_EQ_MEM(a, strlen(a) - 1, b, strlen(b) - 1);
    }
    st_buf_fini(&in);
}

static int stop_at_2(void *ctx, const lp_line *l)
{
    int *n = ctx;
    (*n)++;
    return l->lineno == 2 ? 1234 : 0;
}

TEST(callback_stops_parser)
{
    int n = 0;
    lp_parser *p;
    REQUIRE(lp_parser_create(NULL, stop_at_2, NULL, &n, &p) == 0);
    CHECK_EQ_INT(lp_parser_feed(p, "a v=1\nb v=2\nc v=3\n", 18), 1234);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(lp_parser_feed(p, "d v=4\n", 6), 1234);
    CHECK_EQ_INT(lp_parser_finish(p), 1234);
    CHECK_EQ_INT(n, 2);
    lp_parser_destroy(p);
    lp_parser_destroy(NULL);
}

TEST(stats_counts)
{
    lp_stats s;
    lp_opts o = def_opts();
    const char *in = "# c\n\na v=1,w=2\nbad\nb x=1i\n";
    CHECK_EQ_INT(lp_parse_buffer(&o, in, strlen(in), NULL, NULL, NULL, &s), 0);
    CHECK_EQ_U64(s.lines, 3);
    CHECK_EQ_U64(s.bad_lines, 1);
    CHECK_EQ_U64(s.fields, 3);
    CHECK_EQ_U64(s.bytes, strlen(in));
}

TEST(finish_then_feed_again)
{
    st_buf b;
    st_buf_init(&b);
    lp_parser *p;
    REQUIRE(lp_parser_create(NULL, dump_line, dump_error, &b, &p) == 0);
    CHECK_EQ_INT(lp_parser_feed(p, "a v=1", 5), 0);
    CHECK_EQ_INT(lp_parser_finish(p), 0);
    CHECK_EQ_INT(lp_parser_feed(p, "b v=2", 5), 0);
    CHECK_EQ_INT(lp_parser_finish(p), 0);
    CHECK_EQ_STR(b.ptr, "1: a v=f:1 0d\n2: b v=f:2 0d\n");
    lp_parser_destroy(p);
    st_buf_fini(&b);
}

/* ---- lp_batch ---- */
TEST(batch_contents_and_ownership)
{
    st_arena a;
    st_arena_init(&a, 1024);
    lp_batch b;
    lp_batch_init(&b, &a, 2);
    lp_opts o = def_opts();
    char *in = st_strdup("cpu,z=1,a\\ b=x v=1.5,s=\"a\\\"b\",quality=3i 10\nbad1\nm2 i=-4i,u=5u,b=F\nbad2\nbad3\n");
    /* 200 more lines so the line array grows several times */
    st_buf more;
    st_buf_init(&more);
    for (int k = 0; k < 200; k++) st_buf_printf(&more, "m%d,t=%d v=%di %d\n", k, k, k, k);
    lp_parser *p;
    REQUIRE(lp_parser_create(&o, lp_batch_on_line, lp_batch_on_error, &b, &p) == 0);
    CHECK_EQ_INT(lp_parser_feed(p, in, strlen(in)), 0);
    CHECK_EQ_INT(lp_parser_feed(p, more.ptr, more.len), 0);
    CHECK_EQ_INT(lp_parser_finish(p), 0);
    lp_parser_destroy(p);
    /* scribble over the input: the batch must not point into it */
    memset(in, '#', strlen(in));
    memset(more.ptr, '#', more.len);
    st_free(in);
    st_buf_fini(&more);

    REQUIRE(b.count == 202);
    CHECK_EQ_U64(b.value_count, 2 + 3 + 200);
    CHECK_EQ_INT(b.error_count, 3);
    CHECK_EQ_U64(b.errors[0].lineno, 2);
    CHECK_EQ_MEM(b.errors[0].msg.ptr, b.errors[0].msg.len, "unable to parse 'bad1': missing fields", 38);
    CHECK_EQ_U64(b.errors[1].lineno, 4);
    const lp_line *l = &b.lines[0];
    CHECK_EQ_MEM(l->measurement.ptr, l->measurement.len, "cpu", 3);
    REQUIRE(l->tag_count == 2);
    CHECK_EQ_MEM(l->tags[0].key.ptr, l->tags[0].key.len, "a b", 3);
    CHECK_EQ_MEM(l->tags[1].key.ptr, l->tags[1].key.len, "z", 1);
    REQUIRE(l->field_count == 2);
    CHECK(l->fields[0].value.type == ST_TYPE_FLOAT && l->fields[0].value.v.f == 1.5);
    CHECK(l->fields[1].value.type == ST_TYPE_STRING);
    CHECK_EQ_MEM(l->fields[1].value.v.s.ptr, l->fields[1].value.v.s.len, "a\"b", 3);
    CHECK(l->has_quality && l->quality == 3);
    CHECK(l->has_ts && l->ts_ns == 10);
    CHECK(l->raw.len == 0);
    CHECK_EQ_U64(l->lineno, 1);
    l = &b.lines[1];
    CHECK_EQ_U64(l->lineno, 3);
    REQUIRE(l->field_count == 3);
    CHECK(l->fields[0].value.type == ST_TYPE_INT && l->fields[0].value.v.i == -4);
    CHECK(l->fields[1].value.type == ST_TYPE_UINT && l->fields[1].value.v.u == 5);
    CHECK(l->fields[2].value.type == ST_TYPE_BOOL && l->fields[2].value.v.b == 0);
    CHECK(!l->has_ts && l->ts_ns == DEF_TS);
    for (int k = 0; k < 200; k++) {
        l = &b.lines[2 + k];
        char m[16];
        int ml = snprintf(m, sizeof m, "m%d", k);
        CHECK_EQ_MEM(l->measurement.ptr, l->measurement.len, m, (size_t)ml);
        CHECK(l->field_count == 1 && l->fields[0].value.v.i == k && l->ts_ns == k);
        CHECK_EQ_U64(l->lineno, 6 + (uint64_t)k);
    }
    st_arena_fini(&a);
}

TEST(oom_every_allocation)
{
    const char *in = "cpu,b=1,a=2 v=1,s=\"x\\\"y\" 1\nbad\nm,k\\ x=y w=2i\nq v=\"straddles";
    const char *in2 = " chunks\"\n";
    int64_t live0 = st_alloc_live();
    int ok = 0;
    for (int64_t n = 0; n < 1000 && !ok; n++) {
        st_alloc_fail_at(n, 0);
        st_arena a;
        st_arena_init(&a, 256);
        lp_batch b;
        lp_batch_init(&b, &a, 4);
        lp_opts o = def_opts();
        lp_parser *p = NULL;
        int rc = lp_parser_create(&o, lp_batch_on_line, lp_batch_on_error, &b, &p);
        if (!rc) rc = lp_parser_feed(p, in, strlen(in));
        if (!rc) rc = lp_parser_feed(p, in2, strlen(in2));
        if (!rc) rc = lp_parser_finish(p);
        if (rc) {
            CHECK_EQ_INT(rc, ST_ENOMEM);
            if (p) CHECK_EQ_INT(lp_parser_feed(p, "x", 1), ST_ENOMEM);
        } else {
            ok = 1;
            CHECK_EQ_INT(b.count, 3);
            CHECK_EQ_INT(b.error_count, 1);
            CHECK_EQ_INT(n > 3, 1);
        }
        lp_parser_destroy(p);
        st_arena_fini(&a);
        CHECK_EQ_INT(st_alloc_live(), live0);
    }
    st_alloc_fail_at(-1, 0);
    CHECK(ok);
}

int main(void)
{
    st_buf_init(&out_buf);
    RUN(basic_float);
    RUN(basic_tags);
    RUN(no_timestamp_default);
    RUN(trailing_spaces_after_ts);
    RUN(trailing_spaces_no_ts);
    RUN(multiple_spaces_between);
    RUN(multi_fields);
    RUN(leading_space_tab_skipped);
    RUN(negative_ts);
    RUN(ts_zero);
    RUN(multi_lines);
    RUN(blank_and_comment_lines_counted);
    RUN(crlf_accepted);
    RUN(crlf_last_line_no_lf);
    RUN(only_one_cr_dropped);
    RUN(cr_alone_blank);
    RUN(hash_in_keys_ok);
    RUN(utf8_passthrough);
    RUN(tab_inside_tag_value_literal);
    RUN(unsorted_tags_sorted);
    RUN(tag_sort_byte_order);
    RUN(measurement_with_equals);
    RUN(quote_in_names_literal);
    RUN(esc_meas_comma_space);
    RUN(esc_meas_equals_kept);
    RUN(esc_meas_other_kept);
    RUN(esc_tag_key_all);
    RUN(esc_tag_val_all);
    RUN(esc_tag_backslash_space);
    RUN(esc_tag_double_backslash_kept);
    RUN(esc_tag_quote_kept);
    RUN(esc_tag_trailing_backslash);
    RUN(esc_tag_trailing_backslash_end);
    RUN(esc_field_key);
    RUN(esc_string_quote_backslash);
    RUN(esc_string_n_kept);
    RUN(string_with_comma_space_equals);
    RUN(string_raw_newline);
    RUN(string_empty);
    RUN(string_escaped_backslash_then_quote);
    RUN(err_backslash_in_number);
    RUN(err_backslash_in_ts);
    RUN(float_forms);
    RUN(float_1e308);
    RUN(err_float_1e309);
    RUN(err_nan);
    RUN(err_nan_lower);
    RUN(err_inf);
    RUN(err_neg_inf);
    RUN(err_plus);
    RUN(err_hex);
    RUN(err_underscore);
    RUN(err_two_dots);
    RUN(err_dot_only);
    RUN(err_minus_only);
    RUN(err_exp_no_digits);
    RUN(float_exact_bits);
    RUN(float_digit_runs);
    RUN(ts_digit_runs);
    RUN(err_ts_digits_over);
    RUN(err_ts_digit_then_junk);
    RUN(int_limits);
    RUN(err_int_over);
    RUN(err_int_under);
    RUN(err_int_float_syntax);
    RUN(err_int_exp);
    RUN(err_int_ii);
    RUN(err_int_double_minus);
    RUN(err_int_empty);
    RUN(uint_limits);
    RUN(err_uint_over);
    RUN(err_uint_negative);
    RUN(err_uint_neg_zero);
    RUN(err_uint_float);
    RUN(bool_all);
    RUN(err_bool_case);
    RUN(err_bool_truE);
    RUN(err_bool_T1);
    RUN(err_bool_word);
    RUN(err_missing_fields_meas_only);
    RUN(err_missing_fields_space);
    RUN(err_missing_fields_tags_only);
    RUN(err_missing_fields_tags_space);
    RUN(err_missing_measurement);
    RUN(err_missing_tag_key_empty);
    RUN(err_missing_tag_key_comma);
    RUN(err_missing_tag_key_space);
    RUN(err_missing_tag_key_end);
    RUN(err_missing_tag_value_noeq);
    RUN(err_missing_tag_value_empty);
    RUN(err_missing_tag_value_comma);
    RUN(err_invalid_tag_format);
    RUN(err_missing_field_key);
    RUN(err_missing_field_key_2nd);
    RUN(err_missing_field_value_end);
    RUN(err_missing_field_value_comma);
    RUN(err_missing_field_value_space);
    RUN(err_invalid_field_format_noeq);
    RUN(err_invalid_field_format_trailing_comma);
    RUN(err_invalid_field_format_key_only);
    RUN(err_invalid_field_format_after_string);
    RUN(err_unbalanced_quotes);
    RUN(err_unbalanced_quotes_escaped);
    RUN(err_tab_separator);
    RUN(err_tab_before_ts);
    RUN(err_bad_timestamp_alpha);
    RUN(err_bad_timestamp_float);
    RUN(err_bad_timestamp_plus);
    RUN(err_bad_timestamp_minus_only);
    RUN(err_trailing_garbage);
    RUN(err_second_field_set);
    RUN(err_duplicate_tags);
    RUN(err_duplicate_tags_unsorted);
    RUN(err_duplicate_tags_escaped_same);
    RUN(err_tag_key_time);
    RUN(err_field_time_only);
    RUN(err_ts_sentinel_max);
    RUN(err_ts_sentinel_min);
    RUN(err_ts_sentinel_min1);
    RUN(err_ts_too_many_digits);
    RUN(ts_limits_ok);
    RUN(dup_field_last_wins);
    RUN(dup_field_many);
    RUN(field_time_stripped);
    RUN(errors_do_not_stop);
    RUN(many_fields_and_tags);
    RUN(max_key_length);
    RUN(string_limit);
    RUN(error_message_truncated);
    RUN(line_too_long);
    RUN(quality_int);
    RUN(quality_uint_max);
    RUN(quality_over_stays_field);
    RUN(quality_negative_stays_field);
    RUN(quality_float_integer);
    RUN(quality_float_fraction_stays);
    RUN(quality_string_ok);
    RUN(quality_string_bad);
    RUN(quality_string_upper_hex);
    RUN(quality_string_9_digits_stays);
    RUN(quality_string_plain_stays);
    RUN(quality_bool_stays);
    RUN(err_quality_only_field);
    RUN(quality_dup_last_wins);
    RUN(quality_field_off);
    RUN(precision_parse);
    RUN(precision_multiply);
    RUN(stream_split_every_byte);
    RUN(stream_split_every_byte_small_limit);
    RUN(stream_expected_content);
    RUN(stream_in_place);
    RUN(callback_stops_parser);
    RUN(series_key_as_written);
    RUN(scanner_kinds);
    RUN(key_cache_repeats);
    RUN(stats_counts);
    RUN(finish_then_feed_again);
    RUN(batch_contents_and_ownership);
    RUN(oom_every_allocation);
    st_buf_fini(&out_buf);
    return unit_done();
}
