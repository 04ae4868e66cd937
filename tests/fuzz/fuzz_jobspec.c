/* fuzz_jobspec.c - libFuzzer target for the job-spec parser.
 *
 * Any input must parse or fail cleanly. A parsed spec's canonical JSON must
 * parse again, and give the very same JSON: otherwise the job id of a spec
 * would change on its way through a file or the wire. A valid spec must
 * also leave its job a non-empty range of epochs to train over. */
#include "sh_job.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_jobspec_t spec, again;
    sh_err_t err = {{0}};
    sh_status_t st = sh_jobspec_parse(&spec, (const char *)data, size, &err);
    if (st != SH_OK) {
        /* Inputs are small: running out of memory means a misreported error. */
        if (!err.msg[0] || st == SH_ENOMEM)
            abort();
        return 0;
    }
    char *json = sh_jobspec_to_json(&spec);
    if (!json)
        abort();
    if (sh_jobspec_parse(&again, json, strlen(json), &err) != SH_OK) {
        fprintf(stderr, "canonical JSON does not parse: %s\n%s\n", err.msg, json);
        abort();
    }
    char *json2 = sh_jobspec_to_json(&again);
    if (!json2 || strcmp(json, json2) != 0) {
        fprintf(stderr, "round trip differs\n%s\n%s\n", json, json2 ? json2 : "(null)");
        abort();
    }
    char id[SH_ID_HEX + 1];
    if (sh_jobspec_id(&spec, id) != 0 || strlen(id) != SH_ID_HEX)
        abort();
    /* Validation must leave a non-empty epoch range to train over. */
    int begin, end;
    sh_jobspec_epochs(&spec, &begin, &end);
    if (begin < 0 || begin >= end) {
        fprintf(stderr, "epoch range [%d, %d) of a valid spec\n%s\n", begin, end, json);
        abort();
    }
    free(json);
    free(json2);
    return 0;
}
