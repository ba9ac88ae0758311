#!/bin/sh
# Replays every fuzz corpus (and kept crash inputs) through its target.
# Every target under tests/fuzz/ must have been built and have a corpus.
B=$1; pass=0; fail=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	r=$B/replay/$name
	if [ ! -x "$r" ]; then
		fail=$((fail + 1)); echo "FAILED: $name (no $r: run make replay)"; continue
	fi
	if "$r" "tests/fuzz/corpus/$name"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
done
echo "replay: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
