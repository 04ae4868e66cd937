/* progress.c - progress bars and event lines. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>

void progress_init(progress_t *p, FILE *f, int tty)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = tty;
    p->t0 = sh_now();
    p->last_done = -1;
}

void progress_free(progress_t *p)
{
    free(p->seen);
    p->seen = NULL;
    p->n_seen = 0;
}

static void bar(char *buf, int width, double frac)
{
    int fill = (int)(frac * width + 0.5);
    if (fill > width)
        fill = width;
    if (fill < 0)
        fill = 0;
    for (int i = 0; i < width; i++)
        buf[i] = i < fill ? '#' : '.';
    buf[width] = '\0';
}

static void job_label(char *buf, size_t cap, const sh_active_t *a)
{
    if (!strcmp(a->technique, "none"))
        snprintf(buf, cap, "dense seed %llu", (unsigned long long)a->seed);
    else
        snprintf(buf, cap, "%s r%d seed %llu", a->technique, a->round,
                 (unsigned long long)a->seed);
}

static void draw_tty(progress_t *p, const sh_status_payload_t *s)
{
    for (int i = 0; i < p->lines; i++)
        fputs("\033[1A\033[2K", p->f);
    int lines = 0;
    for (int k = 0; k < s->n_sweeps; k++) {
        const sh_sweep_status_t *sw = &s->sweeps[k];
        int total = sw->done + sw->running + sw->queued + sw->failed + sw->blocked;
        char b[33];
        bar(b, 32, total ? (double)sw->done / total : 1.0);
        fprintf(p->f, "sweep %lld %s [%s] %d/%d jobs", (long long)sw->id, sw->name, b, sw->done,
                total);
        if (sw->failed + sw->blocked)
            fprintf(p->f, ", %d failed", sw->failed + sw->blocked);
        fprintf(p->f, "  %.0f s  (workers %d, queue %d)\n", sh_now() - p->t0, s->workers,
                s->queue);
        lines++;
        for (int j = 0; j < sw->n_active; j++) {
            const sh_active_t *a = &sw->active[j];
            char label[96], pb[25];
            job_label(label, sizeof label, a);
            double frac = a->epochs > 0 && a->batches > 0
                              ? ((a->epoch - 1) + (double)a->batch / a->batches) / a->epochs
                              : 0.0;
            bar(pb, 24, frac);
            fprintf(p->f, "  %-26s %-18.18s epoch %3ld/%-3ld [%s] loss %.4f %s\n", label,
                    a->worker, a->epoch, a->epochs, pb, a->loss, a->phase);
            lines++;
        }
    }
    fflush(p->f);
    p->lines = lines;
}

static int was_seen(const progress_t *p, const char *job)
{
    for (int i = 0; i < p->n_seen; i++)
        if (!strcmp(p->seen[i], job))
            return 1;
    return 0;
}

static void draw_plain(progress_t *p, const sh_status_payload_t *s)
{
    int n_active = 0;
    for (int k = 0; k < s->n_sweeps; k++)
        n_active += s->sweeps[k].n_active;
    char(*now)[65] = calloc((size_t)n_active + 1, sizeof *now);
    int n = 0;
    for (int k = 0; k < s->n_sweeps; k++) {
        const sh_sweep_status_t *sw = &s->sweeps[k];
        for (int j = 0; j < sw->n_active; j++) {
            const sh_active_t *a = &sw->active[j];
            memcpy(now[n++], a->job, 65);
            if (!was_seen(p, a->job)) {
                char label[96];
                job_label(label, sizeof label, a);
                fprintf(p->f, "start  %-28s job %.12s on %s\n", label, a->job, a->worker);
            }
        }
        int total = sw->done + sw->running + sw->queued + sw->failed + sw->blocked;
        if (sw->done != p->last_done) {
            fprintf(p->f, "sweep %lld: %d/%d jobs done, %d running, %d queued%s\n",
                    (long long)sw->id, sw->done, total, sw->running, sw->queued,
                    sw->failed + sw->blocked ? ", some failed" : "");
            p->last_done = sw->done;
        }
    }
    free(p->seen);
    p->seen = now;
    p->n_seen = n;
    fflush(p->f);
}

void progress_show(progress_t *p, const sh_status_payload_t *s)
{
    if (p->tty)
        draw_tty(p, s);
    else
        draw_plain(p, s);
}
