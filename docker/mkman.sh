#!/bin/sh
# Writes a man page made from a program's --help to stdout:
#   mkman.sh PROGRAM SECTION "one-line summary" [SUBCOMMAND...]
# Each SUBCOMMAND adds the output of `PROGRAM SUBCOMMAND --help`.
set -eu
prog=$1
section=$2
summary=$3
shift 3
name=$(basename "$prog")
upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
# roff: backslashes doubled, lines starting with . or ' protected
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
printf '.TH %s %s "" "warren" "warren"\n' "$upper" "$section"
printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
printf '.SH DESCRIPTION\n.nf\n'
"$prog" --help | esc
for sub in "$@"; do
	printf '\n'
	"$prog" "$sub" --help | esc
done
printf '.fi\n.SH SEE ALSO\n'
printf 'warren(1), warren\\-node(8), clusterctl(1); README.md in the documentation directory.\n'
