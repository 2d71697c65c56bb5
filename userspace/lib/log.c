// SPDX-License-Identifier: GPL-2.0
/* Logger: see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"

static const char *log_ident = "cmek";
static bool log_syslog;
static bool log_stderr = true;
static int log_level = LOG_INFO;

void cmek_log_init(const char *ident, bool to_syslog, int level)
{
	log_ident = ident ? ident : "cmek";
	log_level = level;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void cmek_log_set_level(int level)
{
	log_level = level;
}

int cmek_log_get_level(void)
{
	return log_level;
}

void cmek_log_set_stderr(bool on)
{
	log_stderr = on;
}

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

const char *cmek_log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

int cmek_log_level_parse(const char *s)
{
	int i;

	if (!s || !*s)
		return -1;
	if (s[0] >= '0' && s[0] <= '7' && !s[1])
		return s[0] - '0';
	if (!strcasecmp(s, "error"))
		return LOG_ERR;
	if (!strcasecmp(s, "warn"))
		return LOG_WARNING;
	for (i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (!strcasecmp(s, level_names[i]))
			return i;
	return -1;
}

/*
 * Every line is escaped here, whatever built it: a message may quote a
 * header's key reference or a KMS's answer, and no newline, ESC or
 * invalid UTF-8 from those may reach syslog or a terminal raw. Fields that
 * also need their quotes and spaces escaped do it themselves (escape.h).
 */
static void emit(int prio, int facility, const char *tag,
		 const char *raw)
{
	char msg[16384];	/* an audit line, its fields already escaped */

	cmek_escape(raw, msg, sizeof(msg), 0);
	if (log_syslog)
		syslog(facility | prio, "%s%s", tag, msg);
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char tbuf[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s[%d]: %s: %s%s\n", tbuf,
			ts.tv_nsec / 1000000, log_ident, (int)getpid(),
			cmek_log_level_name(prio), tag, msg);
	}
}

void cmek_log(int prio, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	if (prio > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(prio, LOG_DAEMON, "", msg);
}

void cmek_audit(const char *fmt, ...)
{
	char msg[8192];	/* an escaped 1023-byte key reference fits */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(LOG_NOTICE, LOG_AUTHPRIV, "audit: ", msg);
}
