/* Links poolmalloc (shared or static) and checks that plain malloc is served
 * by it: pm_malloc_usable_size aborts on a pointer poolmalloc did not make. */
#include <poolmalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char *p = malloc(100);
    char *q = pm_malloc(3000);
    if (!p || !q)
        return 1;
    memset(p, 1, 100);
    memset(q, 2, 3000);
    size_t up = pm_malloc_usable_size(p), uq = pm_malloc_usable_size(q);
    free(p);
    pm_free(q);
    printf("usable %zu %zu\n", up, uq);
    /* 100 bytes: class 104, its host or its range's; 3000: class 3072 or
     * its range's, 4096 */
    return up >= 100 && up <= 128 && (uq == 3072 || uq == 4096) ? 0 : 1;
}
