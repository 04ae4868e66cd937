/* fuzz_sweep.c - libFuzzer target for sweep validation and DAG expansion.
 *
 * Any input must parse or fail with a message. A parsed sweep must expand
 * into a DAG whose nodes come parents first and whose rows point at nodes,
 * and its resolved document (every default filled in, what `shears run`
 * saves as the run's sweep.yaml) must read back as a sweep with the same job
 * ids. Seeds: examples/ and more in tests/fuzz/corpus/sweep. */
#include "sh_sweep.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPAND_JOBS 100

static void check_dag(const sh_sweep_t *sw, const sh_dag_t *dag)
{
    if (dag->n_rows != sw->n_seeds * (1 + sw->n_retrain * sw->rounds))
        abort();
    for (int i = 0; i < dag->n_nodes; i++)
        if (dag->nodes[i].parent >= i || dag->nodes[i].source >= i)
            abort();
    for (int i = 0; i < dag->n_rows; i++)
        if (dag->rows[i].node < 0 || dag->rows[i].node >= dag->n_nodes)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sh_sweep_t sw;
    sh_err_t err = {{0}};
    sh_status_t st = sh_sweep_parse(&sw, (const char *)data, size, "fuzz.yaml", NULL, 0, &err);
    if (st != SH_OK) {
        /* Inputs are small: running out of memory means a misreported error. */
        if (!err.msg[0] || sw.resolved || st == SH_ENOMEM) {
            fprintf(stderr, "bad failure (status %d): %s\n", (int)st, err.msg);
            abort();
        }
        return 0;
    }
    /* The resolved sweep must read back as the same sweep: the same resolved
     * document and the same job ids. */
    char *yaml = sh_doc_to_yaml(sw.resolved);
    if (!yaml)
        abort();
    sh_sweep_t again;
    if (sh_sweep_parse(&again, yaml, strlen(yaml), "resolved.yaml", NULL, 0, &err) != SH_OK) {
        fprintf(stderr, "resolved sweep does not parse: %s\n%s", err.msg, yaml);
        abort();
    }
    char *json = sh_doc_to_json(sw.resolved, 1), *json2 = sh_doc_to_json(again.resolved, 1);
    if (!json || !json2 || strcmp(json, json2) != 0) {
        fprintf(stderr, "resolved sweep reads back as another sweep\n%s\n%s\n", json,
                json2 ? json2 : "(null)");
        abort();
    }
    free(json);
    free(json2);

    /* Expansion costs about a millisecond per job here (each job's JSON is
     * built through the document tree), and its code is the same for 30 jobs
     * as for 20000: big sweeps are parsed but not expanded, to keep the
     * fuzzer fast. */
    long jobs = (long)sw.n_seeds * (1 + (long)sw.n_retrain * sw.rounds);
    if (jobs <= MAX_EXPAND_JOBS) {
        sh_dag_t dag, dag2;
        if (sh_sweep_expand(&sw, &dag, &err) != SH_OK ||
            sh_sweep_expand(&again, &dag2, &err) != SH_OK)
            abort();
        check_dag(&sw, &dag);
        int same = dag.n_nodes == dag2.n_nodes && dag.n_rows == dag2.n_rows;
        for (int i = 0; same && i < dag.n_nodes; i++)
            same = !strcmp(dag.nodes[i].id, dag2.nodes[i].id);
        if (!same) {
            fprintf(stderr, "resolved sweep expands to other jobs\n%s", yaml);
            abort();
        }
        sh_dag_clear(&dag2);
        sh_dag_clear(&dag);
    }
    sh_sweep_clear(&again);
    free(yaml);
    sh_sweep_clear(&sw);
    return 0;
}
