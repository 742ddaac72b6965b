/* msg.c -- the one message builder (floor 0).
 *
 * Every line poolmalloc writes is built here, on the caller's stack: fatal
 * reports (the heap may be corrupt, so nothing is allocated and no lock is
 * taken), the statistics report, option warnings.  Output that does not
 * fit is truncated, never overflowed.
 */
#include "base/base.h"
#include "base/vg.h"

#define MSG_ROOM(m) ((m)->n < sizeof (m)->buf - 24)   /* room kept for a number and "\n" */

void pm_msg_str(pm_msg_t *m, const char *s)
{
    while (*s && m->n < sizeof m->buf - 2)
        m->buf[m->n++] = *s++;
}

static void msg_digits(pm_msg_t *m, uint64_t v, unsigned base, int width)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (!MSG_ROOM(m))
        return;
    for (int pad = width - k; pad > 0 && MSG_ROOM(m); pad--)
        m->buf[m->n++] = ' ';
    while (k)
        m->buf[m->n++] = tmp[--k];
}

void pm_msg_ptr(pm_msg_t *m, const void *p)
{
    pm_msg_str(m, "0x");
    msg_digits(m, (uintptr_t)p, 16, 0);
}

void pm_msg_u64(pm_msg_t *m, uint64_t v) { msg_digits(m, v, 10, 0); }

void pm_msg_u64w(pm_msg_t *m, uint64_t v, int width) { msg_digits(m, v, 10, width); }

/* Bytes with a binary unit and one decimal: "812 B", "1.5 KiB", "3.0 GiB". */
void pm_msg_bytes(pm_msg_t *m, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned u = 0;
    uint64_t whole = v, tenths = 0;
    while (whole >= 1024 && u < 5) {
        tenths = ((whole % 1024) * 10) / 1024;
        whole /= 1024;
        u++;
    }
    pm_msg_u64(m, whole);
    if (u) {
        pm_msg_str(m, ".");
        pm_msg_u64(m, tenths);
    }
    pm_msg_str(m, " ");
    pm_msg_str(m, units[u]);
}

void pm_msg_flush(pm_msg_t *m, int fd)
{
    _pm_os_write(fd, m->buf, m->n);
    m->n = 0;
}

/* ---- misuse and corruption ---- */

__attribute__((noreturn)) static void msg_fatal(pm_msg_t *m)
{
    pm_msg_str(m, "\n");
    _pm_os_write(2, "poolmalloc: ", 12);
    _pm_os_write(2, m->buf, m->n);
    _pm_os_abort();
}

void _pm_fatal(const char *msg)
{
    pm_msg_t m = {.n = 0};
    pm_msg_str(&m, msg);
    msg_fatal(&m);
}

static void msg_head(pm_msg_t *m, const char *call, const char *what, const void *p)
{
    m->n = 0;
    pm_msg_str(m, call);
    pm_msg_str(m, "(): ");
    pm_msg_str(m, what);
    pm_msg_str(m, " ");
    pm_msg_ptr(m, p);
}

void _pm_fatal_ptr(const char *call, const char *what, const void *p)
{
    /* Under memcheck, a bad pointer given to free or realloc is shown to
     * memcheck as freed first: it reports it with what it knows (the block it
     * is in, where that was allocated and freed) before we abort. */
    if (pm_vg_on() && (call[0] == 'f' || call[0] == 'r'))
        PM_VG_FREELIKE(p);
    pm_msg_t m;
    msg_head(&m, call, what, p);
    msg_fatal(&m);
}

void _pm_fatal_link2(const char *what, const void *where, const char *which, const void *block,
                     const char *after)
{
    pm_msg_t m;
    msg_head(&m, "malloc", what, where);
    pm_msg_str(&m, " (");
    pm_msg_str(&m, which);
    pm_msg_str(&m, " ");
    pm_msg_ptr(&m, block);
    if (after) {
        pm_msg_str(&m, " ");
        pm_msg_str(&m, after);
    }
    pm_msg_str(&m, ")");
    msg_fatal(&m);
}

void _pm_fatal_link(const char *what, const void *where, const void *block)
{
    _pm_fatal_link2(what, where, "link in block", block, NULL);
}

const char *_pm_freed_word(const char *call)
{
    return call[0] == 'f' && call[1] == 'r' ? "double free" : "pointer already freed";
}
