// SPDX-License-Identifier: GPL-2.0
/*
 * The local provider's key files and the provider registry. What every
 * provider does (round trip, bindings, disabled and deleted keys) is the
 * provider contract's (tests/unit/test_provider_contract.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "local.h"
#include "provider.h"
#include "tap.h"

static char dir[] = "/tmp/cmek-test-keys-XXXXXX";

static void count_cb(const char *name, bool enabled, void *data)
{
	char *out = data;

	strcat(out, name);
	strcat(out, enabled ? "+ " : "- ");
}

int main(void)
{
	struct cmek_binding b = { "0f8a3e7c-1b2d-4c5e-9f60-123456789abc" };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL;
	enum cmek_kms_key_state st;
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	size_t wl = 0, ol = 0;
	char path[256], list[256] = "";
	struct stat sb;

	tap_plan(14);
	if (!mkdtemp(dir))
		return 1;
	chmod(dir, 0700);
	setenv("CMEK_KEY_DIR", dir, 1);

	tap_ok(cmek_provider_lookup("local") != NULL &&
	       cmek_provider_lookup("no-such") == NULL, "registry lookup");
	tap_ok(cmek_provider_new("no-such", &err) == NULL &&
	       strstr(err.msg, "unknown provider"), "unknown provider: %s", err.msg);
	p = cmek_provider_new("local", &err);
	tap_ok(p != NULL, "local provider instantiated");

	tap_ok(cmek_local_kek_create(dir, "kek-a", &err) == 0 &&
	       cmek_local_kek_create(dir, "kek-b", &err) == 0, "KEKs created");
	snprintf(path, sizeof(path), "%s/kek-a.kek", dir);
	tap_ok(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600 &&
	       sb.st_size == 40, "KEK file is 0600 and 40 bytes");
	tap_ok(cmek_local_kek_create(dir, "kek-a", &err) < 0 &&
	       strstr(err.msg, "already exists"), "duplicate KEK refused: %s", err.msg);
	tap_ok(cmek_local_kek_create(dir, "../evil", &err) < 0 &&
	       strstr(err.msg, "invalid KEK name"), "bad KEK name refused: %s", err.msg);

	tap_ok(p->ops->generate(p, "kek-a", &b, dek, 64, &w, &wl, &err) == 0 &&
	       wl == 64 + 29, "generate a 64-byte DEK (%zu-byte blob)", wl);
	tap_ok(cmek_local_kek_set_enabled(dir, "kek-a", false, &err) == 0 &&
	       p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) < 0,
	       "a KEK disabled by name: %s", err.msg);
	cmek_local_kek_list(dir, count_cb, list, &err);
	tap_ok(!strcmp(list, "kek-a- kek-b+ "), "list shows state: %s", list);
	tap_ok(cmek_local_kek_set_enabled(dir, "kek-a", true, &err) == 0 &&
	       p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) == 0,
	       "re-enabled KEK unwraps again");

	chmod(path, 0644);
	tap_ok(p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) < 0 &&
	       strstr(err.msg, "readable by others"),
	       "a world-readable KEK is refused: %s", err.msg);
	chmod(path, 0600);

	tap_ok(cmek_local_kek_delete(dir, "kek-a", &err) == 0 &&
	       p->ops->key_state(p, "kek-a", &st, &err) == 0 &&
	       st == CMEK_KMS_DELETED, "a KEK deleted by name is gone");
	tap_ok(p->ops->configure(p, "bogus", "x", &err) < 0 &&
	       strstr(err.msg, "key_dir"), "unknown setting refused: %s", err.msg);

	free(w);
	cmek_provider_free(p);
	cmek_local_kek_delete(dir, "kek-b", &err);
	rmdir(dir);
	return tap_done();
}
