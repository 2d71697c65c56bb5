// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon lock and the jobs that may let go of it (cmekd.h explains the
 * model). A job is a detached thread: few run at once (one per waiting
 * request, at most MAX_CLIENTS, one push per volume, the watch), and each
 * lives as long as its KMS calls, which are bounded by their deadlines.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "cmekd.h"
#include "log.h"

/*
 * mlockall(MCL_FUTURE) locks every thread's stack in full: keep them
 * small. The deepest stack is a provider's (curl, OpenSSL), well under it.
 */
#define JOB_STACK	(512 * 1024)

static pthread_mutex_t daemon_mutex = PTHREAD_MUTEX_INITIALIZER;
/* Taken before the daemon lock, and held across a serial job's KMS calls. */
static pthread_mutex_t serial_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static int wake_fd = -1;

struct job {
	struct daemon *d;
	enum job_lane lane;
	void (*fn)(struct daemon *d, void *arg);
	void *arg;
	uint64_t seq;
	struct job *prev, *next;	/* running jobs, under the daemon lock */
};

static struct job *running;
static uint64_t next_seq = 1;

uint64_t jobs_next_seq(void)
{
	return next_seq;
}

uint64_t jobs_oldest_seq(void)
{
	uint64_t oldest = next_seq;
	struct job *j;

	for (j = running; j; j = j->next)
		if (j->seq < oldest)
			oldest = j->seq;
	return oldest;
}

void daemon_lock(void)
{
	pthread_mutex_lock(&daemon_mutex);
}

void daemon_unlock(void)
{
	pthread_mutex_unlock(&daemon_mutex);
}

bool jobs_main_thread(void)
{
	return pthread_equal(pthread_self(), main_thread);
}

int jobs_init(void)
{
	main_thread = pthread_self();
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return wake_fd < 0 ? -errno : 0;
}

int jobs_wake_fd(void)
{
	return wake_fd;
}

void jobs_woken(void)
{
	uint64_t n;

	while (read(wake_fd, &n, sizeof(n)) == sizeof(n))
		;
}

static void *job_main(void *data)
{
	struct job *j = data;
	uint64_t one = 1;

	if (j->lane == JOB_SERIAL)
		pthread_mutex_lock(&serial_mutex);
	daemon_lock();
	j->d->peer_pid = 0;
	j->fn(j->d, j->arg);
	j->d->peer_pid = 0;
	j->d->njobs--;
	if (j->prev)
		j->prev->next = j->next;
	else
		running = j->next;
	if (j->next)
		j->next->prev = j->prev;
	daemon_unlock();
	if (j->lane == JOB_SERIAL)
		pthread_mutex_unlock(&serial_mutex);
	/* The main loop re-polls: a client to serve again, a tick to plan. */
	if (write(wake_fd, &one, sizeof(one)) != sizeof(one))
		log_debug("job: wake-up not written: %s", strerror(errno));
	free(j);
	return NULL;
}

int job_start(struct daemon *d, enum job_lane lane,
	      void (*fn)(struct daemon *d, void *arg), void *arg)
{
	struct job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t t;
	int ret;

	if (!j)
		return -ENOMEM;
	*j = (struct job){ .d = d, .lane = lane, .fn = fn, .arg = arg,
			   .seq = next_seq++, .next = running };
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, JOB_STACK);
	/* Counted now, under the daemon lock, so nothing is reaped early. */
	d->njobs++;
	if (running)
		running->prev = j;
	running = j;
	ret = pthread_create(&t, &attr, job_main, j);
	pthread_attr_destroy(&attr);
	if (ret) {
		d->njobs--;
		running = j->next;
		if (running)
			running->prev = NULL;
		free(j);
		log_err("cannot start a thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}
