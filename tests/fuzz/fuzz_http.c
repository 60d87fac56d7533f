/*
 * tests/fuzz/fuzz_http.c — the HTTP request path: llhttp, routing, the
 * write handler (gzip, line protocol, storage batch, WAL) and the other
 * handlers, driven through a real stratad server running in this process
 * on a loopback port with a temporary data directory.
 *
 * Each input is sent as the bytes of one TCP connection (then the write
 * side is shut); the response is read until the server closes or goes
 * quiet. Any crash, sanitizer report or hang is a finding. The server is
 * checked to still answer /ping after every input.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "server/srv.h"
#include "storage/stor.h"

static int g_port;
static char g_dir[128];

static void *server_main(void *arg)
{
    stor *s = arg;
    char ready[256];
    snprintf(ready, sizeof ready, "%s/ready", g_dir);
    srv_opts o;
    memset(&o, 0, sizeof o);
    o.http_addr = "127.0.0.1:0";
    o.io_threads = 1;
    o.query_threads = 1;
    o.max_body_bytes = 1 << 20;
    o.max_line_bytes = 64 << 10;
    o.max_connections = 64;
    o.quality_field = "quality";
    o.auto_create = 1;
    o.ready_file = ready;
    srv_run(&o, s);
    return NULL;
}

static void start_server(void)
{
    st_log_set_level(ST_LOG_OFF);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/strata-fuzz-http-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) abort();
    char data[256];
    snprintf(data, sizeof data, "%s/data", g_dir);
    stor_opts so;
    memset(&so, 0, sizeof so);
    so.data_dir = data;
    so.fsync_mode = STOR_FSYNC_NEVER;
    so.wal_segment_bytes = 4 << 20;
    stor *s;
    if (stor_open(&so, &s) != 0) abort();
    pthread_t t;
    pthread_create(&t, NULL, server_main, s);
    pthread_detach(t);
    char ready[256];
    snprintf(ready, sizeof ready, "%s/ready", g_dir);
    for (int i = 0; i < 2000 && !g_port; i++) {
        FILE *f = fopen(ready, "r");
        if (f) {
            char line[128];
            if (fgets(line, sizeof line, f)) {
                char *c = strrchr(line, ':');
                if (c) g_port = atoi(c + 1);
            }
            fclose(f);
        }
        if (!g_port) usleep(5000);
    }
    if (!g_port) abort();
}

static size_t exchange(const uint8_t *data, size_t size, char *resp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g_port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 2000) <= 0) break;
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n <= 0) break;
        size_t k = (size_t)n < cap - got ? (size_t)n : cap - got;
        memcpy(resp + got, tmp, k);
        got += k;
    }
    close(fd);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) { start_server(); started = 1; }
    char resp[8192];
    exchange(data, size, resp, sizeof resp);
    static const char ping[] = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = exchange((const uint8_t *)ping, sizeof ping - 1, resp, sizeof resp - 1);
    resp[n] = 0;
    if (strncmp(resp, "HTTP/1.1 204", 12) != 0) {
        fprintf(stderr, "fuzz_http: server stopped answering /ping after an input\n");
        abort();
    }
    return 0;
}
