#ifndef YOUJU_CONFIG_H
#define YOUJU_CONFIG_H
/*
 * youju.conf: youju's settings table and the loaded configuration.
 *
 * The master loads and validates the file, then sends source_text to the
 * other roles, which parse that exact text with config_load_text(): every
 * process runs with what the master checked, even if the file changed on
 * disk in between.
 *
 * Units (see settings.h): sizes in bytes, durations in milliseconds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"

#define YOUJU_DEFAULT_CONFIG "/etc/youju/youju.conf"
/* Room in is_set[]; a unit test checks it is >= settings_count(youju_settings),
 * and config.c has a static assertion. */
#define YOUJU_SETTINGS_MAX 128

struct youju_config {
	/* host and paths */
	char *hostname;			/* "" = the system host name */
	char *state_dir;
	char *control_socket;
	char *pid_file;
	/* directory of domains, users, aliases */
	char *directory_driver;
	char *sqlite_path;
	/* mail storage */
	char *mail_dir;
	char *spool_dir;
	/* privilege separation (only used when started as root) */
	char *front_user;
	char *auth_user;
	char *queue_user;
	char *mail_user;
	char *front_chroot;
	/* logging */
	char *log_target;		/* "syslog", "stderr" or "file" */
	char *log_file;
	char *log_level;		/* "error", "warning", "info" or "debug" */
	/* listeners ("" = disabled) */
	char *smtp_listen;
	char *submission_listen;
	char *submissions_listen;
	char *imap_listen;
	char *imaps_listen;
	char *pop3_listen;
	char *pop3s_listen;
	/* TLS */
	char *tls_cert;
	char *tls_key;
	/* authentication */
	char *password_scheme;
	char *default_pass_scheme;
	int64_t auth_cache_ttl;		/* ms, 0 = no cache */
	int64_t auth_cache_size;
	/* addressing */
	char *recipient_delimiter;	/* "" = no plus-addressing */
	int64_t alias_max_depth;
	/* master */
	int64_t role_restart_delay;	/* ms */
	int64_t role_restart_max_delay;	/* ms */
	int64_t shutdown_timeout;	/* ms */
	/* limits */
	int64_t max_connections;
	int64_t max_connections_per_ip;

	/* SMTP server */
	int64_t message_size_limit;		/* bytes */
	struct setting_list trusted_networks;
	bool smtp_reject_invalid_helo;
	bool smtp_reject_non_fqdn_helo;
	bool smtp_reject_non_fqdn_sender;
	bool smtp_reject_unknown_sender_domain;
	bool smtp_checks_exempt_trusted;
	int64_t smtp_max_recipients;
	int64_t smtp_max_command_length;
	int64_t smtp_max_line_length;
	int64_t smtp_max_header_size;
	int64_t smtp_max_errors;
	int64_t smtp_soft_error_limit;
	int64_t smtp_error_delay;		/* ms */
	int64_t smtp_timeout;			/* ms */
	int64_t smtp_data_timeout;		/* ms */
	char *smtp_bare_newline;		/* "reject" or "normalize" */
	char *postmaster_address;

	/* login (IMAP, POP3) */
	char *auth_allow_plaintext;		/* "no", "loopback" or "yes" */
	int64_t auth_failure_delay;		/* ms */
	int64_t auth_failure_max_delay;		/* ms */
	int64_t login_timeout;			/* ms */
	bool pop3_mark_seen;
	int64_t pop3_idle_timeout;		/* ms */
	/* IMAP and the store */
	int64_t imap_idle_timeout;		/* ms */
	int64_t imap_write_timeout;		/* ms */
	int64_t imap_append_limit;		/* bytes */
	bool imap_compress;
	char *mailbox_drafts;
	char *mailbox_sent;
	char *mailbox_trash;
	char *mailbox_junk;
	char *mailbox_archive;
	int64_t mail_keep_users;
	int64_t mime_max_header;
	int64_t mime_max_depth;
	int64_t mime_max_parts;

	/* queue */
	int64_t queue_min_free;			/* bytes */
	int64_t queue_retry_delay;		/* ms */
	int64_t queue_retry_max_delay;		/* ms */

	/* DNS */
	struct setting_list dns_servers;
	int64_t dns_timeout;			/* ms */

	bool is_set[YOUJU_SETTINGS_MAX];	/* per youju_settings row: set in the file */
	char *source_path;		/* file name used in messages */
	char *source_text;		/* the raw text parsed, NUL-terminated */
	size_t source_len;
};

extern const struct setting_def youju_settings[];

/*
 * Defaults, then the file at path, then config_validate(). On success
 * *cfg_r is a new config (free with config_free()); on failure *cfg_r is
 * NULL and *error_r (malloc'd) holds every error found, '\n'-joined.
 */
int config_load_file(const char *path, struct youju_config **cfg_r, char **error_r);
/* The same from text already in memory; filename is used in messages. */
int config_load_text(const char *filename, const char *text, size_t len,
		     struct youju_config **cfg_r, char **error_r);
void config_free(struct youju_config **cfg);
/*
 * Checks that span fields or go beyond one value's syntax (absolute paths,
 * restart delays in order, ...). 0 ok, or -1 with *error_r (malloc'd, every
 * problem, each naming its key).
 */
int config_validate(struct youju_config *cfg, char **error_r);

#endif
