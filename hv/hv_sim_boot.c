/* The simulated guest's boot log: a Debian 12 PV (or HVM) kernel's
 * messages with made-up timestamps, naming the domain's memory, vcpus,
 * disks, VIFs and hostname, then systemd bringing the system up.  The guest
 * (hv_sim_guest.c) prints it a line per step and then its login prompt. */
#include "hv_sim_priv.h"

#include "../util/xalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One kernel line: "[seconds.micros] text\r\n". */
static void kline(struct buf *b, double t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kline(struct buf *b, double t, const char *fmt, ...)
{
	buf_printf(b, "[%5u.%06u] ", (unsigned)t, (unsigned)((t - (unsigned)t) * 1e6));
	va_list ap;
	va_start(ap, fmt);
	char line[512];
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	buf_adds(b, line);
	buf_adds(b, "\r\n");
}

char *hv_sim_boot_log(const struct sim_dom *d)
{
	struct buf b = BUF_INIT;
	const char *con = d->hvm ? "ttyS0" : "hvc0";
	const char *root = "xvda";
	for (unsigned i = 0; i < d->ndisks; i++) {
		if (!d->disks[i].cdrom) {
			root = d->disks[i].vdev;
			break;
		}
	}
	char cmdline[256];
	if (d->cmdline && *d->cmdline)
		snprintf(cmdline, sizeof(cmdline), "%s", d->cmdline);
	else
		snprintf(cmdline, sizeof(cmdline), "root=/dev/%s1 ro console=%s quiet", root, con);
	for (char *p = cmdline; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = '?';
	unsigned long long kb = (unsigned long long)(d->memory / 1024);

	kline(&b, 0, "Linux version %s (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) "
	      "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) %s", hv_sim_guest_kernel, hv_sim_guest_build);
	kline(&b, 0, "Command line: %s", cmdline);
	kline(&b, 0, "x86/fpu: x87 FPU will use FXSAVE");
	kline(&b, 0, "Released 0 page(s)");
	kline(&b, 0, "BIOS-provided physical RAM map:");
	kline(&b, 0, "Xen: [mem 0x0000000000000000-0x%016llx] usable", (unsigned long long)d->memory - 1);
	kline(&b, 0, "NX (Execute Disable) protection: active");
	kline(&b, 0, "Hypervisor detected: Xen %s", d->hvm ? "HVM" : "PV");
	kline(&b, 0, "Booting paravirtualized kernel on Xen%s", d->hvm ? " HVM" : "");
	kline(&b, 0, "Xen version: 4.17.0 (preserve-AD)");
	kline(&b, 0, "setup_percpu: NR_CPUS:8192 nr_cpumask_bits:%u nr_cpu_ids:%u nr_node_ids:1",
	      d->vcpus_max, d->vcpus_max);
	kline(&b, 0, "Kernel command line: %s", cmdline);
	kline(&b, 0.004123, "Memory: %lluK/%lluK available (14336K kernel code, 2303K rwdata, "
	      "8968K rodata, 2796K init, 3512K bss)", kb * 24 / 25, kb);
	kline(&b, 0.008301, "SMP: Allowing %u CPUs, %u hotplug CPUs", d->vcpus_max, d->vcpus_max - d->vcpus);
	kline(&b, 0.012410, "xen:events: Using FIFO-based ABI");
	kline(&b, 0.016822, "clocksource: xen: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, "
	      "max_idle_ns: 881590591483 ns");
	kline(&b, 0.052117, "smp: Brought up 1 node, %u CPUs", d->vcpus);
	kline(&b, 0.121003, "devtmpfs: initialized");
	kline(&b, 0.184550, "xen:grant_table: Grant tables using version 1 layout");
	kline(&b, 0.243918, "NET: Registered PF_INET protocol family");
	kline(&b, 0.391210, "xen_netfront: Initialising Xen virtual ethernet driver");
	for (unsigned i = 0; i < d->ndisks; i++)
		kline(&b, 0.402 + i * 0.003, d->disks[i].cdrom ? "blkfront: %s: removable media (cdrom)"
		      : "blkfront: %s: flush diskcache: enabled; persistent grants: enabled; indirect "
		      "descriptors: enabled; bounce buffer: disabled;", d->disks[i].vdev);
	for (unsigned i = 0; i < d->nvifs; i++)
		kline(&b, 0.45 + i * 0.002, "xen_netfront: eth%s: MAC %s", d->vifs[i].devid, d->vifs[i].mac);
	kline(&b, 0.522309, "Freeing unused kernel image (initmem) memory: 2796K");
	kline(&b, 0.601877, "Run /init as init process");
	kline(&b, 1.104418, "EXT4-fs (%s1): mounted filesystem with ordered data mode. Quota mode: none.", root);
	kline(&b, 1.296420, "systemd[1]: systemd 252.22-1~deb12u1 running in system mode (+PAM +AUDIT "
	      "+SELINUX +APPARMOR +IMA +SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL)");
	kline(&b, 1.301234, "systemd[1]: Detected virtualization xen.");
	kline(&b, 1.302200, "systemd[1]: Detected architecture x86-64.");
	buf_printf(&b, "\r\nWelcome to \033[1m%s\033[0m!\r\n\r\n", hv_sim_guest_os);
	kline(&b, 1.310981, "systemd[1]: Hostname set to <%s>.", d->g.host);
	static const char *const units[] = {
		"Created slice system-getty.slice - Slice /system/getty.",
		"Started systemd-journald.service - Journal Service.",
		"Finished systemd-udev-trigger.service - Coldplug All udev Devices.",
		"Reached target local-fs.target - Local File Systems.",
		"Started systemd-timesyncd.service - Network Time Synchronization.",
		"Started cron.service - Regular background program processing daemon.",
		"Started systemd-logind.service - User Login Management.",
		"Finished networking.service - Raise network interfaces.",
		"Started ssh.service - OpenBSD Secure Shell server.",
	};
	for (size_t i = 0; i < ARRAY_SIZE(units); i++)
		buf_printf(&b, "%s%s\r\n", hv_sim_guest_ok, units[i]);
	buf_printf(&b, "%sStarted serial-getty@%s.service - Serial Getty on %s.\r\n", hv_sim_guest_ok, con, con);
	buf_printf(&b, "%sReached target multi-user.target - Multi-User System.\r\n", hv_sim_guest_ok);
	return buf_steal(&b, NULL);
}
