// SPDX-License-Identifier: GPL-2.0
/*
 * Lock decision across key slots: see slot_policy.h.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "slot_policy.h"

int cmek_slot_policy_parse(const char *s, enum cmek_slot_policy *p)
{
	if (s && !strcasecmp(s, "any")) {
		*p = CMEK_SLOT_POLICY_ANY;
		return 0;
	}
	if (s && !strcasecmp(s, "all")) {
		*p = CMEK_SLOT_POLICY_ALL;
		return 0;
	}
	return -EINVAL;
}

const char *cmek_slot_policy_name(enum cmek_slot_policy p)
{
	return p == CMEK_SLOT_POLICY_ALL ? "all" : "any";
}

const char *cmek_slot_verdict_name(enum cmek_slot_verdict v)
{
	switch (v) {
	case CMEK_SLOT_OK:
		return "ok";
	case CMEK_SLOT_BAD:
		return "bad";
	default:
		return "unknown";
	}
}

static bool state_says_no(enum cmek_kms_key_state s)
{
	return s == CMEK_KMS_DISABLED || s == CMEK_KMS_PENDING_DELETION ||
	       s == CMEK_KMS_DELETED || s == CMEK_KMS_ACCESS_DENIED;
}

enum cmek_slot_verdict cmek_slot_verdict(bool failed,
					 enum cmek_kms_key_state state,
					 enum cmek_err_class cls,
					 long unreachable_for, long grace)
{
	bool unreachable;

	if (failed && cls == CMEK_ERR_DEFINITIVE)
		return CMEK_SLOT_BAD;
	if (!failed && state_says_no(state))
		return CMEK_SLOT_BAD;
	if (!failed && state == CMEK_KMS_ENABLED)
		return CMEK_SLOT_OK;
	/* A configuration error says nothing about the key: never lock on it. */
	unreachable = failed ? cls == CMEK_ERR_TRANSIENT :
		      state == CMEK_KMS_UNKNOWN;
	if (unreachable && grace >= 0 && unreachable_for >= grace)
		return CMEK_SLOT_BAD;
	return CMEK_SLOT_UNKNOWN;
}

enum cmek_slot_action cmek_slot_decide(enum cmek_slot_policy policy,
				       const enum cmek_slot_verdict *v,
				       size_t n, bool locked)
{
	size_t i, ok = 0, bad = 0;
	bool lock, unlock;

	if (!n)
		return CMEK_SLOT_KEEP;
	for (i = 0; i < n; i++) {
		ok += v[i] == CMEK_SLOT_OK;
		bad += v[i] == CMEK_SLOT_BAD;
	}
	if (policy == CMEK_SLOT_POLICY_ALL) {
		lock = bad == n;
		unlock = ok > 0;
	} else {
		lock = bad > 0;
		unlock = ok == n;
	}
	if (lock && !locked)
		return CMEK_SLOT_LOCK;
	if (unlock && locked)
		return CMEK_SLOT_UNLOCK;
	return CMEK_SLOT_KEEP;
}
