/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A file parser's complaints (cmekd.conf, /etc/cmek/volumes): each one
 * "PATH:LINE: message" ("PATH: message" outside a line), counted, and
 * handed to the caller's report function, if any.
 */
#ifndef CMEK_DIAG_H
#define CMEK_DIAG_H

typedef void (*cmek_diag_fn)(void *ctx, const char *msg);

struct cmek_diag {
	const char *path;
	int line;			/* 0: about the file as a whole */
	int errors;			/* complaints so far */
	cmek_diag_fn report;
	void *ctx;
};

void cmek_diag(struct cmek_diag *g, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* CMEK_DIAG_H */
