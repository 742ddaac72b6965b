-- sqlite_bulk.sql -- bench/compare --programs: sqlite3 bulk insert and
-- queries on an in-memory database (every page and every row buffer comes
-- from malloc).  Deterministic: the output is the same under every allocator.
-- The row count is set by the driver (it replaces 300000 below in --smoke).
PRAGMA cache_size = -262144;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, payload BLOB);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300000)
INSERT INTO t(id, grp, name, val, payload)
  SELECT i, i % 1000,
         printf('name-%08d-%s', (i * 7919) % 1000003, substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 11)),
         ((i * 37) % 10007) / 7.0,
         substr(hex(i * i * 2654435761), 1, 1 + i % 40)
  FROM c;
COMMIT;
CREATE INDEX t_grp ON t(grp, val);
CREATE INDEX t_name ON t(name);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
INSERT INTO g SELECT DISTINCT grp, 'group-' || grp FROM t;
SELECT count(*), sum(grp), printf('%.2f', sum(val)), sum(length(name)), sum(length(payload)) FROM t;
SELECT grp, count(*), printf('%.3f', avg(val)), max(name) FROM t GROUP BY grp ORDER BY avg(val) DESC, grp LIMIT 5;
SELECT g.label, count(*) FROM t JOIN g USING (grp) WHERE t.val > 700 GROUP BY g.label ORDER BY count(*) DESC, g.label LIMIT 5;
SELECT count(DISTINCT substr(name, 1, 10)) FROM t;
SELECT name FROM t ORDER BY payload DESC, id LIMIT 3;
UPDATE t SET name = upper(name), payload = payload || 'x' WHERE id % 7 = 0;
DELETE FROM t WHERE grp BETWEEN 100 AND 199;
SELECT count(*), sum(id), count(DISTINCT grp) FROM t;
SELECT group_concat(name, ';') FROM (SELECT name FROM t WHERE id % 50000 = 0 ORDER BY id);
