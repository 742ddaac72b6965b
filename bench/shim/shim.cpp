// shim.cpp -- pm_bench's main: registers the C workloads with google benchmark.
//
// The workloads (bench/workloads/) are C and see the benchmark only through
// pmb.h, implemented here on benchmark::State.  Besides google benchmark's
// own flags, pm_bench understands:
//   --pm_describe   print the families and cases as JSON and exit
//   --pm_provider   print which shared object serves malloc & co and exit
// Every run records that object in the JSON context ("malloc_provider") and
// on stderr, with the process's peak RSS (VmHWM) at exit:
//   pm_bench: malloc_provider=/lib/x86_64-linux-gnu/libjemalloc.so.2
//   pm_bench: malloc_bindings=consistent
//   pm_bench: peak_rss_kib=5120
// so that the driver (bench/compare) can check that the allocator it meant
// to measure really was the one preloaded.

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

extern "C" {
#include "workloads.h"
}

struct pmb_state {
    benchmark::State *s;
    int64_t items;      // valid when items_set
    bool items_set;
};

extern "C" {

int pmb_keep_running_batch(pmb_state *st, int64_t n)
{
    return st->s->KeepRunningBatch(n);
}

int64_t pmb_arg(pmb_state *st, int i)
{
    return st->s->range(static_cast<std::size_t>(i));
}

int pmb_thread_index(pmb_state *st)
{
    return st->s->thread_index();
}

int pmb_threads(pmb_state *st)
{
    return st->s->threads();
}

void pmb_set_items(pmb_state *st, int64_t items)
{
    st->items = items;
    st->items_set = true;
}

void pmb_pause_timing(pmb_state *st)
{
    st->s->PauseTiming();
}

void pmb_resume_timing(pmb_state *st)
{
    st->s->ResumeTiming();
}

void pmb_fail(pmb_state *st, const char *message)
{
    st->s->SkipWithError(message);
}

}  // extern "C"

namespace {

// The object the dynamic linker binds `name` to, for this process: the same
// lookup (global scope, preloads first) as the program's own calls.
std::string provider_of(const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    if (sym == nullptr)
        return "(undefined)";
    if (dladdr(sym, &info) == 0 || info.dli_fname == nullptr)
        return "(unknown)";
    return info.dli_fname;
}

struct Provider {
    std::string malloc_object;   // where malloc comes from
    std::string bindings;        // "consistent", or name=object for each one that differs
};

Provider malloc_provider()
{
    static const char *const names[] = {"free", "calloc", "realloc", "aligned_alloc",
                                        "posix_memalign", "malloc_usable_size"};
    Provider p;
    p.malloc_object = provider_of("malloc");
    for (const char *name : names) {
        std::string obj = provider_of(name);
        if (obj != p.malloc_object) {
            if (!p.bindings.empty())
                p.bindings += ' ';
            p.bindings += std::string(name) + "=" + obj;
        }
    }
    if (p.bindings.empty())
        p.bindings = "consistent";
    return p;
}

long peak_rss_kib()
{
    long hwm = -1;
    char line[256];
    FILE *f = std::fopen("/proc/self/status", "r");
    while (f != nullptr && std::fgets(line, sizeof line, f) != nullptr)
        if (std::sscanf(line, "VmHWM: %ld", &hwm) == 1)
            break;
    if (f != nullptr)
        std::fclose(f);
    return hwm;
}

int online_cpus()
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : static_cast<int>(n);
}

std::string json_string(const char *s)
{
    std::string out = "\"";
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            out += '\\';
        out += *s;
    }
    return out + "\"";
}

void describe()
{
    static const char *const threading[] = {"single", "pair", "all_cores", "scaling"};
    std::printf("{\"families\": [\n");
    for (const pmb_family_t *f = pmb_families; f->name != nullptr; f++)
        std::printf("  {\"name\": %s, \"threading\": \"%s\", \"unit\": %s, \"doc\": %s}%s\n",
                    json_string(f->name).c_str(), threading[f->threading],
                    json_string(f->unit).c_str(), json_string(f->doc).c_str(),
                    f[1].name != nullptr ? "," : "");
    std::printf("], \"cases\": [\n");
    for (const pmb_case_t *c = pmb_cases; c->family != nullptr; c++) {
        std::string args;
        for (int i = 0; i < c->nargs; i++)
            args += (i ? ", " : "") + std::to_string(c->args[i]);
        std::printf("  {\"family\": %s, \"args\": [%s], \"max_size\": %zu}%s\n",
                    json_string(c->family->name).c_str(), args.c_str(), c->max_size,
                    c[1].family != nullptr ? "," : "");
    }
    std::printf("], \"online_cpus\": %d}\n", online_cpus());
}

void register_cases()
{
    int cpus = online_cpus();
    for (const pmb_case_t *c = pmb_cases; c->family != nullptr; c++) {
        pmb_fn fn = c->family->fn;
        double max_size = static_cast<double>(c->max_size);
        auto *b = benchmark::RegisterBenchmark(c->family->name, [fn, max_size](benchmark::State &s) {
            pmb_state st = {&s, 0, false};
            fn(&st);
            s.SetItemsProcessed(st.items_set ? st.items : static_cast<int64_t>(s.iterations()));
            s.counters["max_size"] = benchmark::Counter(max_size, benchmark::Counter::kAvgThreads);
        });
        if (c->nargs > 0)
            b->Args(std::vector<int64_t>(c->args, c->args + c->nargs));
        switch (c->family->threading) {
        case PMB_PAIR:
            b->Threads(2)->UseRealTime();
            break;
        case PMB_ALL_CORES:
            b->Threads(std::max(2, cpus))->UseRealTime();
            break;
        case PMB_SCALING:
            b->DenseThreadRange(1, cpus)->UseRealTime();
            break;
        case PMB_HELPERS:
            b->UseRealTime();
            break;
        default:
            break;
        }
    }
}

}  // namespace

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--pm_describe") == 0) {
            describe();
            return 0;
        }
        if (std::strcmp(argv[i], "--pm_provider") == 0) {
            Provider p = malloc_provider();
            std::printf("malloc_provider=%s\nmalloc_bindings=%s\n", p.malloc_object.c_str(),
                        p.bindings.c_str());
            return 0;
        }
    }
    Provider p = malloc_provider();
    benchmark::AddCustomContext("malloc_provider", p.malloc_object);
    benchmark::AddCustomContext("malloc_bindings", p.bindings);
    register_cases();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    std::fprintf(stderr, "pm_bench: malloc_provider=%s\npm_bench: malloc_bindings=%s\n"
                         "pm_bench: peak_rss_kib=%ld\n",
                 p.malloc_object.c_str(), p.bindings.c_str(), peak_rss_kib());
    return 0;
}
