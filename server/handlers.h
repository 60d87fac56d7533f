/*
 * server/handlers.h — the HTTP handlers stratad routes to (routes.c).
 * Each lives in server/h_<name>.c. Loop thread.
 */
#ifndef ST_HANDLERS_H
#define ST_HANDLERS_H

#include "common/buf.h"
#include "server/http.h"
#include "server/srv.h"

extern const http_handler h_write_v1, h_write_v2, h_query, h_ping, h_health, h_metrics, h_options,
    h_not_found, h_force_flush, h_force_merge;
extern const http_handler h_export; /* h_export.c: GET /api/strata/v1/export */

static inline srv *req_srv(const http_req *r) { return r->loop->server; }

/* Credentials as InfluxDB clients send them: u/p parameters, Basic,
 * "Token user:pass", "Token <token>", "Bearer <token>". */
typedef struct srv_cred {
    st_buf user, pass, token;
} srv_cred;
void srv_cred_init(srv_cred *c);
void srv_cred_fini(srv_cred *c);
void srv_cred_parse(const http_req *r, srv_cred *c);
/* The one allow hook: 0 allowed, ST_EAUTH refused (msg set). With no users
 * configured everything is allowed. */
int  srv_auth_allow(srv *s, const srv_cred *c, const char *action, st_slice db, const char **msg);
/* Parse and check credentials; answers 401 itself and returns non-zero when refused. */
int  srv_auth_request(http_req *r, const char *action, st_slice db);

#endif
