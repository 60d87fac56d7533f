/*
 * tools/progress.c — the ticker thread and the progress line (see
 * tools/progress.h). The ticker owns nothing but itself; it writes the
 * line with one write() per redraw ("\r" + line + clear-to-end-of-line).
 */
#include "tools/progress.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"
#include "common/timefmt.h"

struct progress {
    int fd, draw;
    int64_t interval_ms;
    prog_sample_fn sample;
    prog_tick_fn tick;
    void *arg;
    int64_t t0_ns;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

static size_t fmt_bytes(double b, char *out, size_t cap)
{
    static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    int k = 0;
    while (b >= 1024 && k < 4) b /= 1024, k++;
    int n = k ? snprintf(out, cap, "%.1f %s", b, u[k]) : snprintf(out, cap, "%.0f %s", b, u[k]);
    return n < 0 ? 0 : (size_t)n;
}

size_t prog_format(const prog_sample *s, char *buf, size_t cap)
{
    char done[32], total[32];
    fmt_bytes((double)s->bytes_done, done, sizeof done);
    size_t n = 0;
    int w;
#define PUT(...) do { w = snprintf(buf + n, cap - n, __VA_ARGS__); if (w < 0) return n; n += (size_t)w; if (n >= cap) return cap - 1; } while (0)
    double rate = s->elapsed_s > 0 ? (double)s->rows / s->elapsed_s : 0;
    if (s->bytes_total) {
        fmt_bytes((double)s->bytes_total, total, sizeof total);
        double frac = (double)s->bytes_done / (double)s->bytes_total;
        if (frac > 1) frac = 1;
        char bar[21];
        int fill = (int)(frac * 20);
        for (int i = 0; i < 20; i++) bar[i] = i < fill ? '#' : '.';
        bar[20] = 0;
        PUT("%s / %s %3d%% [%s]", done, total, (int)(frac * 100), bar);
    } else {
        PUT("%s", done);
    }
    PUT("  %llu rows  %.0f rows/s", (unsigned long long)s->rows, rate);
    if (s->bytes_total) {
        double brate = s->elapsed_s > 0 ? (double)s->bytes_done / s->elapsed_s : 0;
        if (brate > 0 && s->bytes_done > 0) {
            long long eta = (long long)((double)(s->bytes_total > s->bytes_done ? s->bytes_total - s->bytes_done : 0) / brate + 0.5);
            PUT("  ETA %lld:%02lld:%02lld", eta / 3600, eta / 60 % 60, eta % 60);
        } else {
            PUT("  ETA --:--:--");
        }
    }
#undef PUT
    return n;
}

static void draw(progress *p)
{
    prog_sample s;
    memset(&s, 0, sizeof s);
    p->sample(p->arg, &s);
    s.elapsed_s = (double)(st_mono_ns() - p->t0_ns) / 1e9;
    char line[256];
    line[0] = '\r';
    size_t n = 1 + prog_format(&s, line + 1, sizeof line - 8);
    memcpy(line + n, "\033[K", 3);
    n += 3;
    ssize_t w;
    do w = write(p->fd, line, n); while (w < 0 && errno == EINTR);
}

static void *ticker(void *arg)
{
    progress *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + p->interval_ms * 1000000;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        if (p->stop) break;
        pthread_mutex_unlock(&p->mu);
        if (p->draw) draw(p);
        if (p->tick) p->tick(p->arg);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int progress_start(int fd, int draw_it, int64_t interval_ms, prog_sample_fn sample, prog_tick_fn tick, void *arg,
                   progress **out)
{
    progress *p = st_calloc(1, sizeof *p);
    if (!p) return ST_ENOMEM;
    *p = (progress){ .fd = fd, .draw = draw_it, .interval_ms = interval_ms > 0 ? interval_ms : 100, .sample = sample,
                     .tick = tick, .arg = arg, .t0_ns = st_mono_ns() };
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->thread, NULL, ticker, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        st_free(p);
        return ST_EIO;
    }
    *out = p;
    return 0;
}

void progress_stop(progress *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    if (p->draw) {
        draw(p);
        ssize_t w;
        do w = write(p->fd, "\n", 1); while (w < 0 && errno == EINTR);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    st_free(p);
}
