/* llc_main.c -- links with the object llc.sh builds from llc_input.ll
 * (data for that test, not part of the build). */
#include <stdint.h>
#include <stdio.h>

int64_t collatz_steps(int64_t n);
int64_t sum_steps(int64_t n);
int32_t classify(int32_t x);
int64_t dot(const int32_t *a, const int32_t *b, int64_t n);

int main(void)
{
    static int32_t a[1000], b[1000];
    uint32_t c = 0;
    for (int i = 0; i < 1000; i++) {
        a[i] = i - 500;
        b[i] = 3 * i + 1;
    }
    for (int x = -2; x < 10; x++)
        c = c * 31u + (uint32_t)classify(x);
    printf("collatz_steps(27) = %lld\n", (long long)collatz_steps(27));
    printf("sum_steps(100000) = %lld\n", (long long)sum_steps(100000));
    printf("classify mix = %u\n", c);
    printf("dot = %lld\n", (long long)dot(a, b, 1000));
    return 0;
}
