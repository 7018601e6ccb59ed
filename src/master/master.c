#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "log.h"
#include "master.h"
#include "privsep.h"
#include "role.h"
#include "settings.h"
#include "xalloc.h"

#define VERSION_STRING "youju 0.1.0"

/* Which roles talk to each other directly. The master makes one
 * socketpair per edge and hands the ends over (again when one restarts). */
static const enum youju_role peer_edges[][2] = {
	{ ROLE_FRONT, ROLE_AUTH }, { ROLE_FRONT, ROLE_QUEUE }, { ROLE_FRONT, ROLE_MAIL },
	{ ROLE_QUEUE, ROLE_MAIL }, { ROLE_QUEUE, ROLE_AUTH }, { ROLE_MAIL, ROLE_AUTH },
};

static void on_role_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *arg);
static void on_role_error(struct ipc_channel *ch, const char *reason, void *arg);
static void spawn_role(struct master *m, enum youju_role r);

static struct master *role_master(struct role_proc *p)
{
	/* roles[] is embedded in struct master: step back to it */
	return (struct master *)((char *)(p - p->role) - offsetof(struct master, roles));
}

static void send_config(struct master *m, struct role_proc *p)
{
	struct ipc_msg msg;
	ipc_msg_init(&msg, MSG_CONFIG, 0);
	ipc_add_str(&msg, m->effective_text);
	ipc_add_str(&msg, m->config_path);
	ipc_send(p->ch, &msg);
}

static void send_peer(struct role_proc *to, enum youju_role other, int fd)
{
	struct ipc_msg msg;
	ipc_msg_init(&msg, MSG_PEER, 0);
	ipc_add_str(&msg, role_name(other));
	ipc_add_fd(&msg, fd);
	ipc_send(to->ch, &msg);
}

/* Connect a freshly spawned role with every running peer. */
static void connect_peers(struct master *m, enum youju_role r)
{
	for (size_t i = 0; i < sizeof(peer_edges) / sizeof(peer_edges[0]); i++) {
		enum youju_role a = peer_edges[i][0], b = peer_edges[i][1];
		if (a != r && b != r)
			continue;
		enum youju_role other = a == r ? b : a;
		if (m->roles[other].ch == NULL)
			continue;	/* it connects to us when it starts */
		int sv[2];
		if (ipc_socketpair(sv) < 0) {
			log_error("socketpair for %s-%s: %s", role_name(r), role_name(other), strerror(errno));
			continue;
		}
		send_peer(&m->roles[r], other, sv[0]);
		send_peer(&m->roles[other], r, sv[1]);
	}
}

static void spawn_role(struct master *m, enum youju_role r)
{
	struct role_proc *p = &m->roles[r];
	int sv[2];

	if (ipc_socketpair(sv) < 0) {
		log_error("socketpair: %s", strerror(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork role=%s: %s", role_name(r), strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		/* child: the master channel becomes fd 3, everything else is
		 * close-on-exec; stdin is /dev/null */
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0 && devnull != 0) {
			dup2(devnull, 0);
			close(devnull);
		}
		/* dup2 clears close-on-exec, except when the fd is already 3 */
		if (sv[1] == ROLE_MASTER_FD)
			fcntl(sv[1], F_SETFD, 0);
		else if (dup2(sv[1], ROLE_MASTER_FD) < 0)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		char *argv[] = { "youju", "role", (char *)role_name(r), NULL };
		execv(m->self_exe, argv);
		_exit(127);
	}
	close(sv[1]);
	p->role = r;
	p->pid = pid;
	p->ready = false;
	p->started = time(NULL);
	p->ch = ipc_channel_create(m->base, sv[0], role_name(r), on_role_msg, on_role_error, p);
	log_info("started role=%s pid=%d", role_name(r), (int)pid);

	send_config(m, p);
	if (r == ROLE_FRONT) {
		for (unsigned i = 0; i < m->nlisteners; i++) {
			struct ipc_msg msg;
			int fd = fcntl(m->listeners[i].fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				fatal_errno("dup listener");
			ipc_msg_init(&msg, MSG_LISTENER, 0);
			ipc_add_str(&msg, m->listeners[i].name);
			ipc_add_fd(&msg, fd);
			ipc_send(p->ch, &msg);
		}
	}
	connect_peers(m, r);
	struct ipc_msg go;
	ipc_msg_init(&go, MSG_GO, 0);
	ipc_send(p->ch, &go);
}

static void on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
	struct role_proc *p = arg;
	struct master *m = role_master(p);
	if (!m->stopping && p->pid == 0)
		spawn_role(m, p->role);
}

static void all_stopped(struct master *m)
{
	for (int i = 0; i < ROLE_COUNT; i++)
		if (m->roles[i].pid > 0)
			return;
	log_info("all roles stopped; master exiting");
	event_base_loopexit(m->base, NULL);
}

/* A role process ended: log why, and restart it with backoff. */
static void role_exited(struct master *m, struct role_proc *p, int status)
{
	char why[64];
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exited with status %d", WEXITSTATUS(status));
	ipc_channel_destroy(&p->ch);
	control_role_gone(m, p->role);
	pid_t old = p->pid;
	p->pid = 0;
	p->ready = false;
	if (m->stopping) {
		log_info("role=%s pid=%d %s", role_name(p->role), (int)old, why);
		all_stopped(m);
		return;
	}
	/* backoff doubles for a role that keeps dying young, and resets for
	 * one that ran a while */
	int64_t base = m->cfg->role_restart_delay, max = m->cfg->role_restart_max_delay;
	if (time(NULL) - p->started > 60 || p->backoff_ms == 0)
		p->backoff_ms = base;
	else
		p->backoff_ms = p->backoff_ms * 2 > max ? max : p->backoff_ms * 2;
	p->restarts++;
	log_error("role=%s pid=%d %s; restarting in %lldms", role_name(p->role), (int)old, why,
		  (long long)p->backoff_ms);
	struct timeval tv = { p->backoff_ms / 1000, (p->backoff_ms % 1000) * 1000 };
	if (p->restart_ev == NULL)
		p->restart_ev = evtimer_new(m->base, on_restart_timer, p);
	evtimer_add(p->restart_ev, &tv);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < ROLE_COUNT; i++)
			if (m->roles[i].pid == pid)
				role_exited(m, &m->roles[i], status);
	}
}

static void on_role_msg(struct ipc_channel *ch, struct ipc_msg *msg, void *arg)
{
	struct role_proc *p = arg;
	struct master *m = role_master(p);
	uint32_t pid;

	switch (msg->type) {
	case MSG_READY:
		if (ipc_get_u32(msg, &pid) < 0 || ipc_get_end(msg) < 0) {
			log_error("role=%s sent a malformed MSG_READY", role_name(p->role));
			kill(p->pid, SIGKILL);
			return;
		}
		p->ready = true;
		log_info("role=%s pid=%d ready", role_name(p->role), (int)pid);
		break;
	default:
		control_on_role_msg(m, p->role, msg);
	}
}

static void on_role_error(struct ipc_channel *ch, const char *reason, void *arg)
{
	struct role_proc *p = arg;
	/* malformed IPC is fatal for that peer: kill it, SIGCHLD restarts it */
	if (strcmp(reason, "closed") != 0)
		log_error("role=%s protocol error: %s; killing it", role_name(p->role), reason);
	if (p->pid > 0)
		kill(p->pid, SIGKILL);
	ipc_channel_destroy(&p->ch);
}

/* The text sent to roles: the new config, except that settings which need
 * a restart keep the values the running daemon started with. */
static char *effective_text(const struct youju_config *running, const struct youju_config *next)
{
	buf_t out;
	buf_init(&out, 0);
	for (int i = 0; youju_settings[i].name; i++) {
		const struct setting_def *row = &youju_settings[i];
		const struct youju_config *src = row->reloadable || running == NULL ? next : running;
		/* settings_format_value writes config syntax, quoting as needed */
		buf_printf(&out, "%s = ", row->name);
		settings_format_value(row, src, &out);
		buf_append_byte(&out, '\n');
	}
	char *s = xstrdup(buf_cstr(&out));
	buf_free(&out);
	return s;
}

void master_reload(struct master *m, buf_t *result)
{
	struct youju_config *next = NULL;
	char *error = NULL;

	if (m->stopping) {
		buf_printf(result, "reload refused: the daemon is stopping");
		return;
	}
	if (config_load_file(m->config_path, &next, &error) < 0) {
		log_error("reload rejected, keeping the running configuration: %s", error);
		buf_printf(result, "reload rejected, keeping the running configuration:\n%s", error);
		free(error);
		return;
	}
	buf_t changed;
	buf_init(&changed, 0);
	if (settings_diff_nonreloadable(youju_settings, m->cfg, next, &changed) > 0)
		log_warn("reload: these settings change only at restart: %s", buf_cstr(&changed));
	char *text = effective_text(m->cfg, next);
	struct youju_config *applied = NULL;
	if (config_load_text(m->config_path, text, strlen(text), &applied, &error) < 0) {
		/* cannot happen: every value came from a validated config */
		log_error("reload: merged configuration invalid: %s", error);
		buf_printf(result, "reload failed: %s", error);
		free(error);
		free(text);
		config_free(&next);
		buf_free(&changed);
		return;
	}
	config_free(&next);
	config_free(&m->cfg);
	m->cfg = applied;
	free(m->effective_text);
	m->effective_text = text;
	enum log_level lvl = LOG_LVL_INFO;
	(void)log_level_parse(m->cfg->log_level, &lvl);
	log_set_level(lvl);
	for (int i = 0; i < ROLE_COUNT; i++)
		if (m->roles[i].ch)
			send_config(m, &m->roles[i]);
	log_info("configuration reloaded from %s", m->config_path);
	buf_printf(result, "configuration reloaded");
	if (changed.used)
		buf_printf(result, "; these settings change only at restart: %s", buf_cstr(&changed));
	buf_free(&changed);
}

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (m->roles[i].pid > 0) {
			log_warn("role=%s pid=%d did not stop in time; killing it",
				 role_name((enum youju_role)i), (int)m->roles[i].pid);
			kill(m->roles[i].pid, SIGKILL);
		}
	}
}

void master_stop(struct master *m)
{
	if (m->stopping)
		return;
	m->stopping = true;
	log_info("stopping: closing listeners, %lldms for in-flight work",
		 (long long)m->cfg->shutdown_timeout);
	master_close_listeners(m);
	for (int i = 0; i < ROLE_COUNT; i++) {
		struct role_proc *p = &m->roles[i];
		if (p->restart_ev)
			evtimer_del(p->restart_ev);
		if (p->ch) {
			struct ipc_msg msg;
			ipc_msg_init(&msg, MSG_SHUTDOWN, 0);
			ipc_send(p->ch, &msg);
		}
	}
	struct timeval tv = { m->cfg->shutdown_timeout / 1000, (m->cfg->shutdown_timeout % 1000) * 1000 };
	m->stop_timer = evtimer_new(m->base, on_stop_timer, m);
	evtimer_add(m->stop_timer, &tv);
	all_stopped(m);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	if (sig == SIGHUP) {
		buf_t result;
		buf_init(&result, 0);
		log_info("SIGHUP: reloading %s", m->config_path);
		master_reload(m, &result);
		buf_free(&result);
	} else {
		log_info("signal %d: stopping", (int)sig);
		master_stop(m);
	}
}

static void format_duration(buf_t *out, time_t secs)
{
	if (secs >= 86400)
		buf_printf(out, "%lldd%lldh", (long long)secs / 86400, (long long)(secs % 86400) / 3600);
	else if (secs >= 3600)
		buf_printf(out, "%lldh%lldm", (long long)secs / 3600, (long long)(secs % 3600) / 60);
	else if (secs >= 60)
		buf_printf(out, "%lldm%llds", (long long)secs / 60, (long long)secs % 60);
	else
		buf_printf(out, "%llds", (long long)secs);
}

void master_status_text(struct master *m, buf_t *out)
{
	time_t now = time(NULL);
	buf_printf(out, "%s  master pid=%d  uptime=", VERSION_STRING, (int)getpid());
	format_duration(out, now - m->started);
	buf_printf(out, "  config=%s%s\n", m->config_path, m->stopping ? "  (stopping)" : "");
	buf_printf(out, "%-6s %-8s %-9s %-10s %s\n", "ROLE", "PID", "STATE", "UPTIME", "RESTARTS");
	for (int i = 0; i < ROLE_COUNT; i++) {
		struct role_proc *p = &m->roles[i];
		buf_t up;
		buf_init(&up, 0);
		if (p->pid > 0)
			format_duration(&up, now - p->started);
		else
			buf_append_cstr(&up, "-");
		buf_printf(out, "%-6s %-8d %-9s %-10s %u\n", role_name((enum youju_role)i), (int)p->pid,
			   p->pid == 0 ? "restarting" : p->ready ? "running" : "starting",
			   buf_cstr(&up), p->restarts);
		buf_free(&up);
	}
}

static int write_pid_file(const char *path, char **error_r)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 ||
	    rename(tmp, path) < 0) {
		*error_r = xasprintf("cannot write pid file %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void setup_logging(struct master *m)
{
	enum log_level lvl = LOG_LVL_INFO;
	(void)log_level_parse(m->cfg->log_level, &lvl);
	if (strcmp(m->cfg->log_target, "file") == 0) {
		int fd = open(m->cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			fprintf(stderr, "youju: cannot open log_file %s: %s\n", m->cfg->log_file, strerror(errno));
			exit(1);
		}
		/* fd 2 is inherited by every role: one file, whole lines */
		dup2(fd, STDERR_FILENO);
		close(fd);
		log_init("master", LOG_TARGET_FILE, lvl);
	} else if (strcmp(m->cfg->log_target, "syslog") == 0) {
		log_init("master", LOG_TARGET_SYSLOG, lvl);
	} else {
		log_init("master", LOG_TARGET_STDERR, lvl);
	}
}

static void daemonize_now(void)
{
	pid_t pid = fork();
	if (pid < 0)
		fatal_errno("fork");
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		fatal_errno("fork");
	if (pid > 0)
		_exit(0);
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		close(fd);
	}
}

int master_serve(const char *config_path, bool daemonize)
{
	static struct master m;
	char *error = NULL;

	if (config_load_file(config_path, &m.cfg, &error) < 0) {
		fprintf(stderr, "youju: %s\n", error);
		return 1;
	}
	m.config_path = xstrdup(config_path);
	ssize_t n = readlink("/proc/self/exe", m.self_exe, sizeof(m.self_exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "youju: cannot find my own executable: %s\n", strerror(errno));
		return 1;
	}
	m.self_exe[n] = '\0';
	m.effective_text = effective_text(NULL, m.cfg);
	signal(SIGPIPE, SIG_IGN);
	/* every connection is a descriptor in front and, after login, in
	   mail (plus its folders' files): the soft limit (often 1024) is too
	   low for max_connections, so take the hard one; the roles inherit it */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	setup_logging(&m);
	if (master_setup_dirs(m.cfg, &error) < 0 || master_bind_listeners(&m, &error) < 0 ||
	    control_open(&m, &error) < 0) {
		log_error("cannot start: %s", error);
		if (strcmp(m.cfg->log_target, "stderr") != 0)
			fprintf(stderr, "youju: cannot start: %s\n", error);
		return 1;
	}
	if (daemonize)
		daemonize_now();
	if (write_pid_file(m.cfg->pid_file, &error) < 0) {
		log_error("%s", error);
		return 1;
	}
	m.started = time(NULL);
	m.base = event_base_new();
	if (m.base == NULL)
		fatal("event_base_new failed");
	const int sigs[] = { SIGHUP, SIGTERM, SIGINT };
	for (int i = 0; i < 3; i++) {
		m.sig_ev[i] = evsignal_new(m.base, sigs[i], on_signal, &m);
		evsignal_add(m.sig_ev[i], NULL);
	}
	m.sig_ev[3] = evsignal_new(m.base, SIGCHLD, on_sigchld, &m);
	evsignal_add(m.sig_ev[3], NULL);
	control_start(&m);
	log_info("%s starting config=%s mode=%s", VERSION_STRING, config_path,
		 privsep_is_root() ? "privileged" : "dev (unprivileged, one user)");
	for (int i = 0; i < ROLE_COUNT; i++)
		spawn_role(&m, (enum youju_role)i);

	event_base_dispatch(m.base);

	control_close(&m);
	unlink(m.cfg->pid_file);
	log_info("stopped");
	return 0;
}
