/*
 * server/routes.c — the route table: method + path -> handler. Loop thread.
 */
#include <llhttp.h>
#include <string.h>

#include "server/handlers.h"
#include "server/http.h"

static const struct route {
    const char *path;
    const http_handler *handler;
} routes[] = {
    { "/write", &h_write_v1 },
    { "/api/v2/write", &h_write_v2 },
    { "/query", &h_query },
    { "/ping", &h_ping },
    { "/status", &h_ping },
    { "/health", &h_health },
    { "/metrics", &h_metrics },
    { "/internal/force_flush", &h_force_flush },
    { "/internal/force_merge", &h_force_merge },
    { "/api/strata/v1/export", &h_export },
};

const http_handler *srv_route(const http_req *req)
{
    if (req->method == HTTP_OPTIONS) return &h_options;
    st_slice path = req->path;
    /* Tolerate a trailing slash ("/write/"), as Go's mux does not but clients send. */
    if (path.len > 1 && path.ptr[path.len - 1] == '/') path.len--;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (st_slice_eq_cstr(path, routes[i].path)) return routes[i].handler;
    return &h_not_found;
}
