/*
 * server/h_query.c — /query. Interim: answers 501 until the query engine's
 * handler replaces this file.
 */
#include "server/handlers.h"

static void q_complete(http_req *r)
{
    http_respond_error(r, 501, "the query engine is not built yet");
}
const http_handler h_query = { NULL, NULL, q_complete, NULL };
