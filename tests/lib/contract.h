/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The provider contract: what every key provider must do the same way,
 * asked of each provider through its test KMS (tests/unit/
 * test_provider_contract.c). A provider joins it with an adapter, kept in
 * its own folder next to its fake: how to start the fake, the settings
 * that point the provider at it, how to make a key and put that key into
 * a state, and which faults the fake can inject.
 *
 * Transport faults of the HTTPS fakes (tests/lib/fakesrv.h) are the
 * contract's own: an adapter whose fake runs on a fakesrv hands it over in
 * c->srv and the contract injects them. Other adapters inject what they
 * can through fault().
 */
#ifndef CMEK_CONTRACT_H
#define CMEK_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fakesrv.h"
#include "provider.h"

/* The settings an adapter writes for each kind of provider it is asked for. */
enum contract_conf {
	CONTRACT_GOOD,		/* retries = 2, timeouts of seconds */
	CONTRACT_QUICK,		/* one retry, timeout of at most 1 s */
	CONTRACT_NOWHERE,	/* an endpoint where nothing listens */
	CONTRACT_WRONG_CA,	/* trusts a CA that did not sign the server */
	CONTRACT_BAD_CREDENTIAL, /* a credential the KMS refuses */
	CONTRACT_DENIED,	/* an identity the KMS denies the keys */
	CONTRACT_CONFS,
};

/* Faults. Those up to CONTRACT_FAULT_ECHO need a fakesrv (c->srv). */
enum contract_fault {
	CONTRACT_FAULT_RETRY,		/* 503 twice, then the KMS's answer */
	CONTRACT_FAULT_UNAVAILABLE,	/* 503 every time */
	CONTRACT_FAULT_RETRY_AFTER,	/* 429 Retry-After: 1, then the answer */
	CONTRACT_FAULT_THROTTLED,	/* 429 every time */
	CONTRACT_FAULT_TLS_ALERT,	/* a fatal alert for the ClientHello */
	CONTRACT_FAULT_NOT_KMS,		/* a proxy's HTML 403 page */
	CONTRACT_FAULT_ECHO,		/* an error that quotes the secrets */
	CONTRACT_FAULT_HANG,		/* reads the request, never answers */
	CONTRACT_FAULT_CLOSE,		/* closes without a whole answer */
	CONTRACT_FAULT_GARBAGE,		/* an answer that is no KMS answer */
	CONTRACT_FAULTS,
};

#define CONTRACT_BIT(x)		(1u << (x))
/* What the contract injects itself into a fakesrv. */
#define CONTRACT_FAKESRV_FAULTS	(CONTRACT_BIT(CONTRACT_FAULTS) - 1)
/* The kinds of provider that every networked adapter can make. */
#define CONTRACT_NET_CONFS	(CONTRACT_BIT(CONTRACT_NOWHERE) | \
				 CONTRACT_BIT(CONTRACT_WRONG_CA) | \
				 CONTRACT_BIT(CONTRACT_BAD_CREDENTIAL))
/* Every state a KMS can put a key in. */
#define CONTRACT_ALL_STATES	(CONTRACT_BIT(CMEK_KMS_DISABLED) | \
				 CONTRACT_BIT(CMEK_KMS_PENDING_DELETION) | \
				 CONTRACT_BIT(CMEK_KMS_DELETED) | \
				 CONTRACT_BIT(CMEK_KMS_ACCESS_DENIED))

#define CONTRACT_KV_MAX		24	/* "key", "value" pairs */
#define CONTRACT_SECRETS_MAX	8
#define CONTRACT_REF_MAX	256

struct contract;

struct contract_adapter {
	const char *provider;		/* the registry's name */
	/* Cases it cannot be asked, and why: printed with the plan. */
	const char *gaps;
	unsigned int confs;		/* CONTRACT_BIT(enum contract_conf) */
	unsigned int states;		/* CONTRACT_BIT(enum cmek_kms_key_state) */
	unsigned int faults;		/* CONTRACT_BIT(enum contract_fault) */
	/* A refused credential sets cmek_error.credential. */
	bool credential_flag;
	/* A malformed key reference, refused before any request. */
	const char *bad_ref;
	/*
	 * An error in the KMS's own shape, a printf format with one %s for
	 * its message, and its HTTP status: CONTRACT_FAULT_ECHO quotes the
	 * secrets there, where a provider takes the KMS's message into its
	 * own. NULL: a plain-text body.
	 */
	const char *echo_body;
	int echo_status;

	/* Start the fake in @c->dir; fill c->srv, c->secrets, c->priv. */
	int (*start)(struct contract *c);
	void (*stop)(struct contract *c);
	/*
	 * The settings of a provider of kind @conf: "key", "value" pairs
	 * into @kv (room for CONTRACT_KV_MAX pairs), their number returned;
	 * strings must live until stop().
	 */
	size_t (*settings)(struct contract *c, enum contract_conf conf,
			   const char **kv);
	/* A new enabled key the provider can use, its reference in @ref. */
	int (*new_key)(struct contract *c, char *ref, size_t len);
	/* A reference the KMS has never had a key for, in @ref. */
	void (*missing_key)(struct contract *c, char *ref, size_t len);
	/*
	 * Make the KMS say @st of key @ref (to a CONTRACT_DENIED provider
	 * for CMEK_KMS_ACCESS_DENIED); CMEK_KMS_ENABLED undoes what can be
	 * undone. 0 or -1.
	 */
	int (*set_state)(struct contract *c, const char *ref,
			 enum cmek_kms_key_state st);
	/*
	 * Without a fakesrv: the settings of a provider that meets fault @f
	 * on every call, as settings() does; fault_clear() ends it.
	 */
	size_t (*fault)(struct contract *c, enum contract_fault f,
			const char **kv);
	void (*fault_clear)(struct contract *c);
	/* How long a CONTRACT_QUICK provider waits for one answer. */
	long quick_timeout_ms;
};

struct contract {
	const struct contract_adapter *ad;
	char dir[128];			/* the adapter's own, made for the run */
	struct fakesrv *srv;		/* an HTTPS fake the contract may fault */
	/*
	 * Strings no error message may carry: credentials, and what every
	 * token the fake issues starts with.
	 */
	const char *secrets[CONTRACT_SECRETS_MAX];
	/*
	 * The credential as a good provider sends it, which a server could
	 * quote back: CONTRACT_FAULT_ECHO quotes these (and the bearer
	 * token the fake last saw).
	 */
	const char *echo[CONTRACT_SECRETS_MAX];
	void *priv;			/* the adapter's */
};

/*
 * Write @text to @dir/@name, mode 0600; the path into @path. 0 or -1.
 * Inline: the adapters are linked into every unit test, the contract's
 * own code only into its test.
 */
static inline int contract_write_file(const char *dir, const char *name,
				      const char *text, char *path,
				      size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fchmod(fileno(f), 0600);
	fputs(text, f);
	return fclose(f) ? -1 : 0;
}

/*
 * The settings every HTTPS provider shares, for its fake @srv: endpoint
 * (where nothing listens for CONTRACT_NOWHERE), timeouts and retries by
 * @conf, and ca_file last, left out for CONTRACT_WRONG_CA (the system's
 * CAs never signed the fake). Written to @kv, their number returned.
 */
static inline size_t contract_http_settings(const struct fakesrv *srv,
					    enum contract_conf conf,
					    const char **kv)
{
	bool quick = conf != CONTRACT_GOOD && conf != CONTRACT_DENIED;
	const char *const base[] = {
		"endpoint", conf == CONTRACT_NOWHERE ? "https://127.0.0.1:1" :
			    srv->url,
		"timeout", quick ? "500ms" : "2s",
		"connect_timeout", "1s",
		"retries", quick ? "1" : "2",
		"retry_backoff", "20ms",
		"ca_file", srv->ca_file,
	};
	size_t n = sizeof(base) / sizeof(base[0]);

	if (conf == CONTRACT_WRONG_CA)
		n -= 2;
	memcpy(kv, base, n * sizeof(*kv));
	return n / 2;
}

/* The adapters, each in its provider's folder. */
extern const struct contract_adapter contract_local;
extern const struct contract_adapter contract_aws_kms;
extern const struct contract_adapter contract_gcp_kms;
extern const struct contract_adapter contract_azure_kv;
extern const struct contract_adapter contract_vault_transit;
extern const struct contract_adapter contract_kmip;

#endif /* CMEK_CONTRACT_H */
