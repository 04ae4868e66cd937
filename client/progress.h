/* progress.h - showing a sweep's progress from status snapshots: a block of
 * bars redrawn in place on a terminal, plain event lines otherwise. */
#ifndef PROGRESS_H
#define PROGRESS_H

#include "client_api.h"

#include <stdio.h>

typedef struct {
    FILE *f;
    int tty;
    int lines;          /* lines drawn last time (tty) */
    double t0;
    char (*seen)[65];   /* active jobs of the last snapshot (plain mode) */
    int n_seen;
    int last_done;
} progress_t;

void progress_init(progress_t *p, FILE *f, int tty);
/* Draws one snapshot (a STATUS/WATCH payload). */
void progress_show(progress_t *p, const sh_status_payload_t *s);
void progress_free(progress_t *p);

#endif
