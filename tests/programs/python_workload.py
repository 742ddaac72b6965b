"""Workload for the python3 program test (run with PYTHONMALLOC=malloc, so
every Python object is allocated with the preloaded malloc).  Prints
deterministic results that python.sh compares with python_workload.expected;
also asserts what it can check against independent formulas."""
import json
import re
import sys
import threading


def section_dicts(out):
    d = {}
    for i in range(200000):
        d["k%d" % i] = i * 3
    assert sum(d.values()) == 3 * 199999 * 200000 // 2
    out.append("dict %d %d" % (len(d), sum(d.values())))
    for i in range(0, 200000, 2):
        del d["k%d" % i]
    out.append("dict-after-del %d %d" % (len(d), sum(d.values())))
    d.update({"x%d" % i: [i] * (i % 5) for i in range(50000)})
    out.append("dict-update %d %d" % (len(d), sum(len(v) for k, v in d.items() if k[0] == "x")))
    inv = {v: k for k, v in d.items() if isinstance(v, int)}
    out.append("dict-invert %d %s" % (len(inv), inv[3 * 199999]))


def section_lists_and_sort(out):
    x = 12345
    items = []
    for _ in range(100000):
        x = (x * 1103515245 + 12345) % 2 ** 31
        items.append((x % 100000, "s%d" % x))
    keys = sorted(k for k, _ in items)
    items.sort()
    assert [k for k, _ in items] == keys
    assert all(items[i] <= items[i + 1] for i in range(len(items) - 1))
    out.append("sort first=%s last=%s" % (items[0], items[-1]))
    out.append("sort checksum %d" % (sum(i * k for i, (k, _) in enumerate(items)) % 1000000007))
    rev = sorted(items, key=lambda t: (t[1][::-1], t[0]), reverse=True)
    out.append("sort by key %s %s" % (rev[0][1], rev[-1][1]))
    l = [i * 7 % 1009 for i in range(100000)]
    l2 = l[::3] + l[1::3]
    l2.extend(range(1000))
    del l2[::5]
    out.append("list %d %d %d" % (len(l2), sum(l2), max(l2)))
    nested = [[j for j in range(i % 50)] for i in range(5000)]
    assert sum(map(len, nested)) == sum(i % 50 for i in range(5000))
    out.append("nested %d" % sum(map(sum, nested)))


def section_strings(out):
    s = "".join(chr(97 + i % 26) for i in range(100000))
    assert s.upper().count("A") == (100000 + 25) // 26
    parts = s.split("z")
    out.append("split %d %d" % (len(parts), sum(map(len, parts))))
    joined = "-".join(p[::-1] for p in parts)
    out.append("join %d %s" % (len(joined), joined[:30]))
    b = s.encode("utf-8") * 3
    out.append("bytes %d %d" % (len(b), b.count(b"abc")))
    u = ("h\u00e9llo w\u00f6rld \u20ac " * 5000).encode("utf-16-le").decode("utf-16-le")
    out.append("unicode %d %d" % (len(u), len(u.encode("utf-8"))))
    fmt = ["%05d:%s:%x" % (i, str(i) * (i % 7), i * 31) for i in range(20000)]
    out.append("format %d %s" % (sum(map(len, fmt)), fmt[12345]))


class Shape:
    count = 0

    def __init__(self, name):
        self.name = name
        Shape.count += 1

    def area(self):
        raise NotImplementedError

    def describe(self):
        return "%s(%d)" % (self.name, self.area())


class Rect(Shape):
    def __init__(self, w, h, name="rect"):
        super().__init__(name)
        self.w, self.h = w, h

    def area(self):
        return self.w * self.h


class Square(Rect):
    def __init__(self, s):
        super().__init__(s, s, "square")


class Tri(Shape):
    __slots__ = ("b", "h")

    def __init__(self, b, h):
        super().__init__("tri")
        self.b, self.h = b, h

    def area(self):
        return self.b * self.h // 2


def section_classes(out):
    shapes = []
    for i in range(30000):
        k = i % 3
        shapes.append(Rect(i % 17 + 1, i % 13 + 1) if k == 0 else Square(i % 11 + 1) if k == 1 else Tri(i % 19 + 2, i % 7 + 2))
    total = sum(s.area() for s in shapes)
    by_kind = {}
    for s in shapes:
        by_kind.setdefault(type(s).__name__, []).append(s.area())
    out.append("classes %d %d %s" % (Shape.count, total, " ".join("%s=%d" % (k, sum(v)) for k, v in sorted(by_kind.items()))))
    out.append("describe %s %s" % (shapes[100].describe(), shapes[29999].describe()))
    assert isinstance(shapes[1], Rect) and Square.__mro__[1] is Rect


def section_json(out):
    nested = {
        "items": [
            {"id": i, "name": "n%d" % i, "tags": ["t%d" % (i % 7)] * (i % 4),
             "sub": {"v": i * i, "f": i / 4, "ok": i % 2 == 0}}
            for i in range(5000)
        ],
        "meta": {"unicode": "h\u00e9llo \u20ac", "none": None, "bool": True, "deep": [[[[1, 2], [3]]]]},
    }
    text = json.dumps(nested, sort_keys=True)
    back = json.loads(text)
    assert back == nested
    again = json.dumps(back, sort_keys=True, indent=1)
    assert json.loads(again) == nested
    out.append("json %d %d %d" % (len(text), len(again), sum(x["sub"]["v"] for x in back["items"])))
    return text


def section_re(out, text):
    names = re.findall(r'"name": "(n\d+)"', text)
    out.append("re findall %d %s" % (len(names), names[-1]))
    pat = re.compile(r"(?P<word>[a-z]+)(?P<num>\d{2,4})\b")
    total = 0
    count = 0
    for m in pat.finditer(text):
        total += int(m.group("num"))
        count += 1
    out.append("re finditer %d %d" % (count, total))
    sub = re.sub(r"t(\d)", lambda m: "T" + str(int(m.group(1)) * 2), text[:20000])
    out.append("re sub %d %d" % (len(sub), sub.count("T12")))
    parts = re.split(r"[,:]\s*", text[:50000])
    out.append("re split %d" % len(parts))


def section_threads(out):
    lock = threading.Lock()
    shared = {}
    results = [None] * 4

    def worker(t):
        local = {}
        acc = 0
        for round_ in range(20):
            n = 3000 + 250 * t
            for i in range(n):
                local[(t, round_, i)] = "v%d-%d" % (t, i) * (1 + i % 3)
            for i in range(0, n, 3):
                acc += len(local.pop((t, round_, i)))
            if round_ % 2:
                for key in [k for k in local if k[1] == round_ - 1]:
                    acc += len(local.pop(key))
            with lock:
                shared[(t, round_)] = len(local)
        results[t] = (acc, len(local))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.append("threads %s shared=%d %d" % (" ".join("%d/%d" % r for r in results), len(shared), sum(shared.values())))


def main():
    out = []
    section_dicts(out)
    section_lists_and_sort(out)
    section_strings(out)
    section_classes(out)
    text = section_json(out)
    section_re(out, text)
    section_threads(out)
    out.append("done")
    sys.stdout.write("\n".join(out) + "\n")


main()
