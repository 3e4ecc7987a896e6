/* First start: a fresh state directory becomes a pool of one host (or of
 * --sim-hosts simulated hosts) with everything a client expects to find:
 * exactly one pool, each host with its metrics, CPUs, control domain and
 * console, a "Local storage" SR with its plugged PBD, a network and PIF per
 * NIC, and the standard templates.  Records are filled the way real clients
 * read them (xsconsole needs host_cpu.modelname and PIF.management, XenAPI.py
 * needs the API version on the host). */
#include "dev_ops.h"
#include "engine_priv.h"
#include "templates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "populate"

#define PRODUCT_VERSION "4.1.0"
#define BUILD_NUMBER "xcon-1"
#define DOM0_MEMORY (752ULL << 20)

static void put_s(struct value *r, const char *k, const char *v) { value_struct_add(r, k, value_new_string(v)); }
static void put_i(struct value *r, const char *k, int64_t v) { value_struct_add(r, k, value_new_int(v)); }
static void put_b(struct value *r, const char *k, bool v) { value_struct_add(r, k, value_new_bool(v)); }
static void put_f(struct value *r, const char *k, double v) { value_struct_add(r, k, value_new_float(v)); }
static void put_t(struct value *r, const char *k, int64_t v) { value_struct_add(r, k, value_new_datetime(v)); }
static void put_v(struct value *r, const char *k, struct value *v) { value_struct_add(r, k, v); }

static struct value *smap(const char *const *kv)
{
	struct value *m = value_new_struct(4);
	for (; kv[0]; kv += 2)
		value_struct_add(m, kv[0], value_new_string(kv[1]));
	return m;
}

static struct value *sset(const char *words)
{
	struct value *a = value_new_array(4);
	XC_AUTOFREE char *copy = xstrdup(words);
	char *save = NULL;
	for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
		value_array_push_string(a, w);
	return a;
}

static char *create(struct store_txn *t, const char *cls, const char *ref, struct value *rec,
		    struct xc_error *err)
{
	char *r = store_create(t, cls_of(cls), ref, rec, err);
	value_unref(rec);
	return r;
}

/* A file SR kept under the state directory, plugged on the given hosts. */
static char *make_file_sr(struct engine *e, struct store_txn *t, const char *label, bool shared,
			  char **hosts, unsigned nhosts, struct xc_error *err)
{
	char uuid[UUID_STRLEN + 1];
	uuid_generate(uuid);
	XC_AUTOFREE char *dir = xasprintf("%s/sr", e->state_dir);
	mkdir(dir, 0700);
	XC_AUTOFREE char *path = xasprintf("%s/sr/%s", e->state_dir, uuid);
	if (mkdir(path, 0700) < 0) {
		xc_error_internal(err, "cannot create SR directory %s", path);
		return NULL;
	}
	struct statvfs vfs;
	int64_t size = statvfs(path, &vfs) == 0 ? (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize : 0;
	struct value *sr = value_new_struct(16);
	put_s(sr, "uuid", uuid);
	put_s(sr, "name_label", label);
	put_s(sr, "name_description", shared ? "Files in a directory every host of the pool reaches"
					     : "Files in a directory of this host");
	put_i(sr, "physical_size", size);
	put_s(sr, "type", "file");
	put_s(sr, "content_type", "user");
	put_b(sr, "shared", shared);
	const char *oc[] = { "i18n-key", shared ? "shared-storage" : "local-storage", NULL };
	put_v(sr, "other_config", smap(oc));
	put_v(sr, "allowed_operations", sset("scan destroy forget plug unplug vdi_create vdi_destroy vdi_resize vdi_clone vdi_snapshot"));
	char *sr_ref = create(t, "SR", NULL, sr, err);
	for (unsigned i = 0; sr_ref && i < nhosts; i++) {
		struct value *pbd = value_new_struct(4);
		put_s(pbd, "host", hosts[i]);
		put_s(pbd, "SR", sr_ref);
		const char *dc[] = { "location", path, NULL };
		put_v(pbd, "device_config", smap(dc));
		put_b(pbd, "currently_attached", true);
		char *pbd_ref = create(t, "PBD", NULL, pbd, err);
		if (!pbd_ref) {
			free(sr_ref);
			return NULL;
		}
		free(pbd_ref);
	}
	return sr_ref;
}

/* The storage driver's own description.  Like xapi registering its SM
 * plugins at every start, the stored record is brought up to date each
 * time, so a state directory made by an older xcon learns new capabilities
 * (VDI_RESIZE_ONLINE, say). */
static struct value *file_sm_record(void)
{
	struct value *sm = value_new_struct(8);
	put_s(sm, "name_label", "Local directory");
	put_s(sm, "name_description", "VDIs as sparse files in a directory");
	put_s(sm, "type", "file");
	put_s(sm, "vendor", "xcon");
	put_s(sm, "copyright", "GPL-2.0-or-later");
	put_s(sm, "version", "1.0");
	put_s(sm, "required_api_version", "1.0");
	const char *conf[] = { "location", "Directory holding the VDI files", NULL };
	put_v(sm, "configuration", smap(conf));
	put_v(sm, "capabilities", sset("SR_PROBE VDI_CREATE VDI_DELETE VDI_ATTACH VDI_DETACH VDI_RESIZE VDI_RESIZE_ONLINE VDI_CLONE VDI_SNAPSHOT"));
	return sm;
}

/* Creates or updates the SM record: 1 if anything was written, 0 if not. */
static int register_sm(struct store_txn *t, struct xc_error *err)
{
	XC_AUTOVALUE *want = file_sm_record();
	XC_AUTOVALUE *refs = dev_find(t, "SM", "type", "file");
	const char *ref = value_str(value_array_at(refs, 0));
	if (!ref) {
		XC_AUTOFREE char *made = store_create(t, cls_of("SM"), NULL, want, err);
		return made ? 1 : -1;
	}
	XC_AUTOVALUE *have = store_get_record(t, cls_of("SM"), ref, err);
	if (!have)
		return -1;
	int changed = 0;
	for (size_t i = 0; i < value_len(want); i++) {
		const struct value_member *m = &want->u.st.m[i];
		if (value_equal(value_struct_get(have, m->key), m->val))
			continue;
		log_info("storage driver 'file': %s updated", m->key);
		if (store_set(t, dm_field_find(cls_of("SM"), m->key), ref, m->val, err) < 0)
			return -1;
		changed = 1;
	}
	return changed;
}

static char *make_host(struct engine *e, struct store_txn *t, unsigned idx, const struct hv_host_info *hi,
		       struct xc_error *err)
{
	int64_t now = (int64_t)time(NULL);
	char host_ref[48], metrics_ref[48];
	ref_generate(host_ref);
	ref_generate(metrics_ref);
	struct value *hm = value_new_struct(6);
	put_i(hm, "memory_total", (int64_t)hi->memory_total);
	put_i(hm, "memory_free", (int64_t)hi->memory_free);
	put_b(hm, "live", true);
	put_t(hm, "last_updated", now);
	char *r = create(t, "host_metrics", metrics_ref, hm, err);
	if (!r)
		return NULL;
	free(r);

	char date[32];
	value_datetime_format(now, date);
	const char *sv[] = { "product_brand", "XenServer", "product_version", PRODUCT_VERSION,
			     "build_number", BUILD_NUMBER, "xapi", "1.2", "xen", hi->xen_version,
			     "linux", hi->linux_version, "hostname", hi->hostname, "date", date,
			     "platform_name", "xcon", "platform_version", "1.0", NULL };
	struct value *h = value_new_struct(48);
	put_s(h, "name_label", hi->hostname);
	put_s(h, "name_description", idx ? "Simulated pool member" : "Default install");
	put_i(h, "memory_overhead", (int64_t)hi->memory_overhead);
	put_v(h, "allowed_operations", sset("provision evacuate shutdown reboot vm_start vm_resume vm_migrate"));
	put_i(h, "API_version_major", 1);
	put_i(h, "API_version_minor", 2);
	put_s(h, "API_version_vendor", "XenSource");
	put_b(h, "enabled", true);
	put_v(h, "software_version", smap(sv));
	put_v(h, "capabilities", sset(hi->capabilities));
	put_s(h, "sched_policy", hi->sched_policy);
	put_v(h, "supported_bootloaders", sset("pygrub eliloader"));
	put_s(h, "hostname", hi->hostname);
	put_s(h, "address", hi->address);
	put_s(h, "metrics", metrics_ref);
	const char *lic[] = { "sku_type", "XE Enterprise", "expiry", "20380119T03:14:07Z", "restrict_pooling", "false", NULL };
	put_v(h, "license_params", smap(lic));
	put_s(h, "edition", "free");
	if (hi->ncpus) {
		char count[16], speed[16];
		snprintf(count, sizeof(count), "%u", hi->ncpus);
		snprintf(speed, sizeof(speed), "%u", hi->cpus[0].speed_mhz);
		const char *ci[] = { "cpu_count", count, "vendor", hi->cpus[0].vendor, "modelname",
				     hi->cpus[0].modelname, "speed", speed, "flags", hi->cpus[0].flags, NULL };
		put_v(h, "cpu_info", smap(ci));
	}
	r = create(t, "host", host_ref, h, err);
	if (!r)
		return NULL;
	free(r);

	for (unsigned i = 0; i < hi->ncpus; i++) {
		const struct hv_cpu *c = &hi->cpus[i];
		struct value *cpu = value_new_struct(12);
		put_s(cpu, "host", host_ref);
		put_i(cpu, "number", i);
		put_s(cpu, "vendor", c->vendor);
		put_i(cpu, "speed", c->speed_mhz);
		put_s(cpu, "modelname", c->modelname);
		put_i(cpu, "family", c->family);
		put_i(cpu, "model", c->model);
		put_s(cpu, "stepping", c->stepping);
		put_s(cpu, "flags", c->flags);
		put_f(cpu, "utilisation", 0.0);
		if (!(r = create(t, "host_cpu", NULL, cpu, err)))
			return NULL;
		free(r);
	}

	/* The control domain, running since the host booted. */
	char dom0_ref[48], vmm_ref[48];
	ref_generate(dom0_ref);
	ref_generate(vmm_ref);
	uint64_t dom0_mem = hi->memory_total < DOM0_MEMORY * 4 ? hi->memory_total / 4 : DOM0_MEMORY;
	struct value *vmm = value_new_struct(8);
	put_i(vmm, "memory_actual", (int64_t)dom0_mem);
	put_i(vmm, "VCPUs_number", hi->ncpus);
	put_t(vmm, "start_time", now);
	put_t(vmm, "install_time", now);
	put_t(vmm, "last_updated", now);
	if (!(r = create(t, "VM_metrics", vmm_ref, vmm, err)))
		return NULL;
	free(r);
	struct value *vm = value_new_struct(32);
	XC_AUTOFREE char *dom0_name = xasprintf("Control domain on host: %s", hi->hostname);
	put_s(vm, "name_label", dom0_name);
	put_s(vm, "name_description", "The domain which manages physical devices and manages other domains");
	put_s(vm, "power_state", "Running");
	put_i(vm, "user_version", 1);
	put_s(vm, "resident_on", host_ref);
	put_s(vm, "affinity", host_ref);
	put_i(vm, "memory_static_max", (int64_t)dom0_mem);
	put_i(vm, "memory_dynamic_max", (int64_t)dom0_mem);
	put_i(vm, "memory_dynamic_min", (int64_t)dom0_mem);
	put_i(vm, "memory_static_min", (int64_t)dom0_mem);
	put_i(vm, "memory_target", (int64_t)dom0_mem);
	put_i(vm, "VCPUs_max", hi->ncpus ? hi->ncpus : 1);
	put_i(vm, "VCPUs_at_startup", hi->ncpus ? hi->ncpus : 1);
	put_s(vm, "actions_after_shutdown", "destroy");
	put_s(vm, "actions_after_reboot", "restart");
	put_s(vm, "actions_after_crash", "restart");
	put_i(vm, "domid", 0);
	put_s(vm, "domarch", "x64");
	put_b(vm, "is_control_domain", true);
	put_s(vm, "metrics", vmm_ref);
	if (!(r = create(t, "VM", dom0_ref, vm, err)))
		return NULL;
	free(r);
	struct value *con = value_new_struct(4);
	XC_AUTOFREE char *loc = xasprintf("https://%s/console?ref=%s", *hi->address ? hi->address : hi->hostname, dom0_ref);
	put_s(con, "protocol", "rfb");
	put_s(con, "location", loc);
	put_s(con, "VM", dom0_ref);
	if (!(r = create(t, "console", NULL, con, err)))
		return NULL;
	free(r);
	return xstrdup(host_ref);
}

/* A network per NIC device name, shared by the pool; a PIF per host. */
static int make_pifs(struct store_txn *t, const char *host_ref, const struct hv_host_info *hi,
		     struct xc_error *err)
{
	int64_t now = (int64_t)time(NULL);
	int mgmt = -1;
	for (unsigned i = 0; i < hi->nnics && mgmt < 0; i++)
		if (hi->nics[i].physical || i + 1 == hi->nnics)
			mgmt = (int)i;
	for (unsigned i = 0; i < hi->nnics; i++) {
		const struct hv_nic *n = &hi->nics[i];
		XC_AUTOFREE char *bridge = xasprintf("xenbr%u", i);
		XC_AUTOVALUE *b = value_new_string(bridge);
		XC_AUTOVALUE *nets = store_find(t, dm_field_find(cls_of("network"), "bridge"), b);
		char *net_ref = value_len(nets) ? xstrdup(value_str(value_array_at(nets, 0))) : NULL;
		if (!net_ref) {
			struct value *net = value_new_struct(6);
			XC_AUTOFREE char *label = xasprintf("Pool-wide network associated with %s", n->device);
			put_s(net, "name_label", label);
			put_s(net, "bridge", bridge);
			put_i(net, "MTU", n->mtu ? n->mtu : 1500);
			if (!(net_ref = create(t, "network", NULL, net, err)))
				return -1;
		}
		char metrics_ref[48];
		ref_generate(metrics_ref);
		struct value *pm = value_new_struct(12);
		put_b(pm, "carrier", n->carrier);
		put_s(pm, "vendor_name", n->vendor_name);
		put_s(pm, "device_name", n->device_name);
		put_i(pm, "speed", n->speed_mbit);
		put_b(pm, "duplex", n->duplex_full);
		put_s(pm, "pci_bus_path", n->pci_bus_path);
		put_t(pm, "last_updated", now);
		char *r = create(t, "PIF_metrics", metrics_ref, pm, err);
		if (!r) {
			free(net_ref);
			return -1;
		}
		free(r);
		bool is_mgmt = (int)i == mgmt;
		struct value *pif = value_new_struct(16);
		put_s(pif, "device", n->device);
		put_s(pif, "network", net_ref);
		put_s(pif, "host", host_ref);
		put_s(pif, "MAC", n->mac);
		put_i(pif, "MTU", n->mtu ? n->mtu : 1500);
		put_i(pif, "VLAN", -1);
		put_s(pif, "metrics", metrics_ref);
		put_b(pif, "physical", true);
		put_b(pif, "currently_attached", true);
		put_s(pif, "ip_configuration_mode", is_mgmt ? "DHCP" : "None");
		put_s(pif, "IP", is_mgmt ? hi->address : "");
		put_b(pif, "management", is_mgmt);
		r = create(t, "PIF", NULL, pif, err);
		free(net_ref);
		if (!r)
			return -1;
		free(r);
	}
	return 0;
}

static int load_hosts(struct engine *e, struct store_txn *t, struct xc_error *err)
{
	e->host_refs = xcalloc(e->nhosts, sizeof(*e->host_refs));
	for (unsigned i = 0; i < e->nhosts; i++) {
		char key[32];
		snprintf(key, sizeof(key), "host.%u", i);
		e->host_refs[i] = store_meta_get(t, key);
		if (!e->host_refs[i]) {
			xc_error_internal(err, "the state in %s was made with fewer simulated hosts (%u wanted)",
					  e->state_dir, e->nhosts);
			return -1;
		}
	}
	e->host_ref = e->host_refs[0];
	e->pool_ref = store_meta_get(t, "pool");
	return e->pool_ref ? 0 : -1;
}

int populate_if_new(struct engine *e, struct xc_error *err)
{
	struct store_txn *t = store_write(e->store);
	XC_AUTOFREE char *done = store_meta_get(t, "populated");
	if (done) {
		int changed = 0;
		if (load_hosts(e, t, err) < 0 || (changed = register_sm(t, err)) < 0) {
			store_abort(t);
			return -1;
		}
		if (changed)
			return store_commit(t, err);
		store_abort(t);
		return 0;
	}
	log_info("first start: populating %s", e->db_path);
	e->host_refs = xcalloc(e->nhosts, sizeof(*e->host_refs));
	struct hv_host_info hi;
	for (unsigned i = 0; i < e->nhosts; i++) {
		memset(&hi, 0, sizeof(hi));
		if (e->hvs[i]->ops->host_info(e->hvs[i], &hi, err) < 0)
			goto fail;
		e->host_refs[i] = make_host(e, t, i, &hi, err);
		if (!e->host_refs[i] || make_pifs(t, e->host_refs[i], &hi, err) < 0) {
			hv_host_info_free(&hi);
			goto fail;
		}
		char key[32];
		snprintf(key, sizeof(key), "host.%u", i);
		if (store_meta_set(t, key, e->host_refs[i], err) < 0) {
			hv_host_info_free(&hi);
			goto fail;
		}
		hv_host_info_free(&hi);
	}
	e->host_ref = e->host_refs[0];
	if (register_sm(t, err) < 0)
		goto fail;
	char *local0 = NULL;
	for (unsigned i = 0; i < e->nhosts; i++) {
		char *sr = make_file_sr(e, t, "Local storage", false, &e->host_refs[i], 1, err);
		if (!sr) {
			free(local0);
			goto fail;
		}
		XC_AUTOVALUE *srv = value_new_string(sr);
		if (set_value(t, cls_of("host"), e->host_refs[i], "suspend_image_sr", srv, err) < 0 ||
		    set_value(t, cls_of("host"), e->host_refs[i], "crash_dump_sr", srv, err) < 0) {
			free(sr);
			free(local0);
			goto fail;
		}
		if (i == 0)
			local0 = sr;
		else
			free(sr);
	}
	/* A simulated pool shares one SR, so VMs can move between its hosts. */
	char *def_sr = e->nhosts > 1 ? make_file_sr(e, t, "Shared storage", true, e->host_refs, e->nhosts, err)
				     : xstrdup(local0);
	free(local0);
	if (!def_sr)
		goto fail;
	struct value *pool = value_new_struct(8);
	put_s(pool, "name_label", "");
	put_s(pool, "master", e->host_ref);
	put_s(pool, "default_SR", def_sr);
	put_s(pool, "suspend_image_SR", def_sr);
	put_s(pool, "crash_dump_SR", def_sr);
	free(def_sr);
	e->pool_ref = create(t, "pool", NULL, pool, err);
	if (!e->pool_ref || store_meta_set(t, "pool", e->pool_ref, err) < 0)
		goto fail;
	if (templates_create(t, err) < 0 || store_meta_set(t, "populated", "1", err) < 0)
		goto fail;
	return store_commit(t, err);
fail:
	store_abort(t);
	return -1;
}
