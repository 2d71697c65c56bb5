// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of the lock decision across key slots
 * (userspace/lib/slot_policy.c): every combination of slot verdicts for
 * one to four slots under both policies, locked and not, against the rule
 * as the documentation states it; the scenarios of the admin guide by
 * name; what each key-state answer means for a slot; the policy names.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "slot_policy.h"
#include "../lib/tap.h"

#define MAXN 4

static const enum cmek_slot_verdict V[3] = {
	CMEK_SLOT_UNKNOWN, CMEK_SLOT_OK, CMEK_SLOT_BAD,
};

/*
 * The rule of Documentation/admin-guide/cmekd.rst, written out case by
 * case rather than by counting, so that it does not mirror the code:
 *   any: lock if some slot is bad; unlock if no slot is bad or unknown.
 *   all: lock if no slot is ok or unknown; unlock if some slot is ok.
 */
static enum cmek_slot_action expected(enum cmek_slot_policy pol,
				      const enum cmek_slot_verdict *v,
				      size_t n, bool locked)
{
	bool some_bad = false, some_ok = false, some_unknown = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i] == CMEK_SLOT_BAD)
			some_bad = true;
		else if (v[i] == CMEK_SLOT_OK)
			some_ok = true;
		else
			some_unknown = true;
	}
	if (pol == CMEK_SLOT_POLICY_ANY) {
		if (some_bad)
			return locked ? CMEK_SLOT_KEEP : CMEK_SLOT_LOCK;
		if (!some_unknown)
			return locked ? CMEK_SLOT_UNLOCK : CMEK_SLOT_KEEP;
		return CMEK_SLOT_KEEP;
	}
	if (!some_ok && !some_unknown)
		return locked ? CMEK_SLOT_KEEP : CMEK_SLOT_LOCK;
	if (some_ok)
		return locked ? CMEK_SLOT_UNLOCK : CMEK_SLOT_KEEP;
	return CMEK_SLOT_KEEP;
}

static const char *act_name(enum cmek_slot_action a)
{
	return a == CMEK_SLOT_LOCK ? "lock" : a == CMEK_SLOT_UNLOCK ?
	       "unlock" : "keep";
}

/* Every combination: 3^n verdict vectors x 2 policies x locked or not. */
static void exhaustive(void)
{
	enum cmek_slot_verdict v[MAXN];
	int pol, locked, combos = 0, wrong = 0;
	size_t n, i;

	for (n = 1; n <= MAXN; n++) {
		int total = 1, c;

		for (i = 0; i < n; i++)
			total *= 3;
		for (c = 0; c < total; c++) {
			int x = c;

			for (i = 0; i < n; i++, x /= 3)
				v[i] = V[x % 3];
			for (pol = 0; pol < 2; pol++) {
				for (locked = 0; locked < 2; locked++) {
					enum cmek_slot_action want, got;

					want = expected(pol, v, n, locked);
					got = cmek_slot_decide(pol, v, n, locked);
					combos++;
					if (got == want)
						continue;
					if (wrong++ < 5)
						tap_diag("policy %s n=%zu code %d locked %d: "
							 "got %s, want %s",
							 cmek_slot_policy_name(pol), n, c,
							 locked, act_name(got),
							 act_name(want));
				}
			}
		}
	}
	/* 2 * 2 * (3 + 9 + 27 + 81) */
	tap_ok(combos == 480 && wrong == 0,
	       "every verdict combination for 1..%d slots, both policies, "
	       "locked or not (%d cases, %d wrong)", MAXN, combos, wrong);
}

static void scenario(enum cmek_slot_policy pol, const char *verdicts,
		     bool locked, enum cmek_slot_action want, const char *what)
{
	enum cmek_slot_verdict v[MAXN];
	size_t n;

	for (n = 0; verdicts[n] && n < MAXN; n++)
		v[n] = verdicts[n] == 'o' ? CMEK_SLOT_OK :
		       verdicts[n] == 'b' ? CMEK_SLOT_BAD : CMEK_SLOT_UNKNOWN;
	tap_ok(cmek_slot_decide(pol, v, n, locked) == want,
	       "%s: %s [%s]%s -> %s", cmek_slot_policy_name(pol), what,
	       verdicts, locked ? " locked" : "", act_name(want));
}

static void scenarios(void)
{
	const enum cmek_slot_policy any = CMEK_SLOT_POLICY_ANY;
	const enum cmek_slot_policy all = CMEK_SLOT_POLICY_ALL;

	scenario(any, "o", false, CMEK_SLOT_KEEP, "one slot, key enabled");
	scenario(any, "b", false, CMEK_SLOT_LOCK, "one slot, key disabled");
	scenario(all, "b", false, CMEK_SLOT_LOCK, "one slot, key disabled");
	scenario(all, "o", true, CMEK_SLOT_UNLOCK, "one slot, enabled again");
	scenario(any, "ob", false, CMEK_SLOT_LOCK,
		 "slot 1 revoked while slot 0 is fine");
	scenario(all, "ob", false, CMEK_SLOT_KEEP,
		 "slot 1 revoked while slot 0 is fine");
	scenario(all, "bb", false, CMEK_SLOT_LOCK, "both revoked");
	scenario(any, "oo", true, CMEK_SLOT_UNLOCK, "both enabled again");
	scenario(any, "ob", true, CMEK_SLOT_KEEP, "only one enabled again");
	scenario(all, "ob", true, CMEK_SLOT_UNLOCK, "one enabled again");
	scenario(any, "ou", false, CMEK_SLOT_KEEP,
		 "one KMS unreachable within the grace");
	scenario(any, "ou", true, CMEK_SLOT_KEEP,
		 "no unlock while a slot's KMS is unreachable");
	scenario(all, "bu", false, CMEK_SLOT_KEEP,
		 "no lock while a slot's KMS might still say yes");
	scenario(all, "bu", true, CMEK_SLOT_KEEP, "locked, no slot says yes");
	scenario(any, "b", true, CMEK_SLOT_KEEP, "already locked");
	scenario(any, "", false, CMEK_SLOT_KEEP, "no slots at all");
	scenario(all, "", true, CMEK_SLOT_KEEP, "no slots at all");
}

/* cmek_slot_verdict(failed, state, cls, unreachable_for, grace) */
static void verdicts(void)
{
	static const struct {
		enum cmek_kms_key_state st;
		enum cmek_slot_verdict want;
	} states[] = {
		{ CMEK_KMS_ENABLED, CMEK_SLOT_OK },
		{ CMEK_KMS_DISABLED, CMEK_SLOT_BAD },
		{ CMEK_KMS_PENDING_DELETION, CMEK_SLOT_BAD },
		{ CMEK_KMS_DELETED, CMEK_SLOT_BAD },
		{ CMEK_KMS_ACCESS_DENIED, CMEK_SLOT_BAD },
		{ CMEK_KMS_UNKNOWN, CMEK_SLOT_UNKNOWN },
	};
	size_t i;
	int wrong = 0;

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		wrong += cmek_slot_verdict(false, states[i].st, CMEK_ERR_NONE,
					   0, -1) != states[i].want;
	tap_ok(!wrong, "each key state answered: enabled ok, "
	       "disabled/pending-deletion/deleted/access-denied bad, unknown "
	       "unknown");
	tap_ok(cmek_slot_verdict(true, CMEK_KMS_ENABLED, CMEK_ERR_DEFINITIVE,
				 0, -1) == CMEK_SLOT_BAD,
	       "a definitive error is bad (the state is ignored)");
	tap_ok(cmek_slot_verdict(true, CMEK_KMS_UNKNOWN, CMEK_ERR_TRANSIENT,
				 86400, -1) == CMEK_SLOT_UNKNOWN,
	       "transient error, unreachable_grace never: unknown after a day");
	tap_ok(cmek_slot_verdict(true, CMEK_KMS_UNKNOWN, CMEK_ERR_TRANSIENT,
				 899, 900) == CMEK_SLOT_UNKNOWN &&
	       cmek_slot_verdict(true, CMEK_KMS_UNKNOWN, CMEK_ERR_TRANSIENT,
				 900, 900) == CMEK_SLOT_BAD,
	       "transient error: bad once unreachable for unreachable_grace");
	tap_ok(cmek_slot_verdict(false, CMEK_KMS_UNKNOWN, CMEK_ERR_NONE,
				 0, 0) == CMEK_SLOT_BAD,
	       "state unknown with unreachable_grace 0: bad at once");
	tap_ok(cmek_slot_verdict(true, CMEK_KMS_UNKNOWN, CMEK_ERR_INVALID,
				 3600, 0) == CMEK_SLOT_UNKNOWN,
	       "a configuration error never counts against a slot");
}

int main(void)
{
	enum cmek_slot_policy p = CMEK_SLOT_POLICY_ALL;

	tap_plan(27);
	tap_ok(!cmek_slot_policy_parse("any", &p) && p == CMEK_SLOT_POLICY_ANY &&
	       !cmek_slot_policy_parse("All", &p) && p == CMEK_SLOT_POLICY_ALL,
	       "slot_policy names parse (any case)");
	tap_ok(cmek_slot_policy_parse("most", &p) == -EINVAL &&
	       cmek_slot_policy_parse("", &p) == -EINVAL &&
	       cmek_slot_policy_parse(NULL, &p) == -EINVAL &&
	       p == CMEK_SLOT_POLICY_ALL,
	       "bad slot_policy names refused, value untouched");
	tap_ok(!strcmp(cmek_slot_policy_name(CMEK_SLOT_POLICY_ANY), "any") &&
	       !strcmp(cmek_slot_policy_name(CMEK_SLOT_POLICY_ALL), "all"),
	       "slot_policy names");
	exhaustive();
	scenarios();
	verdicts();
	return tap_done();
}
