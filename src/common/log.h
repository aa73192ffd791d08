/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log.h: one logging facility for the daemon and tools, in the manner of
 * OpenBSD's log.c: log_warn() appends strerror, fatal() exits.
 * Output goes to stderr (journald picks it up under systemd).
 */
#ifndef TB_LOG_H
#define TB_LOG_H

#include <stdarg.h>

/*
 * INFO is the default (start, stop, refusals); VERBOSE (-v) adds each
 * connection's open and close; DEBUG (-vv) each command and response code.
 * Under systemd (JOURNAL_STREAM set) each line starts with its syslog
 * priority, "<3>" ... "<7>", which the journal takes as the level.
 */
enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_VERBOSE, LOG_LVL_DEBUG };

void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* as log_msg(LOG_LVL_WARN) with ": strerror(err)" appended; err > 0 */
void log_errno(enum log_level level, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fatal(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

#define log_warnx(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_verbose(...)                                                                           \
	do {                                                                                       \
		if (log_get_level() >= LOG_LVL_VERBOSE)                                            \
			log_msg(LOG_LVL_VERBOSE, __VA_ARGS__);                                     \
	} while (0)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_level() >= LOG_LVL_DEBUG)                                              \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)

#endif
