/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * A mapping's data path (crypt.c): its bios, and those it holds while
 * there is no key.
 */
#ifndef DM_CMEK_CRYPT_H
#define DM_CMEK_CRYPT_H

#include <linux/types.h>

struct bio;
struct cmek_target;

void cmek_crypt_init(struct cmek_target *ct);
int cmek_crypt_alloc(struct cmek_target *ct);
int cmek_map_rw(struct cmek_target *ct, struct bio *bio);
void cmek_hold_suspend(struct cmek_target *ct);
void cmek_hold_resume(struct cmek_target *ct);
void cmek_hold_exit(struct cmek_target *ct);

#endif /* DM_CMEK_CRYPT_H */
