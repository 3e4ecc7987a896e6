/* Password checks through PAM, the host's own account database. */
#ifndef XCON_AUTH_PAM_H
#define XCON_AUTH_PAM_H

#include <stdbool.h>

/* True when user/password pass the service's auth and account stacks.
 * On failure *why (caller frees) holds PAM's reason, never the password. */
bool auth_pam_check(const char *service, const char *user, const char *password, char **why);

/* Changes user's password through the service's password stack
 * (pam_chauthtok), answering its prompts with the old password and then
 * the new one.  The caller checks the old password first: running as
 * root, pam_unix does not ask for it.  On failure *why as above. */
bool auth_pam_change(const char *service, const char *user, const char *old_password, const char *new_password,
		     char **why);

#endif
