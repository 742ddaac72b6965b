// cxx_new_delete.cpp -- C++ allocation through poolmalloc.
//
// libstdc++'s operator new/delete call malloc/free (aligned new calls
// aligned_alloc), so with poolmalloc preloaded every C++ allocation goes
// through it.  Checks: new/delete, new[]/delete[], sized delete, aligned new
// (alignas 64/256/4096) with aligned and sized-aligned delete, nothrow new,
// std::bad_alloc for impossible sizes, STL container churn with content
// checks, and the same churn in a pool of std::threads.
//
// Build with -DPM_TEST_SYSTEM_MALLOC to sanity-run against the system malloc.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <malloc.h>

#include "pm_test.h"

static size_t launder(size_t x)
{
    volatile size_t v = x;
    return v;
}

static bool aligned(const void *p, size_t a)
{
    return (reinterpret_cast<uintptr_t>(p) % a) == 0;
}

struct alignas(64) A64 {
    unsigned char b[64];
};
struct alignas(256) A256 {
    unsigned char b[200];
};
struct alignas(4096) A4096 {
    unsigned char b[5000];
};

struct Tracked {
    static std::atomic<long> live;
    uint64_t v[5];
    explicit Tracked(uint64_t x = 7)
    {
        for (int i = 0; i < 5; i++)
            v[i] = x * 31 + (uint64_t)i;
        live++;
    }
    ~Tracked() { live--; }
    bool ok(uint64_t x) const
    {
        for (int i = 0; i < 5; i++)
            if (v[i] != x * 31 + (uint64_t)i)
                return false;
        return true;
    }
};
std::atomic<long> Tracked::live{0};

// ---- new / delete ---------------------------------------------------------
static void test_basic()
{
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        int *p = new int(i);
        if (*p != i)
            bad++;
        delete p;
    }
    CHECK("new int / delete", bad == 0);

    bad = 0;
    for (size_t n = 1; n < 3000; n += 7) {
        unsigned char *a = new unsigned char[n];
        if (!aligned(a, 8))
            bad++;
        memset(a, (int)(n & 0xff), n);
        for (size_t i = 0; i < n; i++)
            if (a[i] != (unsigned char)(n & 0xff)) {
                bad++;
                break;
            }
        delete[] a;
    }
    CHECK("new[] / delete[] of bytes", bad == 0);

    // Arrays of objects with destructors (array cookie) and sized delete.
    for (int round = 0; round < 50; round++) {
        size_t n = launder(1 + (size_t)round * 13);
        Tracked *t = new Tracked[n];
        bool ok = true;
        for (size_t i = 0; i < n; i++)
            ok = ok && t[i].ok(7);
        CHECK("new Tracked[] constructed", ok);
        delete[] t;
        Tracked *s = new Tracked(round);
        CHECK("new Tracked", s->ok((uint64_t)round));
        delete s; // sized delete (-fsized-deallocation)
    }
    CHECK("all Tracked destroyed", Tracked::live.load() == 0);

    // Explicit sized operator delete calls.
    for (size_t n = 1; n < 100000; n = n * 3 + 1) {
        void *p = ::operator new(n);
        memset(p, 0x5c, n);
        ::operator delete(p, n);
    }
    for (size_t n = 1; n < 100000; n = n * 3 + 1) {
        void *p = ::operator new[](n);
        memset(p, 0x5d, n);
        ::operator delete[](p, n);
    }
    CHECK("explicit sized delete survived", true);

    // Large objects.
    std::vector<char> *big = new std::vector<char>(launder(8u << 20), 'x');
    CHECK("8 MiB vector", big->size() == (8u << 20) && (*big)[12345] == 'x' &&
                              (*big)[(8u << 20) - 1] == 'x');
    delete big;
}

// ---- aligned new ----------------------------------------------------------
template <typename T> static int aligned_round(int count)
{
    int bad = 0;
    std::vector<T *> v;
    for (int i = 0; i < count; i++) {
        T *p = new T;
        if (!aligned(p, alignof(T)) || malloc_usable_size(p) < sizeof(T))
            bad++;
        memset(p->b, i & 0xff, sizeof p->b);
        v.push_back(p);
    }
    for (int i = 0; i < count; i++) {
        for (size_t k = 0; k < sizeof v[i]->b; k++)
            if (v[i]->b[k] != (unsigned char)(i & 0xff)) {
                bad++;
                break;
            }
        delete v[i]; // aligned (sized) delete
    }
    size_t n = launder(17);
    T *arr = new T[n];
    for (size_t i = 0; i < n; i++)
        if (!aligned(&arr[i], alignof(T)))
            bad++;
    delete[] arr;
    // nothrow aligned
    T *q = new (std::nothrow) T;
    if (!q || !aligned(q, alignof(T)))
        bad++;
    delete q;
    // explicit aligned operator new/delete
    for (size_t sz = 1; sz < 70000; sz = sz * 4 + 3) {
        void *p = ::operator new(sz, std::align_val_t(alignof(T)));
        if (!aligned(p, alignof(T)))
            bad++;
        memset(p, 1, sz);
        ::operator delete(p, sz, std::align_val_t(alignof(T)));
        p = ::operator new[](sz, std::align_val_t(alignof(T)));
        if (!aligned(p, alignof(T)))
            bad++;
        ::operator delete[](p, std::align_val_t(alignof(T)));
    }
    return bad;
}

static void test_aligned()
{
    CHECK("alignas(64) new/delete", aligned_round<A64>(500) == 0);
    CHECK("alignas(256) new/delete", aligned_round<A256>(300) == 0);
    CHECK("alignas(4096) new/delete", aligned_round<A4096>(100) == 0);
    int bad = 0;
    for (size_t a = 1; a <= (1u << 16); a *= 2) {
        void *p = ::operator new(launder(100), std::align_val_t(a));
        if (!aligned(p, a))
            bad++;
        ::operator delete(p, std::align_val_t(a));
    }
    CHECK("operator new(align_val_t) 1..64K", bad == 0);
}

// ---- nothrow and bad_alloc -------------------------------------------------
static void test_failures()
{
    int *p = new (std::nothrow) int[launder(1000)];
    CHECK("nothrow new small", p != nullptr);
    delete[] p;

    char *q = new (std::nothrow) char[launder(SIZE_MAX / 2)];
    CHECK("nothrow new impossible returns nullptr", q == nullptr);
    delete[] q;

    bool caught = false;
    try {
        char *r = new char[launder(SIZE_MAX / 2)];
        r[0] = 1;
        delete[] r;
    } catch (const std::bad_alloc &) {
        caught = true;
    }
    CHECK("new char[SIZE_MAX/2] throws bad_alloc", caught);

    caught = false;
    try {
        void *r = ::operator new(launder(SIZE_MAX - 64));
        ::operator delete(r);
    } catch (const std::bad_alloc &) {
        caught = true;
    }
    CHECK("operator new(SIZE_MAX-64) throws bad_alloc", caught);

    caught = false;
    try {
        void *r = ::operator new(launder(SIZE_MAX / 4), std::align_val_t(4096));
        ::operator delete(r, std::align_val_t(4096));
    } catch (const std::bad_alloc &) {
        caught = true;
    }
    CHECK("aligned operator new(SIZE_MAX/4) throws bad_alloc", caught);

    void *r = ::operator new(launder(SIZE_MAX / 2), std::nothrow);
    CHECK("operator new(nothrow) impossible", r == nullptr);
    r = ::operator new(launder(SIZE_MAX / 2), std::align_val_t(64), std::nothrow);
    CHECK("aligned operator new(nothrow) impossible", r == nullptr);

    // Allocation keeps working after the failures.
    std::string s(launder(100000), 'q');
    CHECK("allocation after bad_alloc", s.size() == 100000 && s[99999] == 'q');
}

// ---- STL churn -----------------------------------------------------------
static uint64_t val_of(uint64_t k)
{
    return k * 0x9E3779B97F4A7C15ULL ^ 0xabcdef;
}

static std::string str_of(uint64_t k)
{
    // Lengths from 0 to ~200: both SSO and heap strings.
    std::string s;
    size_t len = (size_t)(k % 197);
    s.reserve(len);
    for (size_t i = 0; i < len; i++)
        s.push_back((char)('a' + (k + i) % 26));
    return s;
}

// Returns the number of errors.
static long stl_churn(unsigned long long seed, int rounds)
{
    long errors = 0;
    unsigned long long rng = seed;
    for (int round = 0; round < rounds; round++) {
        std::map<uint64_t, std::string> m;
        std::unordered_map<uint64_t, std::vector<uint64_t>> um;
        std::vector<std::string> vs;
        for (int i = 0; i < 2000; i++) {
            uint64_t k = pm_test_rand(&rng) % 5000;
            m[k] = str_of(k);
            std::vector<uint64_t> &v = um[k];
            v.clear();
            size_t n = (size_t)(k % 40);
            for (size_t j = 0; j < n; j++)
                v.push_back(val_of(k + j));
            vs.push_back(str_of(k + 1));
            if (i % 3 == 0) {
                uint64_t e = pm_test_rand(&rng) % 5000;
                m.erase(e);
                um.erase(e);
            }
            if (i % 7 == 0 && !vs.empty())
                vs.erase(vs.begin() + (long)(pm_test_rand(&rng) % vs.size()));
        }
        for (auto &kv : m)
            if (kv.second != str_of(kv.first))
                errors++;
        for (auto &kv : um) {
            size_t n = (size_t)(kv.first % 40);
            if (kv.second.size() != n)
                errors++;
            for (size_t j = 0; j < kv.second.size(); j++)
                if (kv.second[j] != val_of(kv.first + j))
                    errors++;
        }
        // Growth by push_back with reallocation, then shrink_to_fit.
        std::vector<uint64_t> g;
        for (uint64_t i = 0; i < 100000; i++)
            g.push_back(val_of(i));
        g.resize(1000);
        g.shrink_to_fit();
        for (uint64_t i = 0; i < g.size(); i++)
            if (g[i] != val_of(i))
                errors++;
        // Long strings built by appending.
        std::string s;
        for (int i = 0; i < 5000; i++)
            s += str_of((uint64_t)i);
        size_t pos = 0;
        for (int i = 0; i < 5000 && !errors; i++) {
            std::string part = str_of((uint64_t)i);
            if (s.compare(pos, part.size(), part) != 0)
                errors++;
            pos += part.size();
        }
    }
    return errors;
}

static void test_stl()
{
    CHECK("STL churn (main thread)", stl_churn(1, 10) == 0);
}

static void test_threads()
{
    const int nthreads = 4;
    std::atomic<long> errors{0};
    std::vector<std::thread> pool;
    // Objects created in one thread and destroyed in another.
    std::vector<std::map<int, std::string> *> handoff(nthreads, nullptr);
    for (int t = 0; t < nthreads; t++) {
        pool.emplace_back([t, &errors, &handoff] {
            errors += stl_churn(100 + (unsigned long long)t, 6);
            auto *m = new std::map<int, std::string>;
            for (int i = 0; i < 1000; i++)
                (*m)[i] = str_of((uint64_t)(i + t));
            handoff[(size_t)t] = m;
            for (int i = 0; i < 2000; i++) {
                auto *a = new A256;
                memset(a->b, t, sizeof a->b);
                if (!aligned(a, 256))
                    errors++;
                delete a;
            }
        });
    }
    for (auto &th : pool)
        th.join();
    pool.clear();
    // Second wave: each thread destroys a map built by another (exited) thread.
    for (int t = 0; t < nthreads; t++) {
        pool.emplace_back([t, &errors, &handoff] {
            int src = (t + 1) % nthreads;
            auto *m = handoff[(size_t)src];
            if (!m) {
                errors++;
                return;
            }
            for (int i = 0; i < 1000; i++)
                if ((*m)[i] != str_of((uint64_t)(i + src)))
                    errors++;
            delete m;
        });
    }
    for (auto &th : pool)
        th.join();
    CHECK("STL churn in a std::thread pool", errors.load() == 0);
}

int main()
{
#ifndef PM_TEST_SYSTEM_MALLOC
    pm_test_require_poolmalloc();
#endif
    test_basic();
    test_aligned();
    test_failures();
    test_stl();
    test_threads();
    return pm_test_finish();
}
