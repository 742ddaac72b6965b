/* early_lib.h -- interface of libpm_early.so, the library whose constructor
 * allocates before the test program's constructors (and, with the usual
 * ELF initialisation order, before libpoolmalloc's own constructor). */
#ifndef EARLY_LIB_H
#define EARLY_LIB_H

#include <stddef.h>

#define EARLY_SMALL_COUNT 100
#define EARLY_BLOCK_LEN 1000
#define EARLY_LARGE_LEN 300000
#define EARLY_STRING "allocated in the constructor of libpm_early"

int early_next_seq(void);            /* shared sequence counter for constructor ordering */
int early_ctor_seq(void);            /* sequence number the library constructor got */
int early_ctor_errors(void);         /* problems the constructor found */
int early_malloc_was_poolmalloc(void); /* 1: malloc resolved into libpoolmalloc in the ctor */

/* Blocks allocated by the constructor; ownership moves to the caller. */
char *early_take_block(void);        /* EARLY_BLOCK_LEN bytes, byte i = (i*7+3)&0xff */
char *early_take_large(void);        /* EARLY_LARGE_LEN bytes, byte i = (i*13+1)&0xff */
void **early_take_small(void);       /* EARLY_SMALL_COUNT blocks, block i: 8*(i+1) bytes of (i+1) */

/* Stays owned by the library; its destructor checks and frees it. */
const char *early_string(void);

#endif
