#!/bin/sh
# probe.sh PROBE EXPECT CASE [SEED]    run one case of probe.c and judge it
# probe.sh PROBE rate CASE N           run seeds 1..N and count the endings
# probe.sh PROBE caught-all CASE N     seeds 1..N must all be caught
# probe.sh PROBE safe-all CASE N       seeds 1..N must all be safe
#
# Endings: report (SIGABRT with poolmalloc's one-line message on stderr),
# clean (a fault at the program's own stray access), silent (nothing went
# wrong), overlap, write (an arbitrary write), crash (any other signal, or
# an abort without the one-line message).
# EXPECT: caught (report or clean), safe (report, clean or silent).
# LD_PRELOAD, set by ctest, goes to the probe only.
set -u
probe=$1 expect=$2
shift 2
preload=${LD_PRELOAD-}
unset LD_PRELOAD
err=$(mktemp) out=$(mktemp)
trap 'rm -f "$err" "$out"' EXIT

ending() {   # CASE SEED -> prints the ending
    LD_PRELOAD=$preload "$probe" "$1" "$2" >"$out" 2>"$err"
    rc=$?
    # (the shell that waited may add its own "Aborted" line)
    lines=$(grep -cv '^Aborted' "$err")
    case $rc in
    0) echo silent ;;
    20) echo overlap ;;
    21) echo write ;;
    22) echo clean ;;
    134)
        if [ "$lines" -eq 1 ] && grep -Eq '^poolmalloc: [a-z_]+\(\): .*0x[0-9a-f]+' "$err" </dev/null; then
            echo report
        else
            echo crash
        fi ;;
    *) echo crash ;;
    esac
}

if [ "$expect" = rate ]; then
    case=$1 n=$2 i=1
    while [ "$i" -le "$n" ]; do
        ending "$case" "$i"
        i=$((i + 1))
    done | sort | uniq -c | awk -v c="$case" '{ printf "%s %s=%s", (NR > 1 ? "" : c ":"), $2, $1 } END { print "" }'
    exit 0
fi

if [ "$expect" = caught-all ] || [ "$expect" = safe-all ]; then
    case=$1 n=$2 i=1
    while [ "$i" -le "$n" ]; do
        e=$(ending "$case" "$i")
        case $expect:$e in
        *:report | *:clean | safe-all:silent) ;;
        *)
            echo "$case $i: $e"
            cat "$out" "$err"
            exit 1 ;;
        esac
        i=$((i + 1))
    done
    echo "$case: seeds 1..$n all ${expect%-all}"
    exit 0
fi

case=$1 seed=${2-1}
e=$(ending "$case" "$seed")
echo "$case $seed: $e"
cat "$out" "$err"
case $expect:$e in
caught:report | caught:clean | safe:report | safe:clean | safe:silent) exit 0 ;;
*) exit 1 ;;
esac
