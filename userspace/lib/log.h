/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small logger shared by cmekd and cmekctl: syslog and/or stderr.
 *
 * Priorities are syslog's (LOG_ERR ... LOG_DEBUG). Audit lines (every key
 * operation) go to LOG_AUTHPRIV | LOG_NOTICE and to stderr whatever the
 * level, prefixed "audit:". Nothing logged here may contain key bytes.
 */
#ifndef CMEK_LOG_H
#define CMEK_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* @ident: program name; @to_syslog: also openlog(); @level: max priority. */
void cmek_log_init(const char *ident, bool to_syslog, int level);
void cmek_log_set_level(int level);
int cmek_log_get_level(void);
/* Also send every line to stderr (default true). */
void cmek_log_set_stderr(bool on);

void cmek_log(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cmek_audit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "err"/"error", "warning"/"warn", "notice", "info", "debug" or 3..7;
 * -1 if unknown. */
int cmek_log_level_parse(const char *s);
const char *cmek_log_level_name(int level);

#define log_err(...)	cmek_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...)	cmek_log(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	cmek_log(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	cmek_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...)	cmek_log(LOG_DEBUG, __VA_ARGS__)

#endif /* CMEK_LOG_H */
