"""pmcompare -- the modules behind bench/compare (see docs/BENCHMARKS.md).

allocators  find the allocators and check that a run really used them
runner      start processes: environments, time limits, peak RSS (pm_runrss)
workloads   pm_bench under each allocator, alternating, one process per case
instructions  callgrind counts of instructions per malloc+free pair
programs    real programs (python3, sqlite3, redis-server, cc) under each allocator
report      raw CSVs -> medians, ratios, CSV and Markdown tables
plots       PNG plots (matplotlib, else gnuplot, else none)
sysinfo     the machine and the versions a run came from
cli         the command line
"""
