/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput() over files and
 * directories of inputs, without libFuzzer. Built with the normal compiler
 * in every build (make test, make asan, make tsan), so the seed corpus and
 * every reproducer kept in it pass the target's property checks on each
 * test run, not only when someone fuzzes.
 *
 *     replay_proto FILE-OR-DIR...
 *     replay_dispatch FILE-OR-DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Targets that need setting up first define it (libFuzzer calls it too). */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Reads all of @path; NULL (with a message) when it cannot. */
static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    size_t cap = 4096, len = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len < cap)
            continue;
        uint8_t *nb = realloc(buf, cap *= 2);
        if (!nb)
            free(buf);
        buf = nb;
    }
    if (!buf)
        fprintf(stderr, "%s: out of memory\n", path);
    fclose(f);
    *n = len;
    return buf;
}

static int run_file(const char *path)
{
    size_t n;
    uint8_t *data = slurp(path, &n);
    if (!data)
        return -1;
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

/* Runs every regular file in @dir; returns how many, or -1. */
static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(path) < 0) {
                count = -1;
                break;
            }
            count++;
        }
    }
    closedir(d);
    return count;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) < 0) {
            perror(argv[i]);
            return 1;
        }
        int n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : (run_file(argv[i]) < 0 ? -1 : 1);
        if (n < 0)
            return 1;
        total += n;
    }
    printf("%d inputs passed\n", total);
    /* An empty corpus would make this test pass while checking nothing. */
    return total > 0 ? 0 : 1;
}
