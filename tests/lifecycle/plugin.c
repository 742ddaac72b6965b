/* plugin.c -- pm_plugin.so: dlopened and dlclosed 200 times by
 * dlopen_dlclose.  Allocates in its constructor, keeps global blocks, frees
 * them in its destructor, and has global-dynamic __thread variables, so
 * glibc allocates their per-thread blocks (and grows the DTV) with malloc
 * and frees them at thread exit or after the module is unloaded. */
#define _GNU_SOURCE
#include "plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *globals[PLUGIN_GLOBALS];
static size_t global_len[PLUGIN_GLOBALS];
static char *name;
static int ctor_runs;

/* Initialised TLS (.tdata) and zeroed TLS (.tbss). */
__thread int tls_counter = PLUGIN_TLS_COUNTER_INIT;
__thread unsigned long tls_magic = 0xfeedfacecafebeefUL;
__thread unsigned char tls_buf[PLUGIN_TLS_BUF];
__thread int tls_errors;
struct node { struct node *next; unsigned len; unsigned char data[]; };
__thread struct node *tls_list;

static void fatal(const char *msg)
{
    ssize_t r = write(2, msg, strlen(msg));
    (void)r;
    abort();
}

__attribute__((constructor)) static void plugin_ctor(void)
{
    ctor_runs++;
    for (int i = 0; i < PLUGIN_GLOBALS; i++) {
        global_len[i] = 16 * (size_t)(i + 1) + (i == PLUGIN_GLOBALS - 1 ? 1u << 18 : 0);
        globals[i] = malloc(global_len[i]);
        if (!globals[i]) fatal("pm_plugin: constructor malloc failed\n");
        memset(globals[i], 'A' + i % 26, global_len[i]);
    }
    name = strdup(PLUGIN_NAME);
    if (!name) fatal("pm_plugin: strdup failed\n");
    /* Short-lived churn as well. */
    for (int i = 0; i < 100; i++) {
        char *p = malloc((size_t)i * 10 + 1);
        if (!p) fatal("pm_plugin: constructor churn failed\n");
        p[(size_t)i * 10] = 1;
        free(p);
    }
}

int plugin_ctor_runs(void) { return ctor_runs; }

int plugin_check_globals(void)
{
    if (!name || strcmp(name, PLUGIN_NAME) != 0) return 0;
    for (int i = 0; i < PLUGIN_GLOBALS; i++) {
        if (!globals[i]) return 0;
        for (size_t j = 0; j < global_len[i]; j++)
            if (globals[i][j] != 'A' + i % 26) return 0;
    }
    return 1;
}

long plugin_tls_work(int seed)
{
    if (tls_magic != 0xfeedfacecafebeefUL) tls_errors++;
    if (tls_counter == PLUGIN_TLS_COUNTER_INIT) {
        /* First call in this thread since the load: the block is fresh. */
        if (tls_list) tls_errors++;
        for (int i = 0; i < PLUGIN_TLS_BUF; i++)
            if (tls_buf[i]) { tls_errors++; break; }
    }
    long n = tls_counter++;
    memset(tls_buf, seed & 0xff, PLUGIN_TLS_BUF);
    long sum = 0;
    struct node *fresh = NULL;
    for (int i = 0; i < PLUGIN_NODES; i++) {
        unsigned len = plugin_node_len(seed, i);
        struct node *nd = malloc(sizeof *nd + len);
        if (!nd) fatal("pm_plugin: node malloc failed\n");
        nd->len = len;
        for (unsigned j = 0; j < len; j++) nd->data[j] = (unsigned char)(seed + i + (int)j);
        nd->next = fresh;
        fresh = nd;
    }
    /* Sum the data back; free every other node now and keep the rest in
     * the thread's list until plugin_tls_release(). */
    int k = 0;
    while (fresh) {
        struct node *nd = fresh;
        fresh = nd->next;
        for (unsigned j = 0; j < nd->len; j++) sum += nd->data[j];
        if (k++ % 2) {
            free(nd);
        } else {
            nd->next = tls_list;
            tls_list = nd;
        }
    }
    for (int i = 0; i < PLUGIN_TLS_BUF; i++)
        if (tls_buf[i] != (unsigned char)(seed & 0xff)) { tls_errors++; break; }
    return n * 100000000L + sum;
}

void plugin_tls_release(void)
{
    while (tls_list) {
        struct node *nd = tls_list;
        tls_list = nd->next;
        free(nd);
    }
}

int plugin_tls_errors(void) { return tls_errors; }

__attribute__((destructor)) static void plugin_dtor(void)
{
    if (!plugin_check_globals())
        fatal("pm_plugin: destructor found the constructor's blocks damaged\n");
    for (int i = 0; i < PLUGIN_GLOBALS; i++) {
        free(globals[i]);
        globals[i] = NULL;
    }
    free(name);
    name = NULL;
    char *p = strdup("freed in the destructor");
    free(p);
}
