/* fuzz_result.c - libFuzzer target for the result.json parser.
 *
 * Any input must parse or fail with a message. A parsed result must be
 * within the documented ranges and survive sh_result_to_json and a second
 * parse unchanged (non-finite values travel as null and come back NaN). */
#include "sh_results.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_job_result_t r, again;
    sh_err_t err = {{0}};
    sh_status_t st = sh_result_parse(&r, (const char *)data, size, &err);
    if (st != SH_OK) {
        /* Inputs are small: running out of memory means a misreported error. */
        if (!err.msg[0] || st == SH_ENOMEM)
            abort();
        return 0;
    }
    if (r.alive < 0 || r.prunable < 0 || r.epochs < 0)
        abort();
    char *json = sh_result_to_json(&r);
    if (!json)
        abort();
    if (sh_result_parse(&again, json, strlen(json), &err) != SH_OK) {
        fprintf(stderr, "written result does not parse: %s\n%s\n", err.msg, json);
        abort();
    }
    if (!same(r.test_accuracy, again.test_accuracy) || !same(r.test_loss, again.test_loss) ||
        !same(r.val_accuracy, again.val_accuracy) || !same(r.val_loss, again.val_loss) ||
        !same(r.train_loss, again.train_loss) || !same(r.density, again.density) ||
        !same(r.seconds, again.seconds) || !same(r.compression, again.compression) ||
        !same(r.model_accuracy, again.model_accuracy) || r.model_bytes != again.model_bytes ||
        r.alive != again.alive ||
        r.prunable != again.prunable || r.epochs != again.epochs) {
        fprintf(stderr, "result changed on a round trip\n%s\n", json);
        abort();
    }
    free(json);
    return 0;
}
