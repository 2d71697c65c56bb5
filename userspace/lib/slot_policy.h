/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The lock decision for a volume whose header holds several key slots
 * (the same DEK wrapped under different KMS keys or providers). Pure
 * functions, so that every combination can be unit-tested; cmekd's watch
 * (cmekd/watch.c) feeds them what the KMS said about each slot's key.
 * Documentation/admin-guide/cmekd.rst, "Key slots and redundancy".
 *
 * Each slot's key gets a verdict:
 *   OK       the KMS says the key is enabled;
 *   BAD      the KMS said no for good (disabled, pending deletion,
 *            deleted, access denied, a CMEK_ERR_DEFINITIVE error), or it
 *            has been unreachable for longer than unreachable_grace;
 *   UNKNOWN  anything else: unreachable within the grace, a provider that
 *            cannot report key state, a configuration error, not asked.
 *
 * [daemon] slot_policy then decides:
 *   any (default, security-first): lock as soon as one slot is BAD; unlock
 *            only when every slot is OK. A revocation is never bypassed
 *            through another slot.
 *   all (availability-first): lock only when every slot is BAD; unlock as
 *            soon as one slot is OK.
 * Anything in between keeps the volume as it is.
 */
#ifndef CMEK_SLOT_POLICY_H
#define CMEK_SLOT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "provider.h"

enum cmek_slot_policy {
	CMEK_SLOT_POLICY_ANY = 0,	/* the default */
	CMEK_SLOT_POLICY_ALL,
};

enum cmek_slot_verdict {
	CMEK_SLOT_UNKNOWN = 0,
	CMEK_SLOT_OK,
	CMEK_SLOT_BAD,
};

enum cmek_slot_action {
	CMEK_SLOT_KEEP = 0,		/* leave the volume as it is */
	CMEK_SLOT_LOCK,
	CMEK_SLOT_UNLOCK,
};

/* "any" / "all" -> 0, else -EINVAL. */
int cmek_slot_policy_parse(const char *s, enum cmek_slot_policy *p);
const char *cmek_slot_policy_name(enum cmek_slot_policy p);
const char *cmek_slot_verdict_name(enum cmek_slot_verdict v);

/*
 * What one key-state answer means. @failed: key_state() returned an error
 * of class @cls (then @state is ignored); else @state is the answer.
 * @unreachable_for: seconds the KMS has been unreachable (0 if it answered);
 * @grace: unreachable_grace in seconds, -1 = never.
 */
enum cmek_slot_verdict cmek_slot_verdict(bool failed,
					 enum cmek_kms_key_state state,
					 enum cmek_err_class cls,
					 long unreachable_for, long grace);

/*
 * The decision for a volume with @n slots of verdicts @v, currently
 * @locked. Only returns LOCK for an unlocked volume and UNLOCK for a
 * locked one; KEEP when @n is 0.
 */
enum cmek_slot_action cmek_slot_decide(enum cmek_slot_policy policy,
				       const enum cmek_slot_verdict *v,
				       size_t n, bool locked);

#endif /* CMEK_SLOT_POLICY_H */
