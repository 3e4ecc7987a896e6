/* Fault injection: XCON_SIM_FAIL="op:N[,op:N...]" makes the N-th call
 * (counted from 1, per host) of op fail with INTERNAL_ERROR ["simulated
 * failure of <op>"] before it changes anything, so a test can walk N = 1..k
 * through a scenario and check every failure is clean (SQLite's FAULTSIM).
 * op is an hv_ops slot name: domain_create, domain_suspend, disk_add... */
#include "hv_sim_priv.h"

#include "../util/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
#define SIM_OP_NAME(n) #n,
	SIM_OPS(SIM_OP_NAME)
#undef SIM_OP_NAME
};
_Static_assert(ARRAY_SIZE(op_names) == SIM_OP_LAST, "op names");

const char *hv_sim_op_name(enum sim_op op)
{
	return op < SIM_OP_LAST ? op_names[op] : "unknown";
}

static int parse_one(const char *item, struct sim_fault *f)
{
	const char *colon = strchr(item, ':');
	if (!colon)
		return -1;
	size_t len = (size_t)(colon - item);
	unsigned op;
	for (op = 0; op < SIM_OP_LAST; op++)
		if (strlen(op_names[op]) == len && strncmp(op_names[op], item, len) == 0)
			break;
	if (op == SIM_OP_LAST)
		return -1;
	char *end;
	errno = 0;
	unsigned long n = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || n == 0 || colon[1] == '-')
		return -1;
	f->op = (enum sim_op)op;
	f->nth = n;
	return 0;
}

int hv_sim_fault_parse(const char *spec, struct sim_fault **out, unsigned *n, struct xc_error *err)
{
	*out = NULL;
	*n = 0;
	if (!spec || !*spec)
		return 0;
	char *copy = xstrdup(spec), *save = NULL;
	struct sim_fault *v = NULL;
	unsigned count = 0;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		while (*item == ' ')
			item++;
		v = xreallocarray(v, count + 1, sizeof(*v));
		if (parse_one(item, &v[count]) < 0) {
			xc_error_set(err, XC_ERR_INVALID_VALUE, "XCON_SIM_FAIL", spec);
			free(v);
			free(copy);
			return -1;
		}
		count++;
	}
	free(copy);
	*out = v;
	*n = count;
	return 0;
}

bool hv_sim_fault_hit(struct sim_host *h, enum sim_op op)
{
	unsigned long nth = ++h->calls[op];
	for (unsigned i = 0; i < h->nfaults; i++)
		if (h->faults[i].op == op && h->faults[i].nth == nth)
			return true;
	return false;
}
