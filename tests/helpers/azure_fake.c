// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: userspace/providers/azure_kv/fake_azure.c as a process, for
 * VM tests.
 *
 *	azure_fake DIR PORT TENANT CLIENT SECRET KEY...
 *
 * Entra ID's token endpoint and the vault https://cmektest.vault.azure.net
 * on https://127.0.0.1:PORT (DIR/ca.pem signs its certificate), one client
 * (TENANT, CLIENT, SECRET), and each KEY an RSA-2048 key with every
 * operation (wrapKey, unwrapKey, sign, verify, get). The keys live as long
 * as the process. Prints "ready" once it listens; ends on SIGTERM.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "azure_kv/fake_azure.h"

int main(int argc, char **argv)
{
	static struct fake_azure fa;
	static struct fakesrv s;
	sigset_t set;
	int port, sig, i;

	if (argc < 7) {
		fprintf(stderr, "usage: azure_fake DIR PORT TENANT CLIENT SECRET KEY...\n");
		return 2;
	}
	port = atoi(argv[2]);
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "azure_fake: bad port '%s'\n", argv[2]);
		return 2;
	}
	if (fake_azure_init(&fa, "https://cmektest.vault.azure.net", argv[3],
			    argv[4], argv[5]))
		return 1;
	for (i = 6; i < argc; i++)
		if (fake_azure_key_add(&fa, argv[i])) {
			fprintf(stderr, "azure_fake: cannot add key %s\n",
				argv[i]);
			return 1;
		}
	/* The server thread must not take the signal that ends us. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (fakesrv_start_port(&s, argv[1], port, fake_azure_handler, &fa))
		return 1;
	printf("ready\n");
	fflush(stdout);
	sigwait(&set, &sig);
	fakesrv_stop(&s);
	fake_azure_free(&fa);
	return 0;
}
