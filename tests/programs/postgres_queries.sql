-- postgres_queries.sql -- run by postgres.sh on a server with jit=on and
-- every JIT threshold at 0, after pgbench -i -s 1 and a pgbench run: each
-- query below is JIT-compiled (with inlining and optimisation); the
-- results do not depend on the pgbench run and must equal
-- postgres_queries.expected.
\pset footer off
\set ON_ERROR_STOP on
-- Every account once.
SELECT count(*), sum(aid), min(aid), max(aid) FROM pgbench_accounts;
-- The pgbench run kept the TPC-B invariant: every delta went to one
-- account, teller and branch, and into the history.
SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT sum(bbalance) FROM pgbench_branches)
   AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT sum(tbalance) FROM pgbench_tellers)
   AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)
   AS balances_consistent;
-- A sort spilling to disk (100k keys, 1 MB of work_mem).
SET work_mem = '1MB';
SELECT md5(string_agg(aid::text, ',' ORDER BY md5(aid::text))) FROM pgbench_accounts;
SELECT aid FROM pgbench_accounts ORDER BY md5(aid::text) DESC LIMIT 3;
RESET work_mem;
-- A hash join on an expression, grouped and ordered.
SELECT t.tid, count(*), sum(a.aid)
  FROM pgbench_tellers t JOIN pgbench_accounts a ON a.aid % 10 + 1 = t.tid
 GROUP BY t.tid ORDER BY t.tid;
-- Aggregates over a generated series.
SELECT g % 7 AS k, count(*), sum(g), avg(g)::numeric(12,2)
  FROM generate_series(1, 200000) g GROUP BY 1 ORDER BY 1;
-- This backend (the one that ran the JIT) has poolmalloc, PostgreSQL's
-- llvmjit.so and libLLVM mapped.
SELECT bool_or(l LIKE '%libpoolmalloc%') AS poolmalloc,
       bool_or(l LIKE '%/llvmjit.so') AS llvmjit,
       bool_or(l LIKE '%libLLVM%') AS libllvm
  FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\n') l;
