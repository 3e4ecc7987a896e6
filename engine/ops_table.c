/* The custom messages' handlers, bound by name: a MESSAGE(VM, start, ...) row
 * is served by op_VM_start().  The declarations are weak, so a message whose
 * handler is not written yet links and answers NOT_IMPLEMENTED instead of
 * breaking the build; tests/unit/test_ops.c lists those. */
#include "engine_priv.h"

#define CLASS(...)
#define FIELD(...)
#define REVERSE(...)
#define MESSAGE(cls, name, ...) \
	struct value *op_##cls##_##name(struct op_ctx *c, struct value *const *args, struct xc_error *err) \
		__attribute__((weak));
#include "../dm/classes.def"
#undef MESSAGE

#define MESSAGE(cls, name, ...) op_##cls##_##name,
static const op_fn handlers[] = {
#include "../dm/classes.def"
};
#undef MESSAGE
#undef CLASS
#undef FIELD
#undef REVERSE

op_fn ops_custom_handler(int custom_id)
{
	if (custom_id < 0 || (unsigned)custom_id >= sizeof(handlers) / sizeof(handlers[0]))
		return NULL;
	return handlers[custom_id];
}
