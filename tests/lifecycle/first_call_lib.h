/* first_call_lib.h -- libpm_first.so (first_call_lib.c). */
#ifndef FIRST_CALL_LIB_H
#define FIRST_CALL_LIB_H
int first_call_errors(void);
const char *first_call_mode(void);
void *first_call_take(void);   /* the constructor's live block (the caller frees it) */
#endif
