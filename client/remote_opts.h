/* remote_opts.h - the options shared by the commands that reach a broker
 * (cmd_remote.c) and by plot/report when given a sweep id. */
#ifndef REMOTE_OPTS_H
#define REMOTE_OPTS_H

#include "sh_curve.h"

#include <stdint.h>

#define DEFAULT_BROKER "tcp://127.0.0.1:5555"

typedef struct {
    const char *broker;
    const char *out;
    int64_t priority;
    int watch, csv, json, timeout_ms;
    const char **sets;
    int n_sets;
    const char *arg;   /* the positional argument */
    const char *curve_secret, *curve_server;
    sh_curve_t curve;
} opts_t;

/* Parses the common flags (--broker, --curve-*, --out, ...) and the
 * positional argument. Returns 0, 1 after --help, or -1 on a usage error
 * (already reported). */
int parse_opts(int argc, char **argv, const char *usage, int need_arg, opts_t *o);

#endif
