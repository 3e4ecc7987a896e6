/* The error table and the struct that carries one error (see error.h). */
#include "error.h"
#include "xalloc.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_row {
	const char *name;
	unsigned nparams;
	const char *names;
	const char *desc;
};

static const struct err_row table[] = {
	[XC_ERR_NONE] = { "NONE", 0, "", "" },
#define XERR(code, n, pnames, d) [XC_ERR_##code] = { #code, n, pnames, d },
#include "errors.def"
#undef XERR
};
_Static_assert(ARRAY_SIZE(table) == XC_ERR_LAST, "error table");

/* A custom code is carried as params[0] with code XC_ERR_LAST. */

void xc_error_clear(struct xc_error *err)
{
	if (!err)
		return;
	for (unsigned i = 0; i < err->nparams; i++)
		free(err->params[i]);
	memset(err, 0, sizeof(*err));
}

void xc_error_set_(struct xc_error *err, const char *file, int line, enum xc_err code, ...)
{
	if (!err)
		return;
	xc_error_clear(err);
	err->code = code;
	err->file = file;
	err->line = line;
	va_list ap;
	va_start(ap, code);
	const char *p;
	while ((p = va_arg(ap, const char *)) != NULL && err->nparams < XC_ERROR_MAX_PARAMS)
		err->params[err->nparams++] = xstrdup(p);
	va_end(ap);
	assert(code > XC_ERR_NONE && code < XC_ERR_LAST);
	assert(err->nparams == table[code].nparams);
}

void xc_error_set_custom(struct xc_error *err, const char *code, const char *const *params, size_t n)
{
	xc_error_clear(err);
	enum xc_err known = xc_error_code_lookup(code);
	err->code = known != XC_ERR_NONE ? known : XC_ERR_LAST;
	if (err->code == XC_ERR_LAST)
		err->params[err->nparams++] = xstrdup(code);
	for (size_t i = 0; i < n && err->nparams < XC_ERROR_MAX_PARAMS; i++)
		err->params[err->nparams++] = xstrdup(params[i] ? params[i] : "");
}

void xc_error_internal(struct xc_error *err, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	xc_error_set(err, XC_ERR_INTERNAL_ERROR, msg ? msg : "internal error");
	free(msg);
}

void xc_error_move(struct xc_error *dst, struct xc_error *src)
{
	xc_error_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

bool xc_error_isset(const struct xc_error *err)
{
	return err && err->code != XC_ERR_NONE;
}

const char *xc_error_code_name(enum xc_err code)
{
	return code < XC_ERR_LAST ? table[code].name : "UNKNOWN";
}

enum xc_err xc_error_code_lookup(const char *name)
{
	for (size_t i = 1; i < XC_ERR_LAST; i++)
		if (strcmp(table[i].name, name) == 0)
			return (enum xc_err)i;
	return XC_ERR_NONE;
}

const char *xc_error_description(enum xc_err code)
{
	return code < XC_ERR_LAST ? table[code].desc : "";
}

const char *xc_error_param_names(enum xc_err code)
{
	return code < XC_ERR_LAST ? table[code].names : "";
}

unsigned xc_error_param_count(enum xc_err code)
{
	return code < XC_ERR_LAST ? table[code].nparams : 0;
}

const char *xc_error_wire_code(const struct xc_error *err)
{
	if (err->code == XC_ERR_LAST)
		return err->params[0];
	return xc_error_code_name(err->code);
}
