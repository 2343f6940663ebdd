/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host's configuration file (docs/operations.md, example in
 * docs/trustmig.conf.example): one "key = value" per line, '#' starts a
 * comment line, blank lines are ignored; "anchor" and "crl" may repeat,
 * every other key is set at most once. Relative paths are relative to the
 * file's directory.
 *
 * Precedence, highest first: command-line flag, environment variable
 * ($TRUSTMIG_TCTI, $TRUSTMIG_STATE), this file, built-in default. A list
 * given on the command line (--crl) replaces the file's list.
 */
#ifndef TRUSTMIG_CONFIG_H
#define TRUSTMIG_CONFIG_H

#include <stdbool.h>

#include <openssl/x509.h>

#define TM_CONFIG_DEFAULT	"/etc/trustmig/trustmig.conf"
#define TM_CONFIG_ENV		"TRUSTMIG_CONFIG"
#define TM_CONFIG_LIST_MAX	16
#define TM_CONFIG_KEYS		11

/* built-in defaults (TPM and state directory: tpm.h, host.h) */
#define TM_LISTEN_DEFAULT	"0.0.0.0:7468"
#define TM_POLICY_DIR_DEFAULT	"/etc/trustmig/policies"
#define TM_SESSION_DIR_DEFAULT	"/run/trustmig/sessions"
#define TM_TIMEOUT_DEFAULT	30

struct tm_config {
	char *file;		/* the file read; NULL: none (built-ins) */
	char *tcti;
	char *state;
	char *policy_dir;
	char *session_dir;
	char *listen;
	char *ima_log;
	unsigned long timeout;	/* seconds; 0: not set */
	/* trustmig.ko's session deadlines, seconds; 0: the module's default */
	unsigned long attach_timeout;
	unsigned long lifetime;
	unsigned int nanchors;
	char *anchor[TM_CONFIG_LIST_MAX];
	unsigned int ncrls;
	char *crl[TM_CONFIG_LIST_MAX];
	/* each value's line in @file, by key and list index; 0: not set */
	unsigned int line[TM_CONFIG_KEYS][TM_CONFIG_LIST_MAX];
};

/*
 * Read @path; with @path NULL, $TRUSTMIG_CONFIG, else TM_CONFIG_DEFAULT if
 * that file exists (a missing default file leaves @c empty). Errors name
 * FILE:LINE and return TM_EXIT_CONFIG.
 */
int tm_config_load(const char *path, struct tm_config *c);
void tm_config_free(struct tm_config *c);
/* The line of @c->file that set value @i of @key; 0 if none did. */
unsigned int tm_config_line(const struct tm_config *c, const char *key,
			    unsigned int i);

/* The first non-empty of @flag, $@env (if @env), @conf, @dflt. */
const char *tm_setting(const char *flag, const char *env, const char *conf,
		       const char *dflt);
/* Append a command-line @value to @list of *@n (TM_CONFIG_LIST_MAX). */
int tm_config_list_add(char **list, unsigned int *n, const char *what,
		       char *value);
/*
 * CRLs from the @nflags paths given on the command line, else from the
 * file; TM_EXIT_USAGE if there are none.
 */
int tm_config_crls(const struct tm_config *c, char *const *flags,
		   unsigned int nflags, struct stack_st_X509_CRL **crls);
/* The file's TTP anchors as a store; *@st is NULL if it names none. */
int tm_config_anchors(const struct tm_config *c, X509_STORE **st);

/* One thing wrong with what a setting names. */
struct tm_config_problem {
	const char *key;
	unsigned int line;	/* the setting's line in the file; 0: none */
	/*
	 * The file is right, but this stands in the host's way until
	 * something else changes (a new CRL, enrolment, trustmigd's start).
	 */
	bool warning;
	char *msg;
};

struct tm_config_report {
	unsigned int n, errors;
	struct tm_config_problem *p;
	bool oom;
};

/*
 * Like sshd -t: check what @c and the settings in effect, @state,
 * @policy_dir and @session_dir (a pointer into @c if the file set it),
 * name: anchors are CA certificates, every CRL parses and is signed by
 * one of them, directories exist, every policy parses and names an
 * anchor this host trusts. Problems go to @r; TM_EXIT_ERROR only if
 * memory ran out.
 */
int tm_config_check(const struct tm_config *c, const char *state,
		    const char *policy_dir, const char *session_dir,
		    struct tm_config_report *r);
void tm_config_report_free(struct tm_config_report *r);

#endif /* TRUSTMIG_CONFIG_H */
