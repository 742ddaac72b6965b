/* msg.c -- the one message builder (floor 0).
 *
 * Every line poolmalloc writes is built here, on the caller's stack: fatal
 * reports (the heap may be corrupt, so nothing is allocated and no lock is
 * taken), the statistics report, option warnings.  Output that does not
 * fit is truncated, never overflowed.
 */
#include "base/base.h"
#include "base/vg.h"

void pm_msg_stream(pm_msg_t *m, int fd, pm_sink_fn sink, void *arg)
{
    m->streaming = true;
    m->fd = fd;
    m->sink = sink;
    m->arg = arg;
    m->n = 0;
}

void pm_msg_out(pm_msg_t *m)
{
    if (m->sink)
        m->sink(m->arg, m->buf, m->n);
    else
        _pm_os_write(m->fd, m->buf, m->n);
    m->n = 0;
}

/* A one-line message keeps 2 bytes for a closing "\n" and NUL. */
void pm_msg_str(pm_msg_t *m, const char *s)
{
    for (; *s; s++) {
        if (m->n >= sizeof m->buf - 2) {
            if (!m->streaming)
                return;
            pm_msg_out(m);
        }
        m->buf[m->n++] = *s;
    }
}

void pm_msg_pad(pm_msg_t *m, const char *s, int width, bool right)
{
    int len = 0;
    while (s[len])
        len++;
    if (!right)
        pm_msg_str(m, s);
    for (int pad = width - len; pad > 0; pad--)
        pm_msg_str(m, " ");
    if (right)
        pm_msg_str(m, s);
}

static void msg_digits(pm_msg_t *m, uint64_t v, unsigned base, int width)
{
    char tmp[24];
    int k = 23;
    tmp[k] = 0;
    do {
        tmp[--k] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    pm_msg_pad(m, tmp + k, width, true);
}

void pm_msg_ptr(pm_msg_t *m, const void *p)
{
    pm_msg_str(m, "0x");
    msg_digits(m, (uintptr_t)p, 16, 0);
}

void pm_msg_u64(pm_msg_t *m, uint64_t v) { msg_digits(m, v, 10, 0); }

void pm_msg_u64w(pm_msg_t *m, uint64_t v, int width) { msg_digits(m, v, 10, width); }

/* Bytes with a binary unit and one decimal, rounded down: "812 B",
 * "1.5 KiB", "3.0 GiB". */
void pm_msg_bytes(pm_msg_t *m, uint64_t v)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    unsigned u = 0;
    uint64_t unit = 1;
    while (u < 4 && v >= unit * 1024) {
        unit *= 1024;
        u++;
    }
    pm_msg_u64(m, v / unit);
    if (u) {
        pm_msg_str(m, ".");
        pm_msg_u64(m, (v % unit) * 10 / unit);
    }
    pm_msg_str(m, " ");
    pm_msg_str(m, units[u]);
}

void pm_msg_bytesw(pm_msg_t *m, uint64_t v, int width)
{
    pm_msg_t t = {.n = 0};
    pm_msg_bytes(&t, v);
    t.buf[t.n] = 0;
    pm_msg_pad(m, t.buf, width, true);
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
    pm_msg_t m = {.n = 0};
    msg_head(&m, call, what, p);
    msg_fatal(&m);
}

void _pm_fatal_link2(const char *what, const void *where, const char *which, const void *block,
                     const char *after)
{
    pm_msg_t m = {.n = 0};
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
