/*
 * storage/io.h — the storage I/O table: every disk access of storage/ goes
 * through one of these function pointers, so tests (and a server test mode)
 * can inject EIO, ENOSPC, short writes, failed fsyncs and power loss.
 *
 * Every function returns 0 or a negative code from common/err.h (errno
 * mapped with st_from_errno: ENOSPC/EDQUOT -> ST_ENOSPC, ENOENT ->
 * ST_ENOTFOUND, EEXIST -> ST_EEXISTS, else mostly ST_EIO). Output
 * parameters are written only on success. pwrite/write write ALL bytes or
 * fail (a real short write is retried; an error after a partial write is
 * returned and the written prefix stays on disk, as with write(2)).
 *
 * Thread-safety: stor_io_posix() is stateless and callable from any thread.
 * The fault/simulation table takes one mutex per call, so it may be used
 * from any thread too.
 *
 * The table is a value (struct of pointers + ctx), borrowed by its users;
 * stor_io_posix() returns a pointer to a static table.
 */
#ifndef STOR_IO_H
#define STOR_IO_H

#include <stddef.h>
#include <stdint.h>

/* One directory entry name (not "." or ".."); return nonzero to stop. */
typedef int (*stor_dir_cb)(void *arg, const char *name);

typedef struct stor_io {
    void *ctx;
    /* flags/mode as open(2) (O_CLOEXEC is added). */
    int (*open)(void *ctx, const char *path, int flags, int mode, int *fd_out);
    int (*close)(void *ctx, int fd);
    /* Reads up to len bytes at off; *got_out < len only at end of file. */
    int (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off, size_t *got_out);
    int (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
    /* Append at the file position (O_APPEND files or sequential writers). */
    int (*write)(void *ctx, int fd, const void *buf, size_t len);
    int (*fsync)(void *ctx, int fd);
    int (*fdatasync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    /* Reserve [off, off+len): posix_fallocate; where the file system does
     * not support it, writes zeros over the part beyond the current size. */
    int (*fallocate)(void *ctx, int fd, uint64_t off, uint64_t len);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    /* ST_EEXISTS when it exists already. */
    int (*mkdir)(void *ctx, const char *path, int mode);
    /* fsync of the directory itself (makes creates/renames/unlinks durable). */
    int (*fsync_dir)(void *ctx, const char *path);
    /* Calls cb for each entry; a nonzero cb return stops and is returned. */
    int (*list_dir)(void *ctx, const char *path, stor_dir_cb cb, void *arg);
    int (*file_size)(void *ctx, int fd, uint64_t *size_out);
} stor_io;

/* The real table (POSIX calls). Static; never NULL. */
const stor_io *stor_io_posix(void);

/* ---- The fault-injection and power-loss simulation table ----------------
 * Wraps posix. All disk effects are real (files really change), but the
 * simulator remembers, per file path, every write/truncate/allocate since
 * that file's last fsync/fdatasync (with the bytes it overwrote), and every
 * create and rename since the parent directory's last fsync. A simulated
 * crash then rewinds the files to what a power cut could leave behind.
 * Unlinks are treated as immediately durable (a resurrected file is not
 * modelled). Meant for tests and a server test mode; the undo copies are
 * kept in memory, so use it on small data.
 */
enum stor_io_op {
    STOR_IO_OPEN = 0, STOR_IO_CLOSE, STOR_IO_PREAD, STOR_IO_PWRITE, STOR_IO_WRITE,
    STOR_IO_FSYNC, STOR_IO_FDATASYNC, STOR_IO_FTRUNCATE, STOR_IO_FALLOCATE,
    STOR_IO_RENAME, STOR_IO_UNLINK, STOR_IO_MKDIR, STOR_IO_FSYNC_DIR,
    STOR_IO_LIST_DIR, STOR_IO_FILE_SIZE,
    STOR_IO_OP_COUNT
};

/* Injection flags. */
#define STOR_IO_INJ_SHORT  1u /* pwrite/write: write the first half, then fail */
#define STOR_IO_INJ_STICKY 2u /* fail this and every later call of the kind */

enum stor_io_crash_mode {
    STOR_IO_CRASH_DROP = 0, /* every unsynced write, create, rename is undone */
    STOR_IO_CRASH_TEAR = 1, /* each unsynced write independently: dropped, kept,
                               or a random prefix kept, maybe followed by
                               garbage bytes; unsynced creates kept or not */
};

typedef struct stor_io_sim stor_io_sim;

/* Creates a simulator; seed drives tearing. ST_ENOMEM. */
int  stor_io_sim_create(uint64_t seed, stor_io_sim **sim_out);
/* Frees it (NULL ok). Files opened through it must be closed first. */
void stor_io_sim_destroy(stor_io_sim *sim);
/* The table to hand to storage code; borrowed from sim. */
const stor_io *stor_io_sim_io(stor_io_sim *sim);
/* The nth (0-based, counted from now) call of kind `op` fails with err
 * (ST_EIO, ST_ENOSPC...), see the flags. One injection per kind; err == 0
 * clears it. */
void stor_io_sim_inject(stor_io_sim *sim, enum stor_io_op op, uint64_t nth, int err, unsigned flags);
/* "The power dies after n more mutating calls" (pwrite, write, fsync,
 * fdatasync, ftruncate, fallocate, rename, unlink, mkdir, fsync_dir, and
 * open with O_CREAT): from then on every mutating call fails with ST_EIO
 * and changes nothing. UINT64_MAX disarms. */
void stor_io_sim_die_after(stor_io_sim *sim, uint64_t n);
/* on = 0: fsync/fdatasync/fsync_dir succeed without calling the kernel
 * (the simulator still tracks what they made durable; only a simulated
 * crash is then meaningful, not a real one). Makes crash tests fast. */
void stor_io_sim_real_sync(stor_io_sim *sim, int on);
/* Calls of a kind made so far. */
uint64_t stor_io_sim_count(stor_io_sim *sim, enum stor_io_op op);
/* Rewind the files on disk as a power cut would leave them (see the mode),
 * then forget all pending state and revive the table (die_after disarmed).
 * Files must be closed first. Deterministic for a seed. 0 or ST_EIO. */
int  stor_io_sim_crash(stor_io_sim *sim, enum stor_io_crash_mode mode);

#endif
