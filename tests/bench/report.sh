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
$1 ~ /^[0-9]+$/ {
	k = $1 SUBSEP $2
	if (!(k in seen)) { seen[k] = 1; order[++n] = k }
	bw[k, $3, $4] = $5; iops[k, $3, $4] = $6; p50[k, $3, $4] = $7; p99[k, $3, $4] = $8
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
		lo = 1e9; hi = 0
		for (r = 1; r <= reps; r++) {
			best = bw[k, "crypt", r] > bw[k, "crypt-nowq", r] ? bw[k, "crypt", r] : bw[k, "crypt-nowq", r]
			x = bw[k, "cmek", r] / best
			rr[r] = x
			if (x < lo) lo = x
			if (x > hi) hi = x
			ci[r] = iops[k, "cmek", r]; c5[r] = p50[k, "cmek", r]; c9[r] = p99[k, "cmek", r]
		}
		best = med["crypt"] > med["crypt-nowq"] ? med["crypt"] : med["crypt-nowq"]
		ceil = "-"
		if (kk[2] ~ /^seq/) {
			cph = kk[2] ~ /read/ ? dec : enc
			ceil = sprintf("%.2f", med["cmek"] / (1 / (1 / med["raw"] + 1 / cph)))
		}
		printf "| %s | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f / %.0f | %.2f | %.2f (%.2f-%.2f) | %s |\n",
			kk[1], kk[2], med["raw"], med["crypt"], med["crypt-nowq"], med["cmek"],
			median(ci, reps), median(c5, reps), median(c9, reps), med["cmek"] / best,
			median(rr, reps), lo, hi, ceil
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
		END { for (i = 1; i <= n; i++) printf "\"%s\" %f %f %f %f\n", o[i],
			s[o[i], "raw"] / c[o[i], "raw"], s[o[i], "crypt"] / c[o[i], "crypt"],
			s[o[i], "crypt-nowq"] / c[o[i], "crypt-nowq"], s[o[i], "cmek"] / c[o[i], "cmek"] }' "$csv" > "$dir/plot.dat"
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
plot "$dir/plot.dat" using 3:xtic(1) title "dm-crypt", "" using 4 title "dm-crypt nowq", "" using 5 title "dm-cmek", "" using 2 title "raw"
EOG
	echo
	echo "![chart](results.png)"
fi
