/* Prototypes of every custom message handler, op_<Class>_<message>, derived
 * from the MESSAGE rows of the datamodel.  Files that implement handlers
 * include this so a signature mismatch is a compile error. */
#ifndef XCON_OPS_H
#define XCON_OPS_H

#include "engine_priv.h"

#define CLASS(...)
#define FIELD(...)
#define REVERSE(...)
#define MESSAGE(cls, name, ...) \
	struct value *op_##cls##_##name(struct op_ctx *c, struct value *const *args, struct xc_error *err);
#include "../dm/classes.def"
#undef MESSAGE
#undef CLASS
#undef FIELD
#undef REVERSE

#endif
