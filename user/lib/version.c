// SPDX-License-Identifier: GPL-2.0
/*
 * Versions of the tools and of the running trustmig.ko (version.h).
 */
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>

#include <linux/trustmig.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/family.h>
#include <netlink/genl/genl.h>

#include "version.h"
#include "wire.h"

int tm_genl_family_version(struct nl_sock *sk)
{
	struct nl_cache *cache;
	struct genl_family *fam;
	int version = -1;

	if (genl_ctrl_alloc_cache(sk, &cache))
		return -1;
	fam = genl_ctrl_search_by_name(cache, TRUSTMIG_GENL_NAME);
	if (fam) {
		version = genl_family_get_version(fam);
		genl_family_put(fam);
	}
	nl_cache_free(cache);
	return version;
}

/* Does a line of @path hold @text (@at_start: begin with it)? */
static bool tm_file_has(const char *path, const char *text, bool at_start)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = at_start ? !strncmp(line, text, strlen(text)) :
				   !!strstr(line, text);
	fclose(f);
	return found;
}

/* DKMS builds the module only for a kernel with headers and KVM. */
void tm_module_missing(const char *release, bool tried, char *why,
		       size_t len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", release);
	if (tm_file_has(path, "/trustmig.ko", false)) {
		snprintf(why, len, tried ?
			 "'modprobe trustmig' says why kernel %s does not load it" :
			 "installed for kernel %s; 'modprobe trustmig' loads it",
			 release);
		return;
	}
	snprintf(path, sizeof(path), "/lib/modules/%s/build/Makefile", release);
	if (access(path, F_OK)) {
		snprintf(why, len,
			 "none is installed for kernel %s, which has no headers for DKMS to build it: apt-get install linux-headers-%s",
			 release, release);
		return;
	}
	snprintf(path, sizeof(path), "/boot/config-%s", release);
	if (!access(path, F_OK) && !tm_file_has(path, "CONFIG_KVM=", true)) {
		snprintf(why, len,
			 "none is installed for kernel %s, which is built without KVM (CONFIG_KVM), which trustmig.ko hooks",
			 release);
		return;
	}
	snprintf(why, len,
		 "none is installed for kernel %s: install trustmig-dkms, or make install",
		 release);
}

void tm_print_versions(FILE *f, const char *tool, const char *own)
{
	char release[64] = "", why[512];
	struct nl_sock *sk = nl_socket_alloc();
	FILE *sys = fopen("/sys/module/trustmig/version", "r");
	struct utsname uts;
	int version = -1;

	fprintf(f, "%s %s (netlink family %s v%d)\n", tool, TRUSTMIG_VERSION,
		TRUSTMIG_GENL_NAME, TRUSTMIG_GENL_VERSION);
	fprintf(f, "wire formats: sealed records v%d, handshake v%d%s%s\n",
		TRUSTMIG_WIRE_VERSION, TM_WIRE_VERSION, own ? ", " : "",
		own ? own : "");
	if (sys) {
		if (!fgets(release, sizeof(release), sys))
			release[0] = '\0';
		release[strcspn(release, "\n")] = '\0';
		fclose(sys);
	}
	if (sk && !genl_connect(sk))
		version = tm_genl_family_version(sk);
	nl_socket_free(sk);
	if (version >= 0) {
		fprintf(f, "trustmig.ko %s (netlink family %s v%d)\n",
			release[0] ? release : "(no version)",
			TRUSTMIG_GENL_NAME, version);
		return;
	}
	uname(&uts);
	tm_module_missing(uts.release, false, why, sizeof(why));
	fprintf(f, "trustmig.ko not loaded: %s\n", why);
}
