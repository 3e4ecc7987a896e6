/* One error type for the whole of xcon: a XenAPI error code and its
 * parameters, exactly what goes on the wire as ErrorDescription and into a
 * task's error_info.
 *
 * A function that can fail takes `struct xc_error *err` last and returns -1 or
 * NULL after filling it with xc_error_set().  Callers pass it up unchanged; the
 * layer that answers the caller (rpc/, the task worker, the CLI) reports it.
 */
#ifndef XCON_ERROR_H
#define XCON_ERROR_H

#include <stdbool.h>
#include <stddef.h>

enum xc_err {
	XC_ERR_NONE = 0,
#define XERR(code, n, names, desc) XC_ERR_##code,
#include "errors.def"
#undef XERR
	XC_ERR_LAST
};

#define XC_ERROR_MAX_PARAMS 8

struct xc_error {
	enum xc_err code;
	unsigned nparams;
	char *params[XC_ERROR_MAX_PARAMS];
	const char *file; /* where it was raised, for the log */
	int line;
};

#define XC_ERROR_INIT { XC_ERR_NONE, 0, { NULL }, NULL, 0 }

/* xc_error_set(err, XC_ERR_HANDLE_INVALID, "VM", ref): params are strings,
 * copied.  A debug build asserts the count matches the table. */
#define xc_error_set(err, ...) xc_error_set_(err, __FILE__, __LINE__, __VA_ARGS__, (const char *)NULL)
void xc_error_set_(struct xc_error *err, const char *file, int line, enum xc_err code, ...);
/* A code the table does not know (a backend's own failure code). */
void xc_error_set_custom(struct xc_error *err, const char *code, const char *const *params, size_t n);
/* INTERNAL_ERROR with a printf-formatted message. */
void xc_error_internal(struct xc_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xc_error_clear(struct xc_error *err);
void xc_error_move(struct xc_error *dst, struct xc_error *src);
bool xc_error_isset(const struct xc_error *err);

const char *xc_error_code_name(enum xc_err code);
enum xc_err xc_error_code_lookup(const char *name);
const char *xc_error_description(enum xc_err code);
/* Space separated parameter names, as the table has them. */
const char *xc_error_param_names(enum xc_err code);
unsigned xc_error_param_count(enum xc_err code);
/* The wire code: the table's name, or the custom one. */
const char *xc_error_wire_code(const struct xc_error *err);

/* The parameters that follow the code on the wire. */
static inline char *const *xc_error_wire_params(const struct xc_error *err, unsigned *n)
{
	unsigned skip = err->code == XC_ERR_LAST;
	*n = err->nparams - skip;
	return err->params + skip;
}

static inline void xc_error_clearp(struct xc_error *e) { xc_error_clear(e); }
#define XC_AUTOERROR __attribute__((cleanup(xc_error_clearp))) struct xc_error

#endif
