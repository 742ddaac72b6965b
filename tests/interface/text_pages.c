/* text_pages.c -- the library's own pages (docs/DESIGN.md): run with
 * libpoolmalloc.so preloaded, after the allocations a small C program
 * makes (small and medium blocks, enough of them that size ranges split,
 * calloc, realloc, free of NULL, the memalign family, a large buffer made
 * and freed in a loop), at most
 * one fault-around window of the library's
 * executable mapping may be resident, malloc, free and the library's
 * .fini (which every exit runs) must lie in its first window, and none of
 * the segment of its unwind tables may be resident (.rodata is not there).  Before the hot functions were placed first (preload/hot.ld),
 * such a program had all 34 pages of the text resident.
 *
 * The window is measured, not assumed: a page of a fresh read-only mapping
 * of the library file is touched and the resident pages around it counted
 * (the kernel's fault_around_bytes, 64 KiB by default).  Exit 77 (skipped)
 * when /proc/self/pagemap or the mapping cannot be read.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int pagemap = -1;

/* Resident pages of [lo, hi). */
static long resident(uintptr_t lo, uintptr_t hi)
{
    long n = 0;
    for (uintptr_t a = lo; a < hi; a += 4096) {
        uint64_t e;
        if (pread(pagemap, &e, sizeof e, (off_t)(a / 4096 * 8)) != sizeof e)
            return -1;
        n += (long)(e >> 63);
    }
    return n;
}

/* The fault-around window in pages: the resident pages of a fresh mapping
 * of file after one read in its middle. */
static long window_pages(const char *file)
{
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return -1;
    off_t len = lseek(fd, 0, SEEK_END) & ~(off_t)4095;
    /* The whole file into the page cache first: fault-around maps only the
     * pages there, so right after the library was written (a fresh build)
     * the window read one page short (15 of 16) and the test failed on a
     * library whose text was within one window. */
    char buf[65536];
    for (off_t off = 0; off < len;) {
        ssize_t got = pread(fd, buf, sizeof buf, off);
        if (got <= 0)
            break;
        off += got;
    }
    char *m = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    volatile char c = m[len / 2];
    (void)c;
    long n = resident((uintptr_t)m, (uintptr_t)m + (uintptr_t)len);
    munmap(m, (size_t)len);
    return n;
}

/* The library's DT_FINI, the code every exit runs, and the pages of the
 * segment that holds its unwind tables (PT_GNU_EH_FRAME), by its load
 * base. */
struct fini_find {
    void *base;
    uintptr_t fini;
    uintptr_t eh_lo, eh_hi;
};
static int fini_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct fini_find *ff = arg;
    (void)size;
    if ((void *)info->dlpi_addr != ff->base)
        return 0;
    uintptr_t eh = 0;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
            eh = info->dlpi_phdr[i].p_vaddr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && eh && ph->p_vaddr <= eh && eh < ph->p_vaddr + ph->p_memsz) {
            ff->eh_lo = (info->dlpi_addr + ph->p_vaddr + 4095) & ~(uintptr_t)4095;
            ff->eh_hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(uintptr_t)4095;
        }
        if (ph->p_type != PT_DYNAMIC)
            continue;
        for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
             d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_FINI)
                ff->fini = info->dlpi_addr + d->d_un.d_ptr;
    }
    return 1;
}

int main(void)
{
    /* What a small C program does. */
    void *keep[64];
    for (int i = 0; i < 64; i++)
        keep[i] = malloc((size_t)(8 + i * 40));
    char *s = calloc(100, 3);
    s = realloc(s, 5000);
    free(NULL);
    free(s);
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    /* Enough blocks of 65..512 bytes, and of 1..2 KiB, that the size
     * ranges split (pools/pools.h, pm_class_range; pools/span.c): the
     * class table's rewrite once called libgcc's __popcountdi2, at the
     * text's far end. */
    static void *many[3000];
    for (int i = 0; i < 3000; i++)
        many[i] = malloc(i < 2900 ? (size_t)(72 + (i % 3) * 200) : 1500);
    for (int i = 0; i < 3000; i += 2)   /* half of them: no arena empties */
        free(many[i]);
    /* The memalign family, which libraries that align their structures to
     * cache lines call. */
    void *a = NULL;
    if (posix_memalign(&a, 64, 200) != 0) {
        fprintf(stderr, "text_pages: posix_memalign(64, 200) failed\n");
        return 1;
    }
    free(a);
    free(aligned_alloc(64, 128));
    free(memalign(4096, 4096));
    /* A buffer made and freed in a loop, past the large slots' batch of
     * counts (arenas/large.c, slot_put_slow): it once ran the eviction's
     * code too, in the hot list's tail. */
    for (int i = 0; i < 3000; i++) {
        char *b = malloc(65536);
        b[i] = 1;
        free(b);
    }

    Dl_info info, own;
    void *version = dlsym(RTLD_DEFAULT, "pm_version");
    if (!version || !dladdr((void *)(uintptr_t)malloc, &info) || !dladdr(version, &own) ||
        info.dli_fbase != own.dli_fbase) {
        fprintf(stderr, "text_pages: malloc is not poolmalloc's\n");
        return 1;
    }
    char path[4096];
    if (!realpath(info.dli_fname, path) || (pagemap = open("/proc/self/pagemap", O_RDONLY)) < 0)
        return 77;
    long window = window_pages(path);
    FILE *maps = fopen("/proc/self/maps", "r");
    if (window < 1 || !maps)
        return 77;
    char line[4096 + 128];
    uintptr_t lo = 0, hi = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long a, b;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perm) == 3 && perm[2] == 'x' && strstr(line, path)) {
            lo = a;
            hi = b;
        }
    }
    fclose(maps);
    if (!lo)
        return 77;
    long text = resident(lo, hi);
    uintptr_t f = (uintptr_t)free, m = (uintptr_t)malloc, end = lo + (uintptr_t)window * 4096;
    printf("text_pages: %s: %ld of %lu executable pages resident, fault-around window %ld pages\n",
           path, text, (unsigned long)((hi - lo) / 4096), window);
    if (text < 0 || text > window) {
        fprintf(stderr, "text_pages: %ld pages of text resident, more than one window (%ld)\n",
                text, window);
        return 1;
    }
    if (m < lo || m >= end || f < lo || f >= end) {
        fprintf(stderr, "text_pages: malloc or free not in the text's first window\n");
        return 1;
    }
    /* .fini runs at every exit: after the cold text it mapped another
     * window then (CMakeLists.txt moves it next to .init). */
    struct fini_find ff = {info.dli_fbase, 0, 0, 0};
    dl_iterate_phdr(fini_of, &ff);
    if (ff.fini && (ff.fini < lo || ff.fini >= end)) {
        fprintf(stderr, "text_pages: .fini (%#lx) not in the text's first window\n",
                (unsigned long)(ff.fini - lo));
        return 1;
    }
    /* The unwind tables' segment is read only by an unwind (a C++
     * exception or a backtrace through the library): with .rodata in it,
     * which every run reads, the kernel mapped all of it (8 pages). */
    long eh = ff.eh_hi > ff.eh_lo ? resident(ff.eh_lo, ff.eh_hi) : 0;
    if (eh != 0) {
        fprintf(stderr, "text_pages: %ld pages of the unwind tables' segment resident\n", eh);
        return 1;
    }
    return 0;
}
