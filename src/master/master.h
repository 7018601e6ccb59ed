#ifndef YOUJU_MASTER_H
#define YOUJU_MASTER_H
/*
 * The master (root when installed): validates the configuration, prepares
 * directories, binds the listeners and the control socket, spawns every
 * role by fork + re-exec, supervises and restarts them, reloads on SIGHUP
 * and stops gracefully on SIGTERM.
 */
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>
#include <event2/event.h>

#include "config.h"
#include "ipc.h"
#include "proto.h"

#define MASTER_MAX_LISTENERS 8

struct master_listener {
	const char *name;	/* "smtp", "imaps", ... */
	int fd;
};

struct role_proc {
	enum youju_role role;
	pid_t pid;
	struct ipc_channel *ch;
	time_t started;
	bool ready;
	unsigned restarts;
	int64_t backoff_ms;
	struct event *restart_ev;
};

struct master {
	struct event_base *base;
	struct youju_config *cfg;
	char *config_path;
	char *effective_text;	/* config text sent to roles */
	char self_exe[4096];
	time_t started;
	struct master_listener listeners[MASTER_MAX_LISTENERS];
	unsigned nlisteners;
	struct role_proc roles[ROLE_COUNT];
	int control_fd;
	struct event *control_ev;
	struct control_client *clients;
	bool stopping;
	struct event *stop_timer;
	struct event *sig_ev[4];
};

int master_serve(const char *config_path, bool daemonize);

/* setup.c: directories, ownership, schema; -1 with *error_r */
int master_setup_dirs(const struct youju_config *cfg, char **error_r);
/* listeners.c */
int master_bind_listeners(struct master *m, char **error_r);
void master_close_listeners(struct master *m);
int listener_bind(const char *address, int *fd_r, char **error_r);
/* control.c */
int control_open(struct master *m, char **error_r);
void control_start(struct master *m);
void control_close(struct master *m);
void control_on_role_msg(struct master *m, enum youju_role from, struct ipc_msg *msg);
void control_role_gone(struct master *m, enum youju_role role);
/* master.c, for control.c */
void master_reload(struct master *m, buf_t *result);
void master_stop(struct master *m);
void master_status_text(struct master *m, buf_t *out);

#endif
