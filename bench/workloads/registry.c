/* registry.c -- the families and cases pm_bench runs.
 *
 * A family is a workload and the real pattern it stands for (the sentence
 * that docs/BENCHMARKS.md and `pm_bench --pm_describe` show); a case is a
 * family with its arguments.  The benchmark names are FAMILY/ARG0/ARG1
 * (google benchmark appends /real_time and /threads:N to threaded ones).
 * max_size classifies a case: the targets treat cases of 512 bytes or less
 * apart from larger ones.
 */
#include "workloads.h"

enum {
    F_FIXED, F_RANDOM_MIX, F_SMALL_LOOP, F_BATCH_LIFO, F_BATCH_FIFO, F_BATCH_RANDOM,
    F_OBJECT_CHURN, F_PRODUCER_CONSUMER, F_LARSON, F_THREADS_SMALL_LOOP,
    F_REALLOC_APPEND, F_REALLOC_DOUBLE, F_CALLOC, F_ALIGNED, F_LOCALITY_FRESH, F_LOCALITY_CHURNED, F_BIG_CHURN,
    F_LARSON_SERVER, F_XMALLOC_BATCHES, F_RPTEST_MIX, F_FALSE_SHARING_ACTIVE,
    F_FALSE_SHARING_PASSIVE, F_THREAD_CHURN, F_CXX_OBJECTS, F_REQUEST_BUFFERS, F_LIVE_BUFFERS,
    F_BUFFER_ROUNDS, F_BUFFER_HANDOFF, F_OBJECT_ROUNDS, F_CALLOC_SPARSE, F_BUFFER_ROUNDS_KEPT,
    F_MANY_PRODUCERS, F_MEDIUM_BATCHES, F_COUNT
};

const pmb_family_t pmb_families[F_COUNT + 1] = {
    [F_FIXED] = {"fixed", pmb_fixed, PMB_SINGLE, "malloc+free",
        "A buffer of one size allocated, used and freed within one call, over and over "
        "(a scratch string, a per-request parse buffer, a temporary array)."},
    [F_RANDOM_MIX] = {"random_mix", pmb_random_mix, PMB_SINGLE, "malloc+free",
        "A long-running program's steady state: a working set of 1024 small objects of "
        "random sizes up to 512 bytes, one replaced at random per operation "
        "(a cache, a symbol table, message objects)."},
    [F_SMALL_LOOP] = {"small_loop", pmb_small_loop, PMB_SINGLE, "malloc+free",
        "A phase that allocates a thousand small objects of mixed sizes and then drops them "
        "in no particular order (handling one request, one compiler pass)."},
    [F_BATCH_LIFO] = {"batch_lifo", pmb_batch_lifo, PMB_SINGLE, "malloc+free",
        "Building a structure of 10^5 nodes and unwinding it newest first "
        "(a stack of scopes, a recursive descent's nodes)."},
    [F_BATCH_FIFO] = {"batch_fifo", pmb_batch_fifo, PMB_SINGLE, "malloc+free",
        "Building a structure of 10^5 nodes and freeing it oldest first "
        "(a queue, a log buffer, a list freed from its head)."},
    [F_BATCH_RANDOM] = {"batch_random", pmb_batch_random, PMB_SINGLE, "malloc+free",
        "Building a structure of 10^5 nodes and freeing it in random order "
        "(tearing down a hash table or a graph)."},
    [F_OBJECT_CHURN] = {"object_churn", pmb_object_churn, PMB_SINGLE, "malloc+free",
        "An interpreter's object heap: a few hot sizes of a scripting language's objects "
        "(CPython's floats, ints, tuples, lists, strings, dicts), most dying young, "
        "some promoted into a long-lived set."},
    [F_PRODUCER_CONSUMER] = {"producer_consumer", pmb_producer_consumer, PMB_PAIR, "block passed",
        "A pipeline where one thread creates messages and another consumes and frees them "
        "(a work queue, a logging thread): every free is a free of another thread's block."},
    [F_LARSON] = {"larson", pmb_larson, PMB_ALL_CORES, "malloc+free",
        "A server whose worker threads replace entries of shared state (a connection table, "
        "a cache), so most blocks are freed by a thread that did not allocate them "
        "(after Larson and Krishnan's server benchmark)."},
    [F_THREADS_SMALL_LOOP] = {"threads_small_loop", pmb_small_loop, PMB_SCALING, "malloc+free",
        "Independent worker threads each running the small-object loop: how a "
        "thread-per-request server scales from one thread to all cores."},
    [F_REALLOC_APPEND] = {"realloc_append", pmb_realloc_append, PMB_SINGLE, "realloc",
        "A string or buffer grown by small appends of 16 bytes (a string builder, "
        "reading input piece by piece into one buffer)."},
    [F_REALLOC_DOUBLE] = {"realloc_double", pmb_realloc_double, PMB_SINGLE, "realloc",
        "An array doubling its capacity as it fills (std::vector, Python lists, "
        "reading a file of unknown size)."},
    [F_CALLOC] = {"calloc", pmb_calloc, PMB_SINGLE, "calloc+free",
        "Zeroed allocations: structs and tables that must start zeroed "
        "(hash tables, arrays of counters, sqlite's and Python's zeroed objects)."},
    [F_ALIGNED] = {"aligned", pmb_aligned, PMB_SINGLE, "aligned_alloc+free",
        "Over-aligned allocations: cache-line aligned per-thread structs that must not share "
        "a line, SIMD buffers, page-aligned I/O buffers."},
    [F_LOCALITY_FRESH] = {"locality_fresh", pmb_locality_fresh, PMB_SINGLE, "node visited",
        "Walking a linked list whose nodes were malloc'd one by one between other, "
        "partly freed allocations on a fresh heap: how closely the allocator packs "
        "objects that are used together."},
    [F_LOCALITY_CHURNED] = {"locality_churned", pmb_locality_churned, PMB_SINGLE, "node visited",
        "The same list built after the heap was churned (blocks of the same sizes freed "
        "in random order), as in a program that has run for a while: whether the "
        "allocator's reuse order scatters new objects."},
    [F_BIG_CHURN] = {"big_churn", pmb_big_churn, PMB_SINGLE, "malloc+touch+free",
        "Big buffers of 5..25 MiB, four alive at once, replaced oldest first and written "
        "page by page (image and column buffers, a database's sort memory; "
        "mimalloc-bench's malloc-large)."},
    [F_LARSON_SERVER] = {"larson_server", pmb_larson_server, PMB_ALL_CORES, "malloc+free",
        "A server that hands each connection's objects (8..1000 bytes) to a new short-lived "
        "thread, which replaces some of them and exits: most frees are of blocks a thread "
        "that has exited allocated (mimalloc-bench's larsonN)."},
    [F_XMALLOC_BATCHES] = {"xmalloc_batches", pmb_xmalloc_batches, PMB_ALL_CORES, "block passed",
        "Threads that each produce messages (16..256 bytes) in batches of 64 for the next "
        "thread and free the batches they are sent: every block is freed by another thread "
        "(mimalloc-bench's xmalloc-testN)."},
    [F_RPTEST_MIX] = {"rptest_mix", pmb_rptest_mix, PMB_ALL_CORES, "malloc+free",
        "Worker threads with working sets of mixed sizes (16 bytes to 16 KiB, log-uniform) "
        "that pass one block in eight to another thread to free (mimalloc-bench's rptestN)."},
    [F_FALSE_SHARING_ACTIVE] = {"false_sharing_active", pmb_false_sharing_active, PMB_ALL_CORES,
        "malloc+256 writes+free",
        "Threads that each allocate small objects and write into them: whether the allocator "
        "puts objects of different threads in one cache line (mimalloc-bench's cache-thrashN)."},
    [F_FALSE_SHARING_PASSIVE] = {"false_sharing_passive", pmb_false_sharing_passive, PMB_ALL_CORES,
        "malloc+256 writes+free",
        "The same after each thread has freed an object another thread allocated next to the "
        "others' objects: whether a freed block is reused by the thread that freed it, in a "
        "line shared with other threads (mimalloc-bench's cache-scratchN)."},
    [F_THREAD_CHURN] = {"thread_churn", pmb_thread_churn, PMB_ALL_CORES, "malloc+free",
        "Many short-lived threads that each allocate (16..4096 bytes), free everything and "
        "exit: a thread per request or per task (mimalloc-bench's glibc-thread, alloc-testN, "
        "threadtest)."},
    [F_CXX_OBJECTS] = {"cxx_objects", pmb_cxx_objects, PMB_SINGLE, "object operation",
        "A C++ program's heap: small polymorphic objects made with new and deleted through "
        "a base pointer, strings built and dropped, vectors grown by push_back, a map of "
        "string keys updated (the C++ programs mimalloc-bench runs)."},
    [F_REQUEST_BUFFERS] = {"request_buffers", pmb_request_buffers, PMB_ALL_CORES, "malloc+free",
        "Worker threads that each use 8 buffers of 64..192 KiB at a time and free them "
        "together (per-request I/O buffers, a compressor's windows, sort runs): the large "
        "path's reuse without a lock shared by the threads."},
    [F_LIVE_BUFFERS] = {"live_buffers", pmb_live_buffers, PMB_SINGLE, "malloc+free",
        "2048 blocks of 8..64 KiB alive at once, one replaced at a time and written a "
        "byte per page (a page cache, a database's buffers, a queue's backlog): many "
        "blocks of a few pages that come and go."},
    [F_BUFFER_ROUNDS] = {"buffer_rounds", pmb_buffer_rounds, PMB_SINGLE, "malloc+free",
        "1000 buffers of 32..96 KiB made, written a byte per page, and all freed, round "
        "after round (a batch job's working set per input, a server's big requests one "
        "after the other): whether one round's pages serve the next."},
    [F_BUFFER_HANDOFF] = {"buffer_handoff", pmb_buffer_handoff, PMB_PAIR, "buffer passed",
        "A thread that fills buffers of 32..96 KiB and passes them to another that frees "
        "them, at most 1024 in flight (a pipeline's stages, a server's I/O threads): large "
        "blocks freed by the thread that did not allocate them."},
    [F_OBJECT_ROUNDS] = {"object_rounds", pmb_object_rounds, PMB_SINGLE, "malloc+free",
        "131072 objects of 16..1024 bytes (about 68 MB) made and all freed, round after "
        "round (a batch job's objects per input file, a server's big requests one after "
        "the other): whether one round's pages serve the next."},
    [F_CALLOC_SPARSE] = {"calloc_sparse", pmb_calloc_sparse, PMB_SINGLE, "calloc+free",
        "A zeroed buffer sized for the largest case (16 MiB) of which the first 64 KiB "
        "are used, made again and again (a message, a decompression window, a table of "
        "rows): whether a reused mapping is zeroed whole or only where it was written."},
    [F_BUFFER_ROUNDS_KEPT] = {"buffer_rounds_kept", pmb_buffer_rounds_kept, PMB_SINGLE, "malloc+free",
        "The rounds of buffer_rounds with one buffer in five kept from round to round (the "
        "results or state a batch job carries on): the use never falls near zero, and "
        "whether the pages of one round still serve the next."},
    [F_MANY_PRODUCERS] = {"many_producers", pmb_many_producers, PMB_HELPERS, "block passed",
        "One thread frees the blocks four others made, each in turn (a logger or writer "
        "thread freeing every worker's messages, a pipeline's last stage)."},
    [F_MEDIUM_BATCHES] = {"medium_batches", pmb_medium_batches, PMB_SINGLE, "malloc+free",
        "Batches of 64 buffers of 8..16 KiB made and freed again and again (a server's I/O "
        "buffers for a burst of requests, TLS records, a parser's chunks): more than a "
        "thread cache holds of blocks this big."},
    [F_COUNT] = {NULL, NULL, 0, NULL, NULL},
};

#define FAM(f) (&pmb_families[f])

const pmb_case_t pmb_cases[] = {
    {FAM(F_FIXED), 1, {8}, 8},
    {FAM(F_FIXED), 1, {16}, 16},
    {FAM(F_FIXED), 1, {64}, 64},
    {FAM(F_FIXED), 1, {256}, 256},
    {FAM(F_FIXED), 1, {512}, 512},
    {FAM(F_FIXED), 1, {513}, 513},
    {FAM(F_FIXED), 1, {1024}, 1024},
    {FAM(F_FIXED), 1, {4096}, 4096},
    {FAM(F_FIXED), 1, {65536}, 65536},
    {FAM(F_FIXED), 1, {1 << 20}, 1 << 20},
    {FAM(F_RANDOM_MIX), 0, {0}, 512},
    {FAM(F_SMALL_LOOP), 0, {0}, 512},
    {FAM(F_BATCH_LIFO), 1, {64}, 64},
    {FAM(F_BATCH_FIFO), 1, {64}, 64},
    {FAM(F_BATCH_RANDOM), 1, {64}, 64},
    {FAM(F_OBJECT_CHURN), 0, {0}, 512},
    {FAM(F_PRODUCER_CONSUMER), 0, {0}, 512},
    {FAM(F_LARSON), 0, {0}, 512},
    {FAM(F_THREADS_SMALL_LOOP), 0, {0}, 512},
    {FAM(F_REALLOC_APPEND), 1, {512}, 512},
    {FAM(F_REALLOC_APPEND), 1, {16384}, 16384},
    {FAM(F_REALLOC_DOUBLE), 1, {1 << 20}, 1 << 20},
    {FAM(F_CALLOC), 1, {64}, 64},
    {FAM(F_CALLOC), 1, {512}, 512},
    {FAM(F_CALLOC), 1, {4096}, 4096},
    {FAM(F_CALLOC), 1, {65536}, 65536},
    {FAM(F_ALIGNED), 2, {64, 64}, 64},
    {FAM(F_ALIGNED), 2, {64, 512}, 512},
    {FAM(F_ALIGNED), 2, {4096, 4096}, 4096},
    {FAM(F_ALIGNED), 2, {4096, 65536}, 65536},
    {FAM(F_LOCALITY_FRESH), 1, {100000}, 128},
    {FAM(F_LOCALITY_CHURNED), 1, {100000}, 128},
    {FAM(F_BIG_CHURN), 0, {0}, 25 << 20},
    {FAM(F_LARSON_SERVER), 0, {0}, 1000},
    {FAM(F_XMALLOC_BATCHES), 0, {0}, 256},
    {FAM(F_RPTEST_MIX), 0, {0}, 16383},
    {FAM(F_FALSE_SHARING_ACTIVE), 0, {0}, 8},
    {FAM(F_FALSE_SHARING_PASSIVE), 0, {0}, 8},
    {FAM(F_THREAD_CHURN), 1, {200}, 4096},
    {FAM(F_THREAD_CHURN), 1, {10000}, 4096},
    {FAM(F_CXX_OBJECTS), 0, {0}, 512},
    {FAM(F_REQUEST_BUFFERS), 0, {0}, 192 << 10},
    {FAM(F_LIVE_BUFFERS), 0, {0}, 64 << 10},
    {FAM(F_BUFFER_ROUNDS), 0, {0}, 96 << 10},
    {FAM(F_BUFFER_HANDOFF), 0, {0}, 96 << 10},
    {FAM(F_OBJECT_ROUNDS), 0, {0}, 1024},
    {FAM(F_CALLOC_SPARSE), 0, {0}, 16 << 20},
    {FAM(F_BUFFER_ROUNDS_KEPT), 0, {0}, 96 << 10},
    {FAM(F_MANY_PRODUCERS), 0, {0}, 256},
    {FAM(F_MEDIUM_BATCHES), 0, {0}, 16 << 10},
    {NULL, 0, {0}, 0},
};
