/*
 * common/crc32c.h — CRC32C (Castagnoli, reflected polynomial 0x82F63B78),
 * the checksum of every on-disk format (WAL records, segment blocks).
 *
 * Uses the SSE4.2 `crc32` instruction when the CPU has it (checked once at
 * run time), else a slicing-by-8 table implementation. No state beyond the
 * read-only tables; thread-safe; any thread.
 *
 * st_crc32c(0, "123456789", 9) == 0xE3069283. Chaining works:
 * st_crc32c(st_crc32c(0, a, n), b, m) == CRC of a followed by b.
 */
#ifndef ST_CRC32C_H
#define ST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend `crc` (0 to start) over n bytes at p; p may be NULL when n == 0. */
uint32_t st_crc32c(uint32_t crc, const void *p, size_t n);

/* The software path, always available (tests compare it to the hardware one). */
uint32_t st_crc32c_sw(uint32_t crc, const void *p, size_t n);
/* The hardware path; only call when st_crc32c_hw_available() is true. */
uint32_t st_crc32c_hw(uint32_t crc, const void *p, size_t n);
/* 1 when this CPU has SSE4.2 (and the build targets x86-64), else 0. */
int st_crc32c_hw_available(void);

#endif
