// SPDX-License-Identifier: GPL-2.0
/*
 * The local provider and the provider registry.
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
	struct cmek_binding other = { "11111111-2222-4333-8444-555555555555" };
	uint8_t dek[CMEK_DEK_MAX], out[CMEK_DEK_MAX], *w = NULL, *w2 = NULL;
	enum cmek_kms_key_state st;
	struct cmek_error err = { 0 };
	struct cmek_provider *p;
	size_t wl = 0, wl2 = 0, ol = 0;
	char path[256], list[256] = "";
	struct stat sb;

	tap_plan(22);
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
	tap_ok(p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) == 0 &&
	       ol == 64 && !memcmp(out, dek, 64), "unwrap returns the same DEK");
	tap_ok(!memmem(w, wl, dek, 16), "the blob does not contain the DEK");
	tap_ok(p->ops->unwrap(p, "kek-a", &other, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID && strstr(err.msg, "another volume"),
	       "another volume's binding is refused: %s", err.msg);
	tap_ok(p->ops->unwrap(p, "kek-b", &b, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID, "the wrong KEK is refused");
	w[20] ^= 1;
	tap_ok(p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_INVALID, "a corrupted blob is refused");
	w[20] ^= 1;

	tap_ok(cmek_local_kek_set_enabled(dir, "kek-a", false, &err) == 0 &&
	       p->ops->key_state(p, "kek-a", &st, &err) == 0 &&
	       st == CMEK_KMS_DISABLED, "disabled KEK reports DISABLED");
	tap_ok(p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE && strstr(err.msg, "disabled"),
	       "unwrap with a disabled KEK is definitive: %s", err.msg);
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

	tap_ok(p->ops->wrap(p, "kek-b", &b, dek, 32, &w2, &wl2, &err) == 0 &&
	       p->ops->unwrap(p, "kek-b", &b, w2, wl2, out, &ol, &err) == 0 &&
	       ol == 32 && !memcmp(out, dek, 32), "wrap/unwrap a 32-byte key");

	tap_ok(cmek_local_kek_delete(dir, "kek-a", &err) == 0 &&
	       p->ops->key_state(p, "kek-a", &st, &err) == 0 &&
	       st == CMEK_KMS_DELETED, "deleted KEK reports DELETED");
	tap_ok(p->ops->unwrap(p, "kek-a", &b, w, wl, out, &ol, &err) < 0 &&
	       err.cls == CMEK_ERR_DEFINITIVE, "unwrap with a deleted KEK is definitive");
	tap_ok(p->ops->configure(p, "bogus", "x", &err) < 0 &&
	       strstr(err.msg, "key_dir"), "unknown setting refused: %s", err.msg);

	free(w);
	free(w2);
	cmek_provider_free(p);
	cmek_local_kek_delete(dir, "kek-b", &err);
	rmdir(dir);
	return tap_done();
}
