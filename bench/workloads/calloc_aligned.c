/* calloc_aligned.c -- zeroed and aligned allocation loops.
 *
 * calloc/N: calloc(1, N), check that a byte in the middle and the last one
 *   are zero, dirty the block (first, middle and last bytes), free it.  An
 *   allocator must zero reused memory; fresh pages from the kernel are
 *   already zero.
 * calloc_sparse: calloc(1, 16 MiB), check and write one byte in each of its
 *   first 16 pages, free: a zeroed buffer sized for the largest case (a
 *   message, a decompression window, a table of rows) of which a program
 *   uses the beginning, made again and again.  Whether an allocator that
 *   reuses the mapping zeroes all of it, faulting every page in, or only
 *   what was written.
 * aligned/ALIGN/N: aligned_alloc(ALIGN, N), check the alignment, write,
 *   free.
 * One operation is one allocation and one free.
 */
#include "workloads.h"

#define CALLOC_BATCH 64

void pmb_calloc(pmb_state *st)
{
    size_t size = (size_t)pmb_arg(st, 0);
    while (pmb_keep_running_batch(st, CALLOC_BATCH)) {
        for (int i = 0; i < CALLOC_BATCH; i++) {
            char *p = pmb_check(calloc(1, size), size);
            if (p[size / 2] != 0 || p[size - 1] != 0) {
                pmb_fail(st, "calloc returned memory that is not zero");
                free(p);
                return;
            }
            p[0] = p[size / 2] = p[size - 1] = (char)(i | 1);
            pmb_do_not_optimize(p);
            free(p);
        }
    }
}

#define SPARSE_SIZE ((size_t)16 << 20)
#define SPARSE_TOUCHED 16   /* pages, from the start */

void pmb_calloc_sparse(pmb_state *st)
{
    while (pmb_keep_running_batch(st, 1)) {
        char *p = pmb_check(calloc(1, SPARSE_SIZE), SPARSE_SIZE);
        for (size_t i = 0; i < SPARSE_TOUCHED; i++) {
            char *at = p + i * 4096 + 8 * i;
            if (*at != 0) {
                pmb_fail(st, "calloc returned memory that is not zero");
                free(p);
                return;
            }
            *at = (char)(i | 1);
        }
        pmb_do_not_optimize(p);
        free(p);
    }
}

void pmb_aligned(pmb_state *st)
{
    size_t align = (size_t)pmb_arg(st, 0);
    size_t size = (size_t)pmb_arg(st, 1);
    while (pmb_keep_running_batch(st, 256)) {
        for (int i = 0; i < 256; i++) {
            char *p = pmb_check(aligned_alloc(align, size), size);
            if (((uintptr_t)p & (align - 1)) != 0) {
                pmb_fail(st, "aligned_alloc returned a misaligned block");
                free(p);
                return;
            }
            p[0] = (char)i;
            p[size - 1] = (char)i;
            pmb_do_not_optimize(p);
            free(p);
        }
    }
}
