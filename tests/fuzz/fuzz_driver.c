/* fuzz_driver.c -- runs the libFuzzer harness (fuzz_api.c) without libFuzzer.
 *
 * For compilers and builds that have no libFuzzer runtime: the sanitizer
 * tests of the default suite link the harness with this main(), built with
 * gcc -fsanitize=address,undefined.  It replays the given files (a corpus
 * directory, or single inputs: a crash file saved by libFuzzer, say), then
 * runs N pseudo-random inputs of up to MAXLEN bytes from a fixed seed, so a
 * run is reproducible.  Any failed check aborts with the harness's message;
 * the input that caused it is written to fuzz-driver-crash.bin first.
 *
 * usage: fuzz_driver [-n N=2000] [-seed S=1] [-maxlen L=4096] [FILE|DIR...] */
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *current;
static size_t current_len;

/* On abort: save the input being run, so that it can be replayed. */
static void save_current(int sig)
{
    (void)sig;
    FILE *f = fopen("fuzz-driver-crash.bin", "wb");
    if (f) {
        fwrite(current, 1, current_len, f);
        fclose(f);
        fprintf(stderr, "fuzz_driver: input saved to fuzz-driver-crash.bin (%zu bytes)\n",
                current_len);
    }
    signal(SIGABRT, SIG_DFL);
}

static void run(const uint8_t *data, size_t len)
{
    current = data;
    current_len = len;
    LLVMFuzzerTestOneInput(data, len);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            if (!buf) {
                fclose(f);
                return 1;
            }
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        if (!got)
            break;
        len += got;
    }
    fclose(f);
    run(buf, len);
    free(buf);
    return 0;
}

static int run_path(const char *path, long *files)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*files)++;
        return run_file(path);
    }
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        return 1;
    }
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        bad |= run_path(sub, files);
    }
    closedir(d);
    return bad;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
    long n = 2000, maxlen = 4096;
    uint64_t seed = 1;
    long files = 0;
    int bad = 0;
    signal(SIGABRT, save_current);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            n = atol(argv[++i]);
        else if (!strcmp(argv[i], "-seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "-maxlen") && i + 1 < argc)
            maxlen = atol(argv[++i]);
        else
            bad |= run_path(argv[i], &files);
    }
    if (maxlen < 1)
        maxlen = 1;
    uint8_t *buf = malloc((size_t)maxlen);
    if (!buf)
        return 1;
    for (long r = 0; r < n; r++) {
        size_t len = 1 + splitmix(&seed) % (uint64_t)maxlen;
        for (size_t k = 0; k < len; k += 8) {
            uint64_t w = splitmix(&seed);
            memcpy(buf + k, &w, len - k < 8 ? len - k : 8);
        }
        run(buf, len);
    }
    free(buf);
    printf("fuzz_driver: %ld files and %ld random inputs ran clean\n", files, n);
    return bad;
}
