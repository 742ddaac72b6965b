// new_failed.cpp -- operator new's failure path (floor 3).
//
// What the standard asks of a replaced operator new that cannot allocate:
// call the installed std::new_handler and try again, for as long as one is
// installed; without one, throw std::bad_alloc (the nothrow forms return
// NULL instead, and also when a handler throws).
//
// libpoolmalloc does not depend on the C++ runtime: a C program that
// preloads it must not load libstdc++.  So the runtime's functions used
// here are weak references, bound when the program has the runtime -- and a
// program that calls operator new always has it.  Without it (a C program
// calling _Znwm by hand), running out of memory aborts with one line.
#include <cstddef>
#include <new>

// The personality routine and catch helpers of the try/catch below, weak
// for the same reason (an exception reaching them implies the runtime).
__asm__(".weak __gxx_personality_v0");
extern "C" {
void *__cxa_begin_catch(void *) noexcept __attribute__((weak));
void __cxa_end_catch() __attribute__((weak));
__attribute__((visibility("hidden"))) void *_pm_new_retry(std::size_t size, std::size_t align);
__attribute__((visibility("hidden"), noreturn, cold)) void _pm_fatal(const char *msg);
}
namespace std {
new_handler get_new_handler() noexcept __attribute__((weak));
[[noreturn]] void __throw_bad_alloc() __attribute__((weak));
}  // namespace std

extern "C" __attribute__((visibility("hidden"), noinline)) void *
_pm_new_failed(std::size_t size, std::size_t align, bool nothrow)
{
    for (;;) {
        std::new_handler handler = std::get_new_handler ? std::get_new_handler() : nullptr;
        if (!handler) {
            if (nothrow)
                return nullptr;
            if (std::__throw_bad_alloc)
                std::__throw_bad_alloc();
            _pm_fatal("operator new: out of memory, and no C++ runtime to throw std::bad_alloc");
        }
        if (nothrow) {
            try {
                handler();
            } catch (...) {
                return nullptr;
            }
        } else {
            handler();
        }
        if (void *p = _pm_new_retry(size, align))
            return p;
    }
}
