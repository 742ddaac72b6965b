// clangxx_input.cpp -- the C++ program clangxx.sh compiles and links with
// clang++ -O2 running on poolmalloc, then runs (with and without the
// preload).  Data for that test, not part of the build.  Deterministic:
// a class hierarchy created with `new T()` (the store pattern clang emits
// right after operator new), std::map / unordered_map / vector / string
// churn, std::sort, shared_ptr, exceptions, and a small expression
// interpreter over unique_ptr trees.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rng()
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

// ---- shapes: vtable classes of 24, 40 and 56 bytes ---------------------
struct Shape {
    virtual ~Shape() {}
    virtual long area() const = 0;
    virtual const char *name() const = 0;
};
struct Square : Shape {
    long side, pad;
    long area() const override { return side * side; }
    const char *name() const override { return "square"; }
};
struct Rect : Shape {
    long w, h, x, y;
    long area() const override { return w * h; }
    const char *name() const override { return "rect"; }
};
struct Tri : Shape {
    long a, b, c, d, e, f;
    long area() const override { return a * b / 2 + c + d + e + f; }
    const char *name() const override { return "tri"; }
};

static void shapes()
{
    std::vector<Shape *> v;
    for (int i = 0; i < 30000; i++) {
        Shape *s;
        switch (rng() % 3) {
        case 0: {
            Square *q = new Square();
            q->side = i % 100;
            s = q;
            break;
        }
        case 1: {
            Rect *r = new Rect();
            r->w = i % 37;
            r->h = i % 11;
            s = r;
            break;
        }
        default: {
            Tri *t = new Tri();
            t->a = i % 13;
            t->b = i % 17;
            s = t;
            break;
        }
        }
        v.push_back(s);
    }
    std::map<std::string, long> by_name;
    for (Shape *s : v)
        by_name[s->name()] += s->area();
    for (auto &kv : by_name)
        printf("shapes: %-6s %ld\n", kv.first.c_str(), kv.second);
    for (Shape *s : v)
        delete s;
}

// ---- containers ---------------------------------------------------------
static void containers()
{
    std::unordered_map<std::string, std::vector<int>> idx;
    std::vector<std::string> words;
    static const char *syl[] = {"ka", "lo", "mi", "ne", "ru", "so", "ta", "vu"};
    for (int i = 0; i < 40000; i++) {
        std::string w;
        int n = 1 + (int)(rng() % 4);
        for (int k = 0; k < n; k++)
            w += syl[rng() % 8];
        idx[w].push_back(i);
        words.push_back(std::move(w));
    }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    size_t most = 0;
    std::string top;
    for (auto &kv : idx)
        if (kv.second.size() > most || (kv.second.size() == most && kv.first < top)) {
            most = kv.second.size();
            top = kv.first;
        }
    long total = 0;
    for (auto &kv : idx)
        total += std::accumulate(kv.second.begin(), kv.second.end(), 0L);
    printf("containers: %zu distinct, first %s, last %s, top %s x%zu, total %ld\n",
           words.size(), words.front().c_str(), words.back().c_str(), top.c_str(), most, total);
}

// ---- expression trees and exceptions --------------------------------------
struct Expr {
    virtual ~Expr() {}
    virtual long eval() const = 0;
};
struct Num : Expr {
    long v;
    explicit Num(long x) : v(x) {}
    long eval() const override { return v; }
};
struct Bin : Expr {
    char op;
    std::unique_ptr<Expr> l, r;
    Bin(char o, std::unique_ptr<Expr> a, std::unique_ptr<Expr> b)
        : op(o), l(std::move(a)), r(std::move(b))
    {
    }
    long eval() const override
    {
        long a = l->eval(), b = r->eval();
        switch (op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return (a * b) % 1000003;
        default:
            if (b == 0)
                throw std::domain_error("division by zero");
            return a / b;
        }
    }
};

static std::unique_ptr<Expr> build(int depth)
{
    if (depth == 0 || rng() % 5 == 0)
        return std::unique_ptr<Expr>(new Num((long)(rng() % 10)));
    static const char ops[] = "+-*/";
    char op = ops[rng() % 4];
    auto l = build(depth - 1);
    auto r = build(depth - 1);
    return std::make_unique<Bin>(op, std::move(l), std::move(r));
}

static void exprs()
{
    long sum = 0;
    int thrown = 0;
    for (int i = 0; i < 3000; i++) {
        auto e = build(8);
        try {
            sum += e->eval();
        } catch (const std::domain_error &) {
            thrown++;
        }
    }
    printf("exprs: sum %ld, %d divisions by zero\n", sum, thrown);
}

static void shared()
{
    std::vector<std::shared_ptr<std::string>> v;
    for (int i = 0; i < 20000; i++) {
        if (i % 3 == 0 && !v.empty())
            v.push_back(v[rng() % v.size()]);
        else
            v.push_back(std::make_shared<std::string>(std::to_string(i * 7919 % 10007)));
    }
    long uses = 0, len = 0;
    for (auto &p : v) {
        uses += p.use_count();
        len += (long)p->size();
    }
    printf("shared: %zu pointers, use sum %ld, length sum %ld\n", v.size(), uses, len);
}

int main()
{
    shapes();
    containers();
    exprs();
    shared();
    return 0;
}
