#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn the benchmark's CSV into a Markdown table (median of the repetitions,
# with min-max spread) and, when gnuplot is there, a PNG chart beside it.
#	report.sh results.csv > results.md
set -euo pipefail
csv=$1
dir=$(dirname "$csv")
read -r enc dec < <(awk -F, '$1 == "cipher" { split($2, a, " "); print a[1], a[2] }' "$csv")

echo "# dm-cmek benchmark"
echo
echo "Raw cipher (cryptsetup benchmark, aes-xts 512-bit): encrypt $enc MiB/s, decrypt $dec MiB/s."
echo "MiB/s: median of the repetitions. Per round: cmek / the better dm-crypt of the same round (the configurations alternate, so a round's runs are neighbours in time), median and min-max over the rounds."
echo "Ceiling: serial pipeline 1/(1/device + 1/cipher) for sequential rows."
echo
echo "| sector | workload | raw MiB/s | dm-crypt MiB/s | dm-crypt nowq MiB/s | cmek MiB/s | cmek IOPS | cmek p50/p99 us | cmek / best dm-crypt | per round: median (min-max) | cmek / ceiling |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
awk -F, -v enc="$enc" -v dec="$dec" '
function median(arr, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
		if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
# A run with BENCH_CONFIGS set lacks some columns: they print as "-".
function mib(cfg) { return (cfg in have) ? sprintf("%.1f", med[cfg]) : "-" }
function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
$1 ~ /^[0-9]+$/ {
	k = $1 SUBSEP $2
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	bw[k, $3, $4] = $5; iops[k, $3, $4] = $6; p50[k, $3, $4] = $7; p99[k, $3, $4] = $8
	have[$3] = 1
	if ($4 > reps) reps = $4
}
END {
	for (o = 1; o <= n; o++) {
		k = order[o]; split(k, kk, SUBSEP)
		for (c = 1; c <= 4; c++) {
			cfg = c == 1 ? "raw" : c == 2 ? "crypt" : c == 3 ? "crypt-nowq" : "cmek"
			for (r = 1; r <= reps; r++) v[r] = bw[k, cfg, r]
			med[cfg] = median(v, reps)
		}
		lo = 1e9; hi = 0; m = 0
		for (r = 1; r <= reps; r++) {
			best = bw[k, "crypt", r] > bw[k, "crypt-nowq", r] ? bw[k, "crypt", r] : bw[k, "crypt-nowq", r]
			ci[r] = iops[k, "cmek", r]; c5[r] = p50[k, "cmek", r]; c9[r] = p99[k, "cmek", r]
			if (!(best > 0))
				continue
			x = bw[k, "cmek", r] / best
			rr[++m] = x
			if (x < lo) lo = x
			if (x > hi) hi = x
		}
		best = med["crypt"] > med["crypt-nowq"] ? med["crypt"] : med["crypt-nowq"]
		ceil = "-"
		if (kk[2] ~ /^seq/ && med["raw"] > 0) {
			cph = kk[2] ~ /read/ ? dec : enc
			ceil = ratio(med["cmek"], 1 / (1 / med["raw"] + 1 / cph))
		}
		round = m ? sprintf("%.2f (%.2f-%.2f)", median(rr, m), lo, hi) : "-"
		if (!("cmek" in have))
			ceil = round = "-"
		printf "| %s | %s | %s | %s | %s | %s | %.0f | %.0f / %.0f | %s | %s | %s |\n",
			kk[1], kk[2], mib("raw"), mib("crypt"), mib("crypt-nowq"), mib("cmek"),
			median(ci, reps), median(c5, reps), median(c9, reps),
			("cmek" in have) ? ratio(med["cmek"], best) : "-", round, ceil
	}
}' "$csv"

if grep -q '^latency,' "$csv"; then
	echo
	echo "| key path (tests/bench/latency.sh) | p50 ms | p99 ms | samples |"
	echo "| --- | --- | --- | --- |"
	awk -F, '$1 == "latency" { printf "| %s | %s | %s | %s |\n", $2, $3, $4, $5 }' "$csv"
fi
if grep -q '^footprint,cmekd,' "$csv"; then
	IFS=, read -r _ _ rss0 rss1 lck < <(grep '^footprint,cmekd,' "$csv")
	echo
	echo "cmekd: VmRSS $rss0 KiB idle, $rss1 KiB with one volume open; VmLck $lck KiB."
fi

if command -v gnuplot > /dev/null; then
	awk -F, '$1 ~ /^[0-9]+$/ { k = $1 " " $2; s[k, $3] += $5; c[k, $3]++; if (!(k in seen)) { seen[k]; o[++n] = k } }
		END { for (i = 1; i <= n; i++) {
			printf "\"%s\"", o[i]
			split("raw crypt crypt-nowq cmek", cf, " ")
			for (j = 1; j <= 4; j++)
				printf " %s", c[o[i], cf[j]] ? s[o[i], cf[j]] / c[o[i], cf[j]] : "NaN"
			printf "\n" } }' "$csv" > "$dir/plot.dat"
	# One series per configuration the run measured (BENCH_CONFIGS).
	plot=""
	for col in "3 dm-crypt crypt" "4 dm-crypt-nowq crypt-nowq" "5 dm-cmek cmek" "2 raw raw"; do
		set -- $col
		grep -q "^[0-9]*,[^,]*,$3," "$csv" || continue
		tics=""
		[ -n "$plot" ] || tics=":xtic(1)"
		plot+="${plot:+, }\"$dir/plot.dat\" using $1$tics title \"$2\""
	done
	gnuplot <<EOG
set terminal pngcairo size 1400,600 noenhanced
set output "$dir/results.png"
set style data histogram
set style histogram cluster gap 1
set style fill solid border -1
set logscale y
set ylabel "MiB/s (mean, log scale)"
set xtics rotate by -30
set title "dm-cmek vs dm-crypt vs raw brd (QEMU TCG guest)"
plot $plot
EOG
	echo
	echo "![chart](results.png)"
fi
