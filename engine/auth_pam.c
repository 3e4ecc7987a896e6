/* PAM conversation that answers the password prompt from memory.
 * Service "xcon": where /etc/pam.d/xcon does not exist PAM applies its
 * `other` stack, which on Debian is the common-auth/common-account pair. */
#include "auth_pam.h"

#include <security/pam_appl.h>
#include <stdlib.h>
#include <string.h>

#include "../util/xalloc.h"

struct conv_data {
	const char *password;
	const char *new_password; /* for a password change, else NULL */
	unsigned asked;           /* prompts answered so far */
};

static const char *answer(struct conv_data *cd, const char *prompt)
{
	if (!cd->new_password)
		return cd->password;
	bool is_new = prompt && (strcasestr(prompt, "new") || strcasestr(prompt, "retype"));
	if (is_new)
		cd->asked = 2;
	return cd->asked++ >= 1 || is_new ? cd->new_password : cd->password;
}

static int converse(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct conv_data *cd = data;
	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			/* A change asks the current password (unless root needs
			 * none), then the new one, then the new one again: every
			 * prompt after a "new" one gets the new password. */
			r[i].resp = strdup(answer(cd, msg[i]->msg));
			if (!r[i].resp)
				goto fail;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++)
		free(r[i].resp);
	free(r);
	return PAM_CONV_ERR;
}

/* PAM would sleep after a failure (pam_unix's delay) inside our lock; the
 * engine applies its own delay outside it, so PAM's is replaced by nothing. */
static void no_delay(int retval, unsigned usec_delay, void *appdata)
{
	(void)retval;
	(void)usec_delay;
	(void)appdata;
}

enum pam_job { JOB_CHECK, JOB_CHANGE };

/* One PAM transaction for user: check the password (and the account), or
 * change it.  No lock around PAM: each handle is independent and pam_unix
 * uses the reentrant lookups (pam_modutil_*), while a failed check can take
 * a second of hashing that must not hold up other logins. */
static bool run_pam(const char *service, const char *user, struct conv_data *cd, enum pam_job job, char **why)
{
	struct pam_conv conv = { converse, cd };
	pam_handle_t *h = NULL;
	int rc = pam_start(service, user, &conv, &h);
	if (rc == PAM_SUCCESS)
		rc = pam_set_item(h, PAM_FAIL_DELAY, (const void *)no_delay);
	if (rc == PAM_SUCCESS && job == JOB_CHECK) {
		rc = pam_authenticate(h, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
		if (rc == PAM_SUCCESS)
			rc = pam_acct_mgmt(h, PAM_SILENT);
	} else if (rc == PAM_SUCCESS) {
		rc = pam_chauthtok(h, PAM_SILENT);
	}
	if (rc != PAM_SUCCESS && why)
		*why = xstrdup(pam_strerror(h, rc));
	if (h)
		pam_end(h, rc);
	return rc == PAM_SUCCESS;
}

bool auth_pam_check(const char *service, const char *user, const char *password, char **why)
{
	struct conv_data cd = { password ? password : "", NULL, 0 };
	return run_pam(service, user, &cd, JOB_CHECK, why);
}

bool auth_pam_change(const char *service, const char *user, const char *old_password, const char *new_password,
		     char **why)
{
	struct conv_data cd = { old_password ? old_password : "", new_password ? new_password : "", 0 };
	return run_pam(service, user, &cd, JOB_CHANGE, why);
}
