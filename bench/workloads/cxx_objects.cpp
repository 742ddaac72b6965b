// cxx_objects.cpp -- a C++ program's heap: small objects made with new and
// deleted through a base pointer, strings built and dropped, vectors grown by
// push_back, a map of string keys updated (the C++ object heaps of the
// programs mimalloc-bench runs, such as z3; the code is this project's own).
//
// cxx_objects: one thread.  State that lives across operations: a pool of
// 1024 polymorphic objects (4 classes of 24..232 bytes) and a std::map of
// up to 2048 std::string keys (12..40 characters, beyond the small-string
// buffer) to std::vector<int> values.  Each operation, drawn from a seeded
// PRNG, is one of:
//   1 in 2  replace a random object: delete the old one, new one of a random
//           class (operator new/delete, sized delete where the compiler uses it);
//   1 in 4  build a key and a vector of 1..32 ints by push_back, insert it
//           into the map (replacing any old value), and once the map is full,
//           erase the entry at or after another random key;
//   1 in 4  build a string by 4..12 appends, hash it, drop it.
// Checks: every object's payload is verified before delete; the map's
// values are verified when replaced or erased.  Calls reach the allocator
// through libstdc++'s operator new, which the preloaded library replaces
// (poolmalloc, jemalloc, tcmalloc, mimalloc, snmalloc all do) or forwards to
// malloc.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "workloads.h"
}

namespace {

void fail(const char *what)
{
    std::fprintf(stderr, "pm_bench: cxx_objects: %s\n", what);
    std::abort();
}

struct Object {
    explicit Object(uint32_t id) : id_(id) {}
    virtual ~Object() {}
    virtual uint32_t check() const = 0;   // the payload's checksum, 0 if broken
    uint32_t id_;
};

// An object with N words of payload derived from its id.
template <int N>
struct Sized : Object {
    explicit Sized(uint32_t id) : Object(id)
    {
        for (int i = 0; i < N; i++)
            words_[i] = id * 2654435761u + static_cast<uint32_t>(i);
    }
    uint32_t check() const override
    {
        uint32_t sum = 1;
        for (int i = 0; i < N; i++) {
            if (words_[i] != id_ * 2654435761u + static_cast<uint32_t>(i))
                return 0;
            sum += words_[i];
        }
        return sum | 1;
    }
    uint32_t words_[N];
};

Object *make_object(uint64_t r, uint32_t id)
{
    switch (r & 3) {
    case 0: return new Sized<2>(id);      // 24 bytes
    case 1: return new Sized<8>(id);      // 48
    case 2: return new Sized<22>(id);     // 104
    default: return new Sized<54>(id);    // 232
    }
}

const int kObjects = 1024;       // power of two
const size_t kMapMax = 2048;

std::string make_key(uint64_t r)
{
    // 12..40 characters: longer than libstdc++'s 15-byte small-string buffer
    // for most keys, so most are on the heap.
    std::string key = "key:" + std::to_string(r % 100000);
    size_t len = 12 + static_cast<size_t>((r >> 20) % 29);
    while (key.size() < len)
        key += static_cast<char>('a' + (r >> (key.size() % 40)) % 26);
    return key;
}

void check_value(const std::string &key, const std::vector<int> &v)
{
    int want = static_cast<int>(key.size());
    for (size_t i = 0; i < v.size(); i++)
        if (v[i] != want + static_cast<int>(i))
            fail("a map value was overwritten");
}

}  // namespace

extern "C" void pmb_cxx_objects(pmb_state *st)
{
    uint64_t rng = 0x6A09E667BB67AE85ULL + static_cast<uint64_t>(pmb_thread_index(st));
    std::vector<Object *> objects(kObjects);
    uint32_t next_id = 1;
    for (int i = 0; i < kObjects; i++)
        objects[i] = make_object(pmb_rand(&rng), next_id++);
    std::map<std::string, std::vector<int>> table;
    uint64_t sum = 0;
    const int kBatch = 256;
    while (pmb_keep_running_batch(st, kBatch)) {
        for (int op = 0; op < kBatch; op++) {
            uint64_t r = pmb_rand(&rng);
            switch (r & 3) {
            case 0:
            case 1: {
                Object *&slot = objects[(r >> 8) & (kObjects - 1)];
                uint32_t c = slot->check();
                if (c == 0)
                    fail("an object was overwritten");
                sum += c;
                delete slot;
                slot = make_object(r >> 20, next_id++);
                break;
            }
            case 2: {
                std::string key = make_key(r >> 2);
                std::vector<int> value;
                int n = 1 + static_cast<int>((r >> 40) % 32);
                for (int i = 0; i < n; i++)
                    value.push_back(static_cast<int>(key.size()) + i);
                auto it = table.find(key);
                if (it != table.end()) {
                    check_value(it->first, it->second);
                    it->second.swap(value);
                } else {
                    table.emplace(std::move(key), std::move(value));
                }
                if (table.size() > kMapMax) {
                    auto victim = table.lower_bound(make_key(pmb_rand(&rng)));
                    if (victim == table.end())
                        victim = table.begin();
                    check_value(victim->first, victim->second);
                    table.erase(victim);
                }
                break;
            }
            default: {
                std::string s;
                int pieces = 4 + static_cast<int>((r >> 8) % 9);
                for (int i = 0; i < pieces; i++) {
                    s += "piece-";
                    s += std::to_string((r >> (i * 4)) & 0xffff);
                }
                uint64_t h = 1469598103934665603ULL;
                for (char ch : s)
                    h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
                sum += h;
                break;
            }
            }
        }
    }
    pmb_do_not_optimize(&sum);
    if (table.size() > kMapMax)
        fail("the map grew past its bound");
    for (auto &kv : table)
        check_value(kv.first, kv.second);
    for (Object *o : objects) {
        if (o->check() == 0)
            fail("an object was overwritten");
        delete o;
    }
}
