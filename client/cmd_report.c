/* cmd_report.c - `shears plot` and `shears report`: pictures and a
 * self-contained HTML page made from a sweep's results (a results
 * directory, or a sweep id on a broker). */
#include "commands.h"
#include "plot.h"
#include "remote_opts.h"
#include "report_data.h"

#include "sh_file.h"
#include "sh_model.h"
#include "sh_shm.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Loads the source named on the command line; a sweep id is fetched into
 * a temporary directory (*tmp, removed by the caller with cleanup()). */
static int load(const opts_t *o, const char *cmd, report_data_t *d, char *tmp, size_t cap)
{
    snprintf(tmp, cap, "%s/shears-%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             cmd);
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "shears %s: cannot make a temporary directory %s\n", cmd, tmp);
        tmp[0] = '\0';
        return EXIT_USAGE;
    }
    sh_err_t err;
    sh_status_t st = report_load(d, o->arg, o->broker, o->curve_secret ? &o->curve : NULL, tmp,
                                 &err);
    if (st != SH_OK) {
        fprintf(stderr, "shears %s: %s\n", cmd, err.msg);
        return st == SH_EIO ? EXIT_UNREACHABLE : EXIT_USAGE;
    }
    return 0;
}

static void cleanup(char *tmp)
{
    if (tmp[0])
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Parses the options of plot and report, which need -o. Returns -1 to go
 * on, or the exit status. */
static int parse_with_out(int argc, char **argv, const char *usage, const char *cmd, opts_t *o)
{
    int rc = parse_opts(argc, argv, usage, 1, o);
    if (rc == 0 && o->out)
        return -1;
    if (rc == 0)
        fprintf(stderr, "shears %s: -o FILE is required\n", cmd);
    free(o->sets);
    return rc > 0 ? 0 : EXIT_USAGE;
}

int cmd_plot(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears plot RESULTS|SWEEP -o FILE.png|FILE.svg|FILE.pdf [--broker URL]\n\n"
        "Draws test accuracy against the fraction of weights remaining (log scale), one\n"
        "line per technique with error bars across seeds and the dense accuracy as a\n"
        "dashed line; beside it, accuracy against the compressed model's size.\n"
        "RESULTS is a directory written by `shears run -o` or `shears fetch`; SWEEP is\n"
        "a sweep id on the broker (--broker, --curve-secret, --curve-server as for\n"
        "`shears results`).\n";
    opts_t o;
    int rc = parse_with_out(argc, argv, usage, "plot", &o);
    if (rc >= 0)
        return rc;
    report_data_t d;
    char tmp[4096];
    if ((rc = load(&o, "plot", &d, tmp, sizeof tmp)) == 0) {
        sh_err_t err;
        if (plot_write(&d, o.out, &err) != SH_OK) {
            fprintf(stderr, "shears plot: %s\n", err.msg);
            rc = EXIT_USAGE;
        } else {
            printf("wrote %s: %d technique%s, %d finished job%s\n", o.out, d.n_curves,
                   d.n_curves == 1 ? "" : "s", d.n_rows, d.n_rows == 1 ? "" : "s");
        }
        report_free(&d);
    }
    cleanup(tmp);
    free(o.sets);
    return rc;
}

/* ---- the HTML report --------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void fmt_bytes(char *buf, size_t cap, double b)
{
    if (!(b > 0))
        snprintf(buf, cap, "-");
    else if (b < 10 * 1024)
        snprintf(buf, cap, "%.0f B", b);
    else if (b < 10 * 1024 * 1024)
        snprintf(buf, cap, "%.1f KB", b / 1024);
    else
        snprintf(buf, cap, "%.1f MB", b / 1048576);
}

/* The plots as inline SVG (PLplot's svg device, through a temporary file). */
static int inline_svg(FILE *f, const report_data_t *d, const char *tmp)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/plot.svg", tmp);
    sh_err_t err;
    char *svg;
    size_t len;
    if (plot_write(d, path, &err) != SH_OK || sh_file_read(path, 64 << 20, &svg, &len, &err) != SH_OK) {
        fprintf(stderr, "shears report: plot: %s\n", err.msg);
        return -1;
    }
    const char *start = strstr(svg, "<svg");
    fputs(start ? start : svg, f);
    free(svg);
    return 0;
}

static void accuracy_table(FILE *f, const report_data_t *d)
{
    fputs("<table id=\"accuracy\"><thead><tr><th>round</th><th>density</th>", f);
    for (int t = 0; t < d->n_curves; t++) {
        fputs("<th>", f);
        esc(f, d->curves[t].label);
        fputs("</th>", f);
    }
    fprintf(f, "</tr></thead><tbody>\n<tr><td>0 (dense)</td><td>100.00%%</td><td colspan=\"%d\">"
               "%.2f%%%s</td></tr>\n",
            d->n_curves ? d->n_curves : 1, 100 * d->dense_acc, d->n_dense > 1 ? " (mean)" : "");
    for (int r = 1; r <= sh_sweep_rounds(&d->sw); r++) {
        int any = 0;
        double dens = 0;
        for (int t = 0; t < d->n_curves; t++)
            for (int k = 0; k < d->curves[t].n; k++)
                if (d->curves[t].pts[k].round == r && !any) {
                    any = 1;
                    dens = d->curves[t].pts[k].density;
                }
        if (!any)
            continue;
        fprintf(f, "<tr><td>%d</td><td>%.2f%%</td>", r, 100 * dens);
        for (int t = 0; t < d->n_curves; t++) {
            const report_point_t *p = NULL;
            for (int k = 0; k < d->curves[t].n; k++)
                if (d->curves[t].pts[k].round == r)
                    p = &d->curves[t].pts[k];
            if (!p)
                fputs("<td>-</td>", f);
            else if (p->n_seeds > 1)
                fprintf(f, "<td>%.2f%% &plusmn; %.2f</td>", 100 * p->acc_mean, 100 * p->acc_sd);
            else
                fprintf(f, "<td>%.2f%%</td>", 100 * p->acc_mean);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

typedef struct {
    double budget;             /* points below dense */
    const report_curve_t *c;
    const report_point_t *p;
} choice_t;

/* Smallest model (by file size, or density when there are no files)
 * within budget points of dense, over every technique. */
static void choose(const report_data_t *d, choice_t *ch)
{
    ch->c = NULL;
    ch->p = NULL;
    for (int t = 0; t < d->n_curves; t++)
        for (int k = 0; k < d->curves[t].n; k++) {
            const report_point_t *p = &d->curves[t].pts[k];
            if (100 * p->acc_mean < 100 * d->dense_acc - ch->budget - 1e-9)
                continue;
            double key = p->bytes > 0 ? p->bytes : p->density;
            double best = !ch->p ? INFINITY : ch->p->bytes > 0 ? ch->p->bytes : ch->p->density;
            /* Within 0.5% of the same size, the more accurate one. */
            if (key < best * 0.995 || (key <= best * 1.005 && p->acc_mean > ch->p->acc_mean)) {
                ch->c = &d->curves[t];
                ch->p = p;
            }
        }
}

static void layer_table(FILE *f, const report_data_t *d, const report_point_t *p)
{
    char path[4400];
    report_job_file(d, p->job, "model.shm", path, sizeof path);
    if (!path[0]) {
        fputs("<p>no compressed model stored for this job</p>\n", f);
        return;
    }
    sh_model_t *m;
    sh_shm_meta_t meta;
    sh_err_t err;
    if (sh_shm_load(&m, &meta, path, &err) != SH_OK) {
        fputs("<p>compressed model unreadable: ", f);
        esc(f, err.msg);
        fputs("</p>\n", f);
        return;
    }
    fputs("<table class=\"layers\"><thead><tr><th>tensor</th><th>weights</th><th>alive</th>"
          "<th>density</th><th>format</th><th>bytes</th></tr></thead><tbody>\n", f);
    for (int i = 0; i < meta.n_info; i++) {
        const sh_shm_tensor_info_t *t = &meta.info[i];
        if (m->tensors[i].ndim < 2)
            continue; /* biases and norms are stored dense and never pruned */
        fputs("<tr><td>", f);
        esc(f, t->name);
        fprintf(f, "</td><td>%llu</td><td>%llu</td><td>%.2f%%</td><td>%s</td><td>%llu</td></tr>\n",
                (unsigned long long)t->numel, (unsigned long long)t->alive,
                100.0 * (double)t->alive / (double)t->numel, t->format,
                (unsigned long long)t->bytes);
    }
    fputs("</tbody></table>\n", f);
    sh_shm_meta_free(&meta);
    sh_model_destroy(&m);
}

static void best_models(FILE *f, const report_data_t *d)
{
    static const double budgets[] = {0.0, 0.5, 1.0, 2.0};
    choice_t ch[4];
    fputs("<table id=\"budgets\"><thead><tr><th>within</th><th>technique</th><th>round</th>"
          "<th>density</th><th>accuracy</th><th>model size</th><th>vs dense fp32</th>"
          "<th>job</th></tr></thead><tbody>\n", f);
    for (int b = 0; b < 4; b++) {
        ch[b].budget = budgets[b];
        choose(d, &ch[b]);
        fprintf(f, "<tr><td>%.1f points of dense</td>", budgets[b]);
        if (!ch[b].p) {
            fputs("<td colspan=\"7\">no pruned model is that accurate</td></tr>\n", f);
            continue;
        }
        const report_point_t *p = ch[b].p;
        const sh_row_t *row = NULL;
        for (int i = 0; i < d->n_rows && !row; i++)
            if (!strcmp(d->rows[i].job, p->job))
                row = &d->rows[i];
        char size[32];
        fmt_bytes(size, sizeof size, p->bytes);
        fputs("<td>", f);
        esc(f, ch[b].c->label);
        fprintf(f, "</td><td>%d</td><td>%.2f%%</td><td>%.2f%%</td><td>%s</td>", p->round,
                100 * p->density, 100 * p->acc_mean, size);
        if (row && row->r.model_bytes && isfinite(row->r.compression))
            fprintf(f, "<td>%.1fx smaller</td>", row->r.compression);
        else
            fputs("<td>-</td>", f);
        fprintf(f, "<td><code>%.12s</code></td></tr>\n", p->job);
    }
    fputs("</tbody></table>\n", f);
    /* Per-layer density of each distinct chosen model. */
    for (int b = 0; b < 4; b++) {
        int seen = 0;
        for (int e = 0; e < b; e++)
            seen |= ch[e].p == ch[b].p;
        if (!ch[b].p || seen)
            continue;
        fprintf(f, "<h3>Layers of the model within %.1f points (", ch[b].budget);
        esc(f, ch[b].c->label);
        fprintf(f, ", round %d)</h3>\n", ch[b].p->round);
        layer_table(f, d, ch[b].p);
    }
}

static void time_spent(FILE *f, const report_data_t *d)
{
    double dense = 0, prune = 0;
    int n_models = 0;
    for (int i = 0; i < d->n_rows; i++) {
        if (d->rows[i].round == 0) {
            dense += d->rows[i].r.seconds;
        } else {
            prune += d->rows[i].r.seconds;
            n_models++;
        }
    }
    double total = dense + prune;
    fputs("<table id=\"time\"><tbody>\n", f);
    fprintf(f, "<tr><th>dense training</th><td>%.1f s (%d run%s)</td></tr>\n", dense, d->n_dense,
            d->n_dense == 1 ? "" : "s");
    fprintf(f, "<tr><th>pruning rounds</th><td>%.1f s (%d model%s)</td></tr>\n", prune, n_models,
            n_models == 1 ? "" : "s");
    if (n_models) {
        fprintf(f, "<tr><th>dense cost per model</th><td>%.1f s: the dense run's %.1f s spread "
                   "over %d models</td></tr>\n", dense / n_models, dense, n_models);
        fprintf(f, "<tr><th>models per job-hour</th><td>%.1f</td></tr>\n",
                total > 0 ? n_models / (total / 3600) : 0.0);
    }
    fputs("</tbody></table>\n<p class=\"note\">Seconds are each job's wall-clock time on its "
          "worker; a job-hour is one job slot busy for an hour.</p>\n", f);
}

static const char css[] =
    "body{font-family:sans-serif;margin:2em auto;max-width:1200px;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}"
    "figure{margin:0}figure svg{width:100%;height:auto;border:1px solid #ddd}"
    "pre{background:#f7f7f7;padding:1em;overflow:auto}.note{color:#666;font-size:90%}"
    ".cards{display:flex;gap:1em}.card{border:1px solid #ccc;padding:0.6em 1em}"
    ".card b{display:block;font-size:150%}";

static int write_report(const report_data_t *d, const char *tmp, FILE *f)
{
    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>shears: ", f);
    esc(f, d->sw.name);
    fprintf(f, "</title><style>%s</style></head><body>\n<h1>shears report: ", css);
    esc(f, d->sw.name);
    fputs("</h1>\n<p>", f);
    esc(f, d->sw.model);
    fputs(" on ", f);
    esc(f, d->sw.dataset);
    fprintf(f, ", %d seed%s, %d technique%s, %d finished job%s. Generated %s.</p>\n",
            d->sw.n_seeds, d->sw.n_seeds == 1 ? "" : "s", d->n_curves,
            d->n_curves == 1 ? "" : "s", d->n_rows, d->n_rows == 1 ? "" : "s", when);
    choice_t half = {.budget = 0.5};
    choose(d, &half);
    char size[32] = "-";
    if (half.p)
        fmt_bytes(size, sizeof size, half.p->bytes);
    int n_models = 0;
    for (int i = 0; i < d->n_rows; i++)
        n_models += d->rows[i].round > 0;
    fprintf(f, "<div class=\"cards\"><div class=\"card\" id=\"dense\">dense accuracy<b>%.2f%%</b>"
               "</div><div class=\"card\">smallest model within 0.5 points<b>%s</b></div>"
               "<div class=\"card\">pruned models<b>%d</b></div></div>\n",
            100 * d->dense_acc, size, n_models);
    fputs("<h2>Accuracy against sparsity</h2>\n<figure id=\"plots\">", f);
    if (inline_svg(f, d, tmp) != 0)
        return -1;
    fputs("</figure>\n<h2>Accuracy per round</h2>\n", f);
    accuracy_table(f, d);
    fputs("<h2>Smallest model per accuracy budget</h2>\n", f);
    best_models(f, d);
    fputs("<h2>Time spent</h2>\n", f);
    time_spent(f, d);
    fputs("<h2>Sweep</h2>\n<pre id=\"sweep\">", f);
    esc(f, d->yaml ? d->yaml : "");
    fputs("</pre>\n</body></html>\n", f);
    return 0;
}

int cmd_report(int argc, char **argv)
{
    static const char usage[] =
        "usage: shears report RESULTS|SWEEP -o REPORT.html [--broker URL]\n\n"
        "Writes one self-contained HTML page (no network needed to view it): the\n"
        "plots of `shears plot` as inline SVG, the accuracy table per technique and\n"
        "round, the smallest model within 0, 0.5, 1 and 2 points of dense with its\n"
        "per-layer density, the time spent on the dense run and on the pruning\n"
        "rounds, and the resolved sweep. RESULTS and SWEEP as for `shears plot`.\n";
    opts_t o;
    int rc = parse_with_out(argc, argv, usage, "report", &o);
    if (rc >= 0)
        return rc;
    report_data_t d;
    char tmp[4096];
    if ((rc = load(&o, "report", &d, tmp, sizeof tmp)) == 0) {
        char *buf;
        size_t len;
        FILE *mem = open_memstream(&buf, &len);
        int bad = !mem || write_report(&d, tmp, mem) != 0;
        if (mem)
            fclose(mem);
        sh_err_t err;
        if (bad) {
            rc = EXIT_USAGE;
        } else if (sh_file_write_atomic(o.out, buf, len, &err) != SH_OK) {
            fprintf(stderr, "shears report: %s\n", err.msg);
            rc = EXIT_USAGE;
        } else {
            printf("wrote %s (%zu bytes)\n", o.out, len);
        }
        if (mem)
            free(buf);
        report_free(&d);
    }
    cleanup(tmp);
    free(o.sets);
    return rc;
}
