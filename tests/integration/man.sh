#!/bin/bash
# The man pages (issue 10):
#   lint     every page passes mandoc -T lint at level warning (no output
#            at all); the example file of tpmbroker.conf(5) passes
#            --check-config
#   options  the long and short options tpmbrokerd --help lists are the
#            ones tpmbrokerd(8) documents, in both directions
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${SRC:?SRC must point at the source tree}"

mode=${1:?lint or options}
MAN=$SRC/man
PAGES=(tpmbrokerd.8 tpmbroker.1 tpmbroker.conf.5 tss2-tcti-tpmbroker.7)

case $mode in
lint)
	command -v mandoc >/dev/null || fail "mandoc missing (Debian: mandoc)"
	for p in "${PAGES[@]}"; do
		[ -f "$MAN/$p" ] || fail "no $p"
		# -W warning: STYLE notes (such as pages not installed yet) do not count
		if ! out=$(mandoc -T lint -W warning "$MAN/$p" 2>&1) || [ -n "$out" ]; then
			fail "mandoc -T lint $p: $out"
		fi
		# it renders, and says something
		[ "$(mandoc -T utf8 "$MAN/$p" | wc -l)" -gt 20 ] || fail "$p renders nearly empty"
	done
	# the example configuration in tpmbroker.conf(5) is a valid file
	mandoc -T ascii "$MAN/tpmbroker.conf.5" | sed "s/.\x08//g" |
		sed -n '/^EXAMPLES/,/^SEE ALSO/p' | sed '1d;$d' | sed 's/^ *//' >"$T/example.conf"
	grep -q '^\[profile attest\]' "$T/example.conf" || fail "no example found: $(cat "$T/example.conf")"
	"$TPMBROKERD" --config "$T/example.conf" --check-config >"$T/check.out" 2>&1 ||
		fail "the example of tpmbroker.conf(5): $(cat "$T/check.out")"
	echo "man lint: ok"
	;;
options)
	# --help: the lines between "Options:" and the next blank line
	"$TPMBROKERD" --help | sed -n '/^Options:/,/^$/p' >"$T/help"
	grep -oE -- '(^|[ ,])--[a-z][a-z-]+' "$T/help" | sed 's/^[ ,]*--//' | sort -u >"$T/help.long"
	grep -oE -- '^ +-[a-zA-Z],' "$T/help" | tr -d ' ,-' | sort -u >"$T/help.short"
	# tpmbrokerd(8): the .It lines of DESCRIPTION's option list
	sed -n '/^\.Sh DESCRIPTION/,/^\.Sh /p' "$MAN/tpmbrokerd.8" | grep '^\.It Fl' >"$T/man"
	grep -oE 'Fl Fl [a-z][a-z-]+' "$T/man" | sed 's/^Fl Fl //' | sort -u >"$T/man.long"
	grep -oE '^\.It Fl [a-zA-Z] ,' "$T/man" | sed 's/^\.It Fl //; s/ ,$//' | sort -u >"$T/man.short"
	[ "$(wc -l <"$T/help.long")" -ge 20 ] || fail "too few long options parsed from --help"
	[ "$(wc -l <"$T/man.long")" -ge 20 ] || fail "too few long options parsed from tpmbrokerd(8)"
	if ! diff -u "$T/help.long" "$T/man.long" >"$T/long.diff"; then
		cat "$T/long.diff" >&2
		fail "long options: --help (-) and tpmbrokerd(8) (+) differ"
	fi
	if ! diff -u "$T/help.short" "$T/man.short" >"$T/short.diff"; then
		cat "$T/short.diff" >&2
		fail "short options: --help (-) and tpmbrokerd(8) (+) differ"
	fi
	echo "man options: ok ($(wc -l <"$T/man.long") long, $(wc -l <"$T/man.short") short)"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
