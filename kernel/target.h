/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The cmek developers.
 *
 * The "cmek" device-mapper target (target.c).
 */
#ifndef DM_CMEK_TARGET_H
#define DM_CMEK_TARGET_H

int cmek_target_register(void);
void cmek_target_unregister(void);

#endif /* DM_CMEK_TARGET_H */
