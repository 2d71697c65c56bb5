// SPDX-License-Identifier: GPL-2.0
/*
 * Provider calls without the daemon lock. A call may wait for its KMS up
 * to the provider's deadline (timeout, retries, backoff); meanwhile the
 * main thread serves status, revoke and the kernel's events, and other
 * jobs run. Calls into one provider are made one at a time: a provider
 * keeps state between calls (bearer tokens, a KMIP connection) that is
 * not made for threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "cmekd.h"
#include "log.h"

/* One per provider instance; providers live as long as the daemon. */
struct kms_gate {
	const struct cmek_provider *p;
	pthread_mutex_t lock;
	struct kms_gate *next;
};

static struct kms_gate *gates;	/* under the daemon lock */

struct kms_call {
	struct daemon *d;
	struct kms_gate *gate;
	pid_t peer_pid;
};

static struct kms_gate *gate_of(const struct cmek_provider *p)
{
	struct kms_gate *g;

	for (g = gates; g; g = g->next)
		if (g->p == p)
			return g;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->p = p;
	pthread_mutex_init(&g->lock, NULL);
	g->next = gates;
	gates = g;
	return g;
}

/* Called with the daemon lock; returns without it, or -errno with it. */
static int kms_enter(struct daemon *d, const struct cmek_provider *p,
		     struct kms_call *c, struct cmek_error *err)
{
	if (jobs_main_thread()) {
		log_err("cmekd bug: a %s call on the main thread; refused",
			p->ops->name);
		cmek_error_set(err, CMEK_ERR_INVALID, "cmekd did not call the "
			       "KMS (internal error: see its log)");
		return -EDEADLK;
	}
	c->d = d;
	c->gate = gate_of(p);
	if (!c->gate) {
		cmek_error_set(err, CMEK_ERR_TRANSIENT, "out of memory");
		return -ENOMEM;
	}
	c->peer_pid = d->peer_pid;
	daemon_unlock();
	pthread_mutex_lock(&c->gate->lock);
	return 0;
}

/* Back under the daemon lock; the request's peer is this job's again. */
static int kms_leave(struct kms_call *c, int ret)
{
	pthread_mutex_unlock(&c->gate->lock);
	daemon_lock();
	c->d->peer_pid = c->peer_pid;
	return ret;
}

int kms_generate(struct daemon *d, struct cmek_provider *p,
		 const char *key_ref, const struct cmek_binding *b,
		 uint8_t *dek, size_t dek_len, uint8_t **wrapped,
		 size_t *wrapped_len, struct cmek_error *err)
{
	struct kms_call c;
	int ret = kms_enter(d, p, &c, err);

	if (ret)
		return ret;
	if (!p->ops->generate)
		return kms_leave(&c, cmek_generate_by_wrap(p, key_ref, b, dek,
							   dek_len, wrapped,
							   wrapped_len, err));
	return kms_leave(&c, p->ops->generate(p, key_ref, b, dek, dek_len,
					      wrapped, wrapped_len, err));
}

int kms_wrap(struct daemon *d, struct cmek_provider *p, const char *key_ref,
	     const struct cmek_binding *b, const uint8_t *dek, size_t dek_len,
	     uint8_t **wrapped, size_t *wrapped_len, struct cmek_error *err)
{
	struct kms_call c;
	int ret = kms_enter(d, p, &c, err);

	if (ret)
		return ret;
	return kms_leave(&c, p->ops->wrap(p, key_ref, b, dek, dek_len,
					  wrapped, wrapped_len, err));
}

int kms_unwrap(struct daemon *d, struct cmek_provider *p,
	       const char *key_ref, const struct cmek_binding *b,
	       const uint8_t *wrapped, size_t wrapped_len, uint8_t *dek,
	       size_t *dek_len, struct cmek_error *err)
{
	struct kms_call c;
	int ret = kms_enter(d, p, &c, err);

	if (ret)
		return ret;
	return kms_leave(&c, p->ops->unwrap(p, key_ref, b, wrapped,
					    wrapped_len, dek, dek_len, err));
}

int kms_rewrap(struct daemon *d, struct cmek_provider *p,
	       const char *key_ref, const char *new_key_ref,
	       const struct cmek_binding *b, const uint8_t *wrapped,
	       size_t wrapped_len, uint8_t **new_wrapped,
	       size_t *new_wrapped_len, struct cmek_error *err)
{
	struct kms_call c;
	int ret = kms_enter(d, p, &c, err);

	if (ret)
		return ret;
	return kms_leave(&c, p->ops->rewrap(p, key_ref, new_key_ref, b,
					    wrapped, wrapped_len, new_wrapped,
					    new_wrapped_len, err));
}

int kms_key_state(struct daemon *d, struct cmek_provider *p,
		  const char *key_ref, enum cmek_kms_key_state *state,
		  struct cmek_error *err)
{
	struct kms_call c;
	int ret = kms_enter(d, p, &c, err);

	if (ret)
		return ret;
	return kms_leave(&c, p->ops->key_state(p, key_ref, state, err));
}

int kms_slot_state(struct daemon *d, struct cmek_provider *p,
		   const char *key_id, enum cmek_kms_key_state *state,
		   struct cmek_error *err)
{
	struct kms_call c;
	int ret = kms_enter(d, p, &c, err);

	if (ret)
		return ret;
	return kms_leave(&c, p->ops->slot_state(p, key_id, state, err));
}
