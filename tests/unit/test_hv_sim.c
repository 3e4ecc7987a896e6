/* The simulated Xen host (hv/hv_sim*.c) held to what the engine relies on:
 * host facts from this machine, domids, memory accounting and its error,
 * the power state machine, a guest that boots and lets one log in over a
 * real pty, shutdown/reboot/crash events, suspend images, device errors,
 * migration between two simulated hosts, fault injection, scale (200
 * domains), host power, hostile console input and clean close.
 *
 * Nothing here sleeps: tests wait on events or on console output, with a
 * generous deadline so a broken backend fails instead of hanging. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../../hv/hv.h"
#include "../../hv/hv_sim.h"
#include "../../util/deadline.h"
#include "../../util/error.h"
#include "../../util/uuid.h"
#include "../../util/xalloc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * MIB)

/* ---- events ---- */

struct evlog {
	pthread_mutex_t m;
	pthread_cond_t c;
	struct hv_event v[4096];
	unsigned n;
	struct hv *close_on_event;   /* closes this backend from the callback */
};

static struct evlog evs;

static void on_event(void *cookie, struct hv *hv, const struct hv_event *ev)
{
	struct evlog *l = cookie;
	pthread_mutex_lock(&l->m);
	if (l->n < ARRAY_SIZE(l->v))
		l->v[l->n++] = *ev;
	struct hv *close_me = l->close_on_event == hv ? hv : NULL;
	if (close_me)
		l->close_on_event = NULL;
	pthread_cond_broadcast(&l->c);
	pthread_mutex_unlock(&l->m);
	if (close_me)
		hv_close(close_me);
}

static void evlog_reset(void)
{
	pthread_mutex_lock(&evs.m);
	evs.n = 0;
	evs.close_on_event = NULL;
	pthread_mutex_unlock(&evs.m);
}

static struct timespec deadline(int ms)
{
	return deadline_in_ms(CLOCK_REALTIME, (unsigned)ms);
}

/* Waits for an event of this domain and state (and reason, unless NONE). */
static bool wait_event(uint32_t domid, enum hv_domain_state st, enum hv_shutdown_reason r)
{
	struct timespec until = deadline(WAIT_MS);
	bool found = false;
	pthread_mutex_lock(&evs.m);
	for (;;) {
		for (unsigned i = 0; i < evs.n && !found; i++)
			found = evs.v[i].domid == domid && evs.v[i].state == st &&
				(r == HV_SHUTDOWN_NONE || evs.v[i].reason == r);
		if (found || pthread_cond_timedwait(&evs.c, &evs.m, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&evs.m);
	return found;
}

/* Waits until at least n events of this state have come. */
static bool wait_count(enum hv_domain_state st, unsigned want)
{
	struct timespec until = deadline(WAIT_MS);
	unsigned n = 0;
	pthread_mutex_lock(&evs.m);
	for (;;) {
		n = 0;
		for (unsigned i = 0; i < evs.n; i++)
			n += evs.v[i].state == st;
		if (n >= want || pthread_cond_timedwait(&evs.c, &evs.m, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&evs.m);
	return n == want;
}

/* ---- backends and configs ---- */

static char state_dir[64];

static struct hv *open_sim(unsigned index, const char *scale, const char *memory)
{
	setenv("XCON_SIM_TIME_SCALE", scale, 1);
	if (memory)
		setenv("XCON_SIM_HOST_MEMORY", memory, 1);
	else
		unsetenv("XCON_SIM_HOST_MEMORY");
	struct xc_error err = XC_ERROR_INIT;
	struct hv *hv = hv_open("sim", NULL, index, state_dir, on_event, &evs, &err);
	if (!hv)
		fail_msg("hv_open: %s %s", xc_error_code_name(err.code), err.nparams ? err.params[0] : "");
	xc_error_clear(&err);
	return hv;
}

static struct hv_domain_config *mkcfg(const char *name, uint64_t memory)
{
	struct hv_domain_config *c = xcalloc(1, sizeof(*c));
	char uuid[UUID_STRLEN + 1];
	uuid_generate(uuid);
	c->name = xstrdup(name);
	c->uuid = xstrdup(uuid);
	c->memory_static_max = c->memory_target = memory;
	c->vcpus = 1;
	c->vcpus_max = 2;
	c->ndisks = 1;
	c->disks = xcalloc(1, sizeof(*c->disks));
	c->disks[0].vdev = xstrdup("xvda");
	c->disks[0].target = xstrdup("/var/lib/xcon/disk0.img");
	c->disks[0].mode = HV_DISK_RW;
	c->disks[0].bootable = true;
	c->nvifs = 1;
	c->vifs = xcalloc(1, sizeof(*c->vifs));
	c->vifs[0].devid = xstrdup("0");
	c->vifs[0].mac = xstrdup("00:16:3E:12:34:56");
	c->vifs[0].bridge = xstrdup("xenbr0");
	c->nxenstore = 1;
	c->xenstore = xcalloc(1, sizeof(*c->xenstore));
	c->xenstore[0].key = xstrdup("vm-data/greeting");
	c->xenstore[0].value = xstrdup("hello from xcon");
	return c;
}

static void freecfg(struct hv_domain_config *c)
{
	hv_domain_config_free(c);
	free(c);
}

static uint32_t create(struct hv *hv, const char *name, uint64_t memory)
{
	struct hv_domain_config *c = mkcfg(name, memory);
	struct xc_error err = XC_ERROR_INIT;
	uint32_t domid = 0;
	int rc = hv_domain_create(hv, c, false, &domid, &err);
	if (rc)
		fail_msg("create %s: %s %s", name, xc_error_code_name(err.code), err.nparams ? err.params[0] : "");
	xc_error_clear(&err);
	freecfg(c);
	return domid;
}

static struct hv_domain_info find_dom(struct hv *hv, uint32_t domid, bool *found)
{
	struct hv_domain_info *v = NULL, r;
	unsigned n = 0;
	struct xc_error err = XC_ERROR_INIT;
	memset(&r, 0, sizeof(r));
	*found = false;
	assert_int_equal(hv_domain_list(hv, &v, &n, &err), 0);
	for (unsigned i = 0; i < n; i++)
		if (v[i].domid == domid) {
			r = v[i];
			*found = true;
		}
	free(v);
	return r;
}

static uint64_t host_free(struct hv *hv)
{
	struct hv_host_info hi;
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(hv_host_info(hv, &hi, &err), 0);
	uint64_t f = hi.memory_free;
	hv_host_info_free(&hi);
	return f;
}

static void assert_error(struct xc_error *err, enum xc_err code, const char *param0)
{
	if (err->code != code)
		fail_msg("expected %s, got %s %s", xc_error_code_name(code), xc_error_code_name(err->code),
			 err->nparams ? err->params[0] : "");
	if (param0) {
		assert_true(err->nparams > 0);
		if (!strstr(err->params[0], param0))
			fail_msg("expected %s in \"%s\"", param0, err->params[0]);
	}
	xc_error_clear(err);
}

/* ---- console ---- */

struct con {
	int fd;
	char buf[256 * 1024];
	size_t len;
};

static void con_open(struct hv *hv, uint32_t domid, struct con *c)
{
	char *path = NULL;
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(hv_console_pty(hv, domid, &path, &err), 0);
	assert_non_null(strstr(path, "/dev/pts/"));
	c->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	assert_true(c->fd >= 0);
	c->len = 0;
	free(path);
}

static void con_close(struct con *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Reads until needle shows up; consumes up to its end.  False on EOF or timeout. */
static bool con_expect(struct con *c, const char *needle)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		c->buf[c->len] = '\0';
		char *hit = strstr(c->buf, needle);
		if (hit) {
			size_t used = (size_t)(hit - c->buf) + strlen(needle);
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			return true;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = WAIT_MS - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return false;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		if (c->len > sizeof(c->buf) - 4097) {
			memmove(c->buf, c->buf + sizeof(c->buf) / 2, c->len - sizeof(c->buf) / 2);
			c->len -= sizeof(c->buf) / 2;
		}
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r > 0)
			c->len += (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EINTR))
			return false;
	}
}

/* True once the pty reports end of file or a hang-up. */
static bool con_eof(struct con *c)
{
	for (int i = 0; i < 1000; i++) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, WAIT_MS) <= 0)
			return false;
		char b[4096];
		ssize_t r = read(c->fd, b, sizeof(b));
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

static void con_send(struct con *c, const char *s)
{
	size_t n = strlen(s);
	while (n) {
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		assert_true(poll(&p, 1, WAIT_MS) > 0);
		ssize_t w = write(c->fd, s, n);
		if (w > 0) {
			s += w;
			n -= (size_t)w;
		}
	}
}

static void con_login(struct con *c, const char *name)
{
	char want[128];
	snprintf(want, sizeof(want), "%s login: ", name);
	assert_true(con_expect(c, want));
	con_send(c, "root\r");
	assert_true(con_expect(c, "Password: "));
	con_send(c, "secret\r");
	snprintf(want, sizeof(want), "root@%s:~# ", name);
	assert_true(con_expect(c, want));
}

/* Runs a command and returns (in out) what it printed before the next prompt. */
static void con_run(struct con *c, const char *name, const char *cmd, char *out, size_t n)
{
	char line[512], prompt[128];
	snprintf(line, sizeof(line), "%s\r", cmd);
	snprintf(prompt, sizeof(prompt), "root@%s:~# ", name);
	con_send(c, line);
	assert_true(con_expect(c, cmd));
	c->buf[c->len] = '\0';
	for (int tries = 0; !strstr(c->buf, prompt) && tries < 1000; tries++) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		assert_true(poll(&p, 1, WAIT_MS) > 0);
		ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r > 0)
			c->len += (size_t)r;
		c->buf[c->len] = '\0';
	}
	char *end = strstr(c->buf, prompt);
	assert_non_null(end);
	size_t len = (size_t)(end - c->buf);
	snprintf(out, n, "%.*s", (int)len, c->buf);
	size_t used = len + strlen(prompt);
	memmove(c->buf, c->buf + used, c->len - used);
	c->len -= used;
}

/* ---- host facts ---- */

static bool sys_line(const char *path, char *out, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fgets(out, (int)n, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return ok;
}

static void cpuinfo_first(const char *key, char *out, size_t n, unsigned *count)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	out[0] = '\0';
	*count = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "processor", 9) == 0)
			(*count)++;
		if (!out[0] && strncmp(line, key, strlen(key)) == 0 && strchr(line, ':')) {
			char *v = strchr(line, ':') + 1;
			while (*v == ' ')
				v++;
			v[strcspn(v, "\n")] = '\0';
			snprintf(out, n, "%s", v);
		}
	}
	if (f)
		fclose(f);
}

static void test_host_facts(void **state)
{
	struct hv *hv = open_sim(0, "0", NULL);
	struct hv_host_info hi;
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(hv_host_info(hv, &hi, &err), 0);

	char host[256];
	gethostname(host, sizeof(host));
	assert_string_equal(hi.hostname, host);
	struct utsname u;
	uname(&u);
	assert_string_equal(hi.linux_version, u.release);
	assert_string_equal(hi.xen_version, "4.17.0");
	assert_string_equal(hi.sched_policy, "credit2");
	assert_string_equal(hi.capabilities,
			    "xen-3.0-x86_64 xen-3.0-x86_32p hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
	if (hi.address[0]) {
		unsigned a, b, c, d;
		assert_int_equal(sscanf(hi.address, "%u.%u.%u.%u", &a, &b, &c, &d), 4);
		assert_int_not_equal(a, 127);
	}

	char vendor[64], model[128];
	unsigned ncpu;
	cpuinfo_first("vendor_id", vendor, sizeof(vendor), &ncpu);
	cpuinfo_first("model name", model, sizeof(model), &ncpu);
	assert_int_equal(hi.ncpus, ncpu);
	assert_string_equal(hi.cpus[0].vendor, vendor);
	assert_string_equal(hi.cpus[0].modelname, model);

	char line[256];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f) && sscanf(line, "MemTotal: %llu kB", &kb) != 1)
		;
	if (f)
		fclose(f);
	assert_true(hi.memory_total == kb * 1024);
	assert_true(hi.memory_free < hi.memory_total);
	assert_true(hi.memory_free > hi.memory_total / 2);

	/* Every Ethernet device but lo, with its MAC, mtu and physical flag. */
	unsigned expect = 0;
	DIR *dir = opendir("/sys/class/net");
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char p[512], type[16], mac[32], mtu[16];
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "lo"))
			continue;
		snprintf(p, sizeof(p), "/sys/class/net/%s/type", e->d_name);
		if (!sys_line(p, type, sizeof(type)) || strcmp(type, "1") != 0)
			continue;
		expect++;
		snprintf(p, sizeof(p), "/sys/class/net/%s/address", e->d_name);
		assert_true(sys_line(p, mac, sizeof(mac)));
		snprintf(p, sizeof(p), "/sys/class/net/%s/mtu", e->d_name);
		assert_true(sys_line(p, mtu, sizeof(mtu)));
		snprintf(p, sizeof(p), "/sys/class/net/%s/device", e->d_name);
		bool physical = access(p, F_OK) == 0;
		bool seen = false;
		for (unsigned i = 0; i < hi.nnics; i++) {
			if (strcmp(hi.nics[i].device, e->d_name) != 0)
				continue;
			seen = true;
			assert_true(strcasecmp(hi.nics[i].mac, mac) == 0);
			assert_int_equal(hi.nics[i].mtu, strtoul(mtu, NULL, 10));
			assert_int_equal(hi.nics[i].physical, physical);
		}
		assert_true(seen);
	}
	if (dir)
		closedir(dir);
	assert_int_equal(hi.nnics, expect);

	/* Host 1 of a pool: its own name and MACs, the same NICs. */
	struct hv *hv1 = open_sim(1, "0", NULL);
	struct hv_host_info h1;
	assert_int_equal(hv_host_info(hv1, &h1, &err), 0);
	char want[300];
	snprintf(want, sizeof(want), "%s-sim1", host);
	assert_string_equal(h1.hostname, want);
	assert_int_equal(h1.nnics, hi.nnics);
	for (unsigned i = 0; i < h1.nnics; i++) {
		assert_string_equal(h1.nics[i].device, hi.nics[i].device);
		assert_string_not_equal(h1.nics[i].mac, hi.nics[i].mac);
		unsigned b0;
		assert_int_equal(sscanf(h1.nics[i].mac, "%2x", &b0), 1);
		assert_true(b0 & 2);
		assert_false(b0 & 1);
	}
	hv_host_info_free(&h1);
	hv_host_info_free(&hi);
	hv_close(hv1);
	hv_close(hv);
}

/* ---- domains ---- */

static void test_domids_and_list(void **state)
{
	struct hv *hv = open_sim(0, "0", "8G");
	assert_int_equal(create(hv, "one", 256 * MIB), 1);
	assert_int_equal(create(hv, "two", 256 * MIB), 2);
	assert_int_equal(create(hv, "three", 256 * MIB), 3);
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(hv_domain_destroy(hv, 2, &err), 0);
	assert_int_equal(create(hv, "four", 256 * MIB), 4);

	struct hv_domain_info *v;
	unsigned n;
	assert_int_equal(hv_domain_list(hv, &v, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[0].domid, 0);
	assert_string_equal(v[0].uuid, "00000000-0000-0000-0000-000000000000");
	assert_int_equal(v[1].domid, 1);
	assert_int_equal(v[2].domid, 3);
	assert_int_equal(v[3].domid, 4);
	for (unsigned i = 1; i < n; i++) {
		assert_int_equal(v[i].state, HV_STATE_RUNNING);
		assert_true(v[i].memory == 256 * MIB);
		assert_int_equal(v[i].vcpus, 1);
		assert_true(v[i].start_time > 0);
		assert_true(uuid_is_valid(v[i].uuid));
	}
	free(v);

	/* A domain that is gone, and the control domain, cannot be touched. */
	assert_int_equal(hv_domain_pause(hv, 2, &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, "does not exist");
	assert_int_equal(hv_domain_destroy(hv, 0, &err), -1);
	assert_error(&err, XC_ERR_OPERATION_NOT_ALLOWED, NULL);
	/* The same VM twice is refused. */
	struct hv_domain_config *c = mkcfg("dup", 64 * MIB);
	uint32_t id;
	assert_int_equal(hv_domain_create(hv, c, false, &id, &err), 0);
	assert_int_equal(hv_domain_create(hv, c, false, &id, &err), -1);
	assert_error(&err, XC_ERR_DOMAIN_EXISTS, c->uuid);
	freecfg(c);
	hv_close(hv);
}

static void test_memory_exhaustion(void **state)
{
	struct hv *hv = open_sim(0, "0", "4G");
	uint64_t free0 = host_free(hv);
	assert_true(free0 > 2 * GIB && free0 < 4 * GIB);

	uint32_t a = create(hv, "big", 2 * GIB);
	assert_true(host_free(hv) == free0 - 2 * GIB);

	uint64_t avail = free0 - 2 * GIB;
	struct hv_domain_config *c = mkcfg("toobig", avail + MIB);
	struct xc_error err = XC_ERROR_INIT;
	uint32_t id;
	assert_int_equal(hv_domain_create(hv, c, false, &id, &err), -1);
	assert_int_equal(err.code, XC_ERR_HOST_NOT_ENOUGH_FREE_MEMORY);
	assert_int_equal(err.nparams, 2);
	char want[32];
	snprintf(want, sizeof(want), "%llu", (unsigned long long)(avail + MIB));
	assert_string_equal(err.params[0], want);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)avail);
	assert_string_equal(err.params[1], want);
	xc_error_clear(&err);
	freecfg(c);

	/* Memory targets: within static-max, and only as far as free memory goes. */
	assert_int_equal(hv_set_memory_target(hv, a, 3 * GIB, &err), -1);
	assert_error(&err, XC_ERR_INVALID_VALUE, "memory_target");
	assert_int_equal(hv_set_memory_target(hv, a, GIB, &err), 0);
	assert_true(host_free(hv) == free0 - GIB);

	assert_int_equal(hv_domain_destroy(hv, a, &err), 0);
	assert_true(host_free(hv) == free0);
	hv_close(hv);
}

static void test_pause_unpause(void **state)
{
	struct hv *hv = open_sim(0, "0", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t d = create(hv, "pausable", 128 * MIB);
	bool found;
	assert_int_equal(hv_domain_pause(hv, d, &err), 0);
	assert_int_equal(find_dom(hv, d, &found).state, HV_STATE_PAUSED);
	double t1 = find_dom(hv, d, &found).cpu_time;
	assert_int_equal(hv_domain_pause(hv, d, &err), 0);
	assert_true(find_dom(hv, d, &found).cpu_time == t1);
	assert_int_equal(hv_domain_unpause(hv, d, &err), 0);
	assert_int_equal(find_dom(hv, d, &found).state, HV_STATE_RUNNING);
	assert_true(find_dom(hv, d, &found).cpu_time >= t1);

	/* Created paused: no boot until it runs. */
	struct hv_domain_config *c = mkcfg("late", 128 * MIB);
	uint32_t p;
	assert_int_equal(hv_domain_create(hv, c, true, &p, &err), 0);
	freecfg(c);
	assert_int_equal(find_dom(hv, p, &found).state, HV_STATE_PAUSED);
	char *dump = hv_sim_debug_dump(hv);
	assert_non_null(strstr(dump, "guest=off"));
	free(dump);
	struct con con;
	con_open(hv, p, &con);
	assert_int_equal(hv_domain_unpause(hv, p, &err), 0);
	assert_true(con_expect(&con, "late login: "));
	con_close(&con);

	/* A halted domain can be neither paused nor unpaused. */
	assert_int_equal(hv_send_sysrq(hv, d, 'o', &err), 0);
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_POWEROFF));
	assert_int_equal(hv_domain_unpause(hv, d, &err), -1);
	assert_error(&err, XC_ERR_VM_BAD_POWER_STATE, NULL);
	assert_int_equal(hv_domain_pause(hv, d, &err), -1);
	assert_error(&err, XC_ERR_VM_BAD_POWER_STATE, NULL);
	hv_close(hv);
}

static void test_console_login(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	uint32_t d = create(hv, "web01", 512 * MIB);
	struct con con;
	con_open(hv, d, &con);
	assert_true(con_expect(&con, "Linux version"));
	assert_true(con_expect(&con, "Hostname set to <web01>"));
	con_login(&con, "web01");

	/* Each command, and what its output must contain. */
	static const struct { const char *cmd, *want; } runs[] = {
		{ "xenstore-read vm-data/greeting", "hello from xcon" },
		{ "xenstore-read vm-data/missing", "couldn't read path" },
		{ "uname -a", "Linux web01 " },
		{ "hostname", "web01" },
		{ "cat /proc/meminfo", "524288 kB" },
		{ "echo 'hello   world'", "hello   world" },
		{ "whoami", "root" },
		{ "uptime", "load average" },
		{ "ls /", "boot" },
		{ "help", "xenstore-read" },
		{ "frobnicate", "command not found" },
	};
	char out[8192];
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		con_run(&con, "web01", runs[i].cmd, out, sizeof(out));
		if (!strstr(out, runs[i].want))
			fail_msg("%s: no \"%s\" in: %s", runs[i].cmd, runs[i].want, out);
	}
	con_send(&con, "exit\r");
	assert_true(con_expect(&con, "web01 login: "));
	con_close(&con);

	/* The engine can read what the toolstack and the guest's agent wrote. */
	struct xc_error err = XC_ERROR_INIT;
	char *v = NULL;
	assert_int_equal(hv_xenstore_read(hv, d, "vm-data/greeting", &v, &err), 0);
	assert_string_equal(v, "hello from xcon");
	free(v);
	assert_int_equal(hv_xenstore_read(hv, d, "data/os_name", &v, &err), 0);
	assert_non_null(v);
	assert_non_null(strstr(v, "Debian"));
	free(v);
	assert_int_equal(hv_xenstore_read(hv, d, "no/such/key", &v, &err), 0);
	assert_null(v);
	hv_close(hv);
}

static void test_guest_poweroff(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	uint32_t d = create(hv, "halter", 256 * MIB);
	uint32_t r = create(hv, "rebooter", 256 * MIB);
	struct con con, con2;
	con_open(hv, d, &con);
	con_login(&con, "halter");
	con_send(&con, "poweroff\r");
	assert_true(con_expect(&con, "Power down"));
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_POWEROFF));
	bool found;
	struct hv_domain_info i = find_dom(hv, d, &found);
	assert_true(found);
	assert_int_equal(i.state, HV_STATE_SHUTDOWN);
	assert_int_equal(i.reason, HV_SHUTDOWN_POWEROFF);
	con_close(&con);

	con_open(hv, r, &con2);
	con_login(&con2, "rebooter");
	con_send(&con2, "reboot\r");
	assert_true(con_expect(&con2, "Restarting system"));
	assert_true(wait_event(r, HV_STATE_SHUTDOWN, HV_SHUTDOWN_REBOOT));
	con_close(&con2);
	hv_close(hv);
}

static void test_shutdown_request(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t d = create(hv, "asked", 256 * MIB);
	uint32_t e = create(hv, "asked2", 256 * MIB);
	struct con con;
	con_open(hv, d, &con);
	assert_true(con_expect(&con, "asked login: "));
	assert_int_equal(hv_domain_shutdown(hv, d, HV_SHUTDOWN_REBOOT, &err), 0);
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_REBOOT));
	assert_true(con_expect(&con, "Restarting system"));
	bool found;
	assert_int_equal(find_dom(hv, d, &found).reason, HV_SHUTDOWN_REBOOT);
	assert_int_equal(hv_domain_shutdown(hv, d, HV_SHUTDOWN_POWEROFF, &err), -1);
	assert_error(&err, XC_ERR_VM_BAD_POWER_STATE, NULL);

	/* Destroying the domain closes its console. */
	assert_int_equal(hv_domain_destroy(hv, d, &err), 0);
	assert_true(con_eof(&con));
	con_close(&con);
	find_dom(hv, d, &found);
	assert_false(found);

	/* A request to a paused domain waits for it to run. */
	assert_int_equal(hv_domain_pause(hv, e, &err), 0);
	assert_int_equal(hv_domain_shutdown(hv, e, HV_SHUTDOWN_POWEROFF, &err), 0);
	assert_int_equal(find_dom(hv, e, &found).state, HV_STATE_PAUSED);
	assert_int_equal(hv_domain_unpause(hv, e, &err), 0);
	assert_true(wait_event(e, HV_STATE_SHUTDOWN, HV_SHUTDOWN_POWEROFF));
	assert_int_equal(hv_domain_shutdown(hv, e, HV_SHUTDOWN_CRASH, &err), -1);
	assert_error(&err, XC_ERR_INVALID_VALUE, NULL);
	hv_close(hv);
}

static void test_sysrq_crash(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t a = create(hv, "crashy", 256 * MIB);
	uint32_t b = create(hv, "typist", 256 * MIB);
	struct con con;
	con_open(hv, a, &con);
	assert_true(con_expect(&con, "crashy login: "));
	assert_int_equal(hv_send_sysrq(hv, a, 'c', &err), 0);
	assert_true(wait_event(a, HV_STATE_SHUTDOWN, HV_SHUTDOWN_CRASH));
	assert_true(con_expect(&con, "Kernel panic"));
	con_close(&con);

	con_open(hv, b, &con);
	con_login(&con, "typist");
	con_send(&con, "echo c > /proc/sysrq-trigger\r");
	assert_true(wait_event(b, HV_STATE_SHUTDOWN, HV_SHUTDOWN_CRASH));
	assert_true(con_expect(&con, "sysrq triggered crash"));
	con_close(&con);
	hv_close(hv);
}

static void test_suspend_restore(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	struct hv_domain_config *c = mkcfg("sleeper", 256 * MIB);
	uint32_t d;
	assert_int_equal(hv_domain_create(hv, c, false, &d, &err), 0);
	uint64_t free0 = host_free(hv) + 256 * MIB;
	struct con con;
	con_open(hv, d, &con);
	con_login(&con, "sleeper");

	char path[128];
	snprintf(path, sizeof(path), "%s/sleeper.suspend", state_dir);
	assert_int_equal(hv_domain_suspend(hv, d, path, &err), 0);
	bool found;
	find_dom(hv, d, &found);
	assert_false(found);
	assert_true(host_free(hv) == free0);
	assert_true(con_eof(&con));
	con_close(&con);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size == 4096 + 256 * MIB);
	assert_true((uint64_t)st.st_blocks * 512 < 64 * 1024); /* sparse */
	FILE *f = fopen(path, "r");
	char magic[64];
	assert_non_null(fgets(magic, sizeof(magic), f));
	fclose(f);
	assert_string_equal(magic, "XCON-SIM-SUSPEND 1\n");

	uint32_t d2;
	assert_int_equal(hv_domain_restore(hv, c, path, false, &d2, &err), 0);
	assert_true(d2 > d);
	struct hv_domain_info i = find_dom(hv, d2, &found);
	assert_string_equal(i.uuid, c->uuid);
	assert_int_equal(i.state, HV_STATE_RUNNING);
	assert_true(i.memory == 256 * MIB);
	con_open(hv, d2, &con);
	assert_true(con_expect(&con, "root@sleeper:~# "));
	char out[4096];
	con_run(&con, "sleeper", "xenstore-read vm-data/greeting", out, sizeof(out));
	assert_non_null(strstr(out, "hello from xcon"));
	con_close(&con);

	/* The same VM cannot be restored twice at once. */
	assert_int_equal(hv_domain_restore(hv, c, path, false, &d2, &err), -1);
	assert_error(&err, XC_ERR_DOMAIN_EXISTS, NULL);
	freecfg(c);
	unlink(path);
	hv_close(hv);
}

static void test_bad_images(void **state)
{
	struct hv *hv = open_sim(0, "0", "8G");
	struct xc_error err = XC_ERROR_INIT;
	struct hv_domain_config *c = mkcfg("ghost", 128 * MIB);
	uint32_t d;
	char path[128];

	snprintf(path, sizeof(path), "%s/missing.suspend", state_dir);
	assert_int_equal(hv_domain_restore(hv, c, path, false, &d, &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, path);

	snprintf(path, sizeof(path), "%s/garbage.suspend", state_dir);
	FILE *f = fopen(path, "w");
	fputs("this is not an image\n", f);
	for (int i = 0; i < 500; i++)
		fputs("garbage garbage\n", f);
	fclose(f);
	assert_int_equal(hv_domain_restore(hv, c, path, false, &d, &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, "bad magic");
	unlink(path);

	/* A good header with the memory cut off. */
	uint32_t live = create(hv, "ghost2", 128 * MIB);
	snprintf(path, sizeof(path), "%s/cut.suspend", state_dir);
	assert_int_equal(hv_domain_suspend(hv, live, path, &err), 0);
	assert_int_equal(truncate(path, 4096 + MIB), 0);
	assert_int_equal(hv_domain_restore(hv, c, path, false, &d, &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, "truncated");
	unlink(path);

	/* Suspending into a directory that is not there leaves the domain running. */
	live = create(hv, "ghost3", 128 * MIB);
	assert_int_equal(hv_domain_suspend(hv, live, "/nonexistent/dir/x.suspend", &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, "/nonexistent/dir/x.suspend");
	bool found;
	assert_int_equal(find_dom(hv, live, &found).state, HV_STATE_RUNNING);
	freecfg(c);
	hv_close(hv);
}

static void test_devices(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t d = create(hv, "devs", 256 * MIB);
	struct con con;
	con_open(hv, d, &con);
	con_login(&con, "devs");

	struct hv_disk disk = { .vdev = "xvda", .target = "/tmp/other.img", .mode = HV_DISK_RW };
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_ATTACHED, "xvda");
	disk.vdev = "0";   /* the same slot by number */
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_ATTACHED, "0");
	disk.vdev = "bogus";
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), -1);
	assert_error(&err, XC_ERR_INVALID_DEVICE, "bogus");
	disk.vdev = "xvdb";
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), 0);
	assert_true(con_expect(&con, "blkfront: xvdb"));
	assert_int_equal(hv_disk_remove(hv, d, "xvdz", &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_DETACHED, "xvdz");
	assert_int_equal(hv_disk_remove(hv, d, "xvdb", &err), 0);
	assert_true(con_expect(&con, "xvdb: detached"));
	assert_int_equal(hv_disk_remove(hv, d, "xvdb", &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_DETACHED, "xvdb");

	/* CD drives: read-only, media can change; disks cannot. */
	struct hv_disk cd = { .vdev = "xvdd", .target = NULL, .mode = HV_DISK_RW, .cdrom = true };
	assert_int_equal(hv_disk_add(hv, d, &cd, &err), -1);
	assert_error(&err, XC_ERR_VBD_CDS_MUST_BE_READONLY, NULL);
	cd.mode = HV_DISK_RO;
	assert_int_equal(hv_disk_add(hv, d, &cd, &err), 0);
	assert_int_equal(hv_disk_change_media(hv, d, "xvdd", "/isos/debian.iso", &err), 0);
	assert_true(con_expect(&con, "xvdd: media changed"));
	assert_int_equal(hv_disk_change_media(hv, d, "xvda", "/isos/debian.iso", &err), -1);
	assert_error(&err, XC_ERR_VBD_NOT_REMOVABLE_MEDIA, "xvda");
	char *dump = hv_sim_debug_dump(hv);
	assert_non_null(strstr(dump, "disk xvdd target=/isos/debian.iso mode=ro cdrom=1"));
	free(dump);

	/* VIFs: duplicates, bad settings, and settings the guest can see. */
	struct hv_kv bad[] = { { "ethtool-tx", "maybe" } };
	struct hv_vif vif = { .devid = "0", .mac = "00:16:3e:00:00:01", .bridge = "xenbr0" };
	assert_int_equal(hv_vif_add(hv, d, &vif, &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_ATTACHED, "0");
	vif.devid = "1";
	vif.settings = bad;
	vif.nsettings = 1;
	assert_int_equal(hv_vif_add(hv, d, &vif, &err), -1);
	assert_error(&err, XC_ERR_ETHTOOL_SETTING_INVALID, "ethtool-tx");
	vif.mac = "zz:16:3e:00:00:01";
	vif.nsettings = 0;
	assert_int_equal(hv_vif_add(hv, d, &vif, &err), -1);
	assert_error(&err, XC_ERR_MAC_INVALID, NULL);
	struct hv_kv good[] = { { "ethtool-tx", "off" }, { "promiscuous", "on" }, { "static-ip", "10.1.2.3" } };
	vif.mac = "00:16:3E:00:00:01";
	vif.mtu = 9000;
	vif.settings = good;
	vif.nsettings = 3;
	assert_int_equal(hv_vif_add(hv, d, &vif, &err), 0);
	assert_true(con_expect(&con, "eth1: attached"));
	char out[8192];
	con_run(&con, "devs", "ip link", out, sizeof(out));
	assert_non_null(strstr(out, "eth1: <BROADCAST,MULTICAST,PROMISC,UP,LOWER_UP> mtu 9000"));
	assert_non_null(strstr(out, "00:16:3e:00:00:01"));
	assert_non_null(strstr(out, "eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500"));
	con_run(&con, "devs", "ethtool -k eth1", out, sizeof(out));
	assert_non_null(strstr(out, "tx-checksumming: off"));
	assert_non_null(strstr(out, "rx-checksumming: on"));
	con_run(&con, "devs", "ip -d link show eth1", out, sizeof(out));
	assert_non_null(strstr(out, "static-ip=10.1.2.3"));
	dump = hv_sim_debug_dump(hv);
	assert_non_null(strstr(dump, "vif 1 mac=00:16:3e:00:00:01 bridge=xenbr0 mtu=9000 ethtool-tx=off promiscuous=on"));
	free(dump);
	assert_int_equal(hv_vif_remove(hv, d, "7", &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_DETACHED, "7");
	assert_int_equal(hv_vif_remove(hv, d, "1", &err), 0);
	assert_true(con_expect(&con, "eth1: detached"));
	con_close(&con);

	/* Not on a domain that has shut down. */
	assert_int_equal(hv_send_sysrq(hv, d, 'c', &err), 0);
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_CRASH));
	disk.vdev = "xvdc";
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), -1);
	assert_error(&err, XC_ERR_VM_BAD_POWER_STATE, NULL);
	hv_close(hv);
}

static void test_migrate(void **state)
{
	evlog_reset();
	struct hv *a = open_sim(0, "0.01", "4G");
	struct hv *b = open_sim(1, "0.01", "4G");
	struct xc_error err = XC_ERROR_INIT;
	uint64_t fa = host_free(a), fb = host_free(b);
	uint32_t d = create(a, "mover", GIB);
	assert_int_equal(create(b, "resident", 256 * MIB), 1);
	struct con con;
	con_open(a, d, &con);
	con_login(&con, "mover");

	char *pa = NULL, *pb = NULL;
	assert_int_equal(hv_console_pty(a, d, &pa, &err), 0);
	uint32_t nd = 0;
	assert_int_equal(hv_domain_migrate(a, d, b, &nd, &err), 0);
	assert_int_equal(nd, 2);
	bool found;
	find_dom(a, d, &found);
	assert_false(found);
	struct hv_domain_info i = find_dom(b, nd, &found);
	assert_true(found);
	assert_int_equal(i.state, HV_STATE_RUNNING);
	assert_true(host_free(a) == fa);
	assert_true(host_free(b) == fb - GIB - 256 * MIB);
	assert_int_equal(hv_console_pty(b, nd, &pb, &err), 0);
	assert_string_equal(pa, pb);
	free(pa);
	free(pb);

	/* Same pty, same guest, still logged in. */
	char out[4096];
	con_run(&con, "mover", "hostname", out, sizeof(out));
	assert_non_null(strstr(out, "mover"));

	/* Back again fails cleanly when the destination is full. */
	uint32_t hog = create(a, "hog", host_free(a) - 512 * MIB);
	assert_int_equal(hv_domain_migrate(b, nd, a, &d, &err), -1);
	assert_int_equal(err.code, XC_ERR_HOST_NOT_ENOUGH_FREE_MEMORY);
	xc_error_clear(&err);
	assert_int_equal(find_dom(b, nd, &found).state, HV_STATE_RUNNING);
	con_run(&con, "mover", "whoami", out, sizeof(out));
	assert_int_equal(hv_domain_destroy(a, hog, &err), 0);
	assert_int_equal(hv_domain_migrate(b, nd, a, &d, &err), 0);
	con_run(&con, "mover", "uname -n", out, sizeof(out));
	assert_non_null(strstr(out, "mover"));

	/* The guest's own requests still reach the right host. */
	con_send(&con, "poweroff\r");
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_POWEROFF));
	assert_int_equal(find_dom(a, d, &found).state, HV_STATE_SHUTDOWN);
	con_close(&con);
	hv_close(b);
	hv_close(a);
}

static void test_fault_injection(void **state)
{
	setenv("XCON_SIM_FAIL", "domain_create:2,disk_add:1", 1);
	struct hv *hv = open_sim(0, "0", "8G");
	unsetenv("XCON_SIM_FAIL");
	struct xc_error err = XC_ERROR_INIT;
	struct hv_domain_config *c = mkcfg("f1", 64 * MIB);
	uint32_t d;
	assert_int_equal(hv_domain_create(hv, c, false, &d, &err), 0);
	freecfg(c);
	uint64_t free1 = host_free(hv);
	c = mkcfg("f2", 64 * MIB);
	assert_int_equal(hv_domain_create(hv, c, false, &d, &err), -1);
	assert_int_equal(err.code, XC_ERR_INTERNAL_ERROR);
	assert_string_equal(err.params[0], "simulated failure of domain_create");
	xc_error_clear(&err);
	assert_true(host_free(hv) == free1);
	assert_int_equal(hv_domain_create(hv, c, false, &d, &err), 0);
	assert_int_equal(d, 2);
	freecfg(c);
	struct hv_disk disk = { .vdev = "xvdb", .target = "/tmp/b.img", .mode = HV_DISK_RW };
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, "simulated failure of disk_add");
	assert_int_equal(hv_disk_add(hv, d, &disk, &err), 0);

	assert_int_equal(hv_sim_set_faults(hv, "domain_suspend:1", &err), 0);
	assert_int_equal(hv_domain_suspend(hv, d, "x.suspend", &err), -1);
	assert_error(&err, XC_ERR_INTERNAL_ERROR, "simulated failure of domain_suspend");
	bool found;
	assert_int_equal(find_dom(hv, d, &found).state, HV_STATE_RUNNING);
	assert_int_equal(hv_sim_set_faults(hv, "no_such_op:1", &err), -1);
	assert_error(&err, XC_ERR_INVALID_VALUE, "XCON_SIM_FAIL");
	hv_close(hv);

	/* A malformed plan fails the open. */
	setenv("XCON_SIM_FAIL", "domain_create:zero", 1);
	assert_null(hv_open("sim", NULL, 0, NULL, NULL, NULL, &err));
	assert_error(&err, XC_ERR_INVALID_VALUE, "XCON_SIM_FAIL");
	unsetenv("XCON_SIM_FAIL");
	setenv("XCON_SIM_TIME_SCALE", "fast", 1);
	assert_null(hv_open("sim", NULL, 0, NULL, NULL, NULL, &err));
	assert_error(&err, XC_ERR_INVALID_VALUE, "XCON_SIM_TIME_SCALE");
	assert_null(hv_open("xen", NULL, 0, NULL, NULL, NULL, &err));
	assert_error(&err, XC_ERR_NOT_IMPLEMENTED, "libxenlight backend");
	assert_null(hv_open("vmware", NULL, 0, NULL, NULL, NULL, &err));
	assert_error(&err, XC_ERR_INVALID_VALUE, "backend");
}

static void test_many_domains(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0", "64G");
	uint64_t free0 = host_free(hv);
	enum { N = 200 };
	uint32_t ids[N];
	for (unsigned i = 0; i < N; i++) {
		char name[32];
		snprintf(name, sizeof(name), "vm%03u", i);
		ids[i] = create(hv, name, 64 * MIB);
		assert_int_equal(ids[i], i + 1);
	}
	assert_true(host_free(hv) == free0 - N * 64 * MIB);
	struct hv_domain_info *v;
	unsigned n;
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(hv_domain_list(hv, &v, &n, &err), 0);
	assert_int_equal(n, N + 1);
	free(v);
	/* All of them boot (the last one is checked on its console). */
	struct con con;
	con_open(hv, ids[N - 1], &con);
	assert_true(con_expect(&con, "vm199 login: "));
	con_close(&con);
	/* Ask them all to stop, and every one reports. */
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(hv_domain_shutdown(hv, ids[i], HV_SHUTDOWN_POWEROFF, &err), 0);
	for (unsigned i = 0; i < N; i++)
		assert_true(wait_event(ids[i], HV_STATE_SHUTDOWN, HV_SHUTDOWN_POWEROFF));
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(hv_domain_destroy(hv, ids[i], &err), 0);
	assert_true(host_free(hv) == free0);
	hv_close(hv);
}

static void test_host_reboot(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t a = create(hv, "r1", 128 * MIB), b = create(hv, "r2", 128 * MIB);
	struct con con;
	con_open(hv, a, &con);
	assert_int_equal(hv_host_reboot(hv, &err), 0);
	assert_true(wait_event(a, HV_STATE_GONE, HV_SHUTDOWN_NONE));
	assert_true(wait_event(b, HV_STATE_GONE, HV_SHUTDOWN_NONE));
	assert_true(wait_event(0, HV_STATE_GONE, HV_SHUTDOWN_NONE));
	assert_true(con_eof(&con));
	con_close(&con);
	assert_true(wait_event(0, HV_STATE_RUNNING, HV_SHUTDOWN_NONE));
	assert_int_equal(create(hv, "after", 128 * MIB), 1);

	assert_int_equal(hv_host_shutdown(hv, &err), 0);
	assert_true(wait_count(HV_STATE_GONE, 5));
	uint32_t d;
	struct hv_domain_config *c = mkcfg("nohost", 64 * MIB);
	assert_int_equal(hv_domain_create(hv, c, false, &d, &err), -1);
	assert_error(&err, XC_ERR_HOST_OFFLINE, NULL);
	struct hv_host_info hi;
	assert_int_equal(hv_host_info(hv, &hi, &err), -1);
	assert_error(&err, XC_ERR_HOST_OFFLINE, NULL);
	evlog_reset();
	assert_int_equal(hv_sim_host_power_on(hv, &err), 0);
	assert_true(wait_event(0, HV_STATE_RUNNING, HV_SHUTDOWN_NONE));
	assert_int_equal(hv_domain_create(hv, c, false, &d, &err), 0);
	freecfg(c);
	hv_close(hv);
}

static void test_hostile_input(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0", "8G");
	uint32_t d = create(hv, "target", 128 * MIB);
	struct con con;
	con_open(hv, d, &con);
	con_login(&con, "target");
	/* 4 MiB of noise with no line end, escape sequences, control bytes
	 * and high bytes, written while nobody reads the output. */
	char *junk = xmalloc(4 * MIB + 1);
	for (size_t i = 0; i < 4 * MIB; i++)
		junk[i] = (char)(i % 7 == 0 ? 0x1b : i % 5 == 0 ? '[' : i % 11 == 0 ? 0xff : 'A' + i % 26);
	junk[4 * MIB] = '\0';
	for (size_t i = 0; i < 4 * MIB; i++)
		if (!junk[i] || junk[i] == '\r' || junk[i] == '\n' || junk[i] == 3 || junk[i] == 4 || junk[i] == 0x0c)
			junk[i] = 'x';
	size_t off = 0;
	struct xc_error err = XC_ERROR_INIT;
	while (off < 4 * MIB) {
		struct pollfd p = { .fd = con.fd, .events = POLLOUT | POLLIN };
		assert_true(poll(&p, 1, WAIT_MS) > 0);
		if (p.revents & POLLIN) {
			char sink[65536];
			(void)!read(con.fd, sink, sizeof(sink));
		}
		if (p.revents & POLLOUT) {
			ssize_t w = write(con.fd, junk + off, 4 * MIB - off);
			if (w > 0)
				off += (size_t)w;
		}
		/* The backend answers meanwhile. */
		bool found;
		assert_int_equal(find_dom(hv, d, &found).state, HV_STATE_RUNNING);
	}
	free(junk);
	/* Thousands of empty lines: output is bounded, nothing blocks. */
	char *lines = xmalloc(100001);
	memset(lines, '\r', 100000);
	lines[100000] = '\0';
	con_send(&con, lines);
	free(lines);
	con.len = 0;
	con_send(&con, "\003");
	char out[4096];
	con_run(&con, "target", "echo still here", out, sizeof(out));
	assert_non_null(strstr(out, "still here"));
	assert_int_equal(hv_domain_destroy(hv, d, &err), 0);
	con_close(&con);
	hv_close(hv);
}

/* A client that makes the console its controlling tty and exits hangs the
 * tty up; the console must come back for the next client. */
static void test_console_hangup(void **state)
{
	struct hv *hv = open_sim(0, "0", "8G");
	uint32_t d = create(hv, "hungup", 128 * MIB);
	char *path = NULL;
	struct xc_error err = XC_ERROR_INIT;
	assert_int_equal(hv_console_pty(hv, d, &path, &err), 0);
	for (int round = 0; round < 3; round++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			setsid();
			int fd = open(path, O_RDWR);   /* no O_NOCTTY: becomes our tty */
			_exit(fd >= 0 ? 0 : 1);
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	struct con con;
	con_open(hv, d, &con);
	con_send(&con, "\r");
	assert_true(con_expect(&con, "hungup login: "));
	con_close(&con);
	free(path);
	bool found;
	assert_int_equal(find_dom(hv, d, &found).state, HV_STATE_RUNNING);
	hv_close(hv);
}

struct migration {
	struct hv *from, *to;
	uint32_t domid, new_domid;
	int rc;
	struct xc_error err;
};

static void *migrate_main(void *arg)
{
	struct migration *m = arg;
	m->rc = hv_domain_migrate(m->from, m->domid, m->to, &m->new_domid, &m->err);
	return NULL;
}

/* A guest that crashes while its memory copies stays where it was. */
static void test_migrate_interrupted(void **state)
{
	evlog_reset();
	struct hv *a = open_sim(0, "0.1", "4G");   /* a 100 ms migration */
	struct hv *b = open_sim(1, "0.1", "4G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t d = create(a, "quitter", 256 * MIB);
	uint64_t fb = host_free(b);
	struct migration m = { a, b, d, 0, 0, XC_ERROR_INIT };
	pthread_t th;
	pthread_create(&th, NULL, migrate_main, &m);
	/* Once the migration is under way (the domain is busy), crash it. */
	for (;;) {
		char *dump = hv_sim_debug_dump(a);
		bool busy = strstr(dump, "busy=migrate") != NULL;
		free(dump);
		if (busy)
			break;
		sched_yield();
	}
	assert_int_equal(hv_send_sysrq(a, d, 'c', &err), 0);
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_CRASH));
	pthread_join(th, NULL);
	assert_int_equal(m.rc, -1);
	assert_int_equal(m.err.code, XC_ERR_VM_MIGRATE_FAILED);
	assert_int_equal(m.err.nparams, 4);
	xc_error_clear(&m.err);
	assert_true(host_free(b) == fb);
	bool found;
	assert_int_equal(find_dom(a, d, &found).state, HV_STATE_SHUTDOWN);
	hv_close(b);
	hv_close(a);
}

struct churn {
	struct hv *hv;
	unsigned id;
	int failures;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	for (unsigned i = 0; i < 25; i++) {
		char name[32];
		snprintf(name, sizeof(name), "t%u-%u", c->id, i);
		struct hv_domain_config *cfg = mkcfg(name, 32 * MIB);
		struct xc_error err = XC_ERROR_INIT;
		uint32_t d;
		if (hv_domain_create(c->hv, cfg, i % 2, &d, &err) != 0) {
			c->failures++;
		} else {
			hv_domain_unpause(c->hv, d, &err);
			hv_send_sysrq(c->hv, d, 'h', &err);
			if (i % 3 == 0)
				hv_domain_shutdown(c->hv, d, HV_SHUTDOWN_REBOOT, &err);
			if (hv_domain_destroy(c->hv, d, &err) != 0)
				c->failures++;
		}
		xc_error_clear(&err);
		freecfg(cfg);
	}
	return NULL;
}

static void test_concurrent_and_close(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "16G");
	uint64_t free0 = host_free(hv);
	enum { T = 8 };
	pthread_t th[T];
	struct churn c[T];
	for (unsigned i = 0; i < T; i++) {
		c[i] = (struct churn){ hv, i, 0 };
		pthread_create(&th[i], NULL, churn_main, &c[i]);
	}
	for (unsigned i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(c[i].failures, 0);
	}
	assert_true(host_free(hv) == free0);

	/* Closing with running guests, open consoles and queued events. */
	uint32_t a = create(hv, "left1", 64 * MIB);
	create(hv, "left2", 64 * MIB);
	struct con con;
	con_open(hv, a, &con);
	struct xc_error err = XC_ERROR_INIT;
	hv_domain_shutdown(hv, a, HV_SHUTDOWN_POWEROFF, &err);
	hv_close(hv);
	assert_true(con_eof(&con));
	con_close(&con);

	/* And closing from the event callback, on the backend's own thread. */
	hv = open_sim(0, "0", "8G");
	uint32_t d = create(hv, "last", 64 * MIB);
	pthread_mutex_lock(&evs.m);
	evs.close_on_event = hv;
	pthread_mutex_unlock(&evs.m);
	assert_int_equal(hv_send_sysrq(hv, d, 'c', &err), 0);
	assert_true(wait_event(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_CRASH));
	/* the loop thread finishes the close on its own; give it no handle */
}

static int setup(void **state)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/xcon-hv-sim.XXXXXX");
	assert_non_null(mkdtemp(state_dir));
	pthread_mutex_init(&evs.m, NULL);
	pthread_cond_init(&evs.c, NULL);
	unsetenv("XCON_SIM_FAIL");
	return 0;
}

static int teardown(void **state)
{
	DIR *dir = opendir(state_dir);
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", state_dir, e->d_name);
		unlink(p);
	}
	if (dir)
		closedir(dir);
	rmdir(state_dir);
	return 0;
}

/* ---- the hypervisor's ring, debug keys, triggers, online resize ---- */

static void test_dmesg_and_debug_keys(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t d = create(hv, "keys", 256 * MIB);
	char *text = NULL;
	assert_int_equal(hv_host_dmesg(hv, false, &text, &err), 0);
	assert_non_null(strstr(text, "(XEN) Xen version 4.17.0"));
	free(text);

	/* Output of known keys lands in the ring; unknown ones are ignored. */
	assert_int_equal(hv_host_debug_keys(hv, "qZ", &err), 0);
	assert_int_equal(hv_host_dmesg(hv, true, &text, &err), 0);
	assert_non_null(strstr(text, "(XEN) 'q' pressed -> dump domain (and guest debug) info"));
	char want[64];
	snprintf(want, sizeof(want), "General information for domain %u:", d);
	assert_non_null(strstr(text, want));
	assert_null(strstr(text, "'Z'"));
	free(text);
	/* Cleared by the read before. */
	assert_int_equal(hv_host_dmesg(hv, false, &text, &err), 0);
	assert_string_equal(text, "");
	free(text);

	assert_int_equal(hv_host_debug_keys(hv, "", &err), -1);
	assert_error(&err, XC_ERR_INVALID_VALUE, "keys");
	assert_int_equal(hv_host_debug_keys(hv, "q r", &err), -1);
	assert_error(&err, XC_ERR_INVALID_VALUE, "keys");

	/* Bounded: a flood keeps the newest lines, whole. */
	for (int i = 0; i < 400; i++)
		assert_int_equal(hv_host_debug_keys(hv, "h", &err), 0);
	assert_int_equal(hv_host_debug_keys(hv, "m", &err), 0);
	assert_int_equal(hv_host_dmesg(hv, false, &text, &err), 0);
	assert_true(strlen(text) <= 16 * 1024);
	assert_int_equal(strncmp(text, "(XEN) ", 6), 0);
	assert_non_null(strstr(text, "'m' pressed -> memory info"));
	free(text);
	hv_close(hv);
}

static void test_triggers(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t pv = create(hv, "pvtrig", 256 * MIB);
	struct hv_domain_config *c = mkcfg("hvmtrig", 256 * MIB);
	c->hvm = true;
	uint32_t hvm = 0;
	assert_int_equal(hv_domain_create(hv, c, false, &hvm, &err), 0);
	freecfg(c);

	assert_int_equal(hv_send_trigger(hv, pv, "bogus", &err), -1);
	assert_error(&err, XC_ERR_INVALID_VALUE, "trigger");
	assert_int_equal(hv_send_trigger(hv, pv, "power", &err), -1);
	assert_error(&err, XC_ERR_VM_HVM_REQUIRED, NULL);
	assert_int_equal(hv_send_trigger(hv, pv, "init", &err), -1);
	assert_error(&err, XC_ERR_VM_HVM_REQUIRED, NULL);

	struct con con;
	con_open(hv, pv, &con);
	con_login(&con, "pvtrig");
	assert_int_equal(hv_send_trigger(hv, pv, "nmi", &err), 0);
	assert_true(con_expect(&con, "NMI received"));
	con_close(&con);

	con_open(hv, hvm, &con);
	con_login(&con, "hvmtrig");
	/* Asleep the guest does not answer; s3resume wakes it. */
	assert_int_equal(hv_send_trigger(hv, hvm, "sleep", &err), 0);
	assert_true(con_expect(&con, "PM: suspend entry"));
	con_send(&con, "hostname\r");
	assert_int_equal(hv_send_trigger(hv, hvm, "s3resume", &err), 0);
	assert_true(con_expect(&con, "PM: suspend exit"));
	con_send(&con, "uname -n\r");
	assert_true(con_expect(&con, "hvmtrig"));
	/* The power button: a clean poweroff. */
	assert_int_equal(hv_send_trigger(hv, hvm, "power", &err), 0);
	assert_true(con_expect(&con, "Power Button"));
	assert_true(wait_event(hvm, HV_STATE_SHUTDOWN, HV_SHUTDOWN_POWEROFF));
	con_close(&con);
	assert_int_equal(hv_send_trigger(hv, hvm, "nmi", &err), -1);
	assert_error(&err, XC_ERR_VM_BAD_POWER_STATE, NULL);

	/* reset: the machine restarts under the guest. */
	assert_int_equal(hv_send_trigger(hv, pv, "reset", &err), 0);
	assert_true(wait_event(pv, HV_STATE_SHUTDOWN, HV_SHUTDOWN_REBOOT));
	hv_close(hv);
}

static void test_disk_resize(void **state)
{
	evlog_reset();
	struct hv *hv = open_sim(0, "0.01", "8G");
	struct xc_error err = XC_ERROR_INIT;
	uint32_t d = create(hv, "grow", 256 * MIB);
	struct con con;
	con_open(hv, d, &con);
	con_login(&con, "grow");
	assert_int_equal(hv_disk_resize(hv, d, "xvda", 2 * GIB, &err), 0);
	assert_true(con_expect(&con, "xvda: detected capacity change from 0 to 4194304"));
	assert_int_equal(hv_disk_resize(hv, d, "0", 4 * GIB, &err), 0);
	assert_true(con_expect(&con, "from 4194304 to 8388608"));
	assert_int_equal(hv_disk_resize(hv, d, "xvdq", GIB, &err), -1);
	assert_error(&err, XC_ERR_DEVICE_ALREADY_DETACHED, "xvdq");
	con_close(&con);
	hv_close(hv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_facts),
		cmocka_unit_test(test_domids_and_list),
		cmocka_unit_test(test_memory_exhaustion),
		cmocka_unit_test(test_pause_unpause),
		cmocka_unit_test(test_console_login),
		cmocka_unit_test(test_guest_poweroff),
		cmocka_unit_test(test_shutdown_request),
		cmocka_unit_test(test_sysrq_crash),
		cmocka_unit_test(test_suspend_restore),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_fault_injection),
		cmocka_unit_test(test_many_domains),
		cmocka_unit_test(test_host_reboot),
		cmocka_unit_test(test_hostile_input),
		cmocka_unit_test(test_console_hangup),
		cmocka_unit_test(test_migrate_interrupted),
		cmocka_unit_test(test_concurrent_and_close),
		cmocka_unit_test(test_dmesg_and_debug_keys),
		cmocka_unit_test(test_triggers),
		cmocka_unit_test(test_disk_resize),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
