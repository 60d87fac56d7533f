/*
 * server/auth.c — credential parsing and the one allow hook. Loop thread.
 * Until users exist (the security issue), every request is allowed; the
 * parsing is real so the hook only has to be filled.
 */
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "server/handlers.h"

void srv_cred_init(srv_cred *c) { st_buf_init(&c->user); st_buf_init(&c->pass); st_buf_init(&c->token); }
void srv_cred_fini(srv_cred *c) { st_buf_fini(&c->user); st_buf_fini(&c->pass); st_buf_fini(&c->token); }

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

static void b64_decode(const char *s, size_t n, st_buf *out)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            st_buf_append_byte(out, (char)((acc >> bits) & 0xff));
        }
    }
}

static void split_user_pass(const char *s, size_t n, srv_cred *c)
{
    const char *colon = memchr(s, ':', n);
    if (!colon) { st_buf_append(&c->user, s, n); return; }
    st_buf_append(&c->user, s, (size_t)(colon - s));
    st_buf_append(&c->pass, colon + 1, n - (size_t)(colon - s) - 1);
}

void srv_cred_parse(const http_req *r, srv_cred *c)
{
    if (http_query_param(r->query, "u", &c->user)) {
        http_query_param(r->query, "p", &c->pass);
        return;
    }
    const char *a = r->h_authorization.ptr;
    size_t n = r->h_authorization.len;
    if (!n) return;
    if (n > 6 && strncasecmp(a, "Basic ", 6) == 0) {
        st_buf dec;
        st_buf_init(&dec);
        b64_decode(a + 6, n - 6, &dec);
        if (dec.len) split_user_pass(dec.ptr, dec.len, c);
        st_buf_fini(&dec);
    } else if (n > 6 && strncasecmp(a, "Token ", 6) == 0) {
        /* "Token user:pass" (1.x) or "Token <api token>" (2.x clients). */
        if (memchr(a + 6, ':', n - 6)) split_user_pass(a + 6, n - 6, c);
        else st_buf_append(&c->token, a + 6, n - 6);
    } else if (n > 7 && strncasecmp(a, "Bearer ", 7) == 0) {
        st_buf_append(&c->token, a + 7, n - 7);
    }
}

int srv_auth_allow(srv *s, const srv_cred *c, const char *action, st_slice db, const char **msg)
{
    (void)s; (void)c; (void)action; (void)db;
    *msg = NULL;
    return 0; /* no users configured: open (the server binds loopback by default) */
}

int srv_auth_request(http_req *r, const char *action, st_slice db)
{
    srv_cred c;
    srv_cred_init(&c);
    srv_cred_parse(r, &c);
    const char *msg = NULL;
    int rc = srv_auth_allow(req_srv(r), &c, action, db, &msg);
    srv_cred_fini(&c);
    if (rc) {
        http_respond(r, 401, "application/json", "{\"error\":\"authorization failed\"}", 32,
                     "WWW-Authenticate: Basic realm=\"InfluxDB\"\r\n");
        return rc;
    }
    return 0;
}
