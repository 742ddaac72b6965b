/* plugin.h -- interface of pm_plugin.so, the module dlopen_dlclose loads
 * and unloads over and over.  The test and the plugin share the expected
 * values below. */
#ifndef PM_PLUGIN_H
#define PM_PLUGIN_H

#define PLUGIN_GLOBALS 64
#define PLUGIN_TLS_BUF 32768
#define PLUGIN_TLS_COUNTER_INIT 7
#define PLUGIN_NODES 50
#define PLUGIN_NAME "pm-plugin"

/* Node i of a plugin_tls_work(seed) call holds node_len(seed, i) bytes. */
static inline unsigned plugin_node_len(int seed, int i)
{
    return 16u + (unsigned)((seed * 131 + i * 37) % 480);
}

/* What plugin_tls_work(seed) returns the n-th time (n = 0, 1, ...) a thread
 * calls it after the plugin was loaded. */
static inline long plugin_expected(int seed, int n)
{
    long sum = 0;
    for (int i = 0; i < PLUGIN_NODES; i++) {
        unsigned len = plugin_node_len(seed, i);
        for (unsigned j = 0; j < len; j++)
            sum += (unsigned char)(seed + i + (int)j);
    }
    return (long)(PLUGIN_TLS_COUNTER_INIT + n) * 100000000L + sum;
}

typedef int (*plugin_int_fn)(void);
typedef long (*plugin_work_fn)(int seed);
typedef void (*plugin_void_fn)(void);

/* Exported by the plugin:
 *   int  plugin_ctor_runs(void)      -- times this load's constructor ran (1)
 *   int  plugin_check_globals(void)  -- 1 when the constructor's blocks are intact
 *   long plugin_tls_work(int seed)   -- uses the plugin's __thread variables
 *   void plugin_tls_release(void)    -- frees what plugin_tls_work kept in TLS
 *   int  plugin_tls_errors(void)     -- TLS initial values found wrong, this thread
 */
#endif
