// SPDX-License-Identifier: GPL-2.0
/*
 * cmekd: the cmek key daemon.
 *
 *   cmekd [-c CONFIG] [--check-config] [-v] [--no-syslog]
 *
 * Start-up: read and validate the config (any error: report every bad line
 * as FILE:LINE and exit 1), harden the process (mlockall, not dumpable, no
 * core files), listen on the control socket, join the netlink events group,
 * reload the known volumes and resynchronise with the kernel, tell systemd
 * READY=1 (Type=notify), then serve. Exiting never touches open volumes:
 * the kernel keeps their keys. The main thread holds the daemon lock except
 * in poll(); what may wait for a KMS runs in jobs (jobs.c).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <curl/curl.h>

#include "cmekd.h"
#include "http.h"
#include "log.h"

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cmekd [OPTIONS]\n"
"The cmek key daemon: unwraps volume keys with a KMS and pushes them into\n"
"the dm-cmek kernel module; serves cmekctl on a root-only socket.\n"
"\n"
"  -c, --config FILE    config file (default " CMEK_CONFIG_DEFAULT_PATH ")\n"
"      --check-config   validate the config file and exit (0 if good)\n"
"  -s, --socket PATH    control socket (overrides the config and $CMEK_SOCKET)\n"
"  -v, --verbose        log at debug level\n"
"      --no-syslog      log to stderr only (without it, under systemd,\n"
"                       syslog only: each line once in the journal)\n"
"  -V, --version        print the version and exit\n"
"  -h, --help           this help\n"
"\n"
"Environment: CMEK_SOCKET (socket path), CMEK_KEY_DIR (local provider's\n"
"key directory default), NOTIFY_SOCKET (systemd Type=notify).\n"
"See Documentation/admin-guide/cmekd.rst.\n");
}

/*
 * Is stderr the journal? systemd sets JOURNAL_STREAM to the
 * "device:inode" of the stream it connects (systemd.exec(5)); a match
 * means every stderr line is already a journal entry, and syslog() would
 * put each one there a second time.
 */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

static void report(void *ctx, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

static void sd_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

static void dm_log(const char *msg)
{
	log_debug("libdevmapper: %s", msg);
}

static int harden(void)
{
	struct rlimit rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_err("prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
		return -errno;
	}
	if (setrlimit(RLIMIT_CORE, &rl) < 0) {
		log_err("setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
		return -errno;
	}
	if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) {
		log_err("mlockall: %s: cmekd keeps keys in locked memory and "
			"needs CAP_IPC_LOCK (run as root) or a larger "
			"RLIMIT_MEMLOCK", strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * After events may have been missed (daemon_nl_ready() subscribed anew,
 * the event queue overflowed): here, on the main loop's turn, not in
 * whatever path found it out, which may be a revoke.
 */
static void resync_if_due(struct daemon *d)
{
	if (!d->resync_due)
		return;
	d->resync_due = false;
	daemon_resync(d);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-syslog", no_argument, NULL, 'S' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = CMEK_CONFIG_DEFAULT_PATH, *sock = NULL;
	bool check_only = false, verbose = false, use_syslog = true;
	bool config_given = false;
	struct cmek_config_opts copts = { .owner_uid = 0 };
	static struct daemon d;
	struct pollfd pfd[80];
	sigset_t mask;
	int c, errors = 0, ret, sfd;
	time_t next_nl_retry = 0, next_push_retry = 0;
	bool push_pending = false;
	int ret_code = 0;

	while ((c = getopt_long(argc, argv, "c:s:vfVh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			config_given = true;
			break;
		case 'C':
			check_only = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'S':
			use_syslog = false;
			break;
		case 'f':
			break;
		case 'V':
			printf("cmekd %s\n", CMEKD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cmekd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}

	cmek_log_init("cmekd", use_syslog && !check_only, LOG_INFO);
	/*
	 * Under systemd, syslog alone: it keeps each line's priority and
	 * puts audit lines under authpriv, which the journal's stderr
	 * stream would not. --no-syslog keeps stderr.
	 */
	if (use_syslog && !check_only && stderr_is_journal())
		cmek_log_set_stderr(false);
	cmek_config_init(&d.cfg);
	d.lfd = -1;
	d.config_path = config;
	errors = cmek_config_load(&d.cfg, config, config_given || check_only,
				  &copts, report, NULL);
	if (errors) {
		fprintf(stderr, "cmekd: %s: %d error%s, %s\n", config, errors,
			errors == 1 ? "" : "s", check_only ? "config is invalid" :
			"refusing to start");
		cmek_config_free(&d.cfg);
		return 1;
	}
	if (check_only) {
		printf("%s: OK (%zu provider section%s)\n", config,
		       d.cfg.nproviders, d.cfg.nproviders == 1 ? "" : "s");
		cmek_config_free(&d.cfg);
		return 0;
	}
	if (sock) {
		free(d.cfg.socket);
		d.cfg.socket = strdup(sock);
	}
	cmek_log_set_level(verbose ? LOG_DEBUG : d.cfg.log_level);
	if (geteuid() != 0) {
		log_err("cmekd must run as root (it drives device-mapper and "
			"the cmek netlink family)");
		return 1;
	}
	if (harden())
		return 1;
	/* Before any thread: libcurl's global set-up is not thread-safe. */
	if (cmek_http_global_init()) {
		log_err("libcurl cannot initialise");
		return 1;
	}
	if (jobs_init()) {
		log_err("eventfd: %s", strerror(errno));
		return 1;
	}
	daemon_lock();
	d.drain_events = events_drain;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGPIPE);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}

	d.udev = access("/run/udev/control", F_OK) == 0;
	cmek_dm_setup(d.udev, dm_log);
	if (mkdir(d.cfg.state_dir, 0700) < 0 && errno != EEXIST) {
		log_err("cannot create %s: %s", d.cfg.state_dir,
			strerror(errno));
		return 1;
	}
	snprintf(d.state_path, sizeof(d.state_path), "%s/volumes",
		 d.cfg.state_dir);
	if (trust_init(&d))
		return 1;
	state_load(&d);
	if (server_start(&d))
		return 1;
	ret = daemon_nl_ready(&d);
	if (ret)
		log_warn("cmek netlink family not available (%s): is dm-cmek "
			 "loaded? (modprobe dm-cmek); retrying every 5 s",
			 strerror(-ret));
	log_notice("cmekd %s started (config %s, %zu known volume%s, "
		   "check_interval %us, udev %s)", CMEKD_VERSION,
		   d.cfg.path ? d.cfg.path : "none (defaults)", d.nvols,
		   d.nvols == 1 ? "" : "s", d.cfg.check_interval,
		   d.udev ? "yes" : "no");
	resync_if_due(&d);
	d.next_check = d.cfg.check_interval ?
		time(NULL) + d.cfg.check_interval : 0;
	sd_notify_ready();

	while (!d.stop) {
		size_t n = 0, ns;
		int timeout = -1;
		time_t now = time(NULL);

		resync_if_due(&d);
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = jobs_wake_fd(),
					    .events = POLLIN };
		if (d.ev)
			pfd[n++] = (struct pollfd){ .fd = cmek_nl_fd(d.ev),
						    .events = POLLIN };
		ns = n;
		n += server_pollfds(&d, pfd + n, sizeof(pfd) / sizeof(pfd[0]) - n);
		if (d.next_check && !d.watch_busy)
			timeout = d.next_check > now ?
				  (int)(d.next_check - now) * 1000 : 0;
		push_pending = false;
		for (size_t i = 0; i < d.nvols; i++)
			push_pending |= d.vols[i]->need_push &&
					!d.vols[i]->pushing;
		if (!d.nl || !d.ev || push_pending) {
			if (timeout < 0 || timeout > 5000)
				timeout = 5000;
		}
		state_reap(&d);
		daemon_unlock();
		ret = poll(pfd, n, timeout);
		daemon_lock();
		if (ret < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			ret_code = 1;
			break;
		}
		now = time(NULL);
		if (ret > 0 && pfd[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP)
					log_notice("SIGHUP: config reload is not "
						   "supported; restart cmekd "
						   "(open volumes keep working)");
				else if (si.ssi_signo != SIGPIPE)
					d.stop = true;
			}
		}
		if (ret > 0 && pfd[1].revents)
			jobs_woken();
		if (ret > 0 && d.ev && ns == 3 && pfd[2].revents)
			events_handle(&d);
		if (ret > 0)
			server_handle(&d, pfd + ns, n - ns);
		if ((!d.nl || !d.ev) && now >= next_nl_retry) {
			next_nl_retry = now + 5;
			if (!daemon_nl_ready(&d))
				log_notice("cmek netlink family is available");
		}
		if (push_pending && now >= next_push_retry) {
			next_push_retry = now + 5;
			events_retry(&d);
		}
		watch_due(&d, now);
	}
	log_notice("cmekd stopping; open volumes keep their keys");
	server_stop(&d);
	/*
	 * Jobs still in a KMS call use the providers, and wait for the lock
	 * this thread keeps until the process ends: free nothing they use.
	 */
	if (d.njobs) {
		log_notice("%u job%s still waiting for a KMS: not waiting for "
			   "them", d.njobs, d.njobs == 1 ? "" : "s");
		/* Nor for exit handlers that would free what they use. */
		fflush(NULL);
		_exit(ret_code);
	}
	if (d.ev)
		cmek_nl_close(d.ev);
	if (d.nl)
		cmek_nl_close(d.nl);
	state_free(&d);
	watch_free(&d);
	cmek_config_free(&d.cfg);
	curl_global_cleanup();
	return ret_code;
}
