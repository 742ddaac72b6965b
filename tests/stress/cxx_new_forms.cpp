// cxx_new_forms.cpp -- the C++ allocation functions that libpoolmalloc
// exports, every form, as clang and g++ code calls them.
//
// Built twice: with the project's C++ compiler (g++) and with clang++ -O2
// (tests/stress/CMakeLists.txt).  clang assumes that a replaceable global
// operator new(n) returns memory aligned to __STDCPP_DEFAULT_NEW_ALIGNMENT__
// (16 on x86-64) for n >= 16 and stores into the new object with movaps
// right after `call _Znwm` (value-initialisation, aggregate
// initialisation); on an 8-aligned block that is a SIGSEGV, which is how
// clang, llc and PostgreSQL's JIT died under the preload.
//
// Checks:
//  symbols    every operator new/delete form resolves into libpoolmalloc
//             (dlsym + dladdr), and the program's own &operator new too;
//  alignment  plain, [], nothrow, nothrow [] for n = 1..1024: n > 8 gives a
//             16-aligned block (n <= 8: aligned to the largest power of two
//             <= n); align_val_t 8..4096, with and without nothrow, aligned
//             to the alignment; contents intact while many blocks are live;
//  delete     each block freed by one of its matching delete forms in turn
//             (plain, sized, nothrow; aligned, sized+aligned, aligned+nothrow);
//  stores     classes of 24, 40, 56, 72 bytes with a vtable and 16..88-byte
//             aggregates created with `new T()` / `new T{...}` in loops (the
//             movaps pattern under clang++ -O2), arrays of them too;
//  failures   impossible sizes: every throwing form throws std::bad_alloc,
//             every nothrow form returns nullptr; an installed new_handler
//             is called until it uninstalls itself (3 calls, then
//             bad_alloc / nullptr); a handler that frees a reserve under
//             RLIMIT_AS makes the retry succeed;
//  sized      a sized delete given a plausible wrong size (a neighbouring
//             class, half, double) on an otherwise valid pointer, in a
//             child process: poolmalloc either ignores the size (and then
//             later allocations of both sizes must not overlap or clobber
//             each other) or detects the misuse and aborts; anything else
//             (a crash, a corruption) fails.
//  With POOLMALLOC_MIN_ALIGN=16 in the environment, malloc(n) for n > 8 is
//  checked to be 16-aligned too.
//
// Build with -DPM_TEST_SYSTEM_MALLOC to sanity-run against the system malloc
// (the symbol checks are then skipped).
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pm_test.h"

#if defined(__clang__)
#define PM_COMPILER "clang++ " __clang_version__
#else
#define PM_COMPILER "g++ " __VERSION__
#endif

static size_t launder(size_t x)
{
    volatile size_t v = x;
    return v;
}

static bool aligned(const void *p, size_t a)
{
    return (reinterpret_cast<uintptr_t>(p) % a) == 0;
}

// The alignment operator new(n) must give: 16 for n > 8, else the largest
// power of two <= n.
static size_t want_align(size_t n)
{
    if (n > 8)
        return 16;
    size_t a = 1;
    while (a * 2 <= n)
        a *= 2;
    return a;
}

static void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *b = static_cast<unsigned char *>(p);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed * 131u + i * 7u + 1u);
}

static bool intact(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = static_cast<const unsigned char *>(p);
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed * 131u + i * 7u + 1u))
            return false;
    return true;
}

// ---- symbols -----------------------------------------------------------
static const char *const cxx_symbols[] = {
    "_Znwm",                                // new(size_t)
    "_Znam",                                // new[](size_t)
    "_ZnwmRKSt9nothrow_t",                  // new(size_t, nothrow_t)
    "_ZnamRKSt9nothrow_t",                  // new[](size_t, nothrow_t)
    "_ZnwmSt11align_val_t",                 // new(size_t, align_val_t)
    "_ZnamSt11align_val_t",                 // new[](size_t, align_val_t)
    "_ZnwmSt11align_val_tRKSt9nothrow_t",   // new(size_t, align_val_t, nothrow_t)
    "_ZnamSt11align_val_tRKSt9nothrow_t",   // new[](size_t, align_val_t, nothrow_t)
    "_ZdlPv",                               // delete(void*)
    "_ZdaPv",                               // delete[](void*)
    "_ZdlPvm",                              // delete(void*, size_t)
    "_ZdaPvm",                              // delete[](void*, size_t)
    "_ZdlPvRKSt9nothrow_t",                 // delete(void*, nothrow_t)
    "_ZdaPvRKSt9nothrow_t",                 // delete[](void*, nothrow_t)
    "_ZdlPvSt11align_val_t",                // delete(void*, align_val_t)
    "_ZdaPvSt11align_val_t",                // delete[](void*, align_val_t)
    "_ZdlPvmSt11align_val_t",               // delete(void*, size_t, align_val_t)
    "_ZdaPvmSt11align_val_t",               // delete[](void*, size_t, align_val_t)
    "_ZdlPvSt11align_val_tRKSt9nothrow_t",  // delete(void*, align_val_t, nothrow_t)
    "_ZdaPvSt11align_val_tRKSt9nothrow_t",  // delete[](void*, align_val_t, nothrow_t)
};

static const char *object_of(const void *addr)
{
    Dl_info info;
    if (!addr || !dladdr(addr, &info) || !info.dli_fname)
        return "?";
    return info.dli_fname;
}

static void test_symbols()
{
#ifndef PM_TEST_SYSTEM_MALLOC
    int bad = 0;
    for (const char *name : cxx_symbols) {
        void *sym = dlsym(RTLD_DEFAULT, name);
        const char *obj = object_of(sym);
        if (!strstr(obj, "libpoolmalloc")) {
            fprintf(stderr, "FAIL: %s resolves to %s, not libpoolmalloc\n", name, obj);
            bad++;
        }
    }
    CHECK("every operator new/delete form is libpoolmalloc's", bad == 0);
    // What this program's own calls reach (through its GOT).
    void *(*own_new)(size_t) = &::operator new;
    void (*own_delete)(void *) noexcept = &::operator delete;
    void *(*own_new_al)(size_t, std::align_val_t) = &::operator new;
    CHECK("the program's &operator new is libpoolmalloc's",
          strstr(object_of(reinterpret_cast<void *>(own_new)), "libpoolmalloc") != nullptr);
    CHECK("the program's &operator delete is libpoolmalloc's",
          strstr(object_of(reinterpret_cast<void *>(own_delete)), "libpoolmalloc") != nullptr);
    CHECK("the program's &operator new(align_val_t) is libpoolmalloc's",
          strstr(object_of(reinterpret_cast<void *>(own_new_al)), "libpoolmalloc") != nullptr);
    printf("operator new resolves to %s\n", object_of(reinterpret_cast<void *>(own_new)));
#endif
}

// ---- alignment and delete forms ----------------------------------------
enum Form { PLAIN, ARRAY, NOTHROW, NOTHROW_ARRAY };
static const char *const form_name[] = {"new", "new[]", "new(nothrow)", "new[](nothrow)"};

static void *do_new(Form f, size_t n)
{
    switch (f) {
    case PLAIN: return ::operator new(n);
    case ARRAY: return ::operator new[](n);
    case NOTHROW: return ::operator new(n, std::nothrow);
    case NOTHROW_ARRAY: return ::operator new[](n, std::nothrow);
    }
    return nullptr;
}

static void do_delete(Form f, void *p, size_t n, unsigned which)
{
    bool array = f == ARRAY || f == NOTHROW_ARRAY;
    switch (which % 3) {
    case 0:
        if (array)
            ::operator delete[](p);
        else
            ::operator delete(p);
        break;
    case 1:
        if (array)
            ::operator delete[](p, n);
        else
            ::operator delete(p, n);
        break;
    default:
        if (array)
            ::operator delete[](p, std::nothrow);
        else
            ::operator delete(p, std::nothrow);
        break;
    }
}

static void *do_new_al(Form f, size_t n, size_t al)
{
    std::align_val_t a = std::align_val_t(al);
    switch (f) {
    case PLAIN: return ::operator new(n, a);
    case ARRAY: return ::operator new[](n, a);
    case NOTHROW: return ::operator new(n, a, std::nothrow);
    case NOTHROW_ARRAY: return ::operator new[](n, a, std::nothrow);
    }
    return nullptr;
}

static void do_delete_al(Form f, void *p, size_t n, size_t al, unsigned which)
{
    bool array = f == ARRAY || f == NOTHROW_ARRAY;
    std::align_val_t a = std::align_val_t(al);
    switch (which % 3) {
    case 0:
        if (array)
            ::operator delete[](p, a);
        else
            ::operator delete(p, a);
        break;
    case 1:
        if (array)
            ::operator delete[](p, n, a);
        else
            ::operator delete(p, n, a);
        break;
    default:
        if (array)
            ::operator delete[](p, a, std::nothrow);
        else
            ::operator delete(p, a, std::nothrow);
        break;
    }
}

struct Live {
    void *p;
    size_t n;
    unsigned seed;
};

// For n = 1..1024, `copies` blocks of each size live at once, then freed in
// an interleaved order (al: the align_val_t forms with that alignment; 0: the
// plain forms); returns the number of errors (and prints the first).
static long alignment_round(Form f, size_t al, int copies)
{
    long bad = 0;
    std::vector<Live> live;
    live.reserve(1024 * (size_t)copies);
    unsigned seed = 0;
    for (int c = 0; c < copies; c++) {
        for (size_t n = 1; n <= 1024; n++) {
            size_t sz = launder(n);
            void *p = al ? do_new_al(f, sz, al) : do_new(f, sz);
            size_t want = al ? al : want_align(n);
            if (!p || !aligned(p, want) || malloc_usable_size(p) < n) {
                if (bad++ < 5)
                    fprintf(stderr,
                            "FAIL: operator %s(%zu, align_val_t %zu) = %p, want %zu-aligned, "
                            "usable %zu\n",
                            form_name[f], n, al, p, want, p ? malloc_usable_size(p) : 0);
                if (!p)
                    continue;
            }
            fill(p, n, ++seed);
            live.push_back({p, n, seed});
        }
    }
    // Free every other block, check the rest, then free them.
    unsigned which = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = (size_t)pass; i < live.size(); i += 2) {
            Live &b = live[i];
            if (!intact(b.p, b.n, b.seed) && bad++ < 5)
                fprintf(stderr, "FAIL: operator %s(%zu) block %p clobbered\n", form_name[f], b.n,
                        b.p);
            if (al)
                do_delete_al(f, b.p, b.n, al, which++);
            else
                do_delete(f, b.p, b.n, which++);
        }
    }
    return bad;
}

static void test_alignment()
{
    for (int f = PLAIN; f <= NOTHROW_ARRAY; f++) {
        char name[96];
        snprintf(name, sizeof name, "operator %s(1..1024): n > 8 16-aligned, contents kept",
                 form_name[f]);
        CHECK(name, alignment_round((Form)f, 0, 4) == 0);
    }
    static const size_t aligns[] = {8, 16, 32, 64, 128, 256, 1024, 4096};
    for (size_t al : aligns) {
        for (int f = PLAIN; f <= NOTHROW_ARRAY; f++) {
            char name[112];
            snprintf(name, sizeof name, "operator %s(1..1024, align_val_t %zu) aligned",
                     form_name[f], al);
            CHECK(name, alignment_round((Form)f, al, al >= 1024 ? 1 : 2) == 0);
        }
    }
    // Larger sizes through the medium and large paths.
    long bad = 0;
    for (size_t n = 1025; n < (4u << 20); n = n * 5 / 3) {
        void *p = ::operator new(launder(n));
        void *q = ::operator new[](launder(n), std::nothrow);
        void *r = ::operator new(launder(n), std::align_val_t(64));
        if (!aligned(p, 16) || !q || !aligned(q, 16) || !aligned(r, 64))
            bad++;
        fill(p, n, 1);
        fill(q, n, 2);
        fill(r, n, 3);
        if (!intact(p, n, 1) || !intact(q, n, 2) || !intact(r, n, 3))
            bad++;
        ::operator delete(p, n);
        ::operator delete[](q);
        ::operator delete(r, n, std::align_val_t(64));
    }
    CHECK("operator new 1 KiB..4 MiB 16-aligned, aligned 64", bad == 0);

    // With POOLMALLOC_MIN_ALIGN=16, malloc itself gives 16-aligned blocks.
    const char *ma = getenv("POOLMALLOC_MIN_ALIGN");
    if (ma && strcmp(ma, "16") == 0) {
        bad = 0;
        std::vector<void *> v;
        for (int c = 0; c < 3; c++)
            for (size_t n = 1; n <= 1024; n++) {
                void *p = malloc(launder(n));
                if (!p || !aligned(p, want_align(n)))
                    bad++;
                v.push_back(p);
            }
        for (void *p : v)
            free(p);
        CHECK("POOLMALLOC_MIN_ALIGN=16: malloc(n > 8) 16-aligned", bad == 0);
        printf("POOLMALLOC_MIN_ALIGN=16: malloc checked too\n");
    }
}

// ---- the store pattern -------------------------------------------------
// Classes with a vtable; `new T()` value-initialises (zeroes) the object
// through the allocation's assumed alignment before the constructor sets
// the vptr: clang -O2 emits movaps there.
struct Base {
    virtual ~Base() {}
    virtual long sum() const = 0;
    virtual size_t size() const = 0;
};
template <int N> struct V : Base {
    long f[N];
    long sum() const override
    {
        long s = 0;
        for (int i = 0; i < N; i++)
            s += f[i];
        return s;
    }
    size_t size() const override { return sizeof(*this); }
};
static_assert(sizeof(V<2>) == 24, "V<2> is 24 bytes");
static_assert(sizeof(V<4>) == 40, "V<4> is 40 bytes");
static_assert(sizeof(V<6>) == 56, "V<6> is 56 bytes");
static_assert(sizeof(V<8>) == 72, "V<8> is 72 bytes");

// Aggregates of 24..88 bytes, aggregate-initialised in the new-expression.
struct P24 {
    long a, b, c;
};
struct P40 {
    long a, b, c, d, e;
};
struct P88 {
    long a[11];
};

template <int N> static long store_round(int count, std::vector<Base *> &keep)
{
    long bad = 0;
    for (int i = 0; i < count; i++) {
        V<N> *p = new V<N>();
        if (p->sum() != 0)
            bad++;
        p->f[N - 1] = i;
        keep.push_back(p);
    }
    return bad;
}

static void test_store_pattern()
{
    long bad = 0;
    std::vector<Base *> keep;
    // Interleave the sizes so that blocks of each class sit at every
    // position of their pools.
    for (int round = 0; round < 20; round++) {
        bad += store_round<2>(300, keep);
        bad += store_round<4>(300, keep);
        bad += store_round<6>(300, keep);
        bad += store_round<8>(100, keep);
    }
    long total = 0, want = 0;
    for (Base *b : keep)
        total += b->sum();
    for (int round = 0; round < 20; round++)
        want += 3 * (299L * 300 / 2) + 99L * 100 / 2;
    CHECK("vtable classes of 24/40/56/72 bytes by new T()", bad == 0 && total == want);
    for (Base *b : keep)
        delete b;
    keep.clear();

    std::vector<P24 *> p24;
    std::vector<P40 *> p40;
    std::vector<P88 *> p88;
    for (long i = 0; i < 3000; i++) {
        p24.push_back(new P24{i, i, 0});
        p40.push_back(new P40{i, i, 0, 0, i});
        p88.push_back(new P88{});
        p88.back()->a[10] = i;
    }
    bad = 0;
    for (long i = 0; i < 3000; i++) {
        if (p24[(size_t)i]->a != i || p24[(size_t)i]->c != 0 || p40[(size_t)i]->e != i ||
            p40[(size_t)i]->d != 0 || p88[(size_t)i]->a[10] != i || p88[(size_t)i]->a[3] != 0)
            bad++;
        delete p24[(size_t)i];
        delete p40[(size_t)i];
        delete p88[(size_t)i];
    }
    CHECK("aggregates of 24/40/88 bytes by new T{...}", bad == 0);

    // Arrays of vtable objects (a cookie-free array, value-initialised).
    bad = 0;
    for (size_t n = 1; n < 40; n++) {
        V<4> *a = new V<4>[launder(n)]();
        for (size_t i = 0; i < n; i++)
            if (a[i].sum() != 0 || a[i].size() != 40)
                bad++;
        delete[] a;
    }
    CHECK("new V<4>[n]() arrays", bad == 0);
}

// ---- failures ----------------------------------------------------------
static int handler_calls;
static void counting_handler()
{
    if (++handler_calls >= 3)
        std::set_new_handler(nullptr);
}

static const size_t impossible = SIZE_MAX / 2;

template <typename F> static bool throws_bad_alloc(F f)
{
    try {
        f();
    } catch (const std::bad_alloc &) {
        return true;
    } catch (...) {
        return false;
    }
    return false;
}

static void test_failures()
{
    size_t n = launder(impossible);
    CHECK("new(impossible) throws bad_alloc",
          throws_bad_alloc([n] { ::operator delete(::operator new(n)); }));
    CHECK("new[](impossible) throws bad_alloc",
          throws_bad_alloc([n] { ::operator delete[](::operator new[](n)); }));
    CHECK("new(SIZE_MAX) throws bad_alloc", throws_bad_alloc([] {
              ::operator delete(::operator new(launder(SIZE_MAX)));
          }));
    CHECK("new(impossible, align_val_t 64) throws bad_alloc", throws_bad_alloc([n] {
              ::operator delete(::operator new(n, std::align_val_t(64)), std::align_val_t(64));
          }));
    CHECK("new[](impossible, align_val_t 4096) throws bad_alloc", throws_bad_alloc([n] {
              ::operator delete[](::operator new[](n, std::align_val_t(4096)),
                                  std::align_val_t(4096));
          }));
    CHECK("new(impossible, nothrow) is nullptr", ::operator new(n, std::nothrow) == nullptr);
    CHECK("new[](impossible, nothrow) is nullptr", ::operator new[](n, std::nothrow) == nullptr);
    CHECK("new(impossible, align_val_t, nothrow) is nullptr",
          ::operator new(n, std::align_val_t(64), std::nothrow) == nullptr);
    CHECK("new[](impossible, align_val_t, nothrow) is nullptr",
          ::operator new[](n, std::align_val_t(256), std::nothrow) == nullptr);

    // The new_handler loop: called until it uninstalls itself, then the
    // failure of the form.
    struct Case {
        const char *name;
        bool nothrow;
        void *(*call)(size_t);
    };
    static const Case cases[] = {
        {"new", false, [](size_t s) { return ::operator new(s); }},
        {"new[]", false, [](size_t s) { return ::operator new[](s); }},
        {"new(align_val_t 64)", false,
         [](size_t s) { return ::operator new(s, std::align_val_t(64)); }},
        {"new[](align_val_t 128)", false,
         [](size_t s) { return ::operator new[](s, std::align_val_t(128)); }},
        {"new(nothrow)", true, [](size_t s) { return ::operator new(s, std::nothrow); }},
        {"new[](nothrow)", true, [](size_t s) { return ::operator new[](s, std::nothrow); }},
        {"new(align_val_t 32, nothrow)", true,
         [](size_t s) { return ::operator new(s, std::align_val_t(32), std::nothrow); }},
        {"new[](align_val_t 32, nothrow)", true,
         [](size_t s) { return ::operator new[](s, std::align_val_t(32), std::nothrow); }},
    };
    for (const Case &c : cases) {
        handler_calls = 0;
        std::set_new_handler(counting_handler);
        bool ok;
        if (c.nothrow) {
            ok = c.call(n) == nullptr;
        } else {
            auto call = c.call;
            ok = throws_bad_alloc([call, n] { call(n); });
        }
        char name[128];
        snprintf(name, sizeof name, "%s(impossible) calls the new_handler 3 times, then %s", c.name,
                 c.nothrow ? "nullptr" : "bad_alloc");
        CHECK(name, ok && handler_calls == 3 && std::get_new_handler() == nullptr);
        if (handler_calls != 3)
            fprintf(stderr, "  %s: new_handler called %d times\n", c.name, handler_calls);
        std::set_new_handler(nullptr);
    }

    std::string s(launder(100000), 'q');
    CHECK("allocation after the failures", s.size() == 100000 && s[99999] == 'q');
}

// A new_handler that frees a reserve: under RLIMIT_AS a large new fails
// first, the handler frees the reserve and uninstalls itself, the retry
// succeeds.
static char *reserve;
static size_t reserve_size;
static int reserve_calls;
static void reserve_handler()
{
    reserve_calls++;
    ::operator delete[](reserve);
    reserve = nullptr;
    std::set_new_handler(nullptr);
}

static size_t vm_size_bytes()
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1;
    if (f) {
        if (fscanf(f, "%ld", &pages) != 1)
            pages = -1;
        fclose(f);
    }
    return pages < 0 ? 0 : (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void test_reserve_handler()
{
    const size_t mib = 1u << 20;
    struct rlimit old;
    if (getrlimit(RLIMIT_AS, &old) != 0) {
        CHECK("getrlimit", false);
        return;
    }
    struct Step {
        const char *name;
        void *(*call)(size_t);
        void (*release)(void *, size_t);
    };
    static const Step steps[] = {
        {"new", [](size_t s) { return ::operator new(s); },
         [](void *p, size_t s) { ::operator delete(p, s); }},
        {"new[](nothrow)", [](size_t s) { return ::operator new[](s, std::nothrow); },
         [](void *p, size_t) { ::operator delete[](p); }},
        {"new(align_val_t 4096)", [](size_t s) { return ::operator new(s, std::align_val_t(4096)); },
         [](void *p, size_t) { ::operator delete(p, std::align_val_t(4096)); }},
    };
    for (const Step &st : steps) {
        reserve_size = launder(64 * mib);
        reserve = static_cast<char *>(::operator new[](reserve_size));
        reserve[0] = reserve[reserve_size - 1] = 1;
        // Room for 24 MiB more: a 48 MiB request fails until the 64 MiB
        // reserve goes (RLIMIT_AS counts address space, touched or not).
        size_t vm = vm_size_bytes();
        struct rlimit lim = old;
        lim.rlim_cur = (rlim_t)(vm + 24 * mib);
        if (vm == 0 || (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max) ||
            setrlimit(RLIMIT_AS, &lim) != 0) {
            ::operator delete[](reserve);
            printf("SKIP reserve new_handler check: cannot set RLIMIT_AS\n");
            return;
        }
        reserve_calls = 0;
        std::set_new_handler(reserve_handler);
        void *p = nullptr;
        bool threw = false;
        try {
            p = st.call(launder(48 * mib));
        } catch (...) {
            threw = true;
        }
        setrlimit(RLIMIT_AS, &old);
        std::set_new_handler(nullptr);
        char name[128];
        snprintf(name, sizeof name,
                 "%s(48 MiB) under RLIMIT_AS: the handler frees the reserve, the retry succeeds",
                 st.name);
        CHECK(name, !threw && p != nullptr && reserve_calls == 1 && reserve == nullptr);
        if (p) {
            static_cast<char *>(p)[0] = static_cast<char *>(p)[48 * mib - 1] = 2;
            st.release(p, 48 * mib);
        }
        if (reserve) {
            ::operator delete[](reserve);
            reserve = nullptr;
        }
    }
}

// ---- sized delete with a wrong size --------------------------------------
// Runs in a child: allocate blocks, delete each with a plausible wrong size,
// then allocate lots of blocks of the sizes involved and check that none
// overlaps another and none is clobbered.  Exit 0: the size was ignored (or
// handled) and nothing broke.
static int wrong_size_child()
{
    static const size_t sizes[] = {16, 24, 32, 40, 48, 56, 64, 100, 128, 200, 256,
                                   384, 512, 520, 1000, 2048, 4000, 16384, 20000, 100000};
    for (size_t n : sizes) {
        const size_t wrong[] = {n + 8, n > 8 ? n - 8 : n + 16, n * 2, n / 2 ? n / 2 : 1, n + 100};
        for (size_t w : wrong) {
            for (int k = 0; k < 16; k++) {
                void *p = ::operator new(launder(n));
                fill(p, n, (unsigned)k);
                ::operator delete(p, launder(w));
                void *q = ::operator new[](launder(n));
                ::operator delete[](q, launder(w));
                void *r = ::operator new(launder(n), std::align_val_t(64));
                ::operator delete(r, launder(w), std::align_val_t(64));
            }
        }
    }
    // Now use the heap hard: every block of every size involved.
    std::vector<Live> live;
    unsigned seed = 0;
    for (int round = 0; round < 64; round++)
        for (size_t n : sizes) {
            for (size_t m : {n, n + 8, n > 8 ? n - 8 : n, n * 2, n / 2 ? n / 2 : 1}) {
                void *p = ::operator new(launder(m));
                fill(p, m, ++seed);
                live.push_back({p, m, seed});
            }
        }
    long bad = 0;
    for (const Live &b : live)
        if (!intact(b.p, b.n, b.seed))
            bad++;
    std::vector<std::pair<uintptr_t, uintptr_t>> iv;
    for (const Live &b : live)
        iv.push_back({reinterpret_cast<uintptr_t>(b.p), reinterpret_cast<uintptr_t>(b.p) + b.n});
    std::sort(iv.begin(), iv.end());
    for (size_t i = 1; i < iv.size(); i++)
        if (iv[i].first < iv[i - 1].second)
            bad++;
    for (const Live &b : live)
        ::operator delete(b.p);
    if (bad) {
        fprintf(stderr, "FAIL: after wrong-size deletes: %ld blocks clobbered or overlapping\n",
                bad);
        return 1;
    }
    return 0;
}

static void test_wrong_size()
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        CHECK("fork", false);
        return;
    }
    if (pid == 0)
        _exit(wrong_size_child());
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("sized delete with a wrong size: ignored, nothing clobbered or overlapping\n");
        CHECK("sized delete with a wrong size breaks nothing", true);
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) {
        printf("sized delete with a wrong size: detected (the child aborted)\n");
        CHECK("sized delete with a wrong size detected", true);
    } else {
        fprintf(stderr, "FAIL: wrong-size child: %s %d\n",
                WIFSIGNALED(status) ? "killed by signal" : "exit status",
                WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        CHECK("sized delete with a wrong size breaks nothing", false);
    }
}

int main()
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    printf("compiled by %s\n", PM_COMPILER);
    test_symbols();
    test_alignment();
    test_store_pattern();
    test_failures();
    test_reserve_handler();
    test_wrong_size();
    return pm_test_finish();
}
