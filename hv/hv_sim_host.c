/* The simulated host's facts and power.
 *
 * Facts come from this machine: hostname, management address (first
 * non-loopback IPv4 of an up interface), the Ethernet devices under
 * /sys/class/net (lo skipped; physical = has a device link), the CPUs of
 * /proc/cpuinfo, the running kernel as linux_version.  Host number i > 0 of
 * a simulated pool is "<hostname>-sim<i>" with the same NIC names and MACs
 * made unique (locally administered, bytes 1-2 xored with i).  Memory is
 * MemTotal (or XCON_SIM_HOST_MEMORY) less a Xen overhead (1%) and a dom0
 * reservation (an eighth, at most 1 GiB).
 *
 * Power: host_reboot and host_shutdown kill every domain (each reports
 * GONE, then domid 0 does); a rebooting host is back after 30 s (scaled)
 * and domid 0 reports RUNNING.  Meanwhile calls fail with HOST_OFFLINE.
 */
#include "hv_sim.h"
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "hv.sim.host"

#define HOST_BOOT_SECONDS 30.0
#define ZERO_UUID "00000000-0000-0000-0000-000000000000"

static const char capabilities[] =
	"xen-3.0-x86_64 xen-3.0-x86_32p hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64";

/* Vendors of common NICs, for when no pci.ids is installed. */
static const struct {
	unsigned id;
	const char *name;
} pci_vendors[] = {
	{ 0x1077, "QLogic Corp." }, { 0x10de, "NVIDIA Corporation" },
	{ 0x10ec, "Realtek Semiconductor Co., Ltd." }, { 0x14e4, "Broadcom Inc. and subsidiaries" },
	{ 0x15ad, "VMware" }, { 0x15b3, "Mellanox Technologies" }, { 0x1924, "Solarflare Communications" },
	{ 0x19a2, "Emulex Corporation" }, { 0x1af4, "Red Hat, Inc." }, { 0x1d0f, "Amazon.com, Inc." },
	{ 0x1ae0, "Google, Inc." }, { 0x8086, "Intel Corporation" },
};

static const char *const pci_ids_paths[] = {
	"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids",
};

/* Reads the first line of a small file; false if it cannot. */
static bool read_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool ok = fgets(out, (int)n, f) != NULL;
	fclose(f);
	if (ok)
		out[strcspn(out, "\n")] = '\0';
	return ok;
}

static bool read_sysfs(const char *dev, const char *attr, char *out, size_t n)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", dev, attr);
	return read_line(path, out, n);
}

/* "4294967296", "4G", "4GiB", "512M": binary units. */
static bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return false;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case '\0': break;
	default: return false;
	}
	if (shift) {
		end++;
		if (strcmp(end, "") != 0 && strcasecmp(end, "iB") != 0 && strcasecmp(end, "B") != 0)
			return false;
		if (v > (UINT64_MAX >> shift))
			return false;
	}
	*out = (uint64_t)v << shift;
	return true;
}

static uint64_t meminfo_total(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kb * 1024;
}

static void cpu_field(struct hv_cpu *c, const char *key, const char *val)
{
	if (strcmp(key, "vendor_id") == 0)
		snprintf(c->vendor, sizeof(c->vendor), "%s", val);
	else if (strcmp(key, "model name") == 0)
		snprintf(c->modelname, sizeof(c->modelname), "%s", val);
	else if (strcmp(key, "flags") == 0)
		snprintf(c->flags, sizeof(c->flags), "%s", val);
	else if (strcmp(key, "stepping") == 0)
		snprintf(c->stepping, sizeof(c->stepping), "%s", val);
	else if (strcmp(key, "cpu MHz") == 0)
		c->speed_mhz = (unsigned)(strtod(val, NULL) + 0.5);
	else if (strcmp(key, "cpu family") == 0)
		c->family = (unsigned)strtoul(val, NULL, 10);
	else if (strcmp(key, "model") == 0)
		c->model = (unsigned)strtoul(val, NULL, 10);
}

static void load_cpus(struct sim_host *h)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	struct hv_cpu *cur = NULL;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		char *k = line, *v = colon + 1;
		char *ke = colon;
		while (ke > k && isspace((unsigned char)ke[-1]))
			ke--;
		*ke = '\0';
		while (isspace((unsigned char)*v))
			v++;
		if (strcmp(k, "processor") == 0) {
			h->cpus = xreallocarray(h->cpus, h->ncpus + 1, sizeof(*h->cpus));
			cur = &h->cpus[h->ncpus++];
			memset(cur, 0, sizeof(*cur));
		} else if (cur) {
			cpu_field(cur, k, v);
		}
	}
	if (f)
		fclose(f);
	if (!h->ncpus) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		h->ncpus = n > 0 ? (unsigned)n : 1;
		h->cpus = xcalloc(h->ncpus, sizeof(*h->cpus));
		for (unsigned i = 0; i < h->ncpus; i++)
			snprintf(h->cpus[i].vendor, sizeof(h->cpus[i].vendor), "unknown");
	}
}

int hv_sim_host_load(struct sim_host *h, const char *name, struct xc_error *err)
{
	char host[256] = "localhost";
	if (name && *name) {
		snprintf(host, sizeof(host), "%s", name);
	} else {
		if (gethostname(host, sizeof(host)) != 0 || !host[0])
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
	}
	h->hostname = h->index && !(name && *name) ? xasprintf("%s-sim%u", host, h->index) : xstrdup(host);

	const char *env = getenv("XCON_SIM_HOST_MEMORY");
	if (env && *env) {
		if (!parse_size(env, &h->mem_total) || h->mem_total < 64 * SIM_MIB) {
			xc_error_set(err, XC_ERR_INVALID_VALUE, "XCON_SIM_HOST_MEMORY", env);
			return -1;
		}
	} else {
		h->mem_total = meminfo_total();
		if (!h->mem_total)
			h->mem_total = 4 * SIM_GIB;
	}
	h->mem_overhead = h->mem_total / 100 / SIM_MIB * SIM_MIB;
	h->mem_dom0 = h->mem_total / 8 > SIM_GIB ? SIM_GIB : h->mem_total / 8 / SIM_MIB * SIM_MIB;
	load_cpus(h);
	return 0;
}

uint64_t hv_sim_host_memory_free(const struct sim_host *h)
{
	uint64_t used = h->mem_overhead + h->mem_dom0 + h->mem_used + h->mem_reserved;
	return h->mem_total > used ? h->mem_total - used : 0;
}

/* Looks a vendor (and device) up in pci.ids; false if there is none. */
static bool pci_ids_lookup(unsigned vendor, unsigned device, char *vname, size_t vn,
			   char *dname, size_t dn)
{
	FILE *f = NULL;
	for (size_t i = 0; !f && i < ARRAY_SIZE(pci_ids_paths); i++)
		f = fopen(pci_ids_paths[i], "re");
	if (!f)
		return false;
	char line[512];
	bool in_vendor = false, found = false;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		unsigned id;
		int off = 0;
		if (line[0] != '\t' && line[0] != '#' && sscanf(line, "%4x %n", &id, &off) == 1 && off) {
			if (in_vendor)
				break;
			if (id == vendor) {
				in_vendor = found = true;
				snprintf(vname, vn, "%s", line + off);
			}
		} else if (in_vendor && line[0] == '\t' && line[1] != '\t' &&
			   sscanf(line + 1, "%4x %n", &id, &off) == 1 && off && id == device) {
			snprintf(dname, dn, "%s", line + 1 + off);
			break;
		}
	}
	fclose(f);
	return found;
}

/* The deepest PCI address on the device's sysfs path (a virtio NIC sits
 * below its PCI function), its ids and names. */
static void nic_pci(struct hv_nic *nic)
{
	char link[PATH_MAX], real[PATH_MAX];
	snprintf(link, sizeof(link), "/sys/class/net/%s/device", nic->device);
	if (!realpath(link, real))
		return;
	char addr[32] = "";
	for (char *save = NULL, *c = strtok_r(real, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		unsigned a, b, d, fn;
		int n = 0;
		if (sscanf(c, "%4x:%2x:%2x.%1x%n", &a, &b, &d, &fn, &n) == 4 && c[n] == '\0' && n == 12)
			snprintf(addr, sizeof(addr), "%s", c);
	}
	if (!addr[0])
		return;
	snprintf(nic->pci_bus_path, sizeof(nic->pci_bus_path), "%s", addr);
	char path[PATH_MAX], v[32], d[32];
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", addr);
	if (!read_line(path, v, sizeof(v)))
		return;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", addr);
	if (!read_line(path, d, sizeof(d)))
		return;
	unsigned vendor = (unsigned)strtoul(v, NULL, 16), device = (unsigned)strtoul(d, NULL, 16);
	if (pci_ids_lookup(vendor, device, nic->vendor_name, sizeof(nic->vendor_name),
			   nic->device_name, sizeof(nic->device_name)) && nic->device_name[0])
		return;
	for (size_t i = 0; !nic->vendor_name[0] && i < ARRAY_SIZE(pci_vendors); i++)
		if (pci_vendors[i].id == vendor)
			snprintf(nic->vendor_name, sizeof(nic->vendor_name), "%s", pci_vendors[i].name);
	if (!nic->vendor_name[0])
		snprintf(nic->vendor_name, sizeof(nic->vendor_name), "Vendor %04x", vendor);
	snprintf(nic->device_name, sizeof(nic->device_name), "Device %04x", device);
}

/* Host i > 0 of the pool: a locally administered MAC, unique per i. */
static void nic_mac_for_index(char mac[18], unsigned index)
{
	unsigned b[6];
	if (!index || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return;
	b[0] = (b[0] | 0x02) & 0xfe;
	b[1] ^= (index >> 8) & 0xff;
	b[2] ^= index & 0xff;
	snprintf(mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

static bool nic_read(const char *dev, unsigned index, struct hv_nic *nic)
{
	char s[64];
	memset(nic, 0, sizeof(*nic));
	if (strcmp(dev, "lo") == 0 || strlen(dev) >= sizeof(nic->device))
		return false;
	if (!read_sysfs(dev, "type", s, sizeof(s)) || strtoul(s, NULL, 10) != 1) /* ARPHRD_ETHER */
		return false;
	if (!read_sysfs(dev, "address", s, sizeof(s)) || strlen(s) != 17)
		return false;
	snprintf(nic->device, sizeof(nic->device), "%s", dev);
	for (size_t i = 0; i < 17; i++)
		nic->mac[i] = (char)tolower((unsigned char)s[i]);
	nic_mac_for_index(nic->mac, index);
	nic->mtu = read_sysfs(dev, "mtu", s, sizeof(s)) ? (unsigned)strtoul(s, NULL, 10) : 1500;
	nic->carrier = read_sysfs(dev, "carrier", s, sizeof(s)) && strcmp(s, "1") == 0;
	long speed = read_sysfs(dev, "speed", s, sizeof(s)) ? strtol(s, NULL, 10) : 0;
	nic->speed_mbit = speed > 0 ? (unsigned)speed : 0;
	nic->duplex_full = read_sysfs(dev, "duplex", s, sizeof(s)) && strcmp(s, "full") == 0;
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/sys/class/net/%s/device", dev);
	nic->physical = access(path, F_OK) == 0;
	if (nic->physical)
		nic_pci(nic);
	return true;
}

static int by_device(const void *a, const void *b)
{
	return strcmp(((const struct hv_nic *)a)->device, ((const struct hv_nic *)b)->device);
}

static void load_nics(unsigned index, struct hv_host_info *out)
{
	DIR *dir = opendir("/sys/class/net");
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		struct hv_nic nic;
		if (!nic_read(e->d_name, index, &nic))
			continue;
		out->nics = xreallocarray(out->nics, out->nnics + 1, sizeof(*out->nics));
		out->nics[out->nnics++] = nic;
	}
	if (dir)
		closedir(dir);
	if (out->nnics)
		qsort(out->nics, out->nnics, sizeof(*out->nics), by_device);
}

static void load_address(char *out, size_t n)
{
	struct ifaddrs *ifa, *i;
	out[0] = '\0';
	if (getifaddrs(&ifa) != 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK))
			continue;
		inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, out, (socklen_t)n);
		break;
	}
	freeifaddrs(ifa);
}

int hv_sim_host_info(struct hv *hv, struct hv_host_info *out, struct xc_error *err)
{
	memset(out, 0, sizeof(*out));
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_host_info, true, err);
	if (!h)
		return -1;
	snprintf(out->hostname, sizeof(out->hostname), "%s", h->hostname);
	out->memory_total = h->mem_total;
	out->memory_free = hv_sim_host_memory_free(h);
	out->memory_overhead = h->mem_overhead;
	out->ncpus = h->ncpus;
	out->cpus = xcalloc(h->ncpus, sizeof(*out->cpus));
	memcpy(out->cpus, h->cpus, h->ncpus * sizeof(*out->cpus));
	unsigned index = h->index;
	hv_sim_end(h);

	struct utsname u;
	snprintf(out->xen_version, sizeof(out->xen_version), "4.17.0");
	snprintf(out->linux_version, sizeof(out->linux_version), "%.63s", uname(&u) == 0 ? u.release : "");
	snprintf(out->sched_policy, sizeof(out->sched_policy), "credit2");
	snprintf(out->capabilities, sizeof(out->capabilities), "%s", capabilities);
	load_address(out->address, sizeof(out->address));
	load_nics(index, out);
	return 0;
}

int hv_sim_host_memory(struct hv *hv, uint64_t *total, uint64_t *free_bytes, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_host_info, true, err);
	if (!h)
		return -1;
	*total = h->mem_total;
	*free_bytes = hv_sim_host_memory_free(h);
	hv_sim_end(h);
	return 0;
}

static void collect(const char *key, void *val, void *cookie)
{
	struct sim_dom ***pp = cookie;
	*(*pp)++ = val;
}

/* Every domain dies as the host goes down. */
static int go_down(struct hv *hv, enum sim_op op, enum sim_power to, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, op, true, err);
	if (!h)
		return -1;
	unsigned n = h->ndoms;
	struct sim_dom **all = xcalloc(n + 1, sizeof(*all)), **p = all;
	strmap_each(&h->doms, collect, &p);
	for (unsigned i = 0; i < n; i++) {
		hv_sim_loop_event(h, all[i]->domid, all[i]->uuid, HV_STATE_GONE, HV_SHUTDOWN_NONE);
		hv_sim_dom_kill(all[i]);
	}
	free(all);
	hv_sim_loop_event(h, 0, ZERO_UUID, HV_STATE_GONE, HV_SHUTDOWN_NONE);
	h->power = to;
	h->next_domid = 1;
	if (to == SIM_HOST_REBOOTING)
		hv_sim_loop_host_timer(h, hv_sim_now() + (int64_t)(HOST_BOOT_SECONDS * h->scale * SIM_NS));
	log_info("host %s %s, %u domains killed", h->hostname,
		 to == SIM_HOST_REBOOTING ? "rebooting" : "shut down", n);
	hv_sim_end(h);
	return 0;
}

int hv_sim_host_reboot(struct hv *hv, struct xc_error *err)
{
	return go_down(hv, SIM_OP_host_reboot, SIM_HOST_REBOOTING, err);
}

int hv_sim_host_shutdown(struct hv *hv, struct xc_error *err)
{
	return go_down(hv, SIM_OP_host_shutdown, SIM_HOST_DOWN, err);
}

void hv_sim_host_tick(struct sim_host *h, int64_t now)
{
	h->power_due = SIM_NEVER;
	if (h->power != SIM_HOST_REBOOTING)
		return;
	h->power = SIM_HOST_UP;
	h->boot_wall = time(NULL);
	hv_sim_xen_boot(h); /* a new Xen: a new console ring */
	log_info("host %s is up again", h->hostname);
	hv_sim_loop_event(h, 0, ZERO_UUID, HV_STATE_RUNNING, HV_SHUTDOWN_NONE);
}

int hv_sim_host_power_on(struct hv *hv, struct xc_error *err)
{
	if (!hv || hv->ops != &hv_sim_ops) {
		xc_error_set(err, XC_ERR_NOT_IMPLEMENTED, "hv_sim_host_power_on");
		return -1;
	}
	struct sim_host *h = (struct sim_host *)hv;
	pthread_mutex_lock(&h->lock);
	int rc = -1;
	if (h->closing)
		xc_error_internal(err, "simulated host %s is closing", h->hostname);
	else if (h->power != SIM_HOST_DOWN)
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "the host is not powered off");
	else {
		h->power = SIM_HOST_REBOOTING;
		hv_sim_loop_host_timer(h, hv_sim_now() + (int64_t)(HOST_BOOT_SECONDS * h->scale * SIM_NS));
		rc = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}
