#!/bin/sh
# Replays every fuzz corpus (and kept crash inputs) through its target.
B=$1; pass=0; fail=0
for r in "$B"/replay/fuzz_*; do
	[ -x "$r" ] || continue
	name=$(basename "$r")
	if "$r" "tests/fuzz/corpus/$name"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
done
echo "replay: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
