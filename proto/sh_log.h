/* sh_log.h - one log line per event that matters, for the daemons:
 * "2026-12-04T20:31:07 broker info: worker node-a/17 joined: 2 threads". */
#ifndef SH_LOG_H
#define SH_LOG_H

#include <stdarg.h>
#include <stdio.h>

enum { SH_LOG_ERROR = 0, SH_LOG_WARN, SH_LOG_INFO, SH_LOG_DEBUG };

/* Returns the level for "error", "warn", "info" or "debug", or -1. */
int sh_log_level_parse(const char *name);

/* Writes one line to f (stderr when NULL) if level <= max. */
void sh_log_v(FILE *f, int max, int level, const char *who, const char *fmt, va_list ap);

#endif
