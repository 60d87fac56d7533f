/*
 * common/log.h — one line per event to stderr:
 *   2026-11-24T15:18:47.123Z level module: message key=value ...
 * printf-checked. Any thread; each line is one write(2) so lines never
 * interleave. Level is process-wide (set once at start-up).
 */
#ifndef ST_LOG_H
#define ST_LOG_H

enum st_log_level { ST_LOG_DEBUG = 0, ST_LOG_INFO, ST_LOG_WARN, ST_LOG_ERROR, ST_LOG_OFF };

void st_log_set_level(int level);
int  st_log_get_level(void);
/* "debug", "info", "warn", "error", "off" -> level; -1 when unknown. */
int  st_log_level_parse(const char *name);
void st_log(int level, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define ST_DEBUG(mod, ...) do { if (st_log_get_level() <= ST_LOG_DEBUG) st_log(ST_LOG_DEBUG, mod, __VA_ARGS__); } while (0)
#define ST_INFO(mod, ...)  st_log(ST_LOG_INFO, mod, __VA_ARGS__)
#define ST_WARN(mod, ...)  st_log(ST_LOG_WARN, mod, __VA_ARGS__)
#define ST_ERROR(mod, ...) st_log(ST_LOG_ERROR, mod, __VA_ARGS__)

#endif
