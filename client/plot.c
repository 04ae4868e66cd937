/* plot.c - the pruning literature's two pictures, drawn with PLplot: test
 * accuracy against the fraction of weights remaining (log x, as in Frankle
 * & Carbin and Renda et al.), and against the compressed model's size. One
 * line per technique with error bars across seeds, the dense accuracy as a
 * dashed horizontal reference. */
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <plplot/plplot.h>
#include <stdio.h>
#include <string.h>

/* PLplot cmap0 indices: red, green, blue, magenta, cyan, brown, ... (0 is
 * the background, 1 would be red too; 15 is black after the remap below). */
static const int colors[] = {1, 3, 9, 13, 11, 6, 8, 12};
#define N_COLORS (int)(sizeof colors / sizeof colors[0])
#define MAX_PTS (SH_SWEEP_MAX_ROUNDS + 1)

static const char *device_for(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return NULL;
    if (!strcmp(dot, ".png"))
        return "pngcairo";
    if (!strcmp(dot, ".svg"))
        return "svg";
    if (!strcmp(dot, ".pdf"))
        return "pdfcairo";
    return NULL;
}

/* x of point k of a curve: log10 of density, or of kilobytes. */
static int curve_xy(const report_curve_t *c, int by_size, double *x, double *y, double *lo,
                    double *hi)
{
    int n = 0;
    for (int k = 0; k < c->n && n < MAX_PTS; k++) {
        const report_point_t *p = &c->pts[k];
        double v = by_size ? p->bytes / 1024.0 : p->density;
        if (!(v > 0))
            continue;
        x[n] = log10(v);
        y[n] = 100 * p->acc_mean;
        lo[n] = 100 * (p->acc_mean - p->acc_sd);
        hi[n] = 100 * (p->acc_mean + p->acc_sd);
        n++;
    }
    return n;
}

/* Tick values for a log10 axis from a to b: 1, 2 and 5 times the powers
 * of ten, or 1-2-3-4-5-6-8 when fewer than three of those fall inside, or
 * evenly spaced round values when the range is narrower still. */
static int tick_values(double a, double b, double *v, int cap)
{
    static const double coarse[] = {1, 2, 5}, fine[] = {1, 2, 3, 4, 5, 6, 8};
    for (int pass = 0; pass < 2; pass++) {
        const double *m = pass ? fine : coarse;
        int nm = pass ? 7 : 3, n = 0;
        for (int e = (int)floor(a) - 1; e <= (int)ceil(b) && n < cap; e++)
            for (int k = 0; k < nm && n < cap; k++) {
                double x = m[k] * pow(10, e);
                if (log10(x) >= a && log10(x) <= b)
                    v[n++] = x;
            }
        if (n >= 3)
            return n;
    }
    double lo = pow(10, a), hi = pow(10, b), raw = (hi - lo) / 4;
    double mag = pow(10, floor(log10(raw))), step = raw / mag < 2 ? mag : raw / mag < 5 ? 2 * mag
                                                                                          : 5 * mag;
    int n = 0;
    for (double x = ceil(lo / step) * step; x <= hi && n < cap; x += step)
        v[n++] = x;
    return n;
}

/* Ticks and labels along the bottom of a log10 x axis (a to b, drawn
 * reversed for densities); a label too close to the last one is left out. */
static void log_ticks(double a, double b, int by_size)
{
    double v[64];
    int n = tick_values(a, b, v, 64);
    PLFLT xlo, xhi, ymin, ymax;
    plgvpw(&xlo, &xhi, &ymin, &ymax);
    double t = (ymax - ymin) * 0.02, last = -1;
    for (int i = 0; i < n; i++) {
        double lv = log10(v[i]), frac = (lv - a) / (b - a);
        if (!by_size)
            frac = 1 - frac;
        pljoin(lv, ymin, lv, ymin + t);
        pljoin(lv, ymax, lv, ymax - t);
        if (last >= 0 && fabs(frac - last) < 0.12)
            continue;
        char label[32];
        snprintf(label, sizeof label, by_size ? "%g" : "%g%%", by_size ? v[i] : 100 * v[i]);
        plmtex("b", 1.4, frac, 0.5, label);
        last = frac;
    }
}

static void panel(const report_data_t *d, int by_size)
{
    double x[MAX_PTS], y[MAX_PTS], lo[MAX_PTS], hi[MAX_PTS];
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int t = 0; t < d->n_curves; t++) {
        int n = curve_xy(&d->curves[t], by_size, x, y, lo, hi);
        for (int k = 0; k < n; k++) {
            xmin = fmin(xmin, x[k]);
            xmax = fmax(xmax, x[k]);
            ymin = fmin(ymin, lo[k]);
            ymax = fmax(ymax, hi[k]);
        }
    }
    if (d->n_dense) {
        ymin = fmin(ymin, 100 * d->dense_acc);
        ymax = fmax(ymax, 100 * d->dense_acc);
        if (!by_size)
            xmax = fmax(xmax, 0.0); /* the dense model sits at density 1 */
    }
    if (!isfinite(xmin)) { /* nothing to draw on this axis yet */
        xmin = -1;
        xmax = 0;
    }
    if (!isfinite(ymin)) {
        ymin = 0;
        ymax = 100;
    }
    double xpad = fmax(0.05, 0.04 * (xmax - xmin)), ypad = fmax(0.2, 0.08 * (ymax - ymin));
    double x0 = xmin - xpad, x1 = xmax + xpad;
    pladv(0);
    plvpor(0.17, 0.66, 0.16, 0.88);
    /* Density runs from dense on the left to sparse on the right, as in the
     * lottery-ticket and rewinding papers; size grows to the right. */
    if (by_size)
        plwind(x0, x1, ymin - ypad, ymax + ypad);
    else
        plwind(x1, x0, ymin - ypad, ymax + ypad);
    plcol0(7);
    pllsty(3);
    plbox("", 0.0, 0, "g", 0.0, 0); /* light grid */
    pllsty(1);
    plcol0(15);
    plwidth(1.0);
    plbox("bc", 0.0, 0, "bcnstv", 0.0, 0);
    log_ticks(x0, x1, by_size);
    char title[160];
    snprintf(title, sizeof title, "%s on %s", d->sw.model, d->sw.dataset);
    pllab("", "test accuracy (%)", title);
    plmtex("b", 3.2, 0.5, 0.5,
           by_size ? "compressed model size (KB, int8 .shm)" : "fraction of weights remaining");
    if (d->n_dense) {
        plcol0(15);
        pllsty(2);
        plwidth(1.5);
        pljoin(x0, 100 * d->dense_acc, x1, 100 * d->dense_acc);
        pllsty(1);
    }
    for (int t = 0; t < d->n_curves; t++) {
        int n = curve_xy(&d->curves[t], by_size, x, y, lo, hi);
        if (!n)
            continue;
        plcol0(colors[t % N_COLORS]);
        plwidth(2.0);
        plline(n, x, y);
        plpoin(n, x, y, 17);
        plwidth(1.0);
        plerry(n, x, lo, hi);
    }
    /* Legend: the techniques, then the dense reference. */
    int nl = d->n_curves + (d->n_dense ? 1 : 0);
    PLINT opt[SH_SWEEP_MAX_TECHNIQUES + 1], lcol[SH_SWEEP_MAX_TECHNIQUES + 1],
        lsty[SH_SWEEP_MAX_TECHNIQUES + 1], tcol[SH_SWEEP_MAX_TECHNIQUES + 1];
    PLFLT lw[SH_SWEEP_MAX_TECHNIQUES + 1];
    const char *text[SH_SWEEP_MAX_TECHNIQUES + 1];
    char dense_label[64];
    snprintf(dense_label, sizeof dense_label, "dense (%.2f%%)", 100 * d->dense_acc);
    for (int i = 0; i < nl; i++) {
        int is_dense = i == d->n_curves;
        opt[i] = PL_LEGEND_LINE;
        lcol[i] = is_dense ? 15 : colors[i % N_COLORS];
        lsty[i] = is_dense ? 2 : 1;
        lw[i] = is_dense ? 1.5 : 2.0;
        tcol[i] = 15;
        text[i] = is_dense ? dense_label : d->curves[i].label;
    }
    PLFLT w, h;
    plcol0(15);
    pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
             PL_POSITION_RIGHT | PL_POSITION_OUTSIDE, 0.03, 0.0, 0.06, 0, 15,
             1, 0, 0, nl, opt, 0.8, 0.7, 2.0, 0.0, tcol, text, NULL, NULL, NULL, NULL, lcol,
             lsty, lw, NULL, NULL, NULL, NULL);
}

sh_status_t plot_write(const report_data_t *d, const char *path, sh_err_t *err)
{
    const char *dev = device_for(path);
    if (!dev)
        return sh_fail(err, SH_EARG, "%s: the file name must end in .png, .svg or .pdf", path);
    FILE *probe = fopen(path, "wb");
    if (!probe)
        return sh_fail(err, SH_EIO, "%s: cannot write: %s", path, strerror(errno));
    fclose(probe);
    plsdev(dev);
    plsfnam(path);
    /* White page, black (index 15) for axes and text. */
    plscol0(0, 255, 255, 255);
    plscol0(15, 0, 0, 0);
    plscol0(7, 200, 200, 200);
    plspage(0, 0, 1400, 560, 0, 0);
    plssub(2, 1);
    plinit();
    plfont(1);
    plschr(0, 0.9);
    panel(d, 0);
    panel(d, 1);
    plend();
    return SH_OK;
}
