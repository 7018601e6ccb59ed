/* youju's settings table, loading and cross-field validation. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "netaddr.h"
#include "xalloc.h"

#define MS_SECOND INT64_C(1000)
#define MS_MINUTE (60 * MS_SECOND)
#define MS_HOUR (60 * MS_MINUTE)
#define MS_DAY (24 * MS_HOUR)

#define RECIPIENT_DELIMITER_MAX 8

#define F(field) offsetof(struct youju_config, field)

/* Rows for strings/enums/addresses have no bounds. */
#define STR(name, def, reload, doc) \
	{ #name, SET_STRING, def, 0, 0, reload, F(name), doc, NULL }
#define ENUM(name, def, choices, reload, doc) \
	{ #name, SET_ENUM, def, 0, 0, reload, F(name), doc, choices }
#define ADDR(name, def, doc) \
	{ #name, SET_ADDRESS, def, 0, 0, false, F(name), doc, NULL }
#define BOOL(name, def, reload, doc) \
	{ #name, SET_BOOL, def, 0, 0, reload, F(name), doc, NULL }
#define LIST(name, def, reload, doc) \
	{ #name, SET_LIST, def, 0, 0, reload, F(name), doc, NULL }
#define NUM(name, type, def, min, max, reload, doc) \
	{ #name, type, def, min, max, reload, F(name), doc, NULL }

/*
 * Reloadable means the running processes apply a new value on reload.
 * Paths, users, listeners and logging are set up once at start (before
 * privileges are dropped), so they need a restart.
 */
const struct setting_def youju_settings[] = {
	STR(hostname, "", true,
	    "Host name used in SMTP greetings and generated headers; empty means the system host name."),
	STR(state_dir, "/var/lib/youju", false,
	    "Directory for youju's persistent state."),
	STR(control_socket, "/run/youju/control.sock", false,
	    "Unix socket where `youju` commands reach the running daemon."),
	STR(pid_file, "/run/youju/youju.pid", false,
	    "File holding the master process id."),
	ENUM(directory_driver, "sqlite", "sqlite", false,
	     "Where domains, users and aliases are looked up."),
	STR(sqlite_path, "/var/lib/youju/directory.db", false,
	    "SQLite database file of the sqlite directory driver."),
	STR(mail_dir, "/var/mail/vhosts", false,
	    "Root of the mailboxes: each user's Maildir is mail_dir/DOMAIN/LOCALPART/."),
	STR(spool_dir, "/var/spool/youju", false,
	    "Queue spool for messages in transit."),
	STR(front_user, "youju", false,
	    "System user of the front (network-facing) role when started as root."),
	STR(auth_user, "youju-auth", false,
	    "System user of the auth role when started as root."),
	STR(queue_user, "youju-queue", false,
	    "System user of the queue role when started as root."),
	STR(mail_user, "vmail", false,
	    "System user owning the mailboxes, used by the mail role when started as root."),
	STR(front_chroot, "/var/lib/youju/empty", false,
	    "Empty directory the front role is chrooted into when started as root."),
	ENUM(log_target, "syslog", "syslog|stderr|file", false,
	     "Where log lines go: syslog (facility mail), stderr, or log_file."),
	STR(log_file, "/var/log/youju.log", false,
	    "Log file used when log_target is file."),
	ENUM(log_level, "info", "error|warning|info|debug", true,
	     "Least severe level that is logged."),
	ADDR(smtp_listen, "*:25",
	     "Address for incoming mail (SMTP); empty disables it."),
	ADDR(submission_listen, "*:587",
	     "Address for mail submission with STARTTLS; empty disables it."),
	ADDR(submissions_listen, "*:465",
	     "Address for mail submission over implicit TLS; empty disables it."),
	ADDR(imap_listen, "*:143",
	     "Address for IMAP with STARTTLS; empty disables it."),
	ADDR(imaps_listen, "*:993",
	     "Address for IMAP over implicit TLS; empty disables it."),
	ADDR(pop3_listen, "*:110",
	     "Address for POP3 with STLS; empty disables it."),
	ADDR(pop3s_listen, "*:995",
	     "Address for POP3 over implicit TLS; empty disables it."),
	STR(tls_cert, "/etc/youju/tls/cert.pem", false,
	    "PEM certificate chain presented to clients, leaf first."),
	STR(tls_key, "/etc/youju/tls/key.pem", false,
	    "PEM private key of tls_cert."),
	ENUM(password_scheme, "YESCRYPT",
	     "YESCRYPT|SHA512-CRYPT|SHA256-CRYPT|BLF-CRYPT|ARGON2ID|ARGON2I|SSHA512", true,
	     "Scheme used to hash new passwords."),
	STR(default_pass_scheme, "CRYPT", true,
	    "Scheme assumed for stored hashes without a {SCHEME} prefix (like Dovecot's default_pass_scheme)."),
	NUM(auth_cache_ttl, SET_DURATION, "5m", 0, MS_DAY, true,
	    "How long successful lookups and logins are cached; 0 disables the cache."),
	NUM(auth_cache_size, SET_INT, "10000", 0, 10000000, false,
	    "Maximum number of entries in the auth cache."),
	STR(recipient_delimiter, "+", true,
	    "Characters separating a local part from its extension (user+tag@domain); empty disables."),
	NUM(alias_max_depth, SET_INT, "10", 1, 100, true,
	    "Maximum nesting of aliases expanded for one recipient."),
	NUM(role_restart_delay, SET_DURATION, "1s", 100, MS_MINUTE, true,
	    "Delay before restarting a role that exited; doubles while it keeps failing."),
	NUM(role_restart_max_delay, SET_DURATION, "1m", MS_SECOND, MS_HOUR, true,
	    "Upper limit of the doubling restart delay."),
	NUM(shutdown_timeout, SET_DURATION, "10s", 0, 10 * MS_MINUTE, true,
	    "How long roles may take to finish on shutdown before they are killed."),
	NUM(max_connections, SET_INT, "1000", 1, 1000000, true,
	    "Maximum number of simultaneous client connections."),
	NUM(max_connections_per_ip, SET_INT, "50", 1, 1000000, true,
	    "Maximum number of simultaneous client connections from one IP address."),

	/* SMTP server (RFC 5321) */
	NUM(message_size_limit, SET_SIZE, "25M", 1024, 2 * INT64_C(1024) * 1024 * 1024, true,
	    "Largest message accepted, in bytes (announced in EHLO SIZE)."),
	LIST(trusted_networks, "127.0.0.0/8, ::1/128", true,
	     "Client networks (CIDR) that may relay without authentication and skip the HELO/sender checks."),
	BOOL(smtp_reject_invalid_helo, "yes", true,
	     "Reject HELO/EHLO names that are not a valid host name or address literal."),
	BOOL(smtp_reject_non_fqdn_helo, "yes", true,
	     "Reject HELO/EHLO names that are not fully qualified (need a dot)."),
	BOOL(smtp_reject_non_fqdn_sender, "yes", true,
	     "Reject MAIL FROM addresses whose domain is not fully qualified."),
	BOOL(smtp_reject_unknown_sender_domain, "yes", true,
	     "Reject MAIL FROM domains without MX or address records (a DNS failure gives 450, never 5xx)."),
	BOOL(smtp_checks_exempt_trusted, "yes", true,
	     "Skip the HELO and sender checks for clients in trusted_networks."),
	NUM(smtp_max_recipients, SET_INT, "1000", 1, 100000, true,
	    "Recipients accepted per message; more get 452 4.5.3."),
	NUM(smtp_max_command_length, SET_INT, "2048", 512, 65536, true,
	    "Longest SMTP command line in bytes (RFC 5321 asks for at least 512)."),
	NUM(smtp_max_line_length, SET_INT, "65536", 1000, 1048576, true,
	    "Longest message line in bytes; a message with a longer line is rejected after DATA."),
	NUM(smtp_max_header_size, SET_SIZE, "1M", 1024, 64 * INT64_C(1024) * 1024, true,
	    "Largest header section of a message in bytes."),
	NUM(smtp_max_errors, SET_INT, "20", 1, 1000, true,
	    "Errors in one session before the client is disconnected with 421."),
	NUM(smtp_soft_error_limit, SET_INT, "10", 0, 1000, true,
	    "Errors in one session after which every error reply is delayed by smtp_error_delay."),
	NUM(smtp_error_delay, SET_DURATION, "1s", 0, MS_MINUTE, true,
	    "Delay of each error reply once smtp_soft_error_limit is passed."),
	NUM(smtp_timeout, SET_DURATION, "5m", MS_SECOND, MS_HOUR, true,
	    "How long a client may take to send a command (RFC 5321 4.5.3.2)."),
	NUM(smtp_data_timeout, SET_DURATION, "10m", MS_SECOND, 2 * MS_HOUR, true,
	    "How long a client may take to send a whole message after DATA or BDAT."),
	ENUM(smtp_bare_newline, "reject", "reject|normalize", true,
	     "Bare LF in a message: reject (550 5.5.2) or normalize to CRLF; it never ends a line either way."),
	STR(postmaster_address, "", true,
	    "Where mail to postmaster@ a local domain without its own alias goes; empty keeps it queued."),

	/* login (IMAP, POP3) */
	ENUM(auth_allow_plaintext, "loopback", "no|loopback|yes", true,
	     "Password logins without TLS: never, only from loopback clients, or always (RFC 8314 says never)."),
	NUM(auth_failure_delay, SET_DURATION, "2s", 0, MS_MINUTE, true,
	    "Delay of the reply to a failed login; doubles per recent failure from the same address."),
	NUM(auth_failure_max_delay, SET_DURATION, "15s", 0, 10 * MS_MINUTE, true,
	    "Upper limit of the doubling failed-login delay."),
	NUM(login_timeout, SET_DURATION, "3m", MS_SECOND, MS_HOUR, true,
	    "How long an IMAP or POP3 client may stay connected without logging in."),
	BOOL(pop3_mark_seen, "yes", true,
	     "POP3 RETR and TOP mark the message \\Seen (what IMAP clients of the same mailbox see)."),
	NUM(pop3_idle_timeout, SET_DURATION, "10m", MS_MINUTE, MS_HOUR, true,
	    "How long a logged-in POP3 client may stay silent (RFC 1939 asks for at least 10 minutes)."),

	/* IMAP (after login) and the mail store */
	NUM(imap_idle_timeout, SET_DURATION, "30m", MS_SECOND, 2 * MS_HOUR, true,
	    "How long a logged-in IMAP client may stay silent; IDLE counts as activity only up to this (RFC 9051 5.4 asks for at least 30 minutes)."),
	NUM(imap_write_timeout, SET_DURATION, "5m", MS_SECOND, MS_HOUR, true,
	    "How long an IMAP or POP3 client may leave output unread before it is disconnected (its buffered output is bounded meanwhile)."),
	NUM(imap_append_limit, SET_SIZE, "64M", 1024, 1024 * 1024 * 1024, true,
	    "Largest message APPEND accepts (APPENDLIMIT, RFC 7889); larger literals are refused before they are sent."),
	BOOL(imap_compress, "yes", true,
	     "Offer COMPRESS=DEFLATE (RFC 4978) to IMAP clients."),
	STR(mailbox_drafts, "Drafts", true,
	    "Folder created at first login with the \\Drafts special use (RFC 6154); empty for none."),
	STR(mailbox_sent, "Sent", true,
	    "Folder created at first login with the \\Sent special use; empty for none."),
	STR(mailbox_trash, "Trash", true,
	    "Folder created at first login with the \\Trash special use; empty for none."),
	STR(mailbox_junk, "Junk", true,
	    "Folder created at first login with the \\Junk special use; empty for none."),
	STR(mailbox_archive, "Archive", true,
	    "Folder created at first login with the \\Archive special use; empty for none."),
	NUM(mail_keep_users, SET_INT, "64", 0, 100000, true,
	    "Users whose folder indexes stay in memory after their last session or delivery ends (most recently used); 0 reads them again every time."),
	NUM(mime_max_header, SET_SIZE, "1M", 4096, 64 * 1024 * 1024, true,
	    "Header bytes of one message or MIME part that IMAP parses (ENVELOPE, BODYSTRUCTURE, SEARCH); fields beyond are ignored."),
	NUM(mime_max_depth, SET_INT, "50", 2, 1000, true,
	    "Nesting depth of multipart and message/rfc822 parts that IMAP parses; deeper parts are opaque."),
	NUM(mime_max_parts, SET_INT, "5000", 2, 1000000, true,
	    "MIME parts of one message that IMAP parses; the rest is opaque."),

	/* queue */
	NUM(queue_min_free, SET_SIZE, "100M", 0, INT64_MAX, true,
	    "Free space the spool must keep; below it MAIL gets 452 4.3.1."),
	NUM(queue_retry_delay, SET_DURATION, "30s", 100, MS_DAY, true,
	    "First retry delay after a temporary delivery failure; doubles per attempt."),
	NUM(queue_retry_max_delay, SET_DURATION, "1h", MS_SECOND, 7 * MS_DAY, true,
	    "Upper limit of the doubling retry delay."),

	/* DNS */
	LIST(dns_servers, "", false,
	     "DNS servers to forward to (IP or IP@port); empty uses /etc/resolv.conf."),
	NUM(dns_timeout, SET_DURATION, "10s", 100, 5 * MS_MINUTE, true,
	    "How long one DNS lookup may take before it counts as a temporary failure."),
	{ NULL, SET_STRING, NULL, 0, 0, false, 0, NULL, NULL }
};

_Static_assert(sizeof(youju_settings) / sizeof(youju_settings[0]) - 1 <= YOUJU_SETTINGS_MAX,
	       "raise YOUJU_SETTINGS_MAX");

/* ---- validation ---- */

/* Append one problem, prefixed with the file name when known. */
static void __attribute__((format(printf, 4, 5)))
config_problem(const struct youju_config *cfg, buf_t *errors, const char *key,
	       const char *fmt, ...)
{
	va_list ap;
	if (errors->used > 0)
		buf_append_byte(errors, '\n');
	if (cfg->source_path != NULL)
		buf_printf(errors, "%s: ", cfg->source_path);
	buf_printf(errors, "%s: ", key);
	va_start(ap, fmt);
	buf_vprintf(errors, fmt, ap);
	va_end(ap);
}

static void config_check_paths(const struct youju_config *cfg, buf_t *errors)
{
	static const struct {
		const char *key;
		size_t offset;
	} paths[] = {
		{ "state_dir", F(state_dir) }, { "control_socket", F(control_socket) },
		{ "pid_file", F(pid_file) }, { "sqlite_path", F(sqlite_path) },
		{ "mail_dir", F(mail_dir) }, { "spool_dir", F(spool_dir) },
		{ "front_chroot", F(front_chroot) }, { "log_file", F(log_file) },
		{ "tls_cert", F(tls_cert) }, { "tls_key", F(tls_key) },
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *path = *(char *const *)((const char *)cfg + paths[i].offset);
		/* roles chdir and chroot; a relative path would mean something
		 * different in each of them. An empty log_file is checked below. */
		if (path[0] != '/' && !(path[0] == '\0' && strcmp(paths[i].key, "log_file") == 0))
			config_problem(cfg, errors, paths[i].key,
				       "must be an absolute path, not '%s'", path);
	}
}

static void config_check_hostname(const struct youju_config *cfg, buf_t *errors)
{
	/* it goes into the SMTP greeting and EHLO: one word of name chars */
	size_t span = strspn(cfg->hostname, "abcdefghijklmnopqrstuvwxyz"
			     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
	if (cfg->hostname[span] != '\0')
		config_problem(cfg, errors, "hostname",
			       "'%s' is not a host name (letters, digits, '.' and '-')",
			       cfg->hostname);
}

static void config_check_delimiter(const struct youju_config *cfg, buf_t *errors)
{
	const char *d = cfg->recipient_delimiter;
	if (strlen(d) > RECIPIENT_DELIMITER_MAX)
		config_problem(cfg, errors, "recipient_delimiter",
			       "'%s' is longer than %d characters", d,
			       RECIPIENT_DELIMITER_MAX);
	else if (strpbrk(d, "@ \t") != NULL)
		config_problem(cfg, errors, "recipient_delimiter",
			       "'%s' must not contain '@' or whitespace", d);
}

static void config_check_users(const struct youju_config *cfg, buf_t *errors)
{
	const char *keys[] = { "front_user", "auth_user", "queue_user", "mail_user" };
	const char *users[] = { cfg->front_user, cfg->auth_user, cfg->queue_user, cfg->mail_user };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (users[i][0] == '\0')
			config_problem(cfg, errors, keys[i], "must not be empty");
}

static void config_check_restart_delays(const struct youju_config *cfg, buf_t *errors)
{
	if (cfg->role_restart_delay <= cfg->role_restart_max_delay)
		return;
	buf_t delay, max;
	buf_init(&delay, 0);
	buf_init(&max, 0);
	settings_format_value(&youju_settings[settings_find(youju_settings, "role_restart_delay")],
			      cfg, &delay);
	settings_format_value(&youju_settings[settings_find(youju_settings, "role_restart_max_delay")],
			      cfg, &max);
	config_problem(cfg, errors, "role_restart_delay",
		       "%s must not be longer than role_restart_max_delay (%s)",
		       buf_cstr(&delay), buf_cstr(&max));
	buf_free(&delay);
	buf_free(&max);
}

static void config_check_networks(const struct youju_config *cfg, buf_t *errors)
{
	struct netmask_list l = { 0 };
	const char *error = NULL;
	if (netmask_list_parse((const char *const *)cfg->trusted_networks.items, cfg->trusted_networks.count,
			       &l, &error) < 0)
		config_problem(cfg, errors, "trusted_networks", "%s", error);
	netmask_list_free(&l);
	/* dns_servers: "IP" or "IP@port" */
	for (size_t i = 0; i < cfg->dns_servers.count; i++) {
		char *item = xstrdup(cfg->dns_servers.items[i]);
		char *at = strchr(item, '@');
		struct netaddr a;
		bool ok = true;
		if (at) {
			*at = '\0';
			char *end = NULL;
			long port = strtol(at + 1, &end, 10);
			ok = end && *end == '\0' && port > 0 && port < 65536;
		}
		if (!ok || netaddr_parse(item, &a) < 0)
			config_problem(cfg, errors, "dns_servers", "'%s' is not IP or IP@port",
				       cfg->dns_servers.items[i]);
		free(item);
	}
}

int config_validate(struct youju_config *cfg, char **error_r)
{
	buf_t errors;
	buf_init(&errors, 0);
	config_check_paths(cfg, &errors);
	config_check_hostname(cfg, &errors);
	config_check_delimiter(cfg, &errors);
	config_check_users(cfg, &errors);
	config_check_restart_delays(cfg, &errors);
	config_check_networks(cfg, &errors);
	if (strcmp(cfg->log_target, "file") == 0 && cfg->log_file[0] == '\0')
		config_problem(cfg, &errors, "log_file",
			       "must be set when log_target is file");
	if (errors.used == 0) {
		buf_free(&errors);
		return 0;
	}
	*error_r = xstrdup(buf_cstr(&errors));
	buf_free(&errors);
	return -1;
}

/* ---- loading ---- */

static struct youju_config *config_new(const char *filename)
{
	struct youju_config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->source_path = xstrdup(filename != NULL ? filename : "-");
	return cfg;
}

static int config_finish(struct youju_config *cfg, struct youju_config **cfg_r, char **error_r)
{
	if (config_validate(cfg, error_r) < 0) {
		config_free(&cfg);
		return -1;
	}
	*cfg_r = cfg;
	return 0;
}

int config_load_text(const char *filename, const char *text, size_t len,
		     struct youju_config **cfg_r, char **error_r)
{
	struct youju_config *cfg = config_new(filename);
	*cfg_r = NULL;
	if (settings_set_defaults(youju_settings, cfg, error_r) < 0 ||
	    settings_parse_text(youju_settings, cfg, cfg->is_set, cfg->source_path, text, len,
				error_r) < 0) {
		config_free(&cfg);
		return -1;
	}
	cfg->source_text = xmalloc(len + 1);
	if (len > 0)
		memcpy(cfg->source_text, text, len);
	cfg->source_text[len] = '\0';
	cfg->source_len = len;
	return config_finish(cfg, cfg_r, error_r);
}

int config_load_file(const char *path, struct youju_config **cfg_r, char **error_r)
{
	struct youju_config *cfg = config_new(path);
	*cfg_r = NULL;
	if (settings_set_defaults(youju_settings, cfg, error_r) < 0 ||
	    settings_load_file(youju_settings, cfg, cfg->is_set, path, &cfg->source_text,
			       error_r) < 0) {
		config_free(&cfg);
		return -1;
	}
	/* the parser rejects NUL bytes, so strlen() is the whole text */
	cfg->source_len = strlen(cfg->source_text);
	return config_finish(cfg, cfg_r, error_r);
}

void config_free(struct youju_config **cfgp)
{
	struct youju_config *cfg = *cfgp;
	if (cfg == NULL)
		return;
	settings_free_values(youju_settings, cfg);
	free(cfg->source_path);
	free(cfg->source_text);
	free(cfg);
	*cfgp = NULL;
}
