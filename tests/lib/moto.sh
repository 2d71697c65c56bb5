# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# moto_server (the AWS KMS fake) on the host, for VM tests that forward it
# into the guest (tests/vm/run --guestfwd PORT). Sourced.
#
#   moto_up MOTO DIR    start MOTO on a free loopback port with DIR's
#                       moto.pem/moto.key (tests/helpers/mkcert), log in
#                       DIR/moto.log; sets PORT, MPID (its process group)
#                       and MOTO_MS (start-up time). 0 once it answers
#                       over TLS (DIR/ca.pem), 1 if it never does.

# shellcheck disable=SC2034 # PORT, MPID, MOTO_MS are for the caller
moto_up() {
	local moto=$1 dir=$2 t0

	# A free port: nothing answers on it now; moto's bind fails loudly
	# if something takes it in between.
	for _ in $(seq 20); do
		PORT=$((20000 + RANDOM % 30000))
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break
	done
	t0=$(date +%s%N)
	# Its own process group (setsid: a script has no job control), so
	# every exit path kills moto and whatever the pyenv shim started.
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY \
		setsid "$moto" -H 127.0.0.1 -p "$PORT" -c "$dir/moto.pem" \
		-k "$dir/moto.key" >"$dir/moto.log" 2>&1 </dev/null &
	MPID=$!
	for _ in $(seq 600); do
		kill -0 "$MPID" 2>/dev/null || break
		if curl -s -m 5 --cacert "$dir/ca.pem" -o /dev/null \
			"https://127.0.0.1:$PORT/moto-api/"; then
			MOTO_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
			return 0
		fi
		sleep 0.1
	done
	MOTO_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	return 1
}
