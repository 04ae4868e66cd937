/* export.h - writing a sweep's results to a directory, the same layout for
 * `shears run -o DIR` and `shears fetch SWEEP -o DIR`:
 *   metrics.csv, metrics.jsonl   one row per finished job
 *   sweep.yaml                   the resolved sweep
 *   jobs/<id>/result.json        each finished job's metrics
 *   jobs/<id>/<artifact>         its outputs (final.ckpt, ...) */
#ifndef EXPORT_H
#define EXPORT_H

#include "client_api.h"

/* Artifacts are hard-linked from store_dir (an artifact store on this
 * machine) when given and possible, otherwise downloaded through c (which
 * may then not be NULL). Files already present with the right size are
 * kept. */
sh_status_t sh_export_results(const sh_results_payload_t *r, const char *dir,
                              const char *store_dir, sh_client_t *c, int *n_files,
                              sh_err_t *err);

#endif
