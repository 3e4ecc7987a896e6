/* Class-specific rules for the generated create, destroy and set messages:
 * one row per class that has any.  The rule functions live with the rest of
 * their class's operations (op_<class>.c) and are declared in hooks.h. */
#include "engine_priv.h"
#include "hooks.h"

#include <string.h>

static const struct class_hooks *const table[] = {
	HOOK_TABLE_ROWS
};

static const struct class_hooks *hooks_for(const struct dm_class *cls)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i] && strcmp(table[i]->cls, cls->name) == 0)
			return table[i];
	return NULL;
}

int hooks_before_create(struct op_ctx *c, struct store_txn *t, const struct dm_class *cls,
			struct value *rec, struct xc_error *err)
{
	const struct class_hooks *h = hooks_for(cls);
	return h && h->before_create ? h->before_create(c, t, rec, err) : 0;
}

int hooks_before_destroy(struct op_ctx *c, struct store_txn *t, const struct dm_class *cls,
			 const char *ref, struct xc_error *err)
{
	const struct class_hooks *h = hooks_for(cls);
	return h && h->before_destroy ? h->before_destroy(c, t, ref, err) : 0;
}

int hooks_before_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
		     const struct value *v, struct xc_error *err)
{
	const struct class_hooks *h = hooks_for(f->cls);
	return h && h->before_set ? h->before_set(c, t, f, ref, v, err) : 0;
}

int hooks_after_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
		    struct xc_error *err)
{
	const struct class_hooks *h = hooks_for(f->cls);
	return h && h->after_set ? h->after_set(c, t, f, ref, err) : 0;
}
