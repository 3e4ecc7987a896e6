/* Host messages that only read: what clients call on connect (servertime)
 * and the informational ones. */
#include "ops.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../util/xalloc.h"

static struct value *read_host(struct op_ctx *c, const char *ref, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	struct value *rec = store_get_record(t, cls_of("host"), ref, err);
	store_commit(t, NULL);
	return rec;
}

struct value *op_host_get_servertime(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	XC_AUTOVALUE *rec = read_host(c, value_str(args[0]), err);
	return rec ? value_new_datetime((int64_t)time(NULL)) : NULL;
}

struct value *op_host_list_methods(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct value *names = value_new_array(dm_message_count());
	for (unsigned i = 0; i < dm_message_count(); i++)
		value_array_push_string(names, dm_message_at(i)->wire);
	return names;
}

struct value *op_system_listMethods(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return op_host_list_methods(c, args, err);
}

struct value *op_host_compute_free_memory(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct hv *hv = engine_hv_of_host(c->e, value_str(args[0]));
	if (!hv) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", value_str(args[0]));
		return NULL;
	}
	struct hv_host_info hi;
	memset(&hi, 0, sizeof(hi));
	if (hv->ops->host_info(hv, &hi, err) < 0)
		return NULL;
	struct value *v = value_new_int((int64_t)hi.memory_free);
	hv_host_info_free(&hi);
	return v;
}

/* The host's backend, or NULL with HANDLE_INVALID. */
static struct hv *hv_of(struct op_ctx *c, const char *host, struct xc_error *err)
{
	struct hv *hv = engine_hv_of_host(c->e, host);
	if (!hv)
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", host);
	return hv;
}

static struct value *dmesg(struct op_ctx *c, const char *host, bool clear, struct xc_error *err)
{
	struct hv *hv = hv_of(c, host, err);
	char *text = NULL;
	if (!hv || hv_host_dmesg(hv, clear, &text, err) < 0)
		return NULL;
	return value_new_string_take(text);
}

struct value *op_host_dmesg(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dmesg(c, value_str(args[0]), false, err);
}

struct value *op_host_dmesg_clear(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dmesg(c, value_str(args[0]), true, err);
}

struct value *op_host_send_debug_keys(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct hv *hv = hv_of(c, value_str(args[0]), err);
	if (!hv || hv_host_debug_keys(hv, value_str(args[1]), err) < 0)
		return NULL;
	return void_result();
}

/* The engine keeps no log of its own to hand out (it writes to stderr or
 * the journal); xapi answers the empty string here too. */
struct value *op_host_get_log(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	XC_AUTOVALUE *rec = read_host(c, value_str(args[0]), err);
	return rec ? value_new_string("") : NULL;
}

struct value *op_host_get_system_status_capabilities(struct op_ctx *c, struct value *const *args,
						     struct xc_error *err)
{
	XC_AUTOVALUE *rec = read_host(c, value_str(args[0]), err);
	if (!rec)
		return NULL;
	return value_new_string("<?xml version=\"1.0\" ?><system-status-capabilities>"
				"<capability content-type=\"text/plain\" default-checked=\"yes\" key=\"xcon-logs\" "
				"max-size=\"-1\" max-time=\"-1\" min-size=\"-1\" min-time=\"-1\" pii=\"maybe\"/>"
				"</system-status-capabilities>");
}
