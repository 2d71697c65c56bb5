// SPDX-License-Identifier: GPL-2.0
/*
 * tcprelay HOST PORT: copy bytes between standard input/output and a TCP
 * connection to HOST:PORT until both directions are done.
 *
 * tests/vm/run --guestfwd runs it as QEMU's "guestfwd=...-cmd:" target:
 * QEMU's user-mode network stack starts one per guest connection, with the
 * guest's end of that connection as stdin and stdout. The other target
 * form, a "tcp:" character device, is a single host connection made when
 * QEMU starts, so only the guest's first connection would ever get through
 * (measured: the second and later connections hang), and HTTPS clients
 * open several.
 *
 * tcprelay -d FILE HOST PORT: while FILE exists, a new connection goes
 * nowhere: the guest's bytes are read and dropped until it closes, and
 * nothing ever answers, as with a KMS that stopped answering. The test
 * that owns FILE decides when the server is "down" (tests/vm/run
 * --guestfwd-down), so no answer can reach the guest while it is, whatever
 * the server process does.
 *
 * stderr is the guest connection too, so errors are reported only through
 * the exit status: 1 connect failed, 2 usage, 3 I/O error.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The guest's bytes go nowhere; done when it closes its end. */
static int black_hole(void)
{
	char buf[4096];
	ssize_t n;

	do
		n = read(0, buf, sizeof(buf));
	while (n > 0 || (n < 0 && errno == EINTR));
	return n ? 3 : 0;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1;

	if (getaddrinfo(host, port, &hints, &res))
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* One read and a full write; 0 on EOF, -1 on error, else bytes moved. */
static ssize_t pump(int from, int to)
{
	char buf[16384];
	ssize_t n, off = 0, w;

	do
		n = read(from, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	while (n > 0 && off < n) {
		w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	return n;
}

/* Half-close @fd for writing; a pipe (an interactive run) just closes. */
static void done_writing(int fd)
{
	if (shutdown(fd, SHUT_WR) && errno == ENOTSOCK)
		close(fd);
}

int main(int argc, char **argv)
{
	bool up_open = true, down_open = true;	/* guest->host, host->guest */
	struct pollfd p[2];
	ssize_t n;
	int fd;

	if (argc == 5 && !strcmp(argv[1], "-d")) {
		if (!access(argv[2], F_OK))
			return black_hole();
		argv += 2;
		argc -= 2;
	}
	if (argc != 3)
		return 2;
	fd = dial(argv[1], argv[2]);
	if (fd < 0)
		return 1;
	while (up_open || down_open) {
		p[0] = (struct pollfd){ .fd = up_open ? 0 : -1, .events = POLLIN };
		p[1] = (struct pollfd){ .fd = down_open ? fd : -1,
					.events = POLLIN };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 3;
		}
		if (p[0].revents) {
			n = pump(0, fd);
			if (n < 0)
				return 3;
			if (!n) {
				up_open = false;
				done_writing(fd);
			}
		}
		if (p[1].revents) {
			n = pump(fd, 1);
			if (n < 0)
				return 3;
			if (!n) {
				down_open = false;
				done_writing(1);
			}
		}
	}
	return 0;
}
