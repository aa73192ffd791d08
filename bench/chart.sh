#!/bin/bash
# bench/chart.sh: the benchmark as a picture.  Reads the CSV bench/run.sh
# writes (bench/results/*.csv) and draws one PNG with gnuplot: throughput
# (top row) and the daemon's CPU per command (bottom row) for GetRandom,
# PCR_Extend and the holder, every K, each path side by side (direct swtpm,
# tpmbroker on swtpm, tpm2-abrmd on swtpm, tpmbroker on its embedded
# libtpms); the pass-through CPU panels carry the floor that pingpong -r
# measured (a bare relay between a client and a TCP echo: the system calls
# of a pass-through command and nothing else).
#
#   bench/chart.sh CSV PNG [SUBTITLE]
#
# Needs gnuplot (Debian: gnuplot-nox, installed by `scripts/deps.sh bench`).
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: bench/chart.sh CSV PNG [SUBTITLE]" >&2
	exit 2
fi
CSV=$1
PNG=$2
SUB=${3:-}
command -v gnuplot >/dev/null || { echo "bench/chart.sh: gnuplot not installed" >&2; exit 1; }
[ -r "$CSV" ] || { echo "bench/chart.sh: cannot read $CSV" >&2; exit 1; }

D=$(mktemp -d /tmp/tbchart.XXXXXX)
trap 'rm -rf "$D"' EXIT

PATHS="direct tpmbroker tpm2-abrmd embedded"

# One table per mode and figure: a row per K, a column per path ("?" where
# the cell was not run), for gnuplot's clustered histograms.
pivot() { # MODE CSV-COLUMN-NAME OUT
	awk -F, -v mode="$1" -v col="$2" -v paths="$PATHS" '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		$c["mode"] == mode && $c["path"] != "floor" {
			k = $c["k"] + 0
			v = $c[col]
			if (v == "" || v < 0)
				v = "?"
			val[$c["path"], k] = v
			if (!(k in seen)) { seen[k] = 1; ks[++nk] = k }
		}
		END {
			n = split(paths, p, " ")
			for (i = 1; i <= nk; i++)
				for (j = i + 1; j <= nk; j++)
					if (ks[j] < ks[i]) { t = ks[i]; ks[i] = ks[j]; ks[j] = t }
			for (i = 1; i <= nk; i++) {
				line = ks[i]
				for (j = 1; j <= n; j++) {
					v = ((p[j], ks[i]) in val) ? val[p[j], ks[i]] : "?"
					line = line " " v
				}
				print line
			}
		}' "$CSV" >"$3"
}

for m in getrandom pcr holder; do
	pivot "$m" cmd_s "$D/$m.rate"
	pivot "$m" daemon_cpu_us "$D/$m.cpu"
done
# holder: the sessions-at-scale cells (K = 64, 128) are in the CSV, not in the chart
awk '$1 <= 32' "$D/holder.rate" >"$D/h" && mv "$D/h" "$D/holder.rate"
awk '$1 <= 32' "$D/holder.cpu" >"$D/h" && mv "$D/h" "$D/holder.cpu"

# the floor of a pass-through command: a bare relay's CPU per round trip (pingpong -r)
FLOOR=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["path"] == "floor" && $c["mode"] == "relay-roundtrip" && $c["daemon_cpu_us"] > 0 {
		printf "%.1f", $c["daemon_cpu_us"] }' "$CSV")
# the holder's at K=1: half its commands a cold Unix round trip (ReadPublic from the cache),
# half a cold relay (Sign), 2 ms apart
HFLOOR=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	$c["path"] == "floor" && $c["mode"] ~ /-2ms$/ && $c["daemon_cpu_us"] > 0 {
		s += $c["daemon_cpu_us"]; n++ }
	END { if (n == 2) printf "%.1f", s / 2 }' "$CSV")

{
	echo "set terminal pngcairo size 1500,950 font 'sans,10' noenhanced"
	echo "set output '$PNG'"
	echo "set datafile missing '?'"
	echo "set style data histograms"
	echo "set style histogram clustered gap 1"
	echo "set style fill solid 0.85 border -1"
	echo "set boxwidth 0.9"
	echo "set grid ytics lc rgb '#dddddd'"
	echo "set xlabel 'K (clients)'"
	# log scale: abrmd's holder and the embedded TPM's GetRandom are 100x apart
	echo "set logscale y"
	echo "set yrange [*:*]"
	echo "set format y '%g'"
	echo "set linetype 1 lc rgb '#7f7f7f'" # direct swtpm
	echo "set linetype 2 lc rgb '#1f77b4'" # tpmbroker on swtpm
	echo "set linetype 3 lc rgb '#d62728'" # tpm2-abrmd
	echo "set linetype 4 lc rgb '#2ca02c'" # tpmbroker on libtpms
	echo "set multiplot layout 2,3 title \"tpmbroker bench: throughput and daemon CPU per command\\n$SUB\" font ',12'"
	plot_panel() { # FILE TITLE YLABEL KEY(0|1) [FLOOR [FLOOR-TEXT]]
		echo "set title '$2'"
		echo "set ylabel '$3 (log scale)'"
		if [ "$4" = 1 ]; then
			echo "set key below horizontal maxcols 2 font ',9'"
		else
			echo "unset key"
		fi
		if [ -n "${5:-}" ]; then
			echo "set arrow 1 from graph 0, first $5 to graph 1, first $5 nohead dt 2 lw 2 lc rgb 'black' front"
			echo "set label 1 '${6:-floor: a bare relay}, $5 µs' at graph 0.98, first $5 right offset 0,-0.8 front font ',8'"
		else
			echo "unset arrow 1"
			echo "unset label 1"
		fi
		echo "plot '$1' using 2:xtic(1) title 'direct swtpm' lt 1, \\"
		echo "     '' using 3 title 'tpmbroker (swtpm)' lt 2, \\"
		echo "     '' using 4 title 'tpm2-abrmd (swtpm)' lt 3, \\"
		echo "     '' using 5 title 'tpmbroker (embedded libtpms)' lt 4"
	}
	plot_panel "$D/getrandom.rate" "GetRandom(32)" "commands/s" 1
	plot_panel "$D/pcr.rate" "PCR_Extend" "commands/s" 1
	plot_panel "$D/holder.rate" "holder: ReadPublic + Sign; 3 objects + 2 sessions a client" \
		"commands/s" 1
	plot_panel "$D/getrandom.cpu" "GetRandom: daemon CPU per command (embedded: TPM work included)" \
		"µs" 0 "$FLOOR"
	plot_panel "$D/pcr.cpu" "PCR_Extend: daemon CPU per command" "µs" 0 "$FLOOR"
	plot_panel "$D/holder.cpu" "holder: daemon CPU per command (embedded: TPM work included)" \
		"µs" 0 "$HFLOOR" "floor at K=1: cold round trips, 2 ms apart"
	echo "unset multiplot"
} >"$D/plot.gp"
# a path with no cell in a panel (direct: no daemon) is no reason to warn
gnuplot "$D/plot.gp" 2> >(grep -v 'no valid points' >&2)
