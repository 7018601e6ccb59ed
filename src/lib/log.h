#ifndef YOUJU_LOG_H
#define YOUJU_LOG_H
/*
 * Logging: one line per event, "role[pid] level: session=ID key=value ...".
 * Targets: stderr (also used for "file": the master opens the file and hands
 * it to every role as fd 2), or syslog (facility mail).
 *
 * Control characters in the formatted text are escaped as \xNN, so a client
 * cannot forge log lines. Never pass passwords or AUTH payloads: mask them at
 * the call (log_secret() exists only to make that visible in review).
 */
#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };
enum log_target { LOG_TARGET_STDERR = 0, LOG_TARGET_SYSLOG, LOG_TARGET_FILE };

/* role: "master", "front", ... or "cli". Safe to call again (reconfigure). */
void log_init(const char *role, enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
/* Current session id to prefix to every line (NULL clears). Copied. */
void log_set_session(const char *session_id);
const char *log_get_session(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Broken environment: log at error level and exit(1). */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Like fatal() with ": <strerror(errno)>" appended. */
void fatal_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* The string logged in place of a secret. */
#define LOG_SECRET_MASK "********"

int log_level_parse(const char *s, enum log_level *level_r);
int log_target_parse(const char *s, enum log_target *target_r);

#endif
