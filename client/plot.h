/* plot.h - accuracy-vs-density and accuracy-vs-size plots (PLplot). */
#ifndef PLOT_H
#define PLOT_H

#include "report_data.h"

/* Writes both plots side by side to path; the format follows the
 * extension: .png, .svg or .pdf. */
sh_status_t plot_write(const report_data_t *d, const char *path, sh_err_t *err);

#endif
