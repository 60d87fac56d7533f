/*
 * storage/io.c — the storage I/O tables (see io.h): the real POSIX one and
 * the fault-injection / power-loss simulator that wraps it.
 *
 * Owns: nothing for posix (static table). The simulator owns its fd->path
 * map, the per-file undo records (the bytes each unsynced write replaced)
 * and the list of unsynced creates/renames, all under one mutex, so any
 * thread may call through it.
 */
#include "storage/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/err.h"

/* ---------------------------------------------------------------- posix */

static int px_err(void) { return st_from_errno(errno); }

static int px_open(void *ctx, const char *path, int flags, int mode, int *fd_out)
{
    (void)ctx;
    int fd;
    do fd = open(path, flags | O_CLOEXEC, mode); while (fd < 0 && errno == EINTR);
    if (fd < 0) return px_err();
    *fd_out = fd;
    return 0;
}

static int px_close(void *ctx, int fd)
{
    (void)ctx;
    /* Linux releases the fd even when close fails with EINTR: never retry. */
    if (close(fd) != 0 && errno != EINTR) return px_err();
    return 0;
}

static int px_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got_out)
{
    (void)ctx;
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return px_err();
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    *got_out = got;
    return 0;
}

static int px_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR) continue;
            return px_err();
        }
        if (r == 0) return ST_EIO;
        done += (size_t)r;
    }
    return 0;
}

static int px_write(void *ctx, int fd, const void *buf, size_t len)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t r = write(fd, (const char *)buf + done, len - done);
        if (r < 0) {
            if (errno == EINTR) continue;
            return px_err();
        }
        if (r == 0) return ST_EIO;
        done += (size_t)r;
    }
    return 0;
}

static int px_fsync(void *ctx, int fd)
{
    (void)ctx;
    return fsync(fd) == 0 ? 0 : px_err();
}

static int px_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) == 0 ? 0 : px_err();
}

static int px_ftruncate(void *ctx, int fd, uint64_t len)
{
    (void)ctx;
    int r;
    do r = ftruncate(fd, (off_t)len); while (r != 0 && errno == EINTR);
    return r == 0 ? 0 : px_err();
}

static int px_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    (void)ctx;
    int r;
    do r = fallocate(fd, 0, (off_t)off, (off_t)len); while (r != 0 && errno == EINTR);
    if (r == 0) return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS) return px_err();
    /* Unsupported by the file system: write zeros over what lies beyond
     * the current end, so space is claimed now and ENOSPC shows here. */
    struct stat st;
    if (fstat(fd, &st) != 0) return px_err();
    uint64_t end = off + len, pos = (uint64_t)st.st_size > off ? (uint64_t)st.st_size : off;
    static const char zeros[65536];
    while (pos < end) {
        size_t n = end - pos < sizeof zeros ? (size_t)(end - pos) : sizeof zeros;
        int rc = px_pwrite(NULL, fd, zeros, n, pos);
        if (rc) return rc;
        pos += n;
    }
    return 0;
}

static int px_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) == 0 ? 0 : px_err();
}

static int px_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) == 0 ? 0 : px_err();
}

static int px_mkdir(void *ctx, const char *path, int mode)
{
    (void)ctx;
    return mkdir(path, (mode_t)mode) == 0 ? 0 : px_err();
}

static int px_fsync_dir(void *ctx, const char *path)
{
    (void)ctx;
    int fd;
    do fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
    if (fd < 0) return px_err();
    int rc = fsync(fd) == 0 ? 0 : px_err();
    close(fd);
    return rc;
}

static int px_list_dir(void *ctx, const char *path, stor_dir_cb cb, void *arg)
{
    (void)ctx;
    DIR *d = opendir(path);
    if (!d) return px_err();
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno) rc = px_err();
            break;
        }
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        rc = cb(arg, e->d_name);
        if (rc) break;
    }
    closedir(d);
    return rc;
}

static int px_file_size(void *ctx, int fd, uint64_t *size_out)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) != 0) return px_err();
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static const stor_io posix_io = {
    .ctx = NULL,
    .open = px_open, .close = px_close, .pread = px_pread, .pwrite = px_pwrite,
    .write = px_write, .fsync = px_fsync, .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate, .fallocate = px_fallocate, .rename = px_rename,
    .unlink = px_unlink, .mkdir = px_mkdir, .fsync_dir = px_fsync_dir,
    .list_dir = px_list_dir, .file_size = px_file_size,
};

const stor_io *stor_io_posix(void) { return &posix_io; }

/* ------------------------------------------------------------ simulator */

/* One unsynced change to a file. Undo = put `old` back at `off`, then cut
 * the file to `old_size`. `data` (writes only) is what was written, for
 * tearing. */
typedef struct sim_event {
    struct sim_event *next;
    uint64_t off, old_size;
    size_t old_len, data_len;
    int is_write;
    unsigned char *old;   /* owned */
    unsigned char *data;  /* owned, writes only */
} sim_event;

typedef struct sim_file {
    struct sim_file *next;
    char *path;          /* owned */
    sim_event *events;   /* owned, newest first */
} sim_file;

/* A create or rename not yet covered by an fsync of its directory. */
typedef struct sim_ns {
    struct sim_ns *next;
    char *path;  /* owned: created path, or rename target */
    char *from;  /* owned: rename source, NULL for a create */
} sim_ns;

typedef struct sim_fd {
    struct sim_fd *next;
    int fd;
    char *path; /* owned */
} sim_fd;

typedef struct sim_inject {
    int err;
    unsigned flags;
    uint64_t nth, seen;
} sim_inject;

struct stor_io_sim {
    stor_io io;
    pthread_mutex_t mu;
    uint64_t rng;
    uint64_t counts[STOR_IO_OP_COUNT];
    sim_inject inj[STOR_IO_OP_COUNT];
    uint64_t die_after; /* mutating calls left before the "power dies" */
    int dead;
    int no_real_sync;
    sim_fd *fds;
    sim_file *files;
    sim_ns *ns;         /* newest first */
};

static uint64_t sim_rand(stor_io_sim *s)
{
    uint64_t x = s->rng;
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    s->rng = x;
    return x;
}

static const char *sim_fd_path(stor_io_sim *s, int fd)
{
    for (sim_fd *f = s->fds; f; f = f->next)
        if (f->fd == fd) return f->path;
    return NULL;
}

static sim_file *sim_file_get(stor_io_sim *s, const char *path, int create)
{
    for (sim_file *f = s->files; f; f = f->next)
        if (strcmp(f->path, path) == 0) return f;
    if (!create) return NULL;
    sim_file *f = st_calloc(1, sizeof *f);
    if (!f) return NULL;
    f->path = st_strdup(path);
    if (!f->path) { st_free(f); return NULL; }
    f->next = s->files;
    s->files = f;
    return f;
}

static void sim_events_free(sim_event *e)
{
    while (e) {
        sim_event *n = e->next;
        st_free(e->old);
        st_free(e->data);
        st_free(e);
        e = n;
    }
}

static void sim_file_forget(stor_io_sim *s, const char *path)
{
    for (sim_file **pp = &s->files; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->path, path) == 0) {
            sim_file *f = *pp;
            *pp = f->next;
            sim_events_free(f->events);
            st_free(f->path);
            st_free(f);
            return;
        }
    }
}

/* Counts the call; returns the error to inject, or 0. */
static int sim_check(stor_io_sim *s, enum stor_io_op op, int mutating, unsigned *flags_out)
{
    s->counts[op]++;
    *flags_out = 0;
    if (mutating) {
        if (s->dead) return ST_EIO;
        if (s->die_after != UINT64_MAX) {
            if (s->die_after == 0) { s->dead = 1; return ST_EIO; }
            s->die_after--;
        }
    }
    sim_inject *in = &s->inj[op];
    if (!in->err) return 0;
    uint64_t n = in->seen++;
    if (n == in->nth || ((in->flags & STOR_IO_INJ_STICKY) && n > in->nth)) {
        *flags_out = in->flags;
        return in->err;
    }
    return 0;
}

/* Record the bytes [off, off+len) are about to change (and the size). */
static int sim_record(stor_io_sim *s, int fd, uint64_t off, uint64_t len,
                      const void *data, size_t data_len, int is_write)
{
    const char *path = sim_fd_path(s, fd);
    if (!path) return 0; /* not opened through us: not tracked */
    uint64_t size = 0;
    int rc = px_file_size(NULL, fd, &size);
    if (rc) return rc;
    sim_file *f = sim_file_get(s, path, 1);
    sim_event *e = st_calloc(1, sizeof *e);
    if (!f || !e) { st_free(e); return ST_ENOMEM; }
    e->off = off;
    e->old_size = size;
    e->is_write = is_write;
    e->old_len = off < size ? (size_t)((size - off) < len ? size - off : len) : 0;
    if (e->old_len) {
        e->old = st_malloc(e->old_len);
        size_t got = 0;
        if (!e->old) { st_free(e); return ST_ENOMEM; }
        rc = px_pread(NULL, fd, e->old, e->old_len, off, &got);
        if (rc || got != e->old_len) { st_free(e->old); st_free(e); return rc ? rc : ST_EIO; }
    }
    if (data_len) {
        e->data = st_malloc(data_len);
        if (!e->data) { st_free(e->old); st_free(e); return ST_ENOMEM; }
        memcpy(e->data, data, data_len);
        e->data_len = data_len;
    }
    e->next = f->events;
    f->events = e;
    return 0;
}

static int sim_ns_add(stor_io_sim *s, const char *path, const char *from)
{
    sim_ns *n = st_calloc(1, sizeof *n);
    if (!n) return ST_ENOMEM;
    n->path = st_strdup(path);
    n->from = from ? st_strdup(from) : NULL;
    if (!n->path || (from && !n->from)) {
        st_free(n->path); st_free(n->from); st_free(n);
        return ST_ENOMEM;
    }
    n->next = s->ns;
    s->ns = n;
    return 0;
}

static void sim_ns_free(sim_ns *n)
{
    while (n) {
        sim_ns *x = n->next;
        st_free(n->path); st_free(n->from); st_free(n);
        n = x;
    }
}

/* Length of the parent directory part of path ("a/b/c" -> 3). */
static size_t parent_len(const char *path)
{
    const char *sl = strrchr(path, '/');
    return sl ? (size_t)(sl - path) : 0;
}

static int same_parent(const char *path, const char *dir)
{
    size_t pl = parent_len(path), dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (pl == 0) return dl == 1 && dir[0] == '.';
    return pl == dl && memcmp(path, dir, pl) == 0;
}

#define SIM_LOCK(s) pthread_mutex_lock(&(s)->mu)
#define SIM_UNLOCK(s) pthread_mutex_unlock(&(s)->mu)

static void sim_fd_drop(stor_io_sim *s, int fd)
{
    for (sim_fd **pp = &s->fds; *pp; pp = &(*pp)->next) {
        if ((*pp)->fd == fd) {
            sim_fd *x = *pp;
            *pp = x->next;
            st_free(x->path);
            st_free(x);
            return;
        }
    }
}

static int sim_open(void *ctx, const char *path, int flags, int mode, int *fd_out)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int fd = -1;
    int rc = sim_check(s, STOR_IO_OPEN, (flags & (O_CREAT | O_TRUNC)) != 0, &fl);
    if (rc) goto out;
    struct stat st;
    int existed = stat(path, &st) == 0;
    sim_fd *sf = st_calloc(1, sizeof *sf);
    if (sf) sf->path = st_strdup(path);
    if (!sf || !sf->path) {
        if (sf) st_free(sf);
        rc = ST_ENOMEM;
        goto out;
    }
    rc = px_open(NULL, path, flags & ~O_TRUNC, mode, &fd);
    if (rc) { st_free(sf->path); st_free(sf); goto out; }
    sf->fd = fd;
    sf->next = s->fds;
    s->fds = sf;
    if (!existed && (flags & O_CREAT)) {
        sim_file_forget(s, path);
        rc = sim_ns_add(s, path, NULL);
    }
    if (!rc && existed && (flags & O_TRUNC) && st.st_size > 0) {
        rc = sim_record(s, fd, 0, (uint64_t)st.st_size, NULL, 0, 0);
        if (!rc) rc = px_ftruncate(NULL, fd, 0);
    }
    if (rc) {
        sim_fd_drop(s, fd);
        close(fd);
    }
out:
    if (!rc) *fd_out = fd;
    SIM_UNLOCK(s);
    return rc;
}

static int sim_close(void *ctx, int fd)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_CLOSE, 0, &fl);
    sim_fd_drop(s, fd); /* the fd is released even when close reports an error */
    int rc2 = px_close(NULL, fd);
    SIM_UNLOCK(s);
    return rc ? rc : rc2;
}

static int sim_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got_out)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_PREAD, 0, &fl);
    if (!rc) rc = px_pread(NULL, fd, buf, len, off, got_out);
    SIM_UNLOCK(s);
    return rc;
}

static int sim_do_write(stor_io_sim *s, enum stor_io_op op, int fd, const void *buf, size_t len,
                        uint64_t off, int append)
{
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, op, 1, &fl);
    size_t n = len;
    if (rc) {
        if (!(fl & STOR_IO_INJ_SHORT) || s->dead) goto out;
        n = len / 2; /* a prefix reaches the file, then the error */
    }
    if (append) {
        off_t cur = lseek(fd, 0, SEEK_CUR);
        if (cur < 0) { rc = px_err(); goto out; }
        off = (uint64_t)cur;
    }
    int rc2 = n ? sim_record(s, fd, off, n, buf, n, 1) : 0;
    if (!rc2 && n) rc2 = px_pwrite(NULL, fd, buf, n, off);
    if (!rc2 && n && append && lseek(fd, (off_t)(off + n), SEEK_SET) < 0) rc2 = px_err();
    if (!rc) rc = rc2;
out:
    SIM_UNLOCK(s);
    return rc;
}

static int sim_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    return sim_do_write(ctx, STOR_IO_PWRITE, fd, buf, len, off, 0);
}

static int sim_write(void *ctx, int fd, const void *buf, size_t len)
{
    return sim_do_write(ctx, STOR_IO_WRITE, fd, buf, len, 0, 1);
}

static int sim_sync(stor_io_sim *s, enum stor_io_op op, int fd)
{
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, op, 1, &fl);
    if (!rc && !s->no_real_sync) rc = op == STOR_IO_FSYNC ? px_fsync(NULL, fd) : px_fdatasync(NULL, fd);
    if (!rc) {
        const char *path = sim_fd_path(s, fd);
        sim_file *f = path ? sim_file_get(s, path, 0) : NULL;
        if (f) { sim_events_free(f->events); f->events = NULL; }
    }
    SIM_UNLOCK(s);
    return rc;
}

static int sim_fsync(void *ctx, int fd) { return sim_sync(ctx, STOR_IO_FSYNC, fd); }
static int sim_fdatasync(void *ctx, int fd) { return sim_sync(ctx, STOR_IO_FDATASYNC, fd); }

static int sim_ftruncate(void *ctx, int fd, uint64_t len)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    uint64_t size = 0;
    int rc = sim_check(s, STOR_IO_FTRUNCATE, 1, &fl);
    if (!rc) rc = px_file_size(NULL, fd, &size);
    if (!rc) rc = sim_record(s, fd, len, size > len ? size - len : 0, NULL, 0, 0);
    if (!rc) rc = px_ftruncate(NULL, fd, len);
    SIM_UNLOCK(s);
    return rc;
}

static int sim_fallocate(void *ctx, int fd, uint64_t off, uint64_t len)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_FALLOCATE, 1, &fl);
    if (!rc) rc = sim_record(s, fd, off, 0, NULL, 0, 0);
    if (!rc) rc = px_fallocate(NULL, fd, off, len);
    SIM_UNLOCK(s);
    return rc;
}

static int sim_rename(void *ctx, const char *from, const char *to)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_RENAME, 1, &fl);
    if (!rc) rc = sim_ns_add(s, to, from);
    if (!rc) {
        rc = px_rename(NULL, from, to);
        if (rc) { sim_ns *n = s->ns; s->ns = n->next; n->next = NULL; sim_ns_free(n); }
    }
    if (!rc) {
        sim_file_forget(s, to);
        sim_file *f = sim_file_get(s, from, 0);
        char *np = f ? st_strdup(to) : NULL;
        if (f && np) { st_free(f->path); f->path = np; }
        for (sim_fd *d = s->fds; d; d = d->next) {
            if (strcmp(d->path, from) == 0) {
                char *p2 = st_strdup(to);
                if (p2) { st_free(d->path); d->path = p2; }
            }
        }
    }
    SIM_UNLOCK(s);
    return rc;
}

static int sim_unlink(void *ctx, const char *path)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_UNLINK, 1, &fl);
    if (!rc) rc = px_unlink(NULL, path);
    if (!rc) {
        sim_file_forget(s, path);
        for (sim_ns **pp = &s->ns; *pp;) {
            if (strcmp((*pp)->path, path) == 0 && !(*pp)->from) {
                sim_ns *x = *pp; *pp = x->next; x->next = NULL; sim_ns_free(x);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    SIM_UNLOCK(s);
    return rc;
}

static int sim_mkdir(void *ctx, const char *path, int mode)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_MKDIR, 1, &fl);
    if (!rc) rc = px_mkdir(NULL, path, mode);
    SIM_UNLOCK(s);
    return rc;
}

static int sim_fsync_dir(void *ctx, const char *path)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_FSYNC_DIR, 1, &fl);
    if (!rc && !s->no_real_sync) rc = px_fsync_dir(NULL, path);
    if (!rc) {
        for (sim_ns **pp = &s->ns; *pp;) {
            if (same_parent((*pp)->path, path)) {
                sim_ns *x = *pp; *pp = x->next; x->next = NULL; sim_ns_free(x);
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    SIM_UNLOCK(s);
    return rc;
}

static int sim_list_dir(void *ctx, const char *path, stor_dir_cb cb, void *arg)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_LIST_DIR, 0, &fl);
    SIM_UNLOCK(s);
    /* The callback may call back into the table: run it unlocked. */
    return rc ? rc : px_list_dir(NULL, path, cb, arg);
}

static int sim_file_size(void *ctx, int fd, uint64_t *size_out)
{
    stor_io_sim *s = ctx;
    SIM_LOCK(s);
    unsigned fl;
    int rc = sim_check(s, STOR_IO_FILE_SIZE, 0, &fl);
    if (!rc) rc = px_file_size(NULL, fd, size_out);
    SIM_UNLOCK(s);
    return rc;
}

int stor_io_sim_create(uint64_t seed, stor_io_sim **sim_out)
{
    stor_io_sim *s = st_calloc(1, sizeof *s);
    if (!s) return ST_ENOMEM;
    if (pthread_mutex_init(&s->mu, NULL) != 0) { st_free(s); return ST_ENOMEM; }
    s->rng = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
    if (!s->rng) s->rng = 1;
    s->die_after = UINT64_MAX;
    s->io = (stor_io){
        .ctx = s,
        .open = sim_open, .close = sim_close, .pread = sim_pread, .pwrite = sim_pwrite,
        .write = sim_write, .fsync = sim_fsync, .fdatasync = sim_fdatasync,
        .ftruncate = sim_ftruncate, .fallocate = sim_fallocate, .rename = sim_rename,
        .unlink = sim_unlink, .mkdir = sim_mkdir, .fsync_dir = sim_fsync_dir,
        .list_dir = sim_list_dir, .file_size = sim_file_size,
    };
    *sim_out = s;
    return 0;
}

static void sim_forget_all(stor_io_sim *s)
{
    while (s->files) {
        sim_file *f = s->files;
        s->files = f->next;
        sim_events_free(f->events);
        st_free(f->path);
        st_free(f);
    }
    sim_ns_free(s->ns);
    s->ns = NULL;
}

void stor_io_sim_destroy(stor_io_sim *sim)
{
    if (!sim) return;
    sim_forget_all(sim);
    while (sim->fds) {
        sim_fd *d = sim->fds;
        sim->fds = d->next;
        st_free(d->path);
        st_free(d);
    }
    pthread_mutex_destroy(&sim->mu);
    st_free(sim);
}

const stor_io *stor_io_sim_io(stor_io_sim *sim) { return &sim->io; }

void stor_io_sim_inject(stor_io_sim *sim, enum stor_io_op op, uint64_t nth, int err, unsigned flags)
{
    if ((unsigned)op >= STOR_IO_OP_COUNT) return;
    SIM_LOCK(sim);
    sim->inj[op] = (sim_inject){ .err = err, .flags = flags, .nth = nth, .seen = 0 };
    SIM_UNLOCK(sim);
}

void stor_io_sim_die_after(stor_io_sim *sim, uint64_t n)
{
    SIM_LOCK(sim);
    sim->die_after = n;
    sim->dead = 0;
    SIM_UNLOCK(sim);
}

void stor_io_sim_real_sync(stor_io_sim *sim, int on)
{
    SIM_LOCK(sim);
    sim->no_real_sync = !on;
    SIM_UNLOCK(sim);
}

uint64_t stor_io_sim_count(stor_io_sim *sim, enum stor_io_op op)
{
    if ((unsigned)op >= STOR_IO_OP_COUNT) return 0;
    SIM_LOCK(sim);
    uint64_t n = sim->counts[op];
    SIM_UNLOCK(sim);
    return n;
}

/* Rewind one file to its state at its last sync; in TEAR mode then replay
 * each unsynced write partially or not at all. */
static int sim_crash_file(stor_io_sim *s, sim_file *f, enum stor_io_crash_mode mode)
{
    if (!f->events) return 0;
    int fd = -1;
    int rc = px_open(NULL, f->path, O_RDWR, 0, &fd);
    if (rc == ST_ENOTFOUND) return 0; /* removed meanwhile */
    if (rc) return rc;
    uint64_t base = 0;
    for (sim_event *e = f->events; e && !rc; e = e->next) { /* newest first */
        if (e->old_len) rc = px_pwrite(NULL, fd, e->old, e->old_len, e->off);
        if (!rc) rc = px_ftruncate(NULL, fd, e->old_size);
        base = e->old_size;
    }
    if (!rc && mode == STOR_IO_CRASH_TEAR) {
        /* oldest first */
        size_t n = 0;
        for (sim_event *e = f->events; e; e = e->next) n++;
        sim_event **v = st_malloc((n ? n : 1) * sizeof *v);
        if (!v) rc = ST_ENOMEM;
        size_t i = n;
        for (sim_event *e = f->events; v && e; e = e->next) v[--i] = e;
        uint64_t end = base;
        for (i = 0; v && i < n && !rc; i++) {
            sim_event *e = v[i];
            if (!e->is_write || !e->data_len) continue;
            uint64_t r = sim_rand(s);
            size_t keep = 0;
            switch (r % 3) {
            case 0: keep = 0; break;
            case 1: keep = e->data_len; break;
            default: keep = (size_t)((r >> 8) % e->data_len); break;
            }
            if (keep) rc = px_pwrite(NULL, fd, e->data, keep, e->off);
            if (!rc && keep < e->data_len && ((r >> 40) & 1)) {
                unsigned char junk[16];
                size_t g = e->data_len - keep < sizeof junk ? e->data_len - keep : sizeof junk;
                g = 1 + (size_t)((r >> 44) % g);
                for (size_t k = 0; k < g; k++) junk[k] = (unsigned char)sim_rand(s);
                rc = px_pwrite(NULL, fd, junk, g, e->off + keep);
                if (!rc && e->off + keep + g > end) end = e->off + keep + g;
            }
            if (!rc && keep && e->off + keep > end) end = e->off + keep;
        }
        st_free(v);
        (void)end;
    }
    if (!rc && !s->no_real_sync) rc = px_fsync(NULL, fd);
    close(fd);
    return rc;
}

int stor_io_sim_crash(stor_io_sim *sim, enum stor_io_crash_mode mode)
{
    SIM_LOCK(sim);
    int rc = 0;
    for (sim_file *f = sim->files; f && !rc; f = f->next) rc = sim_crash_file(sim, f, mode);
    /* Namespace changes not covered by a directory fsync, newest first. */
    for (sim_ns *n = sim->ns; n && !rc; n = n->next) {
        if (mode == STOR_IO_CRASH_TEAR && (sim_rand(sim) & 1)) continue; /* this one made it */
        int r;
        if (n->from) r = rename(n->path, n->from) == 0 ? 0 : px_err();
        else r = unlink(n->path) == 0 ? 0 : px_err();
        if (r && r != ST_ENOTFOUND) rc = r;
    }
    sim_forget_all(sim);
    sim->dead = 0;
    sim->die_after = UINT64_MAX;
    SIM_UNLOCK(sim);
    return rc;
}
