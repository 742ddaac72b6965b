/* os.h -- the operating-system contract of poolmalloc (floor 0, base/).
 *
 * Everything the allocator needs from the kernel and the C runtime goes
 * through these few functions; only base/os_linux.c includes <sys/mman.h>.
 * None of them allocates memory, so all are safe before main(), inside
 * dlsym, and while the allocator's own locks are held.
 *
 * Contract: sizes passed to map/unmap/decommit are multiples of PM_OS_PAGE;
 * functions returning int give 0 on success or an errno value, and never
 * leave errno changed.
 */
#ifndef PM_OS_H
#define PM_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PM_OS_PAGE 4096u

/* Fresh zeroed read-write memory of `size` bytes aligned to `align` (a power
 * of two >= PM_OS_PAGE), or NULL.  */
void *_pm_os_map(size_t size, size_t align);
/* A read-write mapping of `size` bytes (a multiple of PM_OS_PAGE) for a
 * large table that stays sparse: zero pages, each made when first written
 * and never backed by a huge page; no commit charge where the kernel
 * overcommits (MAP_NORESERVE).  NULL where the kernel refuses it (an
 * address-space limit, vm.overcommit_memory=2). */
void *_pm_os_map_sparse(size_t size);
/* Returns [addr, addr+size) to the OS: true.  false when munmap failed
 * (ENOMEM: the range is in an area of the process that it would split, and
 * the process has vm.max_map_count areas already): then the range stays
 * mapped, its pages given back (as _pm_os_decommit), and is still the
 * caller's, to keep or to try again. */
bool _pm_os_unmap(void *addr, size_t size);
/* Returns the n mappings addrs[i] (each mapped as one of sizes[i] bytes)
 * to the OS, with one munmap per run of neighbours: both arrays are sorted
 * together (ascending addresses) in place first.  A run is unmapped in one
 * system call, which costs the kernel less than one call per mapping (no
 * split of the area between).  Returns how many could not be unmapped (as
 * _pm_os_unmap's false), moved to the front of the arrays. */
size_t _pm_os_unmap_sized(void **addrs, size_t *sizes, size_t n);
/* Resizes a mapping obtained from _pm_os_map(old_size, PM_OS_PAGE).
 * dest == NULL: in place (shrinking always can; growing only while the pages
 * after it are free); returns addr, or NULL.  dest != NULL: moves it onto
 * [dest, dest + new_size), a mapping the caller made with
 * _pm_os_map(new_size, PM_OS_PAGE), which it replaces; returns dest, or NULL
 * (then the caller still owns and unmaps dest).  On NULL the old mapping is
 * untouched.  Moving onto a mapping the caller already holds, instead of
 * letting the kernel choose, means the new place is known (and indexed)
 * before the block moves, and the address space the move needs is already
 * paid for by dest (the kernel checks its map-count limit before it unmaps
 * dest; only an internal kernel allocation failure could then fail it). */
void *_pm_os_remap(void *addr, size_t old_size, size_t new_size, void *dest);
/* From now on, ranges given back (_pm_os_unmap, _pm_os_unmap_sized, the
 * old place of a block a remap moved) stay reserved, without access or
 * pages, instead of unmapped, so that the kernel never maps them again.
 * For helgrind and drd (base/process.c): they cannot see the kernel
 * handing a range one thread gave back to another thread's mmap as an
 * order between the two, and reported the second thread's use of a new
 * arena against the first's stores to the old one
 * (vg_drd_producer_consumer: 2 runs in 80 with two at once, and one
 * fresh-clone CI run; the rest of that test's failures came from locks
 * drd ignores, base/vg.h, pm_mutex_lock).
 * The address space then only grows: for the tools' runs alone. */
void _pm_os_reserve_released(void);
/* The words of this layer that threads share through C11 atomics alone
 * (_pm_os_map's hint), for the race detectors' annotations (vg.h). */
void _pm_os_shared_words(void **addr, size_t *size);
/* Tells the OS the contents of [addr, addr+size) are no longer needed: the
 * range stays mapped and reads back as zeros. */
void _pm_os_decommit(void *addr, size_t size);
/* How many bytes of [addr, addr+size) (page-aligned, mapped) are resident
 * now (mincore): a hint only, since a page swapped out reads as not
 * resident and still holds its data.  size on failure. */
size_t _pm_os_resident(const void *addr, size_t size);
/* Asks for transparent huge pages over [addr, addr+size) (madvise
 * MADV_HUGEPAGE; the kernel's default, "madvise", gives them to no mapping
 * that does not ask).  Best effort: a kernel without them ignores it. */
void _pm_os_hugepages(void *addr, size_t size);
/* Faults [addr, addr+size) (page-aligned, in a mapping of ours) in now, as
 * writes would, in one call (madvise MADV_POPULATE_WRITE): cheaper than a
 * fault per page.  Best effort: a kernel older than 5.14 refuses it (and is
 * not asked again), and a page it cannot make is left to fault later. */
void _pm_os_populate(void *addr, size_t size);
/* Makes [addr, addr+size) (page-aligned, in a mapping of ours) a guard: any
 * access faults.  0, or the errno of mprotect. */
int _pm_os_guard(void *addr, size_t size);

/* The value of environment variable `name`, read from `environ` without
 * allocating; NULL if unset or if the environment is not set up yet. */
const char *_pm_os_getenv(const char *name);
/* Writes all of buf to file descriptor fd (best effort, errno kept). */
void _pm_os_write(int fd, const char *buf, size_t len);
/* A private duplicate of stderr (close-on-exec), for reports made at exit
 * by programs that close fd 2 first (coreutils do); -1 on failure. */
int _pm_os_dup_stderr(void);
/* Monotonic milliseconds, cheap (vDSO coarse clock). */
uint64_t _pm_os_now_ms(void);
/* 64 random bits for the process's secrets: the kernel's getrandom, or if
 * that fails (old kernel, no entropy yet) the AT_RANDOM bytes the kernel
 * gave the process, hashed.  Never allocates. */
uint64_t _pm_os_random(void);
/* Ends the process with SIGABRT (after a fatal report, base/msg.c). */
__attribute__((noreturn, cold)) void _pm_os_abort(void);

/* Thread exit: registers the one destructor the allocator needs (called
 * with the value set by _pm_os_thread_exit_set when a thread that set one
 * exits); 0 or an errno value.  May allocate (glibc's key table), so it is
 * called after the calling thread can allocate. */
int _pm_os_thread_exit_key(void (*destructor)(void *));
void _pm_os_thread_exit_set(void *value);
/* fork: prepare runs in the forking thread before fork, parent and child
 * after it; 0 or an errno value. */
int _pm_os_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void));
/* True while the process has never had a second thread (glibc's
 * __libc_single_threaded; false where the C library does not say). */
_Bool _pm_os_single_threaded(void);
/* The C library's lock of its list of FILEs (glibc's _IO_list_lock, a
 * recursive lock that fork takes after the prepare handlers): taken by the
 * prepare handler first, so that fork, fflush(NULL) and a getline that
 * reallocs under its FILE's lock cannot deadlock (glibc bug 19431).
 * _pm_os_stdio_lock returns whether it took it; in the parent it is
 * released, in the child reset (glibc resets it there before the child
 * handlers run, so it must not be unlocked). */
_Bool _pm_os_stdio_lock(void);
void _pm_os_stdio_unlock(void);
void _pm_os_stdio_reset(void);

#ifdef PM_FAULT_INJECTION
/* Fault injection (test builds only, -DPM_FAULT_INJECTION): every mmap and
 * mremap the functions above make counts as one call, numbered from 1 after
 * _pm_os_fault_set(nth, sticky).  Call nth fails as if memory were exhausted
 * (so do all later ones when sticky); nth == 0 turns injection off.  The OS
 * layer also records every mapping it hands out until it is unmapped:
 * _pm_os_mappings calls fn for each (fn may allocate) and returns how many
 * there are; _pm_os_mapping_errors counts unmaps and remaps of ranges that
 * are not inside one mapping it records. */
#include <stdbool.h>
void _pm_os_fault_set(uint64_t nth, bool sticky);
uint64_t _pm_os_fault_calls(void);    /* calls since _pm_os_fault_set */
uint64_t _pm_os_fault_failed(void);   /* of which made to fail */
/* The next n munmaps fail with ENOMEM (0: none), as at vm.max_map_count. */
void _pm_os_fault_unmap(uint64_t n);
size_t _pm_os_mappings(void (*fn)(void *addr, size_t size, void *arg), void *arg);
uint64_t _pm_os_mapping_errors(void);
#endif

#endif
