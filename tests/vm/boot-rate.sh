#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Measure how often the rig's guest hangs before user space: N boots of
# tests/vm/run --boot-only (boot, announce, power off), one at a time,
# each with one try and a short deadline. The machine variant comes from
# tests/vm/run's VM_* variables. Prints one line per hang and a summary:
#
#	boot-rate: LABEL boots N hangs H other O user space p50 S s max S s
#
# (other: boots that failed some other way, kept as otherN.txt)
#
# Hung boots keep their console and vCPU instruction pointers in
# build/boot-rate/LABEL/.
#
#	tests/vm/boot-rate.sh N [LABEL]
set -uo pipefail
cd "$(dirname "$0")/../.."

n=${1:?usage: $0 N [LABEL]}
label=${2:-default}
dir=build/boot-rate/$label
mkdir -p "$dir"
: > "$dir/times"
hangs=0
other=0

# Symbols for the instruction pointers of a hung boot (nokaslr: the same
# addresses on every boot).
krel=${KERNELRELEASE:-$(make -s -f /dev/null -f Makefile \
	--eval 'print-krel: ; @echo $(KERNELRELEASE)' print-krel)}
syms=build/vm/kallsyms-$krel
if [ ! -s "$syms" ]; then
	tests/vm/run -- cat /proc/kallsyms > "$syms.tmp" 2>/dev/null &&
		mv "$syms.tmp" "$syms"
fi

for i in $(seq 1 "$n"); do
	err=$(VM_BOOT_TRIES=1 VM_BOOT_DEADLINE=${VM_BOOT_DEADLINE:-30} \
		tests/vm/run --timeout 60 --boot-only --log "$dir/console" 2>&1)
	rc=$?
	t=$(echo "$err" | sed -n 's/^cmek-vm: user space after \([0-9.]*\) s$/\1/p')
	if [ -n "$t" ] && [ $rc -eq 0 ]; then
		echo "$t" >> "$dir/times"
	elif echo "$err" | grep -q 'did not reach user space'; then
		hangs=$((hangs + 1))
		cp "$dir/console.boot1" "$dir/hang$hangs.console"
		echo "$err" > "$dir/hang$hangs.txt"
		echo "boot-rate: $label boot $i hung: $(grep 'vCPU RIP' "$dir/hang$hangs.txt" | awk '{print $4}' | tr '\n' ' ')"
	else
		other=$((other + 1))
		echo "$err" > "$dir/other$other.txt"
		echo "boot-rate: $label boot $i failed otherwise (rc $rc)"
	fi
done
sort -n "$dir/times" | awk -v l="$label" -v n="$n" -v h="$hangs" -v o="$other" '
	{ t[NR] = $1 }
	END { printf "boot-rate: %s boots %d hangs %d other %d user space p50 %.2f s max %.2f s\n",
		l, n, h, o, NR ? t[int((NR + 1) / 2)] : 0, NR ? t[NR] : 0 }'
