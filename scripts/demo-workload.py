"""A small mixed Python workload for the demo: objects, dicts, strings, json,
threads.  Prints a checksum that is the same under every allocator."""
import json
import threading
import zlib

def churn(seed, out):
    d = {}
    for i in range(60000):
        d[(seed, i % 5000)] = [str(i), i * 2.5, {"k": i}]
        if i % 3 == 0:
            d.pop((seed, (i * 7) % 5000), None)
    out[seed] = sum(len(v[0]) for v in d.values())

results = {}
threads = [threading.Thread(target=churn, args=(s, results)) for s in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
doc = {"rows": [{"id": i, "name": "n%d" % i, "tags": list(range(i % 7))} for i in range(20000)]}
text = json.dumps(doc, sort_keys=True)
back = json.loads(text)
words = sorted(("w%05d" % ((i * 7919) % 100000)) for i in range(100000))
crc = zlib.crc32(text.encode()) ^ zlib.crc32("".join(words[:1000]).encode())
print("threads:", sorted(results.items()))
print("json rows:", len(back["rows"]), "checksum:", crc)
