// tls_helper.cpp -- C++ thread_local objects with non-trivial destructors
// that allocate, for tls_destructors.  glibc runs these destructors (and
// frees the __cxa_thread_atexit list nodes it malloc'ed) as each thread
// exits, before the pthread key destructors.
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

std::atomic<int> dtor_count{0};
std::atomic<int> errors{0};

std::string expected_name(int id, int k)
{
    // Lengths 1..60: both short-string-optimised and heap-allocated strings.
    return "n" + std::to_string(id) + "-" + std::to_string(k) +
           std::string(static_cast<size_t>((id * 7 + k * 3) % 60), 'a' + k % 26);
}

struct Tracker {
    int id = -1;
    std::vector<std::string> names;
    std::unique_ptr<long[]> data;

    ~Tracker()
    {
        if (id < 0) return;  // never touched in this thread
        // Allocating destructor: strings, a vector, a map.
        std::string msg = "thread " + std::to_string(id) + " exiting";
        std::vector<char> scratch(10000 + static_cast<size_t>(id), 'x');
        std::map<int, std::string> m;
        for (int k = 0; k < 20; k++) m[k] = msg + std::to_string(k);
        bool ok = names.size() == 100 && m.size() == 20 && scratch.back() == 'x';
        for (int k = 0; ok && k < 100; k++) ok = names[static_cast<size_t>(k)] == expected_name(id, k);
        for (int k = 0; ok && k < 1000; k++) ok = data[static_cast<size_t>(k)] == static_cast<long>(id) * k;
        if (!ok) {
            errors++;
            std::fprintf(stderr, "FAIL tls_helper: thread_local data of thread %d damaged at exit\n", id);
        }
        dtor_count++;
    }
};

thread_local Tracker tracker;
thread_local std::string tl_string;
thread_local std::vector<int> tl_vec;
thread_local std::map<int, std::string> tl_map;

}  // namespace

extern "C" int tls_helper_touch(int id)
{
    tracker.id = id;
    tracker.names.clear();
    for (int k = 0; k < 100; k++) tracker.names.push_back(expected_name(id, k));
    tracker.data.reset(new long[1000]);
    for (int k = 0; k < 1000; k++) tracker.data[static_cast<size_t>(k)] = static_cast<long>(id) * k;
    tl_string.assign(1000 + static_cast<size_t>(id), static_cast<char>('a' + id % 26));
    tl_vec.assign(5000, id);
    for (int k = 0; k < 50; k++) tl_map[k] = expected_name(id, k);
    // Read it all back.
    bool ok = tl_string.size() == 1000 + static_cast<size_t>(id) && tl_vec.size() == 5000 &&
              tl_map.size() == 50;
    for (int v : tl_vec) ok = ok && v == id;
    for (int k = 0; ok && k < 50; k++) ok = tl_map[k] == expected_name(id, k);
    return ok ? 1 : 0;
}

extern "C" int tls_helper_dtor_count(void) { return dtor_count.load(); }
extern "C" int tls_helper_errors(void) { return errors.load(); }
