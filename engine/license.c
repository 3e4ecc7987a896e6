/* host.license_apply: a XenServer 4.x licence file, given base64-encoded.
 *
 * The file is an <xe_license .../> element whose attributes carry the
 * details (sku_type, version, serialnumber, sockets, productcode, expiry as
 * unix seconds, then name/company/address fields), usually inside a
 * PGP-signed cleartext wrapper.  xapi verified the signature against
 * Citrix's key; no such key exists here, so the wrapper is only unwrapped
 * and the signature is NOT verified (README says so).  What is checked is
 * what xapi's parser required: decodable base64, the element, its
 * mandatory fields, a numeric sockets/expiry.  Garbage is
 * LICENSE_PROCESSING_ERROR, a licence past its expiry LICENSE_EXPIRED; a
 * good one lands in host.license_params with xapi's keys. */
#include "ops.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "license"

static int b64_digit(int ch)
{
	static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = ch ? strchr(digits, ch) : NULL;
	return p ? (int)(p - digits) : -1;
}

/* Decodes base64, whitespace allowed (clients wrap at 76 columns); NULL
 * for anything else. */
static char *b64_decode(const char *in)
{
	char *out = xmalloc(strlen(in) / 4 * 3 + 4);
	size_t n = 0, quad = 0, pad = 0;
	unsigned acc = 0;
	for (const char *p = in; *p; p++) {
		if (isspace((unsigned char)*p))
			continue;
		int v = *p == '=' ? 0 : b64_digit(*p);
		if (v < 0 || (pad && *p != '=')) {
			free(out);
			return NULL;
		}
		pad += *p == '=';
		acc = acc << 6 | (unsigned)v;
		if (++quad == 4) {
			out[n++] = (char)(acc >> 16);
			out[n++] = (char)(acc >> 8);
			out[n++] = (char)acc;
			quad = 0;
			acc = 0;
		}
	}
	if (quad || pad > 2 || n < pad) {
		free(out);
		return NULL;
	}
	n -= pad;
	out[n] = '\0';
	if (memchr(out, '\0', n)) { /* binary: not a licence file */
		free(out);
		return NULL;
	}
	return out;
}

static const char *const fields[] = { "sku_type", "version", "serialnumber", "sockets", "productcode", "expiry",
				      "name", "company", "address1", "address2", "city", "state", "postalcode",
				      "country", NULL };
#define NMANDATORY 6 /* the first six */

/* The value of attribute name in the element's attribute text, or NULL
 * (caller frees).  Values are quoted with " or '. */
static char *attr(const char *attrs, const char *name)
{
	size_t len = strlen(name);
	for (const char *p = attrs; (p = strstr(p, name)); p += len) {
		if (p > attrs && !isspace((unsigned char)p[-1]))
			continue;
		const char *q = p + len;
		while (isspace((unsigned char)*q))
			q++;
		if (*q != '=')
			continue;
		q++;
		while (isspace((unsigned char)*q))
			q++;
		if (*q != '"' && *q != '\'')
			return NULL;
		const char *end = strchr(q + 1, *q);
		return end ? xstrndup(q + 1, (size_t)(end - q - 1)) : NULL;
	}
	return NULL;
}

static bool is_number(const char *s, bool fraction)
{
	char *end;
	errno = 0;
	if (fraction)
		(void)strtod(s, &end);
	else
		(void)strtoll(s, &end, 10);
	return *s && !*end && !errno;
}

/* The licence's fields as host.license_params, or NULL. */
static struct value *parse(const char *text, double *expiry)
{
	const char *el = strstr(text, "<xe_license");
	const char *end = el ? strchr(el, '>') : NULL;
	if (!end)
		return NULL;
	XC_AUTOFREE char *attrs = xstrndup(el + 11, (size_t)(end - el - 11));
	struct value *params = value_new_struct(16);
	for (unsigned i = 0; fields[i]; i++) {
		char *v = attr(attrs, fields[i]);
		if (!v && i < NMANDATORY) {
			log_warn("licence has no '%s'", fields[i]);
			value_unref(params);
			return NULL;
		}
		value_struct_add(params, fields[i], value_new_string_take(v ? v : xstrdup("")));
	}
	const char *sockets = value_struct_get_str(params, "sockets");
	const char *exp = value_struct_get_str(params, "expiry");
	if (!is_number(sockets, false) || !is_number(exp, true)) {
		log_warn("licence has a malformed sockets or expiry");
		value_unref(params);
		return NULL;
	}
	*expiry = strtod(exp, NULL);
	/* Shown as xapi shows it: an ISO 8601 date, not the raw number. */
	time_t t = (time_t)*expiry;
	struct tm tm;
	char date[32];
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H:%M:%SZ", &tm);
	value_struct_set(params, "expiry", value_new_string(date));
	value_struct_add(params, "sku_marketing_name", value_new_string(""));
	return params;
}

struct value *op_host_license_apply(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	if (ref_check(c->e, "host", host, err) < 0)
		return NULL;
	XC_AUTOFREE char *text = b64_decode(value_str(args[1]));
	double expiry = 0;
	XC_AUTOVALUE *params = text ? parse(text, &expiry) : NULL;
	if (!params) {
		xc_error_set(err, XC_ERR_LICENSE_PROCESSING_ERROR);
		return NULL;
	}
	if (expiry <= (double)time(NULL)) {
		xc_error_set(err, XC_ERR_LICENSE_EXPIRED);
		return NULL;
	}
	struct store_txn *t = store_write(c->e->store);
	if (set_value(t, cls_of("host"), host, "license_params", params, err) < 0 ||
	    set_str(t, cls_of("host"), host, "edition", value_struct_get_str(params, "sku_type"), err) < 0) {
		store_abort(t);
		return NULL;
	}
	if (store_commit(t, err) < 0)
		return NULL;
	log_info("licence applied: %s, serial %s, expires %s", value_struct_get_str(params, "sku_type"),
		 value_struct_get_str(params, "serialnumber"), value_struct_get_str(params, "expiry"));
	return void_result();
}
