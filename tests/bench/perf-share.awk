# SPDX-License-Identifier: GPL-2.0
#
# Where a profile's samples fell, for make bench's BENCH_PERF pass:
#
#	awk -v tag="4096 rand-read-qd32 cmek" -f tests/bench/perf-share.awk \
#		/proc/kallsyms report.txt
#
# report.txt is "perf report --stdio --no-children --sort sym". perf files
# a module's symbols under [kernel.kallsyms], so the target's own share is
# found by name: kallsyms tags them [dm_cmek] or [dm_crypt]. Prints one
# line, "PERF TAG share idle I% cipher C% target T% other O%", then the
# symbols of 1% or more as "PERF TAG top ...".

FNR == NR {
	if ($4 ~ /^\[dm_(cmek|crypt)\]$/)
		mod[$3] = 1
	next
}

!/^ *[0-9.]+% / { next }

{
	p = $1 + 0
	sym = $3
	if (p >= 1)
		top[++ntop] = $0
}

sym ~ /^(native_safe_halt|default_idle|cpu_idle|acpi_idle|intel_idle)/ {
	idle += p
	next
}

sym ~ /aesni|^aes_(en|de)crypt|xts/ { cipher += p; next }
sym in mod { target += p; next }
{ other += p }

END {
	printf "PERF %s share idle %.1f%% cipher %.1f%% target %.1f%% other %.1f%%\n",
	       tag, idle, cipher, target, other
	for (i = 1; i <= ntop; i++)
		print "PERF", tag, "top", top[i]
}
