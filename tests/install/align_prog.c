/* align_prog -- counts how many of 200 live malloc(24) blocks are
 * 16-aligned, for run_wrapper.sh: all of them under poolmalloc-run
 * --align16 (POOLMALLOC_MIN_ALIGN=16), not all without (poolmalloc's
 * 24-byte class is 8 bytes apart).  Prints "aligned16 N of 200". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    void *p[200];
    int n = 0;
    for (int i = 0; i < 200; i++) {
        p[i] = malloc(24);
        if (!p[i])
            return 1;
        n += ((uintptr_t)p[i] & 15) == 0;
    }
    printf("aligned16 %d of 200\n", n);
    for (int i = 0; i < 200; i++)
        free(p[i]);
    return 0;
}
