// SPDX-License-Identifier: GPL-2.0
/*
 * mkcert DIR NAME [SAN]: a test CA in DIR (ca.pem, ca.key; made on first
 * use, reused after) and a server/client certificate NAME.pem, NAME.key
 * signed by it, valid for 127.0.0.1 and localhost and for SAN as well
 * (OpenSSL's subjectAltName syntax, "IP:10.0.2.100,DNS:kms.test").
 *
 * The same certificates the unit tests' servers use (tests/lib/fakesrv.c),
 * for servers a shell test runs: moto_server on the host, which a VM guest
 * reaches at 10.0.2.100 (tests/host/aws_kms_vm.sh). Test use only: the
 * keys are unencrypted and valid for two days.
 */
#include <stdio.h>
#include <sys/stat.h>

#include "../lib/fakesrv.h"

int main(int argc, char **argv)
{
	struct stat st;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: mkcert DIR NAME [SAN]\n");
		return 2;
	}
	if (stat(argv[1], &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mkcert: %s is not a directory\n", argv[1]);
		return 1;
	}
	if (fake_cert_issue_san(argv[1], argv[2], argc == 4 ? argv[3] : NULL)) {
		fprintf(stderr,
			"mkcert: cannot issue %s/%s.pem (bad SAN '%s', or %s not writable)\n",
			argv[1], argv[2], argc == 4 ? argv[3] : "", argv[1]);
		return 1;
	}
	return 0;
}
