/* The built-in templates, as XenServer 4.1 shipped them: a row each, turned
 * into VM records with is_a_template=true and other_config:default_template.
 *
 * PV installers (RHEL, CentOS, SLES) boot through "eliloader", which reads
 * other_config:install-repository and install-methods; the Debian templates
 * are ready-made systems that VM.provision creates disks for; Windows and
 * "Other install media" are HVM guests booting from the CD drive.  The
 * other_config:disks XML is what VM.provision reads (an empty sr= means the
 * pool's default SR). */
#include "templates.h"

#include <stdio.h>

#include "../util/buf.h"
#include "../util/xalloc.h"

enum tkind { T_PV_READY, T_PV_INSTALL, T_HVM };

struct template_row {
	const char *name;
	const char *description;
	enum tkind kind;
	unsigned mem_mib;        /* memory_static_max */
	unsigned vcpus;
	unsigned root_gib;       /* system disk */
	unsigned swap_mib;       /* second disk, 0 for none */
	const char *distro;      /* eliloader's install-distro */
	const char *methods;     /* install-methods */
};

static const struct template_row rows[] = {
	{ "Debian Etch 4.0", "Debian Etch 4.0 ready-made system, with a 4 GB root disk and a 512 MB swap disk.", T_PV_READY, 256, 1, 4, 512, "debianetch", "" },
	{ "Debian Sarge 3.1", "Debian Sarge 3.1 ready-made system, with a 4 GB root disk and a 512 MB swap disk.", T_PV_READY, 256, 1, 4, 512, "debiansarge", "" },
	{ "Red Hat Enterprise Linux 5.1", "Installs RHEL 5.1 from a network repository or the CD.", T_PV_INSTALL, 512, 1, 8, 0, "rhlike", "cdrom,nfs,http,ftp" },
	{ "Red Hat Enterprise Linux 5.0", "Installs RHEL 5.0 from a network repository or the CD.", T_PV_INSTALL, 512, 1, 8, 0, "rhlike", "cdrom,nfs,http,ftp" },
	{ "Red Hat Enterprise Linux 4.5", "Installs RHEL 4.5 from a network repository or the CD.", T_PV_INSTALL, 256, 1, 8, 0, "rhlike", "cdrom,nfs,http,ftp" },
	{ "CentOS 5.0", "Installs CentOS 5.0 from a network repository or the CD.", T_PV_INSTALL, 512, 1, 8, 0, "rhlike", "cdrom,nfs,http,ftp" },
	{ "CentOS 4.5", "Installs CentOS 4.5 from a network repository or the CD.", T_PV_INSTALL, 256, 1, 8, 0, "rhlike", "cdrom,nfs,http,ftp" },
	{ "SUSE Linux Enterprise Server 10 SP1", "Installs SLES 10 SP1; the first boot fetches the installer kernel, the second finds the installed one.", T_PV_INSTALL, 512, 1, 8, 0, "sleslike", "cdrom,nfs,http,ftp" },
	{ "Windows XP SP2", "Windows XP with Service Pack 2, installed from the CD.", T_HVM, 256, 1, 8, 0, "", "" },
	{ "Windows Server 2003", "Windows Server 2003, installed from the CD.", T_HVM, 256, 1, 8, 0, "", "" },
	{ "Windows Vista", "Windows Vista, installed from the CD.", T_HVM, 512, 1, 24, 0, "", "" },
	{ "Windows 2000 SP4", "Windows 2000 with Service Pack 4, installed from the CD.", T_HVM, 256, 1, 8, 0, "", "" },
	{ "Other install media", "An HVM guest that boots from the CD drive.", T_HVM, 256, 1, 8, 0, "", "" },
};

static struct value *smap(const char *const *kv)
{
	struct value *m = value_new_struct(4);
	for (; kv[0]; kv += 2)
		value_struct_add(m, kv[0], value_new_string(kv[1]));
	return m;
}

static char *disks_xml(const struct template_row *r)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "<provision><disk device=\"0\" size=\"%llu\" sr=\"\" bootable=\"true\" type=\"system\"/>",
		   (unsigned long long)r->root_gib << 30);
	if (r->swap_mib)
		buf_printf(&b, "<disk device=\"1\" size=\"%llu\" sr=\"\" bootable=\"false\" type=\"system\"/>",
			   (unsigned long long)r->swap_mib << 20);
	buf_adds(&b, "</provision>");
	return buf_steal(&b, NULL);
}

static int create_one(struct store_txn *t, const struct template_row *r, struct xc_error *err)
{
	XC_AUTOVALUE *rec = value_new_struct(32);
	int64_t mem = (int64_t)r->mem_mib << 20;
	value_struct_add(rec, "name_label", value_new_string(r->name));
	value_struct_add(rec, "name_description", value_new_string(r->description));
	value_struct_add(rec, "is_a_template", value_new_bool(true));
	value_struct_add(rec, "user_version", value_new_int(1));
	value_struct_add(rec, "memory_static_max", value_new_int(mem));
	value_struct_add(rec, "memory_dynamic_max", value_new_int(mem));
	value_struct_add(rec, "memory_dynamic_min", value_new_int(mem));
	value_struct_add(rec, "memory_static_min", value_new_int(16 << 20));
	value_struct_add(rec, "VCPUs_max", value_new_int(r->vcpus));
	value_struct_add(rec, "VCPUs_at_startup", value_new_int(r->vcpus));
	value_struct_add(rec, "actions_after_shutdown", value_new_string("destroy"));
	value_struct_add(rec, "actions_after_reboot", value_new_string("restart"));
	value_struct_add(rec, "actions_after_crash", value_new_string("restart"));
	XC_AUTOFREE char *disks = disks_xml(r);
	XC_AUTOFREE char *recommend = xasprintf(
		"<restrictions><restriction field=\"memory-static-max\" max=\"%llu\" />"
		"<restriction field=\"vcpus-max\" max=\"8\" /></restrictions>",
		(unsigned long long)32 << 30);
	value_struct_add(rec, "recommendations", value_new_string(recommend));
	switch (r->kind) {
	case T_PV_READY: {
		const char *oc[] = { "default_template", "true", "linux_template", "true", "disks", disks,
				     "postinstall", r->distro, NULL };
		value_struct_add(rec, "PV_bootloader", value_new_string("pygrub"));
		value_struct_add(rec, "other_config", smap(oc));
		break;
	}
	case T_PV_INSTALL: {
		const char *oc[] = { "default_template", "true", "linux_template", "true", "disks", disks,
				     "install-methods", r->methods, "install-distro", r->distro,
				     "install-repository", "", NULL };
		value_struct_add(rec, "PV_bootloader", value_new_string("eliloader"));
		value_struct_add(rec, "PV_args", value_new_string("graphical utf8"));
		value_struct_add(rec, "other_config", smap(oc));
		break;
	}
	case T_HVM: {
		const char *oc[] = { "default_template", "true", "disks", disks, NULL };
		const char *boot[] = { "order", "dc", NULL };
		const char *plat[] = { "acpi", "true", "apic", "true", "pae", "true", "nx", "false",
				       "viridian", "false", NULL };
		value_struct_add(rec, "HVM_boot_policy", value_new_string("BIOS order"));
		value_struct_add(rec, "HVM_boot_params", smap(boot));
		value_struct_add(rec, "platform", smap(plat));
		value_struct_add(rec, "other_config", smap(oc));
		break;
	}
	}
	char *ref = store_create(t, cls_of("VM"), NULL, rec, err);
	free(ref);
	return ref ? 0 : -1;
}

int templates_create(struct store_txn *t, struct xc_error *err)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (create_one(t, &rows[i], err) < 0)
			return -1;
	return 0;
}
