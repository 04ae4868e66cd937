/* sh_log.c - timestamped log lines. */
#include "sh_log.h"

#include <string.h>
#include <time.h>

static const char *const names[] = {"error", "warn", "info", "debug"};

int sh_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

void sh_log_v(FILE *f, int max, int level, const char *who, const char *fmt, va_list ap)
{
    if (level > max || level < 0 || level > 3)
        return;
    char stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
    f = f ? f : stderr;
    /* One fprintf per line keeps lines whole when threads share a stream. */
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %s %s: ", stamp, who, names[level]);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    fprintf(f, "%s\n", line);
    fflush(f);
}
