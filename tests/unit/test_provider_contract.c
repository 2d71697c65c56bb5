// SPDX-License-Identifier: GPL-2.0
/*
 * The provider contract (tests/lib/contract.h): one list of cases, run
 * against every provider through its adapter and its test KMS. A case is
 * one TAP line per provider that can be asked it; the plan is counted
 * from the table, and what a provider cannot be asked is printed, with
 * the adapter's reason, before the first case.
 *
 * What every provider must do alike: a DEK wrapped and unwrapped comes
 * back; a wrapped DEK is bound to its volume and its key; a malformed key
 * reference is refused before any request; the KMS's word on a key
 * (disabled, pending deletion, deleted, access denied) is the same state
 * from key_state() and a DEFINITIVE unwrap; a failure to get the KMS's
 * answer (5xx, throttling, a hang, a closed connection, a TLS alert, a
 * proxy's page, garbage, nothing listening, a certificate that does not
 * verify, cmekd's own credential refused) is TRANSIENT and never a key
 * state; and no error message, of all the run's, carries a secret.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "provider.h"
#include "../lib/fakesrv.h"
#include "../lib/contract.h"
#include "../lib/tap.h"

static const struct contract_adapter *const adapters[] = {
	&contract_local,
	&contract_aws_kms,
	&contract_gcp_kms,
	&contract_azure_kv,
	&contract_vault_transit,
	&contract_kmip,
};

#define NADAPTERS	(sizeof(adapters) / sizeof(adapters[0]))
#define NEEDLES_MAX	64
#define CONTRACT_TOKEN_MAX	400	/* the fakes' tokens are shorter */
#define WHY_MAX		(CMEK_ERRMSG_MAX + 200)
/* A generous bound on anything that must end: never a timing check. */
#define BOUND_MS	60000

static const struct cmek_binding vol = {
	"0f8a3e7c-1b2d-4c5e-9f60-123456789abc" };
static const struct cmek_binding other = {
	"11111111-2222-4333-8444-555555555555" };

/* One adapter's run: what it made, and every error message it got. */
struct run {
	struct contract c;
	bool started;
	struct cmek_provider *p;		/* CONTRACT_GOOD */
	char key[CONTRACT_REF_MAX], key2[CONTRACT_REF_MAX];
	uint8_t dek[CMEK_DEK_MAX];
	uint8_t *blob;				/* dek, 64 bytes, under key */
	size_t blob_len;
	/* DEKs and wrapped keys, encoded: no message may carry them */
	char *needles[NEEDLES_MAX];
	size_t nneedles;
	char *msgs;
	size_t msgs_len;
	unsigned int nmsgs;
	char why[WHY_MAX];			/* said after the case's name */
	char bearer[CONTRACT_TOKEN_MAX];	/* the last token the fake saw */
};

static __attribute__((format(printf, 2, 3)))
void say(struct run *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void needle(struct run *r, char *s)
{
	if (s && r->nneedles < NEEDLES_MAX)
		r->needles[r->nneedles++] = s;
	else
		free(s);
}

/* @b's hex and base64: what a message that leaked it would hold. */
static void secret_bytes(struct run *r, const uint8_t *b, size_t n)
{
	char *hex = malloc(2 * n + 1);

	for (size_t i = 0; hex && i < n; i++)
		sprintf(hex + 2 * i, "%02x", b[i]);
	needle(r, hex);
	needle(r, cmek_b64_encode(b, n, false));
}

/* Every failed call's message, kept for the last case. */
static int kept(struct run *r, int ret, const struct cmek_error *err)
{
	size_t n = strlen(err->msg);
	char *m;

	if (!ret)
		return 0;
	m = realloc(r->msgs, r->msgs_len + n + 2);
	if (m) {
		r->msgs = m;
		memcpy(m + r->msgs_len, err->msg, n);
		r->msgs_len += n;
		m[r->msgs_len++] = '\n';
		m[r->msgs_len] = '\0';
		r->nmsgs++;
	}
	return ret;
}

static int do_generate(struct run *r, struct cmek_provider *p,
		       const char *ref, const struct cmek_binding *b,
		       uint8_t *dek, size_t len, uint8_t **w, size_t *wl,
		       struct cmek_error *err)
{
	memset(err, 0, sizeof(*err));
	*w = NULL;
	if (kept(r, p->ops->generate(p, ref, b, dek, len, w, wl, err), err))
		return -1;
	secret_bytes(r, dek, len);
	needle(r, cmek_b64_encode(*w, *wl, false));
	return 0;
}

static int do_wrap(struct run *r, struct cmek_provider *p, const char *ref,
		   const uint8_t *dek, size_t len, uint8_t **w, size_t *wl,
		   struct cmek_error *err)
{
	memset(err, 0, sizeof(*err));
	*w = NULL;
	secret_bytes(r, dek, len);
	if (kept(r, p->ops->wrap(p, ref, &vol, dek, len, w, wl, err), err))
		return -1;
	needle(r, cmek_b64_encode(*w, *wl, false));
	return 0;
}

static int do_unwrap(struct run *r, struct cmek_provider *p, const char *ref,
		     const struct cmek_binding *b, const uint8_t *w,
		     size_t wl, uint8_t *out, size_t *ol,
		     struct cmek_error *err)
{
	memset(err, 0, sizeof(*err));
	memset(out, 0, CMEK_DEK_MAX);
	*ol = 0;
	return kept(r, p->ops->unwrap(p, ref, b, w, wl, out, ol, err), err);
}

static int do_state(struct run *r, struct cmek_provider *p, const char *ref,
		    enum cmek_kms_key_state *st, struct cmek_error *err)
{
	memset(err, 0, sizeof(*err));
	*st = CMEK_KMS_ENABLED;
	return kept(r, p->ops->key_state(p, ref, st, err), err);
}

static const char *cls_name(enum cmek_err_class c)
{
	return c == CMEK_ERR_DEFINITIVE ? "definitive" :
	       c == CMEK_ERR_TRANSIENT ? "transient" :
	       c == CMEK_ERR_INVALID ? "invalid" : "none";
}

/*
 * A wrapped key given to a key that did not wrap it: the KMS's own
 * refusal, never "no answer". Invalid where the provider or the KMS sees
 * the mismatch; definitive where the KMS says the object the blob names
 * does not exist under that key (azure-kv: a version of another key).
 */
static bool refused(const struct cmek_error *err)
{
	return err->cls == CMEK_ERR_INVALID || err->cls == CMEK_ERR_DEFINITIVE;
}

/* A provider with settings @kv (@n pairs); NULL with r->why set. */
static struct cmek_provider *configure(struct run *r, const char **kv,
				       size_t n)
{
	struct cmek_error err = { 0 };
	struct cmek_provider *p = cmek_provider_new(r->c.ad->provider, &err);

	for (size_t i = 0; p && i < n; i++)
		if (kept(r, p->ops->configure(p, kv[2 * i], kv[2 * i + 1],
					      &err), &err)) {
			say(r, "configure %s: %s", kv[2 * i], err.msg);
			cmek_provider_free(p);
			return NULL;
		}
	if (!p)
		say(r, "no provider: %s", err.msg);
	return p;
}

static struct cmek_provider *make(struct run *r, enum contract_conf conf)
{
	const char *kv[2 * CONTRACT_KV_MAX] = { NULL };

	return configure(r, kv, r->c.ad->settings(&r->c, conf, kv));
}

/* The bearer token of the fake's last request: a secret from now on. */
static void bearer(struct run *r)
{
	char h[CONTRACT_TOKEN_MAX + 8];

	fakesrv_last_header(r->c.srv, "Authorization", h, sizeof(h));
	if (strncmp(h, "Bearer ", 7) || !strcmp(h + 7, r->bearer) ||
	    strlen(h + 7) >= sizeof(r->bearer))
		return;
	memcpy(r->bearer, h + 7, strlen(h + 7) + 1);
	needle(r, strdup(r->bearer));
}

/* An error answer quoting the secrets, in the KMS's shape if it has one. */
static void echo(struct run *r, struct fake_faults *ft)
{
	const struct contract_adapter *ad = r->c.ad;
	char text[sizeof(ft->body)] = "bad request:";
	size_t n = strlen(text);

	for (size_t i = 0; i < CONTRACT_SECRETS_MAX; i++)
		if (r->c.echo[i] && n < sizeof(text))
			n += (size_t)snprintf(text + n, sizeof(text) - n, " %s",
					      r->c.echo[i]);
	if (r->bearer[0] && n < sizeof(text))
		snprintf(text + n, sizeof(text) - n, " %s", r->bearer);
	ft->status = ad->echo_body ? ad->echo_status : 400;
	/* The adapter's format, one %s: a constant in its table. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(ft->body, sizeof(ft->body),
		 ad->echo_body ? ad->echo_body : "%s", text);
#pragma GCC diagnostic pop
}

/*
 * A provider that meets @f on its next calls. With a fakesrv, it has
 * made one good call first: a token it fetches is cached, and the fault
 * hits the KMS's API. A quick provider's first call may overrun its
 * timeout on a loaded machine, so it has three tries.
 */
static struct cmek_provider *faulted(struct run *r, enum contract_fault f)
{
	/* Those whose check a timeout on a loaded machine would spoil. */
	bool slow = f == CONTRACT_FAULT_RETRY ||
		    f == CONTRACT_FAULT_RETRY_AFTER ||
		    f == CONTRACT_FAULT_THROTTLED || f == CONTRACT_FAULT_ECHO;
	struct fake_faults ft = { 0 };
	const char *kv[2 * CONTRACT_KV_MAX] = { NULL };
	enum cmek_kms_key_state st;
	struct cmek_error err;
	struct cmek_provider *p;
	size_t n;
	int ret = -1;

	if (!r->c.srv) {
		n = r->c.ad->fault(&r->c, f, kv);
		return n ? configure(r, kv, n) : NULL;
	}
	p = make(r, slow ? CONTRACT_GOOD : CONTRACT_QUICK);
	for (int i = 0; p && ret && i < 3; i++)
		ret = do_state(r, p, r->key, &st, &err);
	if (ret) {
		say(r, "no good call before the fault: %s", err.msg);
		cmek_provider_free(p);
		return NULL;
	}
	bearer(r);
	switch (f) {
	case CONTRACT_FAULT_RETRY:
		ft.status = 503;
		ft.count = 2;
		break;
	case CONTRACT_FAULT_UNAVAILABLE:
		ft.status = 503;
		break;
	case CONTRACT_FAULT_RETRY_AFTER:
		ft.status = 429;
		ft.count = 1;
		snprintf(ft.retry_after, sizeof(ft.retry_after), "1");
		break;
	case CONTRACT_FAULT_THROTTLED:
		ft.status = 429;
		break;
	case CONTRACT_FAULT_TLS_ALERT:
		ft.tls_alert = true;
		break;
	case CONTRACT_FAULT_NOT_KMS:
		ft.status = 403;
		snprintf(ft.body, sizeof(ft.body),
			 "<html><body><h1>403 Forbidden</h1>Request blocked by the proxy</body></html>");
		break;
	case CONTRACT_FAULT_ECHO:
		echo(r, &ft);
		break;
	case CONTRACT_FAULT_HANG:
		ft.hang = true;
		break;
	case CONTRACT_FAULT_CLOSE:
		ft.close_early = true;
		break;
	case CONTRACT_FAULT_GARBAGE:
		ft.status = 200;
		snprintf(ft.body, sizeof(ft.body), "<html>garbage</html>");
		break;
	case CONTRACT_FAULTS:
		break;
	}
	/* A status stands for every request of the case but the RETRYs'. */
	if (ft.status && !ft.count)
		ft.count = 1000;
	fakesrv_faults(r->c.srv, &ft);
	return p;
}

static void unfault(struct run *r)
{
	if (r->c.srv)
		fakesrv_faults(r->c.srv, NULL);
	else if (r->c.ad->fault_clear)
		r->c.ad->fault_clear(&r->c);
}

static unsigned long requests(struct run *r)
{
	return r->c.srv ? fakesrv_requests(r->c.srv) : 0;
}

/* ---- the cases ---- */

static bool case_start(struct run *r, int what)
{
	struct cmek_error err = { 0 };

	(void)what;
	if (!r->started) {
		say(r, "the test KMS did not start");
		return false;
	}
	r->p = make(r, CONTRACT_GOOD);
	if (!r->p)
		return false;
	if (r->c.ad->new_key(&r->c, r->key, sizeof(r->key)) ||
	    r->c.ad->new_key(&r->c, r->key2, sizeof(r->key2))) {
		say(r, "no key made");
		return false;
	}
	if (do_generate(r, r->p, r->key, &vol, r->dek, 64, &r->blob,
			&r->blob_len, &err)) {
		say(r, "generate: %s", err.msg);
		return false;
	}
	say(r, "keys %s, %s", r->key, r->key2);
	return true;
}

static bool case_round_trip(struct run *r, int what)
{
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	size_t ol;
	bool ok;

	(void)what;
	ok = !do_unwrap(r, r->p, r->key, &vol, r->blob, r->blob_len, out,
			&ol, &err) &&
	     ol == 64 && !memcmp(out, r->dek, 64) &&
	     !memmem(r->blob, r->blob_len, r->dek, 16);
	say(r, "%zu-byte wrapped key %s", r->blob_len, err.msg);
	return ok;
}

static bool case_wrap32(struct run *r, int what)
{
	uint8_t dek[32], out[CMEK_DEK_MAX], *w = NULL;
	struct cmek_error err;
	size_t wl = 0, ol;
	bool ok;

	(void)what;
	for (size_t i = 0; i < sizeof(dek); i++)
		dek[i] = (uint8_t)(0xa5 ^ i);
	ok = !do_wrap(r, r->p, r->key, dek, 32, &w, &wl, &err) &&
	     !do_unwrap(r, r->p, r->key, &vol, w, wl, out, &ol, &err) &&
	     ol == 32 && !memcmp(out, dek, 32);
	say(r, "%s", err.msg);
	free(w);
	return ok;
}

static bool case_binding(struct run *r, int what)
{
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	size_t ol;
	bool ok;

	(void)what;
	ok = do_unwrap(r, r->p, r->key, &other, r->blob, r->blob_len, out,
		       &ol, &err) < 0 && err.cls == CMEK_ERR_INVALID &&
	     !memmem(out, sizeof(out), r->dek, 16);
	say(r, "%s: %s", cls_name(err.cls), err.msg);
	return ok;
}

static bool case_corrupt(struct run *r, int what)
{
	uint8_t out[CMEK_DEK_MAX], *w = malloc(r->blob_len);
	struct cmek_error err = { 0 };
	size_t ol;
	bool ok;

	(void)what;
	if (!w)
		return false;
	memcpy(w, r->blob, r->blob_len);
	/* The end: past any name a provider puts in front of the KMS's. */
	w[r->blob_len - 1] ^= 0x01;
	ok = do_unwrap(r, r->p, r->key, &vol, w, r->blob_len, out, &ol,
		       &err) < 0 && err.cls == CMEK_ERR_INVALID;
	say(r, "%s: %s", cls_name(err.cls), err.msg);
	free(w);
	return ok;
}

static bool case_other_key(struct run *r, int what)
{
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err;
	size_t ol;
	bool ok;

	(void)what;
	ok = do_unwrap(r, r->p, r->key2, &vol, r->blob, r->blob_len, out,
		       &ol, &err) < 0 && refused(&err) &&
	     !memmem(out, sizeof(out), r->dek, 16);
	say(r, "%s: %s", cls_name(err.cls), err.msg);
	return ok;
}

static bool case_rewrap(struct run *r, int what)
{
	const struct cmek_provider_ops *o = r->p->ops;
	uint8_t out[CMEK_DEK_MAX], *w = NULL;
	struct cmek_error err = { 0 };
	size_t wl = 0, ol;
	bool ok;

	(void)what;
	ok = !kept(r, (o->rewrap ? o->rewrap : cmek_rewrap_by_unwrap)
		   (r->p, r->key, r->key2, &vol, r->blob, r->blob_len, &w,
		    &wl, &err), &err);
	if (ok)
		needle(r, cmek_b64_encode(w, wl, false));
	ok = ok && !do_unwrap(r, r->p, r->key2, &vol, w, wl, out, &ol, &err) &&
	     ol == 64 && !memcmp(out, r->dek, 64) &&
	     do_unwrap(r, r->p, r->key, &vol, w, wl, out, &ol, &err) < 0 &&
	     refused(&err);
	say(r, "%s: %s", o->rewrap ? "the KMS's own" : "unwrap + wrap",
	    err.msg);
	free(w);
	return ok;
}

static bool case_bad_ref(struct run *r, int what)
{
	const char *ref = r->c.ad->bad_ref;
	unsigned long before = requests(r);
	enum cmek_kms_key_state st;
	uint8_t dek[CMEK_DEK_MAX], *w = NULL;
	struct cmek_error err;
	size_t wl;
	bool ok;

	(void)what;
	ok = do_state(r, r->p, ref, &st, &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID;
	ok = ok && do_generate(r, r->p, ref, &vol, dek, 64, &w, &wl,
			       &err) < 0 &&
	     err.cls == CMEK_ERR_INVALID && requests(r) == before;
	say(r, "'%s': %s", ref, err.msg);
	free(w);
	return ok;
}

static bool case_enabled(struct run *r, int what)
{
	enum cmek_kms_key_state st;
	struct cmek_error err;
	bool ok;

	(void)what;
	ok = !do_state(r, r->p, r->key, &st, &err) && st == CMEK_KMS_ENABLED;
	say(r, "%s %s", cmek_kms_key_state_name(st), err.msg);
	return ok;
}

static bool case_missing(struct run *r, int what)
{
	enum cmek_kms_key_state st;
	struct cmek_error err;
	char ref[CONTRACT_REF_MAX];
	bool ok;

	(void)what;
	r->c.ad->missing_key(&r->c, ref, sizeof(ref));
	ok = !do_state(r, r->p, ref, &st, &err) && st == CMEK_KMS_DELETED;
	say(r, "%s: %s %s", ref, cmek_kms_key_state_name(st), err.msg);
	return ok;
}

/* A fresh key wraps a DEK, then the KMS says @what of it. */
static bool case_state(struct run *r, int what)
{
	enum cmek_kms_key_state want = what, st;
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL;
	struct cmek_provider *q = NULL;
	char ref[CONTRACT_REF_MAX];
	struct cmek_error err = { 0 };
	size_t wl = 0, ol;
	bool ok = false;

	if (r->c.ad->new_key(&r->c, ref, sizeof(ref)) ||
	    do_generate(r, r->p, ref, &vol, dek, 64, &w, &wl, &err) ||
	    r->c.ad->set_state(&r->c, ref, want)) {
		say(r, "setup: %s", err.msg);
		goto out;
	}
	q = want == CMEK_KMS_ACCESS_DENIED ? make(r, CONTRACT_DENIED) : r->p;
	ok = q && !do_state(r, q, ref, &st, &err) && st == want;
	say(r, "key_state %s", ok ? cmek_kms_key_state_name(st) : err.msg);
	if (!ok)
		goto out;
	ok = do_unwrap(r, q, ref, &vol, w, wl, out, &ol, &err) < 0 &&
	     err.cls == CMEK_ERR_DEFINITIVE &&
	     !memmem(out, sizeof(out), dek, 16);
	say(r, "key_state %s, unwrap %s: %s", cmek_kms_key_state_name(st),
	    cls_name(err.cls), err.msg);
out:
	r->c.ad->set_state(&r->c, ref, CMEK_KMS_ENABLED);
	if (q != r->p)
		cmek_provider_free(q);
	free(w);
	return ok;
}

/* key_state and unwrap both TRANSIENT, the state unknown, on @p. */
static bool no_answer(struct run *r, struct cmek_provider *p,
		      struct cmek_error *err)
{
	enum cmek_kms_key_state st;
	uint8_t out[CMEK_DEK_MAX];
	size_t ol;
	bool ok;

	ok = p && do_state(r, p, r->key, &st, err) < 0 &&
	     err->cls == CMEK_ERR_TRANSIENT && st == CMEK_KMS_UNKNOWN;
	if (!ok)
		return false;
	return do_unwrap(r, p, r->key, &vol, r->blob, r->blob_len, out, &ol,
			 err) < 0 && err->cls == CMEK_ERR_TRANSIENT &&
	       !memmem(out, sizeof(out), r->dek, 16);
}

static bool case_conf(struct run *r, int what)
{
	struct cmek_provider *p = make(r, what);
	struct cmek_error err = { 0 };
	bool ok;

	if (!p)
		return false;
	ok = no_answer(r, p, &err);
	if (what == CONTRACT_BAD_CREDENTIAL)
		ok = ok && err.credential == r->c.ad->credential_flag;
	say(r, "%s%s: %s", cls_name(err.cls),
	    err.credential ? ", credential" : "", err.msg);
	cmek_provider_free(p);
	return ok;
}

static bool case_fault(struct run *r, int what)
{
	struct cmek_provider *p = faulted(r, what);
	uint8_t out[CMEK_DEK_MAX];
	struct cmek_error err = { 0 };
	unsigned long before = requests(r);
	struct timespec t0;
	long ms = 0;
	size_t ol;
	bool ok = false;

	if (!p)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	switch (what) {
	case CONTRACT_FAULT_RETRY:
		ok = !do_unwrap(r, p, r->key, &vol, r->blob, r->blob_len, out,
				&ol, &err) && ol == 64 &&
		     !memcmp(out, r->dek, 64) && requests(r) == before + 3;
		say(r, "%lu requests %s", requests(r) - before, err.msg);
		break;
	case CONTRACT_FAULT_RETRY_AFTER:
		ok = !do_unwrap(r, p, r->key, &vol, r->blob, r->blob_len, out,
				&ol, &err) && ol == 64 &&
		     !memcmp(out, r->dek, 64);
		ms = ms_since(&t0);
		ok = ok && ms >= 950 && ms < BOUND_MS;
		say(r, "waited %ld ms %s", ms, err.msg);
		break;
	case CONTRACT_FAULT_THROTTLED:
		ok = do_unwrap(r, p, r->key, &vol, r->blob, r->blob_len, out,
			       &ol, &err) < 0 &&
		     err.cls == CMEK_ERR_TRANSIENT && err.throttled;
		say(r, "%s%s: %s", cls_name(err.cls),
		    err.throttled ? ", throttled" : "", err.msg);
		break;
	case CONTRACT_FAULT_ECHO: {
		enum cmek_kms_key_state st;
		char both[2 * CMEK_ERRMSG_MAX + 2];

		ok = do_state(r, p, r->key, &st, &err) < 0;
		snprintf(both, sizeof(both), "%s\n", err.msg);
		ok = ok && do_unwrap(r, p, r->key, &vol, r->blob, r->blob_len,
				     out, &ol, &err) < 0;
		strncat(both, err.msg, sizeof(both) - strlen(both) - 1);
		for (size_t i = 0; i < CONTRACT_SECRETS_MAX; i++)
			if (r->c.echo[i] && strstr(both, r->c.echo[i]))
				ok = false;
		if (r->bearer[0] && strstr(both, r->bearer))
			ok = false;
		say(r, "%s", err.msg);
		break;
	}
	default:
		ok = no_answer(r, p, &err);
		ms = ms_since(&t0);
		if (what == CONTRACT_FAULT_HANG)
			ok = ok && ms >= r->c.ad->quick_timeout_ms * 9 / 10 &&
			     ms < BOUND_MS;
		if (what == CONTRACT_FAULT_NOT_KMS)
			ok = ok && !err.credential;
		say(r, "%s in %ld ms: %s", cls_name(err.cls), ms, err.msg);
		break;
	}
out:
	unfault(r);
	cmek_provider_free(p);
	return ok;
}

static bool case_no_secret(struct run *r, int what)
{
	const char *hit = NULL;

	(void)what;
	for (size_t i = 0; i < CONTRACT_SECRETS_MAX && !hit; i++)
		if (r->c.secrets[i] && r->msgs &&
		    strstr(r->msgs, r->c.secrets[i]))
			hit = r->c.secrets[i];
	for (size_t i = 0; i < r->nneedles && !hit; i++)
		if (r->msgs && strstr(r->msgs, r->needles[i]))
			hit = r->needles[i];
	say(r, "%u messages, %zu bytes%s%.40s", r->nmsgs, r->msgs_len,
	    hit ? "; found " : "", hit ? hit : "");
	return r->msgs && !hit && r->nmsgs >= 5;
}

enum need { NEED_ALWAYS, NEED_CONF, NEED_STATE, NEED_FAULT };

static const struct contract_case {
	const char *name;
	enum need need;
	int what;
	bool (*run)(struct run *r, int what);
} cases[] = {
	{ "the test KMS runs; two keys made, a 64-byte DEK generated", NEED_ALWAYS, 0, case_start },
	{ "unwrap gives the DEK back; the wrapped key does not hold it", NEED_ALWAYS, 0, case_round_trip },
	{ "a given 32-byte DEK wraps and unwraps", NEED_ALWAYS, 0, case_wrap32 },
	{ "bound to the volume: another volume's unwrap is invalid", NEED_ALWAYS, 0, case_binding },
	{ "a corrupted wrapped key is invalid", NEED_ALWAYS, 0, case_corrupt },
	{ "bound to the key: another key's unwrap is refused", NEED_ALWAYS, 0, case_other_key },
	{ "rewrap to another key: it unwraps there, not under the old one", NEED_ALWAYS, 0, case_rewrap },
	{ "a malformed key reference is invalid before any request", NEED_ALWAYS, 0, case_bad_ref },
	{ "key_state of an enabled key: enabled", NEED_ALWAYS, 0, case_enabled },
	{ "a key the KMS never had: deleted", NEED_ALWAYS, 0, case_missing },
	{ "key disabled: key_state disabled, unwrap definitive", NEED_STATE, CMEK_KMS_DISABLED, case_state },
	{ "key pending deletion: key_state says so, unwrap definitive", NEED_STATE, CMEK_KMS_PENDING_DELETION, case_state },
	{ "key deleted: key_state deleted, unwrap definitive", NEED_STATE, CMEK_KMS_DELETED, case_state },
	{ "access denied: key_state access-denied, unwrap definitive", NEED_STATE, CMEK_KMS_ACCESS_DENIED, case_state },
	{ "503 twice, then the answer: unwrap succeeds with 3 requests", NEED_FAULT, CONTRACT_FAULT_RETRY, case_fault },
	{ "503 every time: transient, state unknown", NEED_FAULT, CONTRACT_FAULT_UNAVAILABLE, case_fault },
	{ "429 with Retry-After: 1, then the answer: waited, succeeded", NEED_FAULT, CONTRACT_FAULT_RETRY_AFTER, case_fault },
	{ "429 every time: transient, marked throttled", NEED_FAULT, CONTRACT_FAULT_THROTTLED, case_fault },
	{ "a server that never answers: transient after the timeout", NEED_FAULT, CONTRACT_FAULT_HANG, case_fault },
	{ "the connection closed without an answer: transient", NEED_FAULT, CONTRACT_FAULT_CLOSE, case_fault },
	{ "a TLS alert for the ClientHello: transient", NEED_FAULT, CONTRACT_FAULT_TLS_ALERT, case_fault },
	{ "a proxy's HTML 403 page: transient, never access-denied", NEED_FAULT, CONTRACT_FAULT_NOT_KMS, case_fault },
	{ "an answer that is no KMS answer: transient, state unknown", NEED_FAULT, CONTRACT_FAULT_GARBAGE, case_fault },
	{ "nothing listens: transient, state unknown", NEED_CONF, CONTRACT_NOWHERE, case_conf },
	{ "a server certificate not from ca_file: transient", NEED_CONF, CONTRACT_WRONG_CA, case_conf },
	{ "cmekd's credential refused: transient, not a key state", NEED_CONF, CONTRACT_BAD_CREDENTIAL, case_conf },
	{ "an error that quotes the secrets: withheld from the message", NEED_FAULT, CONTRACT_FAULT_ECHO, case_fault },
	{ "no secret, DEK or wrapped key in any error message of the run", NEED_ALWAYS, 0, case_no_secret },
};

#define NCASES	(sizeof(cases) / sizeof(cases[0]))

static bool applies(const struct contract_adapter *ad,
		    const struct contract_case *k)
{
	switch (k->need) {
	case NEED_CONF:
		return ad->confs & CONTRACT_BIT(k->what);
	case NEED_STATE:
		return ad->states & CONTRACT_BIT(k->what);
	case NEED_FAULT:
		return ad->faults & CONTRACT_BIT(k->what);
	default:
		return true;
	}
}

static void run_adapter(const struct contract_adapter *ad, const char *top)
{
	struct run r = { .c.ad = ad };
	struct timespec t0;
	bool up;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(r.c.dir, sizeof(r.c.dir), "%s/%s", top, ad->provider);
	up = !mkdir(r.c.dir, 0700) && !ad->start(&r.c);
	r.started = up;
	for (size_t i = 0; i < NCASES; i++) {
		bool ok;

		if (!applies(ad, &cases[i]))
			continue;
		r.why[0] = '\0';
		/* After a failed start, every case fails: none is skipped. */
		if (i && !r.started)
			say(&r, "not run: the first case failed");
		ok = (i == 0 || r.started) && cases[i].run(&r, cases[i].what);
		tap_ok(ok, "%s: %s%s%s", ad->provider, cases[i].name,
		       r.why[0] ? ": " : "", r.why);
		if (i == 0 && !ok)
			r.started = false;
	}
	OPENSSL_cleanse(r.dek, sizeof(r.dek));
	cmek_provider_free(r.p);
	if (up)
		ad->stop(&r.c);
	tap_diag("%s: %ld ms", ad->provider, ms_since(&t0));
	free(r.blob);
	for (size_t i = 0; i < r.nneedles; i++)
		free(r.needles[i]);
	free(r.msgs);
}

int main(void)
{
	char top[] = "/tmp/cmek-test-contract-XXXXXX", cmd[64];
	int n[NADAPTERS] = { 0 }, plan = 0;

	for (size_t a = 0; a < NADAPTERS; a++) {
		for (size_t i = 0; i < NCASES; i++)
			n[a] += applies(adapters[a], &cases[i]);
		plan += n[a];
	}
	tap_plan(plan);
	for (size_t a = 0; a < NADAPTERS; a++)
		tap_diag("%s: %d of %zu cases%s%s", adapters[a]->provider, n[a],
			 NCASES, adapters[a]->gaps ? "; not asked: " : "",
			 adapters[a]->gaps ? adapters[a]->gaps : "");
	if (!mkdtemp(top))
		return 1;
	for (size_t a = 0; a < NADAPTERS; a++)
		run_adapter(adapters[a], top);
	if (!tap_failed) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
		if (system(cmd))
			tap_diag("could not remove %s", top);
	} else {
		tap_diag("kept %s", top);
	}
	return tap_done();
}
