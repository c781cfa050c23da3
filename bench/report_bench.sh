#!/usr/bin/env bash
# Issue 7's speed aim: a one-year report of a 20-point site at 1-minute resolution
# (20 × 525,600 = 10,512,000 records) in under 30 s, with memory that does not grow with
# the number of records; issue 17's: its JCM workbook, daily sheet included, in under 60 s.
#
#   bench/report_bench.sh [MINUTES] [DIR]      # default 525600 (a year), /tmp/mrv-report-bench
#
# Builds nothing: expects build/ to be built (mrv-agent and make_year_journal). Writes the
# journal with build/bench/make_year_journal into DIR (kept for reruns: skipped when DIR
# already holds one of the same size), then times `mrv-agent report` on it as JSON, HTML,
# CSV and xlsx with /usr/bin/time -v. Then the same JSON report on a journal of COMPARE_MINUTES
# (default 43200, one month; 0: skip) in DIR-COMPARE_MINUTES, and its workbook, to
# compare peak memory.
set -euo pipefail
minutes=${1:-525600}
dir=${2:-/tmp/mrv-report-bench}
compare=${COMPARE_MINUTES:-43200}
points=20
repo=$(cd "$(dirname "$0")/.." && pwd)
agent=$repo/build/agent/mrv-agent
maker=$repo/build/bench/make_year_journal
for f in "$agent" "$maker"; do
  [ -x "$f" ] || { echo "missing $f: build first (cmake --build build)" >&2; exit 1; }
done
echo "load before: $(uptime)"

# A journal of `points` × `m` records in `d`, unless it is there already.
ensure_journal() {  # minutes, dir
  local m=$1 d=$2 want=$((points * $1))
  if [ -f "$d/generated.txt" ] && [ -f "$d/journal.db" ] && grep -qx "records=$want" "$d/generated.txt"; then
    echo "== $d holds a journal of $want records (generated in $(sed -n 's/^seconds=//p' "$d/generated.txt") s): reused"
    return
  fi
  mkdir -p "$d"
  rm -f "$d"/journal.db "$d"/journal.db-* "$d"/journal.db.* "$d"/generated.txt "$d"/r.*
  echo "== generating $want records in $d"
  "$maker" "$d" --points "$points" --minutes "$m"
}

# Seconds from /usr/bin/time's "h:mm:ss" or "m:ss.ss".
to_seconds() { awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }' <<< "$1"; }

printf -v header '%-9s %-6s %11s %8s %9s %11s %10s %11s' size format records wall_s cpu_s records/s peak_MiB out_bytes
rows=()
run_report() {  # minutes, dir, format
  local m=$1 d=$2 fmt=$3 out=$2/r.$3 t=$2/time-$3.txt
  local records
  records=$(sed -n 's/^records=//p' "$d/generated.txt")
  rm -f "$out"
  if ! /usr/bin/time -v "$agent" report --config "$d/site.toml" --period 2025 --out "$out" --format "$fmt" \
       --no-upload 2> "$t"; then
    cat "$t" >&2
    echo "report failed" >&2
    exit 1
  fi
  grep -m1 '^report ' "$t" | sed 's/^/  /'
  local wall user sys rss cpu
  wall=$(to_seconds "$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$t")")
  user=$(sed -n 's/.*User time (seconds): //p' "$t")
  sys=$(sed -n 's/.*System time (seconds): //p' "$t")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$t")
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
  rows+=("$(awk -v m="$m" -v f="$fmt" -v n="$records" -v w="$wall" -v c="$cpu" -v r="$rss" -v b="$(stat -c %s "$out")" \
    'BEGIN { printf "%-9s %-6s %11d %8.2f %9.2f %11.0f %10.1f %11d", m "min", f, n, w, c, (w > 0 ? n / w : 0), r / 1024, b }')")
  echo "${rows[-1]}"
}

journal_size() {  # dir
  local bytes
  bytes=$(stat -c %s "$1"/journal.db "$1"/journal.db-wal 2>/dev/null | awk '{ s += $1 } END { print s }')
  awk -v b="$bytes" -v n="$(sed -n 's/^records=//p' "$1/generated.txt")" \
    'BEGIN { printf "%.1f MiB (%.0f bytes/record)", b / 1048576, b / n }'
}

ensure_journal "$minutes" "$dir"
echo "== journal: $(journal_size "$dir"); $(sed -n 's/^mode=//p' "$dir/generated.txt") signing"
echo "$header"
for fmt in json html csv xlsx; do run_report "$minutes" "$dir" "$fmt"; done

if [ "$compare" != 0 ] && [ "$compare" != "$minutes" ]; then
  cdir=$dir-$compare
  ensure_journal "$compare" "$cdir"
  echo "== journal: $(journal_size "$cdir")"
  echo "$header"
  run_report "$compare" "$cdir" json
  run_report "$compare" "$cdir" xlsx
fi

echo
echo "== summary (the journal is warm in the page cache: generated or read just before)"
echo "$header"
printf '%s\n' "${rows[@]}"
echo "load after: $(uptime)"
