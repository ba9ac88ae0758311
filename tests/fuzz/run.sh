#!/bin/sh
# make fuzz: builds every tests/fuzz/fuzz_*.c with libFuzzer (clang,
# -fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each for
# FUZZ_SECONDS (default 30) on its corpus, tests/fuzz/corpus/<target>/. New
# inputs that grow coverage are kept in build-fuzz/corpus/<target>/; a crash
# input is copied into the corpus dir (so `make test` replays it from then
# on) and the script exits non-zero.
#
#   FUZZ_SECONDS=10 sh tests/fuzz/run.sh [TARGET...]
set -u
SECS=${FUZZ_SECONDS:-30}
OUT=build-fuzz
CC=${FUZZ_CC:-clang}
PKGS="openssl sqlite3 libmaxminddb inih jansson ldns"
command -v "$CC" >/dev/null 2>&1 || { echo "fuzz: $CC is missing (apt-get install clang)" >&2; exit 1; }
CFLAGS="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -Iproto -I. \
 -fsanitize=fuzzer-no-link,address,undefined $(pkg-config --cflags $PKGS 2>/dev/null)"
LIBS="$(pkg-config --libs $PKGS 2>/dev/null) -lhttp_parser -lnng -lev -lpthread -lm"
mkdir -p "$OUT/obj" || exit 1
# objects keep no header dependencies: a header newer than the last build
# rebuilds them all (a struct that grew must not meet code built without it)
stamp=$OUT/obj/.built
if [ ! -f "$stamp" ] || [ -n "$(find node router gossip client proto -name '*.h' -newer "$stamp" 2>/dev/null | head -1)" ]; then
	rm -f "$OUT"/obj/*.o
fi

# the project's libraries, one archive per dir like the Makefile's (so a
# target links only the objects it needs); process dirs first, proto last
libs=
for d in node router gossip client proto; do
	objs=
	for src in $d/*.c; do
		case $src in *_main.c) continue ;; esac
		[ -f "$src" ] || continue
		obj=$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
		if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
			$CC $CFLAGS -c -o "$obj" "$src" || { echo "fuzz: cannot build $src" >&2; exit 1; }
		fi
		objs="$objs $obj"
	done
	[ -n "$objs" ] || continue
	rm -f "$OUT/lib$d.a" && ar rcs "$OUT/lib$d.a" $objs || exit 1
	libs="$libs $OUT/lib$d.a"
done

touch "$stamp"

targets=${*:-$(ls tests/fuzz/fuzz_*.c | sed 's|.*/||; s|\.c$||')}
fail=0
for t in $targets; do
	bin=$OUT/$t
	$CC $CFLAGS -fsanitize=fuzzer -o "$bin" "tests/fuzz/$t.c" $libs $LIBS || {
		echo "fuzz: cannot build $t" >&2; fail=1; continue; }
	seeds=tests/fuzz/corpus/$t
	work=$OUT/corpus/$t
	crashes=$OUT/crashes/$t
	if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
		echo "fuzz: $t has no seed corpus in $seeds (add a few valid inputs)" >&2
		fail=1; continue
	fi
	mkdir -p "$work" "$crashes"
	echo "fuzz: $t for ${SECS}s"
	if ! "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
	    -artifact_prefix="$crashes/" "$work" "$seeds" >"$OUT/$t.log" 2>&1; then
		echo "fuzz: $t FAILED (log: $OUT/$t.log)"
		tail -n 30 "$OUT/$t.log"
		for f in "$crashes"/*; do
			[ -f "$f" ] || continue
			cp "$f" "$seeds/regress-$(basename "$f")"
			echo "fuzz: kept $seeds/regress-$(basename "$f") as a regression input"
		done
		fail=1
	else
		grep -E '^(Done|#[0-9]+.*DONE)' "$OUT/$t.log" | tail -n 1
	fi
done
[ $fail -eq 0 ] && echo "fuzz: all targets ran ${SECS}s without a crash"
exit $fail
