-- sqlite_workload.sql -- workload for sqlite3.sh: 100k rows inserted in
-- one transaction, an index, aggregates, a join, an update, a delete.
PRAGMA journal_mode = WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000)
INSERT INTO t(id, grp, name, val, blob)
  SELECT i, i % 97, 'name-' || i || '-' || substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26, 1 + i % 7),
         (i * 37 % 1000) / 8.0, zeroblob(i % 300)
  FROM c;
COMMIT;
CREATE INDEX t_grp ON t(grp, val);
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
INSERT INTO g SELECT DISTINCT grp, 'group ' || grp FROM t;
SELECT count(*), sum(grp), sum(val), sum(length(name)), sum(length(blob)) FROM t;
SELECT grp, count(*), printf('%.3f', avg(val)), max(name) FROM t GROUP BY grp ORDER BY grp LIMIT 5;
SELECT g.label, count(*) FROM t JOIN g USING (grp) WHERE t.val > 100 GROUP BY g.label ORDER BY count(*) DESC, g.label LIMIT 3;
SELECT name FROM t WHERE name LIKE 'name-9999%' ORDER BY id;
UPDATE t SET name = upper(name) WHERE id % 1000 = 0;
DELETE FROM t WHERE grp = 13;
SELECT count(*), sum(id), count(DISTINCT grp) FROM t;
SELECT group_concat(name, ';') FROM (SELECT name FROM t WHERE id % 10000 = 0 ORDER BY id);
PRAGMA integrity_check;
