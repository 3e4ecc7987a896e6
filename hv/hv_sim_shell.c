/* The simulated guest's shell: a table of the few commands it answers.
 * Enough to log in and look around (help, uname, hostname, uptime, echo,
 * cat, ls, whoami, free, date), to see what the toolstack gave the guest
 * (xenstore-read/-ls/-write, ip link/addr, ethtool, lsblk, /proc/meminfo)
 * and to stop it (poweroff, halt, shutdown, reboot,
 * echo c > /proc/sysrq-trigger, exit/logout back to the login prompt). */
#include "hv_sim_priv.h"

#include "../util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARGS 16

typedef void (*shell_fn)(struct sim_dom *d, unsigned argc, char **argv, const char *redirect);

struct shell_cmd {
	const char *name;
	shell_fn fn;
	const char *help;
};

static void cmd_help(struct sim_dom *d, unsigned argc, char **argv, const char *redirect);

/* Splits a command line in place: blanks separate words, quotes group
 * them, "> file" (or ">file") names a redirection. */
static unsigned split(char *s, char **argv, char **redirect)
{
	unsigned argc = 0;
	bool want_redirect = false;
	char *p = s;
	*redirect = NULL;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (*p == '>') {
			p++;
			want_redirect = true;
			continue;
		}
		char *start = p, *out = p, quote = 0;
		while (*p && (quote || (*p != ' ' && *p != '\t' && *p != '>'))) {
			if (quote && *p == quote)
				quote = 0;
			else if (!quote && (*p == '\'' || *p == '"'))
				quote = *p;
			else
				*out++ = *p;
			p++;
		}
		char c = *p;
		if (c)
			p++;
		*out = '\0';
		if (want_redirect)
			*redirect = start;
		else if (argc < MAX_ARGS)
			argv[argc++] = start;
		want_redirect = c == '>';
	}
	return argc;
}

static void out(struct sim_dom *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct sim_dom *d, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	hv_sim_guest_puts(d, line);
	hv_sim_guest_puts(d, "\r\n");
}

static void cmd_uname(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	const char *opt = argc > 1 ? argv[1] : "-s";
	if (strcmp(opt, "-a") == 0)
		out(d, "Linux %s %s #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux",
		    d->g.host, hv_sim_guest_kernel);
	else if (strcmp(opt, "-r") == 0)
		out(d, "%s", hv_sim_guest_kernel);
	else if (strcmp(opt, "-n") == 0)
		out(d, "%s", d->g.host);
	else if (strcmp(opt, "-m") == 0)
		out(d, "x86_64");
	else
		out(d, "Linux");
}

static void cmd_hostname(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "%s", d->g.host);
}

static void fmt_uptime(double up, char *s, size_t n)
{
	unsigned long m = (unsigned long)up / 60, days = m / 1440;
	if (days)
		snprintf(s, n, "%lu day%s, %2lu:%02lu", days, days == 1 ? "" : "s", m % 1440 / 60, m % 60);
	else if (m >= 60)
		snprintf(s, n, "%2lu:%02lu", m / 60, m % 60);
	else
		snprintf(s, n, "%lu min", m);
}

static void cmd_uptime(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	char up[48], now[16];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(now, sizeof(now), "%H:%M:%S", &tm);
	fmt_uptime(hv_sim_guest_uptime(d), up, sizeof(up));
	out(d, " %s up %s,  1 user,  load average: 0.00, 0.01, 0.00", now, up);
}

static void cmd_date(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	char s[64];
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(s, sizeof(s), "%a %b %e %H:%M:%S %Z %Y", &tm);
	out(d, "%s", s);
}

static void cmd_echo(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	struct buf b = BUF_INIT;
	for (unsigned i = 1; i < argc; i++) {
		if (i > 1)
			buf_addc(&b, ' ');
		buf_adds(&b, argv[i]);
	}
	if (!redirect)
		out(d, "%s", b.data ? b.data : "");
	else if (strcmp(redirect, "/proc/sysrq-trigger") == 0 && b.len)
		hv_sim_guest_sysrq(d, b.data[0], true);
	buf_free(&b);
}

static void cmd_whoami(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "root");
}

static void cmd_id(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "uid=0(root) gid=0(root) groups=0(root)");
}

static void cmd_nproc(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "%u", d->vcpus);
}

static void cmd_exit(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "logout");
	hv_sim_guest_logout(d);
}

static void cmd_poweroff(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	hv_sim_guest_halt(d, HV_SHUTDOWN_POWEROFF);
}

static void cmd_reboot(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	hv_sim_guest_halt(d, HV_SHUTDOWN_REBOOT);
}

static void cmd_shutdown(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	bool reboot = false;
	for (unsigned i = 1; i < argc; i++)
		reboot |= strcmp(argv[i], "-r") == 0 || strcmp(argv[i], "--reboot") == 0;
	hv_sim_guest_halt(d, reboot ? HV_SHUTDOWN_REBOOT : HV_SHUTDOWN_POWEROFF);
}

static void cmd_clear(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	hv_sim_guest_puts(d, "\033[H\033[2J");
}

static void cmd_true(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
}

/* Files cat knows. */

static void file_meminfo(struct sim_dom *d)
{
	unsigned long long kb = (unsigned long long)(d->memory / 1024);
	out(d, "%-16s%8llu kB", "MemTotal:", kb);
	out(d, "%-16s%8llu kB", "MemFree:", kb * 7 / 10);
	out(d, "%-16s%8llu kB", "MemAvailable:", kb * 17 / 20);
	out(d, "%-16s%8llu kB", "Buffers:", kb / 50);
	out(d, "%-16s%8llu kB", "Cached:", kb / 10);
	out(d, "%-16s%8llu kB", "SwapCached:", 0ULL);
	out(d, "%-16s%8llu kB", "SwapTotal:", 0ULL);
	out(d, "%-16s%8llu kB", "SwapFree:", 0ULL);
}

static void file_cpuinfo(struct sim_dom *d)
{
	const struct hv_cpu *c = d->host->ncpus ? &d->host->cpus[0] : NULL;
	for (unsigned i = 0; i < d->vcpus; i++) {
		out(d, "processor\t: %u", i);
		out(d, "vendor_id\t: %s", c ? c->vendor : "unknown");
		out(d, "cpu family\t: %u", c ? c->family : 0);
		out(d, "model\t\t: %u", c ? c->model : 0);
		out(d, "model name\t: %s", c ? c->modelname : "unknown");
		out(d, "cpu MHz\t\t: %u.000", c ? c->speed_mhz : 0);
		out(d, "%s", "");
	}
}

static void file_version(struct sim_dom *d)
{
	out(d, "Linux version %s (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) "
	    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)", hv_sim_guest_kernel);
}

static void file_uptime(struct sim_dom *d)
{
	double up = hv_sim_guest_uptime(d);
	out(d, "%.2f %.2f", up, up * d->vcpus * 0.98);
}

static void file_hostname(struct sim_dom *d)
{
	out(d, "%s", d->g.host);
}

static void file_os_release(struct sim_dom *d)
{
	out(d, "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"");
	out(d, "NAME=\"Debian GNU/Linux\"");
	out(d, "VERSION_ID=\"12\"");
	out(d, "VERSION=\"12 (bookworm)\"");
	out(d, "ID=debian");
}

static const struct {
	const char *path;
	void (*fn)(struct sim_dom *d);
} files[] = {
	{ "/etc/hostname", file_hostname },
	{ "/etc/os-release", file_os_release },
	{ "/proc/cpuinfo", file_cpuinfo },
	{ "/proc/meminfo", file_meminfo },
	{ "/proc/sys/kernel/hostname", file_hostname },
	{ "/proc/uptime", file_uptime },
	{ "/proc/version", file_version },
};

static void cmd_cat(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	for (unsigned i = 1; i < argc; i++) {
		size_t f;
		for (f = 0; f < ARRAY_SIZE(files); f++)
			if (strcmp(files[f].path, argv[i]) == 0)
				break;
		if (f < ARRAY_SIZE(files))
			files[f].fn(d);
		else
			out(d, "cat: %s: No such file or directory", argv[i]);
	}
}

static void cmd_ls(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	const char *dir = "~";
	for (unsigned i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			dir = argv[i];
	if (!strcmp(dir, "/"))
		out(d, "bin   dev  home  lib64  mnt  proc  run   srv  tmp  var\r\n"
		    "boot  etc  lib   media  opt  root  sbin  sys  usr");
	else if (!strcmp(dir, "~") || !strcmp(dir, ".") || !strcmp(dir, "/root"))
		out(d, "notes.txt");
	else if (!strcmp(dir, "/proc"))
		out(d, "cpuinfo  meminfo  sys  sysrq-trigger  uptime  version");
	else if (!strcmp(dir, "/etc"))
		out(d, "hostname  os-release");
	else
		out(d, "ls: cannot access '%s': No such file or directory", dir);
}

static void cmd_free(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	bool mib = argc > 1 && strcmp(argv[1], "-m") == 0;
	unsigned long long t = (unsigned long long)(d->memory / (mib ? SIM_MIB : 1024));
	out(d, "               total        used        free      shared  buff/cache   available");
	out(d, "Mem:    %12llu%12llu%12llu%12llu%12llu%12llu", t, t / 5, t * 7 / 10, 0ULL, t / 10, t * 17 / 20);
	out(d, "Swap:   %12d%12d%12d", 0, 0, 0);
}

/* xenstore, as the guest sees its own part of it. */

static void cmd_xs_read(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	if (argc < 2) {
		out(d, "Usage: xenstore-read [-h] [-s] [-p] [-R] key [...]");
		return;
	}
	for (unsigned i = 1; i < argc; i++) {
		char tmp[128];
		const char *v = hv_sim_dom_xs_get(d, argv[i], tmp);
		if (!v) {
			if (argv[i][0] == '/')
				out(d, "xenstore-read: couldn't read path %s", argv[i]);
			else
				out(d, "xenstore-read: couldn't read path /local/domain/%u/%s", d->domid, argv[i]);
			return;
		}
		out(d, "%s", v);
	}
}

static void cmd_xs_write(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	if (argc < 3 || argc % 2 == 0) {
		out(d, "Usage: xenstore-write [-h] [-s] [-R] key value [...]");
		return;
	}
	for (unsigned i = 1; i + 1 < argc; i += 2) {
		if (strncmp(argv[i], "data/", 5) != 0 && strncmp(argv[i], "attr/", 5) != 0) {
			out(d, "xenstore-write: could not write path %s", argv[i]);
			return;
		}
		hv_sim_kvs_set(&d->g.xs, argv[i], argv[i + 1]);
	}
}

static void ls_kvs(struct sim_dom *d, const struct sim_kvs *kv, const char *prefix)
{
	size_t n = strlen(prefix);
	for (unsigned i = 0; i < kv->n; i++)
		if (strncmp(kv->v[i].key, prefix, n) == 0)
			out(d, "%s = \"%s\"", kv->v[i].key, kv->v[i].value);
}

static void cmd_xs_ls(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	const char *prefix = argc > 1 ? argv[1] : "";
	ls_kvs(d, &d->xs, prefix);
	ls_kvs(d, &d->g.xs, prefix);
}

/* Network and block devices. */

static const struct sim_vif *vif_named(struct sim_dom *d, const char *dev)
{
	if (strncmp(dev, "eth", 3) != 0)
		return NULL;
	return hv_sim_device_vif_find(d, dev + 3);
}

static void show_link(struct sim_dom *d, unsigned idx, const struct sim_vif *v, bool details, bool addr)
{
	bool promisc = hv_sim_device_setting_on(v, "promiscuous", false);
	out(d, "%u: eth%s: <BROADCAST,MULTICAST%s,UP,LOWER_UP> mtu %u qdisc mq state UP mode DEFAULT "
	    "group default qlen 1000", idx, v->devid, promisc ? ",PROMISC" : "", hv_sim_device_vif_mtu(v));
	out(d, "    link/ether %s brd ff:ff:ff:ff:ff:ff", v->mac);
	if (addr) {
		char key[48], tmp[128];
		snprintf(key, sizeof(key), "attr/eth%s/ip", v->devid);
		const char *ip = hv_sim_dom_xs_get(d, key, tmp);
		if (ip)
			out(d, "    inet %s/24 scope global eth%s", ip, v->devid);
	}
	if (details) {
		struct buf b = BUF_INIT;
		for (unsigned i = 0; i < v->settings.n; i++)
			buf_printf(&b, " %s=%s", v->settings.v[i].key, v->settings.v[i].value);
		out(d, "    vif backend bridge %s settings:%s", v->bridge ? v->bridge : "-",
		    b.data ? b.data : " none");
		buf_free(&b);
	}
}

static void cmd_ip(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	bool details = false, addr = false, known = false;
	const char *dev = NULL;
	for (unsigned i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-d") || !strcmp(a, "-details"))
			details = true;
		else if (!strcmp(a, "link") || !strcmp(a, "l"))
			known = true;
		else if (!strcmp(a, "addr") || !strcmp(a, "a") || !strcmp(a, "address"))
			known = addr = true;
		else if (!strcmp(a, "show") || !strcmp(a, "dev"))
			;
		else
			dev = a;
	}
	if (!known) {
		out(d, "Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }");
		return;
	}
	if (dev && strcmp(dev, "lo") != 0 && !vif_named(d, dev)) {
		out(d, "Device \"%s\" does not exist.", dev);
		return;
	}
	if (!dev || !strcmp(dev, "lo")) {
		out(d, "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT "
		    "group default qlen 1000");
		out(d, "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00");
		if (addr)
			out(d, "    inet 127.0.0.1/8 scope host lo");
	}
	for (unsigned i = 0; i < d->nvifs; i++)
		if (!dev || vif_named(d, dev) == &d->vifs[i])
			show_link(d, i + 2, &d->vifs[i], details, addr);
}

static void cmd_ethtool(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	const char *opt = argc > 2 ? argv[1] : "";
	const char *dev = argc > 1 ? argv[argc - 1] : NULL;
	const struct sim_vif *v = dev ? vif_named(d, dev) : NULL;
	if (!dev) {
		out(d, "ethtool: bad command line argument(s)");
		return;
	}
	if (!v) {
		out(d, "netlink error: no device matches name (offset 24)");
		out(d, "netlink error: No such device");
		return;
	}
	if (!strcmp(opt, "-k")) {
		out(d, "Features for %s:", dev);
		for (unsigned i = 0; i < hv_sim_nethtool_keys; i++) {
			const struct sim_ethtool_key *k = &hv_sim_ethtool_keys[i];
			out(d, "%s: %s", k->feature, hv_sim_device_setting_on(v, k->key, k->dflt) ? "on" : "off");
		}
	} else if (!strcmp(opt, "-i")) {
		out(d, "driver: vif");
		out(d, "bus-info: vif-%s", v->devid);
	} else {
		out(d, "Settings for %s:", dev);
		out(d, "\tSpeed: 10000Mb/s");
		out(d, "\tDuplex: Full");
		out(d, "\tPort: Other");
		out(d, "\tMTU: %u", hv_sim_device_vif_mtu(v));
		out(d, "\tPromiscuous: %s", hv_sim_device_setting_on(v, "promiscuous", false) ? "yes" : "no");
		out(d, "\tLink detected: yes");
	}
}

static void cmd_lsblk(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "NAME   MAJ:MIN RM RO TYPE MOUNTPOINTS");
	for (unsigned i = 0; i < d->ndisks; i++) {
		const struct sim_disk *k = &d->disks[i];
		out(d, "%-6s 202:%-3u %2d %2d %-4s %s", k->vdev, i * 16, k->cdrom, k->mode == HV_DISK_RO,
		    k->cdrom ? "rom" : "disk", k->cdrom && !k->target ? "(no medium)" : i == 0 ? "/" : "");
	}
}

/* Sorted by name. */
static const struct shell_cmd cmds[] = {
	{ "cat", cmd_cat, "show a file (/proc/meminfo, /proc/cpuinfo, /etc/os-release...)" },
	{ "clear", cmd_clear, "clear the screen" },
	{ "date", cmd_date, "show the time" },
	{ "echo", cmd_echo, "print its arguments (echo c > /proc/sysrq-trigger crashes)" },
	{ "ethtool", cmd_ethtool, "ethtool [-k|-i] ethN: a network interface's settings" },
	{ "exit", cmd_exit, "log out" },
	{ "free", cmd_free, "memory usage" },
	{ "halt", cmd_poweroff, "stop the system" },
	{ "help", cmd_help, "this list" },
	{ "hostname", cmd_hostname, "the system's name" },
	{ "id", cmd_id, "who you are" },
	{ "ip", cmd_ip, "ip [-d] link|addr [show] [dev]: network interfaces" },
	{ "logout", cmd_exit, "log out" },
	{ "ls", cmd_ls, "list a directory" },
	{ "lsblk", cmd_lsblk, "block devices" },
	{ "nproc", cmd_nproc, "number of CPUs" },
	{ "poweroff", cmd_poweroff, "power the system off" },
	{ "reboot", cmd_reboot, "restart the system" },
	{ "shutdown", cmd_shutdown, "shutdown [-h|-r] now" },
	{ "true", cmd_true, "do nothing" },
	{ "uname", cmd_uname, "uname [-a|-r|-n|-m]" },
	{ "uptime", cmd_uptime, "how long the system has been up" },
	{ "whoami", cmd_whoami, "who you are" },
	{ "xenstore-ls", cmd_xs_ls, "xenstore-ls [prefix]: this domain's xenstore entries" },
	{ "xenstore-read", cmd_xs_read, "xenstore-read key: a xenstore entry (e.g. vm-data/...)" },
	{ "xenstore-write", cmd_xs_write, "xenstore-write key value (data/ and attr/ only)" },
};

static void cmd_help(struct sim_dom *d, unsigned argc, char **argv, const char *redirect)
{
	out(d, "Commands:");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		out(d, "  %-15s %s", cmds[i].name, cmds[i].help);
}

static int cmd_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct shell_cmd *)elem)->name);
}

void hv_sim_shell_run(struct sim_dom *d, char *line)
{
	char *argv[MAX_ARGS], *redirect;
	unsigned argc = split(line, argv, &redirect);
	if (!argc)
		return;
	const struct shell_cmd *c = bsearch(argv[0], cmds, ARRAY_SIZE(cmds), sizeof(cmds[0]), cmd_cmp);
	if (c)
		c->fn(d, argc, argv, redirect);
	else
		out(d, "-bash: %s: command not found", argv[0]);
}
