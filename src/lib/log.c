#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>

#include "log.h"

static char log_role[32] = "youju";
static enum log_target log_tgt = LOG_TARGET_STDERR;
static enum log_level log_lvl = LOG_LVL_INFO;
static char log_session[64];

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_init(const char *role, enum log_target target, enum log_level level)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
	log_tgt = target;
	log_lvl = level;
	if (target == LOG_TARGET_SYSLOG) {
		static char ident[48];
		snprintf(ident, sizeof(ident), "youju/%s", role);
		/* LOG_NDELAY: connect now, so it keeps working after chroot */
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	}
}

void log_set_level(enum log_level level)
{
	log_lvl = level;
}

void log_set_session(const char *session_id)
{
	if (session_id == NULL)
		log_session[0] = '\0';
	else
		snprintf(log_session, sizeof(log_session), "%s", session_id);
}

const char *log_get_session(void)
{
	return log_session[0] ? log_session : NULL;
}

/* Copy src into dst escaping control bytes; always NUL-terminates. */
static size_t escape_into(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[*p >> 4];
			dst[o++] = hex[*p & 15];
		} else {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)*p;
		}
	}
	dst[o] = '\0';
	return o;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	if (level > log_lvl)
		return;
	int saved = errno;
	char raw[2048], text[4096], line[4352];
	vsnprintf(raw, sizeof(raw), fmt, ap);
	escape_into(text, sizeof(text), raw);

	if (log_tgt == LOG_TARGET_SYSLOG) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		if (log_session[0])
			syslog(prio[level], "%s: session=%s %s", level_names[level], log_session, text);
		else
			syslog(prio[level], "%s: %s", level_names[level], text);
		errno = saved;
		return;
	}
	struct timeval tv;
	struct tm tm;
	char ts[40];
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	int n;
	if (log_session[0])
		n = snprintf(line, sizeof(line), "%s.%03dZ %s[%d] %s: session=%s %s\n", ts,
			     (int)(tv.tv_usec / 1000), log_role, (int)getpid(),
			     level_names[level], log_session, text);
	else
		n = snprintf(line, sizeof(line), "%s.%03dZ %s[%d] %s: %s\n", ts,
			     (int)(tv.tv_usec / 1000), log_role, (int)getpid(),
			     level_names[level], text);
	if (n > (int)sizeof(line) - 1) {
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* one write per line: O_APPEND keeps lines from several roles whole */
	if (n > 0)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	errno = saved;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatal_errno(const char *fmt, ...)
{
	char msg[1024];
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_ERROR, "%s: %s", msg, strerror(e));
	exit(1);
}

int log_level_parse(const char *s, enum log_level *level_r)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*level_r = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(s, "warn") == 0) {
		*level_r = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

int log_target_parse(const char *s, enum log_target *target_r)
{
	if (strcmp(s, "stderr") == 0)
		*target_r = LOG_TARGET_STDERR;
	else if (strcmp(s, "syslog") == 0)
		*target_r = LOG_TARGET_SYSLOG;
	else if (strcmp(s, "file") == 0)
		*target_r = LOG_TARGET_FILE;
	else
		return -1;
	return 0;
}
