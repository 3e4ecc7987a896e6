/* The standard templates a fresh host offers (templates.c). */
#ifndef XCON_TEMPLATES_H
#define XCON_TEMPLATES_H

#include "engine_priv.h"

/* Creates every standard template inside t. */
int templates_create(struct store_txn *t, struct xc_error *err);

#endif
