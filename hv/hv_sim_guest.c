/* The simulated guest behind a domain's console: a small Debian that
 * boots, lets anyone log in, answers a few shell commands (hv_sim_shell.c),
 * and powers off, reboots or crashes when told to, by the toolstack
 * (domain_shutdown, send_sysrq) or by its user.  It runs on the host's loop
 * thread under the host lock; time passes through the domain's timer.
 *
 *   OFF --first run--> BOOT --boot log printed--> LOGIN <--exit/logout--+
 *                                                   | user name          |
 *                                                   v                    |
 *                                                PASSWORD --any--> SHELL-+
 *   any live stage --poweroff/halt/reboot typed, or a toolstack request--> HALT
 *   HALT --shutdown log printed--> DEAD (domain SHUTDOWN(reason), an event)
 *   any live stage --sysrq c--> DEAD (crash);  sysrq b/o --> DEAD (reboot/poweroff)
 *
 * A paused domain's guest stands still: its timer is off, requests wait.
 * Input is handled a byte at a time into a bounded line; escape sequences
 * and other control bytes are swallowed, so nothing typed can grow memory
 * or stall the loop.
 */
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MODULE "hv.sim.guest"

#define BOOT_SECONDS 3.0   /* first run to login prompt */
#define HALT_SECONDS 0.5   /* shutdown request to powered off */

const char hv_sim_guest_kernel[] = "6.1.0-18-amd64";
const char hv_sim_guest_build[] = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)";
const char hv_sim_guest_os[] = "Debian GNU/Linux 12 (bookworm)";
const char hv_sim_guest_ok[] = "[\033[0;32m  OK  \033[0m] ";

static const char *const stage_names[] = {
	[SIM_GUEST_OFF] = "off", [SIM_GUEST_BOOT] = "boot", [SIM_GUEST_LOGIN] = "login",
	[SIM_GUEST_PASSWORD] = "password", [SIM_GUEST_SHELL] = "shell", [SIM_GUEST_HALT] = "halt",
	[SIM_GUEST_DEAD] = "dead",
};
_Static_assert(ARRAY_SIZE(stage_names) == SIM_GUEST_LAST, "stage names");

/* What the guest's systemd says while it stops, before the kernel's last word. */
static const char *const halt_lines[] = {
	"Removed slice system-getty.slice - Slice /system/getty.",
	"Stopped target multi-user.target - Multi-User System.",
	"Stopped ssh.service - OpenBSD Secure Shell server.",
	"Stopped cron.service - Regular background program processing daemon.",
	"Stopped systemd-logind.service - User Login Management.",
	"Unmounted boot.mount - /boot.",
	"Reached target shutdown.target - System Shutdown.",
	"Reached target final.target - Late Shutdown Services.",
};

enum sysrq_action { SYSRQ_SAY, SYSRQ_CRASH, SYSRQ_REBOOT, SYSRQ_POWEROFF };
static const struct sysrq {
	char key;
	const char *what;
	enum sysrq_action act;
} sysrqs[] = {
	{ 'b', "Resetting", SYSRQ_REBOOT },
	{ 'c', "Trigger a crash", SYSRQ_CRASH },
	{ 'e', "Terminate All Tasks", SYSRQ_SAY },
	{ 'i', "Kill All Tasks", SYSRQ_SAY },
	{ 'l', "Show backtrace of all active CPUs", SYSRQ_SAY },
	{ 'm', "Show Memory", SYSRQ_SAY },
	{ 'o', "Power Off", SYSRQ_POWEROFF },
	{ 'p', "Show Regs", SYSRQ_SAY },
	{ 's', "Emergency Sync", SYSRQ_SAY },
	{ 't', "Show State", SYSRQ_SAY },
	{ 'u', "Emergency Remount R/O", SYSRQ_SAY },
	{ 'w', "Show Blocked State", SYSRQ_SAY },
};

const char *hv_sim_guest_stage_name(enum sim_stage s)
{
	return s < SIM_GUEST_LAST ? stage_names[s] : "unknown";
}

enum sim_stage hv_sim_guest_stage_lookup(const char *name)
{
	for (unsigned i = 0; i < SIM_GUEST_LAST; i++)
		if (strcmp(stage_names[i], name) == 0)
			return (enum sim_stage)i;
	return SIM_GUEST_LAST;
}

void hv_sim_guest_init(struct sim_dom *d)
{
	struct sim_guest *g = &d->g;
	size_t n = 0;
	for (const char *p = d->name; *p && n < sizeof(g->host) - 1; p++) {
		bool ok = isalnum((unsigned char)*p) || *p == '-';
		if (ok || (n && g->host[n - 1] != '-'))
			g->host[n++] = ok ? *p : '-';
	}
	while (n && g->host[n - 1] == '-')
		n--;
	g->host[n] = '\0';
	if (!n)
		snprintf(g->host, sizeof(g->host), "localhost");
	g->stage = SIM_GUEST_OFF;
	g->pending = HV_SHUTDOWN_NONE;
	g->halt_reason = HV_SHUTDOWN_NONE;
	g->act_due = SIM_NEVER;
}

void hv_sim_guest_free(struct sim_dom *d)
{
	free(d->g.boot);
	d->g.boot = NULL;
	hv_sim_kvs_free(&d->g.xs);
}

double hv_sim_guest_uptime(const struct sim_dom *d)
{
	const struct sim_guest *g = &d->g;
	double up = g->uptime_base;
	if (g->boot_ns)
		up += (double)(hv_sim_now() - g->boot_ns) / SIM_NS;
	return up;
}

void hv_sim_guest_puts(struct sim_dom *d, const char *s)
{
	hv_sim_console_write(d, s, strlen(s));
}

static void vprint(struct sim_dom *d, const char *prefix, const char *fmt, va_list ap, const char *suffix)
{
	struct buf b = BUF_INIT;
	buf_adds(&b, prefix);
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n > 0) {
		buf_reserve(&b, (size_t)n);
		vsnprintf(b.data + b.len, (size_t)n + 1, fmt, ap);
		b.len += (size_t)n;
	}
	buf_adds(&b, suffix);
	hv_sim_console_write(d, b.data, b.len);
	buf_free(&b);
}

void hv_sim_guest_printf(struct sim_dom *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprint(d, "", fmt, ap, "");
	va_end(ap);
}

void hv_sim_guest_printk(struct sim_dom *d, const char *fmt, ...)
{
	if (d->g.stage == SIM_GUEST_OFF || d->g.stage == SIM_GUEST_DEAD)
		return;
	char stamp[32];
	double up = hv_sim_guest_uptime(d);
	snprintf(stamp, sizeof(stamp), "[%5lu.%06lu] ", (unsigned long)up,
		 (unsigned long)((up - (double)(unsigned long)up) * 1e6));
	va_list ap;
	va_start(ap, fmt);
	vprint(d, stamp, fmt, ap, "\r\n");
	va_end(ap);
}

static void prompt(struct sim_dom *d)
{
	struct sim_guest *g = &d->g;
	switch (g->stage) {
	case SIM_GUEST_LOGIN: hv_sim_guest_printf(d, "%s login: ", g->host); break;
	case SIM_GUEST_PASSWORD: hv_sim_guest_puts(d, "Password: "); break;
	case SIM_GUEST_SHELL: hv_sim_guest_printf(d, "root@%s:~# ", g->host); break;
	default: break;
	}
}

static void issue(struct sim_dom *d)
{
	hv_sim_guest_printf(d, "\r\nDebian GNU/Linux 12 %s %s\r\n\r\n", d->g.host, d->hvm ? "ttyS0" : "hvc0");
}

void hv_sim_guest_logout(struct sim_dom *d)
{
	d->g.stage = SIM_GUEST_LOGIN;
	d->g.len = 0;
	hv_sim_guest_puts(d, "\r\n");
	issue(d);
	prompt(d);
}

static int64_t scaled(const struct sim_dom *d, double secs)
{
	return (int64_t)(secs * d->host->scale * SIM_NS);
}

static void boot_start(struct sim_dom *d, int64_t now)
{
	struct sim_guest *g = &d->g;
	g->stage = SIM_GUEST_BOOT;
	g->boot_ns = now;
	g->uptime_base = 0;
	free(g->boot);
	g->boot = hv_sim_boot_log(d);
	g->boot_pos = 0;
	unsigned lines = 0;
	for (const char *p = g->boot; *p; p++)
		lines += *p == '\n';
	g->boot_step = BOOT_SECONDS / (lines ? lines : 1);
	g->act_due = now;
}

void hv_sim_guest_agent(struct sim_dom *d)
{
	char v[64];
	struct sim_kvs *xs = &d->g.xs;
	hv_sim_kvs_set(xs, "attr/PVAddons/Installed", "1");
	hv_sim_kvs_set(xs, "attr/PVAddons/MajorVersion", "4");
	hv_sim_kvs_set(xs, "attr/PVAddons/MinorVersion", "1");
	hv_sim_kvs_set(xs, "attr/PVAddons/MicroVersion", "0");
	hv_sim_kvs_set(xs, "data/os_name", hv_sim_guest_os);
	hv_sim_kvs_set(xs, "data/os_uname", hv_sim_guest_kernel);
	hv_sim_kvs_set(xs, "data/os_distro", "debian");
	hv_sim_kvs_set(xs, "data/os_majorver", "12");
	hv_sim_kvs_set(xs, "data/os_minorver", "5");
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(d->memory / 1024));
	hv_sim_kvs_set(xs, "data/meminfo_total", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)(d->memory / 1024 * 4 / 5));
	hv_sim_kvs_set(xs, "data/meminfo_free", v);
	for (unsigned i = 0; i < d->nvifs; i++) {
		unsigned b[6] = { 0 };
		sscanf(d->vifs[i].mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]);
		char key[48];
		snprintf(key, sizeof(key), "attr/eth%s/ip", d->vifs[i].devid);
		snprintf(v, sizeof(v), "10.%u.%u.%u", d->host->index & 0xff, b[4], b[5] ? b[5] : 1);
		hv_sim_kvs_set(xs, key, v);
	}
}

/* Prints the boot lines that are due (all of them when time is not
 * simulated, else one per step, more if it fell behind) in one write. */
static void boot_step(struct sim_dom *d, int64_t now)
{
	struct sim_guest *g = &d->g;
	int64_t step = scaled(d, g->boot_step);
	int64_t lines = step > 0 ? 1 + (now - g->act_due) / step : INT64_MAX;
	const char *start = g->boot + g->boot_pos, *p = start;
	while (*p && lines-- > 0) {
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : p + strlen(p);
	}
	hv_sim_console_write(d, start, (size_t)(p - start));
	g->boot_pos += (size_t)(p - start);
	if (g->boot[g->boot_pos]) {
		g->act_due = now + step;
		return;
	}
	free(g->boot);
	g->boot = NULL;
	g->act_due = SIM_NEVER;
	g->stage = SIM_GUEST_LOGIN;
	hv_sim_guest_agent(d);
	issue(d);
	prompt(d);
}

static void halt_step(struct sim_dom *d, int64_t now)
{
	struct sim_guest *g = &d->g;
	bool reboot = g->halt_reason == HV_SHUTDOWN_REBOOT;
	if (g->step < ARRAY_SIZE(halt_lines)) {
		hv_sim_guest_printf(d, "%s%s\r\n", hv_sim_guest_ok, halt_lines[g->step++]);
		g->act_due = now + scaled(d, HALT_SECONDS / (ARRAY_SIZE(halt_lines) + 2));
		return;
	}
	if (g->step == ARRAY_SIZE(halt_lines)) {
		g->step++;
		hv_sim_guest_printf(d, "%s%s\r\n", hv_sim_guest_ok, reboot ? "Finished systemd-reboot.service - System Reboot."
				    : "Finished systemd-poweroff.service - System Power Off.");
		g->act_due = now + scaled(d, HALT_SECONDS / (ARRAY_SIZE(halt_lines) + 2));
		return;
	}
	hv_sim_guest_printk(d, "%s", reboot ? "reboot: Restarting system" : "reboot: Power down");
	hv_sim_dom_shutdown_done(d, g->halt_reason);
}

void hv_sim_guest_halt(struct sim_dom *d, enum hv_shutdown_reason r)
{
	struct sim_guest *g = &d->g;
	if (g->stage == SIM_GUEST_HALT || g->stage == SIM_GUEST_DEAD)
		return;
	if (g->stage == SIM_GUEST_OFF) {
		hv_sim_dom_shutdown_done(d, r);
		return;
	}
	free(g->boot);
	g->boot = NULL;
	g->stage = SIM_GUEST_HALT;
	g->halt_reason = r;
	g->step = 0;
	g->len = 0;
	g->act_due = hv_sim_now();
	hv_sim_guest_puts(d, "\r\n");
	hv_sim_guest_resched(d);
}

static void crash(struct sim_dom *d)
{
	hv_sim_guest_printk(d, "sysrq: Trigger a crash");
	hv_sim_guest_printk(d, "Kernel panic - not syncing: sysrq triggered crash");
	hv_sim_guest_printk(d, "CPU: 0 PID: 1 Comm: bash Not tainted %s #1 Debian 6.1.76-1", hv_sim_guest_kernel);
	hv_sim_guest_printk(d, "Hardware name: Xen %s domU", d->hvm ? "HVM" : "PV");
	hv_sim_guest_printk(d, "---[ end Kernel panic - not syncing: sysrq triggered crash ]---");
	hv_sim_dom_shutdown_done(d, HV_SHUTDOWN_CRASH);
}

static void do_sysrq(struct sim_dom *d, char key)
{
	const struct sysrq *s = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(sysrqs); i++)
		if (sysrqs[i].key == key)
			s = &sysrqs[i];
	if (!s) {
		hv_sim_guest_printk(d, "sysrq: HELP : loglevel(0-9) reboot(b) crash(c) terminate-all-tasks(e) "
				    "kill-all-tasks(i) show-backtrace-all-active-cpus(l) show-memory-usage(m) "
				    "poweroff(o) show-registers(p) sync(s) show-task-states(t) unmount(u) "
				    "show-blocked-tasks(w)");
		return;
	}
	switch (s->act) {
	case SYSRQ_CRASH:
		crash(d);
		break;
	case SYSRQ_REBOOT:
		hv_sim_guest_printk(d, "sysrq: %s", s->what);
		hv_sim_dom_shutdown_done(d, HV_SHUTDOWN_REBOOT);
		break;
	case SYSRQ_POWEROFF:
		hv_sim_guest_printk(d, "sysrq: %s", s->what);
		hv_sim_guest_printk(d, "reboot: Power down");
		hv_sim_dom_shutdown_done(d, HV_SHUTDOWN_POWEROFF);
		break;
	case SYSRQ_SAY:
		hv_sim_guest_printk(d, "sysrq: %s", s->what);
		break;
	}
}

void hv_sim_guest_sysrq(struct sim_dom *d, char key, bool now)
{
	if (d->g.stage == SIM_GUEST_DEAD)
		return;
	if (now && d->state == HV_STATE_RUNNING) {
		do_sysrq(d, key);
		return;
	}
	d->g.sysrq = key ? key : '?';
	hv_sim_guest_resched(d);
}

void hv_sim_guest_request(struct sim_dom *d, enum hv_shutdown_reason how)
{
	struct sim_guest *g = &d->g;
	if (g->stage == SIM_GUEST_HALT || g->stage == SIM_GUEST_DEAD)
		return;
	g->pending = how;
	hv_sim_guest_resched(d);
}

void hv_sim_guest_resched(struct sim_dom *d)
{
	const struct sim_guest *g = &d->g;
	if (d->state != HV_STATE_RUNNING) {
		hv_sim_loop_timer_set(d, SIM_NEVER);
		return;
	}
	bool now = g->stage == SIM_GUEST_OFF || g->resumed || g->sysrq || g->pending != HV_SHUTDOWN_NONE;
	hv_sim_loop_timer_set(d, now ? hv_sim_now() : g->act_due);
}

void hv_sim_guest_tick(struct sim_dom *d, int64_t now)
{
	struct sim_guest *g = &d->g;
	if (d->state != HV_STATE_RUNNING)
		return;
	if (g->sysrq) {
		char k = g->sysrq;
		g->sysrq = 0;
		do_sysrq(d, k);
		if (d->state != HV_STATE_RUNNING)
			return;
	}
	if (g->pending != HV_SHUTDOWN_NONE) {
		enum hv_shutdown_reason r = g->pending;
		g->pending = HV_SHUTDOWN_NONE;
		g->resumed = false;
		hv_sim_guest_halt(d, r);
	}
	if (g->stage == SIM_GUEST_OFF)
		boot_start(d, now);
	if (g->resumed) {
		g->resumed = false;
		hv_sim_guest_printf(d, "\r\n");
		hv_sim_guest_printk(d, "Restarting tasks ... done.");
		prompt(d);
	}
	while (g->act_due <= now && d->state == HV_STATE_RUNNING) {
		if (g->stage == SIM_GUEST_BOOT)
			boot_step(d, now);
		else if (g->stage == SIM_GUEST_HALT)
			halt_step(d, now);
		else
			g->act_due = SIM_NEVER;
	}
	if (d->state == HV_STATE_RUNNING)
		hv_sim_guest_resched(d);
}

static void enter(struct sim_dom *d)
{
	struct sim_guest *g = &d->g;
	g->line[g->len] = '\0';
	size_t len = g->len;
	g->len = 0;
	hv_sim_guest_puts(d, "\r\n");
	switch (g->stage) {
	case SIM_GUEST_LOGIN:
		if (len)
			g->stage = SIM_GUEST_PASSWORD;
		prompt(d);
		break;
	case SIM_GUEST_PASSWORD:
		g->stage = SIM_GUEST_SHELL;
		hv_sim_guest_printf(d, "Linux %s %s %s x86_64\r\n\r\n", g->host, hv_sim_guest_kernel, hv_sim_guest_build);
		hv_sim_guest_puts(d, "The programs included with the Debian GNU/Linux system are free software;\r\n"
				  "the exact distribution terms for each program are described in the\r\n"
				  "individual files in /usr/share/doc/*/copyright.\r\n\r\n"
				  "Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\r\n"
				  "permitted by applicable law.\r\n");
		prompt(d);
		break;
	case SIM_GUEST_SHELL: {
		char line[SIM_LINE_MAX];
		memcpy(line, g->line, len + 1);
		hv_sim_shell_run(d, line);
		if (g->stage == SIM_GUEST_SHELL)
			prompt(d);
		break;
	}
	default:
		break;
	}
}

static void control(struct sim_dom *d, unsigned char c)
{
	struct sim_guest *g = &d->g;
	bool echo = g->stage != SIM_GUEST_PASSWORD;
	switch (c) {
	case '\r':
	case '\n':
		enter(d);
		break;
	case 0x7f:
	case '\b':
		if (g->len) {
			g->len--;
			if (echo)
				hv_sim_guest_puts(d, "\b \b");
		}
		break;
	case 0x03: /* ^C */
		g->len = 0;
		hv_sim_guest_puts(d, "^C\r\n");
		if (g->stage == SIM_GUEST_PASSWORD)
			g->stage = SIM_GUEST_LOGIN;
		prompt(d);
		break;
	case 0x04: /* ^D */
		if (g->stage == SIM_GUEST_SHELL && !g->len) {
			hv_sim_guest_puts(d, "logout\r\n");
			hv_sim_guest_logout(d);
		}
		break;
	case 0x15: /* ^U */
		for (; g->len; g->len--)
			if (echo)
				hv_sim_guest_puts(d, "\b \b");
		break;
	case 0x0c: /* ^L */
		hv_sim_guest_puts(d, "\033[H\033[2J");
		prompt(d);
		if (echo)
			hv_sim_console_write(d, g->line, g->len);
		break;
	case 0x1b:
		g->esc = 1;
		break;
	default:
		break;
	}
}

void hv_sim_guest_input(struct sim_dom *d, const char *p, size_t n)
{
	struct sim_guest *g = &d->g;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (d->state != HV_STATE_RUNNING || g->asleep || (g->stage != SIM_GUEST_LOGIN &&
		    g->stage != SIM_GUEST_PASSWORD && g->stage != SIM_GUEST_SHELL))
			return;
		if (g->esc == 1) {
			g->esc = c == '[' || c == 'O' ? 2 : 0;
			continue;
		}
		if (g->esc == 2) {
			if (c >= 0x40 && c <= 0x7e)
				g->esc = 0;
			continue;
		}
		bool after_cr = g->cr;
		g->cr = c == '\r';
		if (c == '\n' && after_cr)
			continue;
		if (c < 0x20 || c == 0x7f) {
			control(d, c);
		} else if (c < 0x7f && g->len < SIM_LINE_MAX - 1) {
			g->line[g->len++] = (char)c;
			if (g->stage != SIM_GUEST_PASSWORD)
				hv_sim_console_write(d, (const char *)&c, 1);
		}
	}
}
