/*
 * usercmd: `ipkvmd user ...`, the command line for managing users and API tokens.
 *
 * It edits the files of a state directory directly and never talks to a running daemon, so it
 * works the same whether the daemon runs or not (and before its first start). Every change is
 * lock -> load -> modify -> save -> unlock on the users lock that the daemon's writers take
 * too, so concurrent edits cannot lose each other; the daemon picks up the new files by
 * itself. Slow things (prompting for a password, yescrypt) happen before the lock is taken so
 * the daemon is never kept waiting on a human.
 *
 * Output conventions: stdout carries only data a script may want (generated passwords, TOTP
 * secret and URI, new tokens, listings); confirmations and errors go to stderr. Exit status
 * is 0 for success, 1 for a failure, 2 for a command line that does not parse.
 */
#define LOG_TAG "usercmd"

#include "auth/usercmd.h"

#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "auth/audit.h"
#include "auth/prefs.h"
#include "auth/tokens.h"
#include "auth/totp.h"
#include "auth/users.h"
#include "core/log.h"
#include "core/util.h"

#define EXIT_OK	   0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

#define MAX_EXPIRES_DAYS 36500

/* The longest password users.c can hash: libxcrypt stops at CRYPT_MAX_PASSPHRASE_SIZE - 1. */
#define PASSWORD_LIMIT                                                                             \
	(IPKVM_PASSWORD_MAX < CRYPT_MAX_PASSPHRASE_SIZE - 1 ? IPKVM_PASSWORD_MAX                   \
							    : CRYPT_MAX_PASSPHRASE_SIZE - 1)

static const char usage_text[] =
    "usage: ipkvmd [--state-dir DIR] user COMMAND [ARGS]\n"
    "commands:\n"
    "  add NAME [--role admin|operator|viewer] [--generate]   add a user (default role "
    "operator)\n"
    "  passwd NAME [--generate]                              set a user's password\n"
    "  del NAME                                              delete a user and its tokens\n"
    "  role NAME ROLE                                        change a user's role\n"
    "  list                                                  list users\n"
    "  totp NAME [--disable]                                 make a new TOTP secret, or turn "
    "TOTP off\n"
    "  token NAME [--label TEXT] [--expires DAYS]            make an API token\n"
    "  tokens                                                list API tokens\n"
    "  revoke TOKEN-ID                                       revoke an API token\n"
    "Passwords are prompted for twice when standard input is a terminal, otherwise read as one\n"
    "line from standard input; --generate makes a random one and prints it.\n";

static const char name_rule[] = "use 1 to 32 characters from a-z, 0-9, '.', '_' and '-', "
				"starting with a letter or digit";

enum {
	OPT_ROLE = 1 << 0,
	OPT_GENERATE = 1 << 1,
	OPT_DISABLE = 1 << 2,
	OPT_LABEL = 1 << 3,
	OPT_EXPIRES = 1 << 4,
};

struct opts {
	const char *role;
	const char *label;
	const char *expires;
	bool generate;
	bool disable;
	const char *pos[2];
	int npos;
};

struct ctx {
	const char *dir;
	char users_path[4096];
	char tokens_path[4096];
	char initpw_path[4096];
};

/* One line on stderr, with the command's prefix for errors (fail, usage_error) and without
 * for notes. */
static void say(bool error, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void say(bool error, const char *fmt, va_list ap)
{
	if (error)
		fputs("ipkvmd user: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(true, fmt, ap);
	va_end(ap);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(false, fmt, ap);
	va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(true, fmt, ap);
	va_end(ap);
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

/* Records a change; a failing audit log does not undo the change (audit logs it). */
static void audit(const struct ctx *c, const char *event, const char *user, json_t *extra)
{
	json_t *x = extra ? extra : json_object();
	if (x)
		json_object_set_new(x, "via", json_string("cli"));
	ipkvm_audit(c->dir, event, user, NULL, true, x);
}

/* The state directory must exist, except for `add`, which creates it (0700) so that users
 * can be set up before the daemon's first start. */
static int check_state_dir(const struct ctx *c, bool create)
{
	struct stat st;
	if (stat(c->dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode)) {
			fail("state directory '%s' is not a directory", c->dir);
			return -ENOTDIR;
		}
		return 0;
	}
	if (errno != ENOENT || !create) {
		if (errno == ENOENT)
			fail("state directory '%s' does not exist (give --state-dir DIR)", c->dir);
		else
			fail("state directory '%s': %s", c->dir, strerror(errno));
		return -ENOENT;
	}
	int r = ipkvm_mkdir_p(c->dir, 0700);
	if (r < 0) {
		fail("cannot create state directory '%s': %s", c->dir, strerror(-r));
		return r;
	}
	note("created state directory %s", c->dir);
	return 0;
}

/* Loads the users file; a missing file is an empty set. Prints the error on failure. */
static int load_users(const struct ctx *c, struct ipkvm_users *u)
{
	char err[4352];
	int r = ipkvm_users_load(u, c->users_path, err, sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		fail("%s", err);
	return r;
}

static int load_tokens(const struct ctx *c, struct ipkvm_tokens *t)
{
	char err[4352];
	int r = ipkvm_tokens_load(t, c->tokens_path, err, sizeof(err));
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		fail("%s", err);
	return r;
}

static int save_users(const struct ctx *c, const struct ipkvm_users *u)
{
	int r = ipkvm_users_save(u, c->users_path);
	if (r < 0)
		fail("cannot write %s: %s", c->users_path, strerror(-r));
	return r;
}

static int save_tokens(const struct ctx *c, const struct ipkvm_tokens *t)
{
	int r = ipkvm_tokens_save(t, c->tokens_path);
	if (r < 0)
		fail("cannot write %s: %s", c->tokens_path, strerror(-r));
	return r;
}

static int take_lock(const struct ctx *c)
{
	int fd = ipkvm_users_lock(c->dir);
	if (fd < 0)
		fail("cannot lock %s/%s: %s", c->dir, IPKVM_USERS_LOCK_FILE, strerror(-fd));
	return fd;
}

static bool name_ok(const char *name)
{
	if (ipkvm_user_name_valid(name))
		return true;
	fail("invalid user name '%s': %s", name, name_rule);
	return false;
}

/* ---- password entry ---- */

static volatile sig_atomic_t prompt_signal;

static void on_prompt_signal(int sig)
{
	prompt_signal = sig;
}

/* Reads one line from fd 0 with read(2) (no stdio buffering, so nothing after the line is
 * consumed). Strips "\n" or "\r\n". Returns the length, -E2BIG for a line longer than
 * cap - 1, -ENODATA at end of input before any byte, -EINTR when a prompt signal arrived. */
static ssize_t read_line(char *buf, size_t cap)
{
	size_t n = 0;
	bool got = false, too_long = false;
	for (;;) {
		char ch;
		ssize_t r = read(STDIN_FILENO, &ch, 1);
		if (r < 0) {
			if (errno == EINTR && !prompt_signal)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got = true;
		if (ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
		else
			too_long = true;
	}
	buf[n] = '\0';
	if (!got)
		return -ENODATA;
	if (too_long)
		return -E2BIG;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return (ssize_t)n;
}

/* Prompts on stderr and reads a line from the terminal on fd 0 with echo off. The terminal
 * settings and signal dispositions are restored on every path; a SIGINT/SIGTERM/SIGHUP/
 * SIGQUIT during the prompt is re-raised after restoring, so Ctrl-C still ends the program
 * but never leaves the terminal without echo. */
static ssize_t prompt_line(const char *prompt, char *buf, size_t cap)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
	struct sigaction old_sa[IPKVM_ARRAY_SIZE(sigs)], sa;
	struct termios old, noecho;
	ssize_t r;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -errno;
	prompt_signal = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_prompt_signal; /* no SA_RESTART: read() returns EINTR */
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, &old_sa[i]);
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) < 0) {
		r = -errno;
		goto restore_signals;
	}
	r = read_line(buf, cap);
	tcsetattr(STDIN_FILENO, TCSANOW, &old);
	fputc('\n', stderr);
restore_signals:
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	if (prompt_signal) {
		int sig = prompt_signal;
		prompt_signal = 0;
		raise(sig);
		r = -EINTR;
	}
	return r;
}

/* Checks a password someone typed, with messages that say what to do. */
static bool password_rules_ok(const char *pw, size_t len)
{
	if (len == 0) {
		fail("empty password");
		return false;
	}
	if (strlen(pw) != len) {
		fail("the password must not contain NUL bytes");
		return false;
	}
	if (strchr(pw, '\r')) {
		fail("the password must not contain line breaks");
		return false;
	}
	if (len < IPKVM_PASSWORD_MIN) {
		fail("password too short: use at least %d characters", IPKVM_PASSWORD_MIN);
		return false;
	}
	if (len > PASSWORD_LIMIT) {
		fail("password too long: use at most %d characters", PASSWORD_LIMIT);
		return false;
	}
	return true;
}

/* Fills pw (IPKVM_PASSWORD_MAX + 2 bytes) from --generate, the terminal or stdin.
 * Returns 0 or -1 after printing why. */
static int get_password(bool generate, char *pw, size_t cap)
{
	char again[IPKVM_PASSWORD_MAX + 2];
	ssize_t n;
	int r = -1;
	if (generate) {
		int g = ipkvm_password_generate(pw, cap);
		if (g < 0)
			fail("cannot generate a password: %s", strerror(-g));
		return g < 0 ? -1 : 0;
	}
	bool tty = isatty(STDIN_FILENO);
	n = tty ? prompt_line("Password: ", pw, cap) : read_line(pw, cap);
	if (n == -E2BIG) {
		fail("password too long: use at most %d characters", PASSWORD_LIMIT);
		goto out;
	}
	if (n == -ENODATA) {
		fail("no password given on standard input (or use --generate)");
		goto out;
	}
	if (n < 0) {
		fail("cannot read the password: %s", strerror((int)-n));
		goto out;
	}
	if (!password_rules_ok(pw, (size_t)n))
		goto out;
	if (tty) {
		ssize_t m = prompt_line("Repeat password: ", again, sizeof(again));
		if (m < 0 && m != -E2BIG && m != -ENODATA) {
			fail("cannot read the password: %s", strerror((int)-m));
			goto out;
		}
		if (m != n || strcmp(pw, again) != 0) {
			fail("the passwords do not match");
			goto out;
		}
	}
	r = 0;
out:
	explicit_bzero(again, sizeof(again));
	if (r < 0)
		explicit_bzero(pw, cap);
	return r;
}

/* Gets a password and hashes it. generated_out receives the generated text (for printing
 * once the change is saved), or "" when the password was typed. */
static int new_password_hash(bool generate, char *hash, size_t hashlen, char *generated_out,
			     size_t genlen)
{
	char pw[IPKVM_PASSWORD_MAX + 2];
	int r = get_password(generate, pw, sizeof(pw));
	if (r < 0)
		goto out;
	r = ipkvm_password_hash(pw, hash, hashlen);
	if (r < 0) {
		fail("cannot hash the password: %s", strerror(-r));
		goto out;
	}
	generated_out[0] = '\0';
	if (generate)
		ipkvm_strlcpy(generated_out, pw, genlen);
out:
	explicit_bzero(pw, sizeof(pw));
	return r < 0 ? -1 : 0;
}

/* The initial admin password file only ever holds the first password of "admin"; once that
 * password changes or the user goes, the file would only mislead, so it is removed. */
static void drop_initial_password(const struct ctx *c, const char *name)
{
	if (strcmp(name, "admin") != 0)
		return;
	if (unlink(c->initpw_path) == 0)
		note("removed %s", c->initpw_path);
	else if (errno != ENOENT)
		fail("cannot remove %s: %s", c->initpw_path, strerror(errno));
}

/* ---- subcommands ---- */

static int cmd_add(const struct ctx *c, const struct opts *o)
{
	const char *name = o->pos[0];
	enum ipkvm_role role = IPKVM_ROLE_OPERATOR;
	struct ipkvm_users u;
	struct ipkvm_user nu;
	char generated[IPKVM_PASSWORD_MAX + 2];
	int lock = -1, ret = EXIT_FAIL;
	ipkvm_users_init(&u);
	memset(&nu, 0, sizeof(nu));
	generated[0] = '\0';
	if (!name_ok(name))
		goto out;
	if (o->role && ipkvm_role_parse(o->role, &role) < 0) {
		fail("unknown role '%s' (use admin, operator or viewer)", o->role);
		goto out;
	}
	if (check_state_dir(c, true) < 0)
		goto out;
	/* Early check so nobody types a password for nothing; repeated under the lock. */
	if (load_users(c, &u) < 0)
		goto out;
	if (ipkvm_users_find(&u, name)) {
		fail("user '%s' already exists", name);
		goto out;
	}
	if (new_password_hash(o->generate, nu.hash, sizeof(nu.hash), generated, sizeof(generated)) <
	    0)
		goto out;
	ipkvm_strlcpy(nu.name, name, sizeof(nu.name));
	nu.role = role;

	lock = take_lock(c);
	if (lock < 0 || load_users(c, &u) < 0)
		goto out;
	int r = ipkvm_users_add(&u, &nu);
	if (r == -EEXIST) {
		fail("user '%s' already exists", name);
		goto out;
	} else if (r < 0) {
		fail("cannot add user '%s': %s", name, strerror(-r));
		goto out;
	}
	if (save_users(c, &u) < 0)
		goto out;
	close(lock);
	lock = -1;
	audit(c, "user_add", name, json_pack("{s:s}", "role", ipkvm_role_name(role)));
	if (generated[0])
		printf("password: %s\n", generated);
	note("added user %s (role %s)", name, ipkvm_role_name(role));
	if (ipkvm_users_count_admins(&u) == 0)
		note("warning: there is no admin user; add one with: ipkvmd user add NAME --role "
		     "admin");
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	explicit_bzero(generated, sizeof(generated));
	explicit_bzero(&nu, sizeof(nu));
	ipkvm_users_free(&u);
	return ret;
}

static int cmd_passwd(const struct ctx *c, const struct opts *o)
{
	const char *name = o->pos[0];
	struct ipkvm_users u;
	char hash[IPKVM_HASH_MAX];
	char generated[IPKVM_PASSWORD_MAX + 2];
	int lock = -1, ret = EXIT_FAIL;
	ipkvm_users_init(&u);
	generated[0] = '\0';
	if (!name_ok(name) || check_state_dir(c, false) < 0)
		goto out;
	if (load_users(c, &u) < 0)
		goto out;
	if (!ipkvm_users_find(&u, name)) {
		fail("no such user '%s'", name);
		goto out;
	}
	if (new_password_hash(o->generate, hash, sizeof(hash), generated, sizeof(generated)) < 0)
		goto out;

	lock = take_lock(c);
	if (lock < 0 || load_users(c, &u) < 0)
		goto out;
	struct ipkvm_user *x = ipkvm_users_find(&u, name);
	if (!x) {
		fail("no such user '%s'", name);
		goto out;
	}
	ipkvm_strlcpy(x->hash, hash, sizeof(x->hash));
	if (save_users(c, &u) < 0)
		goto out;
	close(lock);
	lock = -1;
	drop_initial_password(c, name);
	audit(c, "user_passwd", name, NULL);
	if (generated[0])
		printf("password: %s\n", generated);
	note("changed the password of %s", name);
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	explicit_bzero(generated, sizeof(generated));
	ipkvm_users_free(&u);
	return ret;
}

static int cmd_del(const struct ctx *c, const struct opts *o)
{
	const char *name = o->pos[0];
	struct ipkvm_users u;
	struct ipkvm_tokens t;
	int lock = -1, ret = EXIT_FAIL;
	size_t removed = 0;
	ipkvm_users_init(&u);
	ipkvm_tokens_init(&t);
	if (!name_ok(name) || check_state_dir(c, false) < 0)
		goto out;
	lock = take_lock(c);
	if (lock < 0 || load_users(c, &u) < 0 || load_tokens(c, &t) < 0)
		goto out;
	const struct ipkvm_user *x = ipkvm_users_find(&u, name);
	if (!x) {
		fail("no such user '%s'", name);
		goto out;
	}
	if (x->role == IPKVM_ROLE_ADMIN && ipkvm_users_count_admins(&u) == 1) {
		fail("refusing to delete '%s': it is the last admin", name);
		goto out;
	}
	/* Tokens first: if the second write fails, the user is left without tokens rather
	 * than tokens without their user. */
	removed = ipkvm_tokens_del_user(&t, name);
	if (removed > 0 && save_tokens(c, &t) < 0)
		goto out;
	/* Its preferences too, so a new user of the same name starts afresh. */
	char prefs[4096], why[512];
	if (ipkvm_path_join(prefs, sizeof(prefs), c->dir, IPKVM_PREFS_FILE) == 0 &&
	    ipkvm_prefs_drop_user(prefs, name, why, sizeof(why)) < 0) {
		fail("%s", why);
		goto out;
	}
	ipkvm_users_del(&u, name);
	if (save_users(c, &u) < 0)
		goto out;
	close(lock);
	lock = -1;
	drop_initial_password(c, name);
	audit(c, "user_del", name, json_pack("{s:I}", "tokens", (json_int_t)removed));
	note("deleted user %s and %zu token%s", name, removed, removed == 1 ? "" : "s");
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	ipkvm_tokens_free(&t);
	ipkvm_users_free(&u);
	return ret;
}

static int cmd_role(const struct ctx *c, const struct opts *o)
{
	const char *name = o->pos[0];
	enum ipkvm_role role, old;
	struct ipkvm_users u;
	int lock = -1, ret = EXIT_FAIL;
	ipkvm_users_init(&u);
	if (!name_ok(name))
		goto out;
	if (ipkvm_role_parse(o->pos[1], &role) < 0) {
		fail("unknown role '%s' (use admin, operator or viewer)", o->pos[1]);
		goto out;
	}
	if (check_state_dir(c, false) < 0)
		goto out;
	lock = take_lock(c);
	if (lock < 0 || load_users(c, &u) < 0)
		goto out;
	struct ipkvm_user *x = ipkvm_users_find(&u, name);
	if (!x) {
		fail("no such user '%s'", name);
		goto out;
	}
	old = x->role;
	if (old == role) {
		note("%s already has role %s", name, ipkvm_role_name(role));
		ret = EXIT_OK;
		goto out;
	}
	if (old == IPKVM_ROLE_ADMIN && ipkvm_users_count_admins(&u) == 1) {
		fail("refusing to change the role of '%s': it is the last admin", name);
		goto out;
	}
	x->role = role;
	if (save_users(c, &u) < 0)
		goto out;
	close(lock);
	lock = -1;
	audit(c, "user_role", name,
	      json_pack("{s:s,s:s}", "role", ipkvm_role_name(role), "old_role",
			ipkvm_role_name(old)));
	note("%s now has role %s (was %s)", name, ipkvm_role_name(role), ipkvm_role_name(old));
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	ipkvm_users_free(&u);
	return ret;
}

/* Prints a table row without trailing blanks (empty last columns would leave some). */
static void print_row(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void print_row(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = strlen(line);
	while (len > 0 && line[len - 1] == ' ')
		line[--len] = '\0';
	puts(line);
}

static int cmd_list(const struct ctx *c, const struct opts *o)
{
	(void)o;
	struct ipkvm_users u;
	struct ipkvm_tokens t;
	int ret = EXIT_FAIL;
	ipkvm_users_init(&u);
	ipkvm_tokens_init(&t);
	if (check_state_dir(c, false) < 0 || load_users(c, &u) < 0 || load_tokens(c, &t) < 0)
		goto out;
	int w = 4;
	for (size_t i = 0; i < u.n; i++) {
		int l = (int)strlen(u.v[i].name);
		w = l > w ? l : w;
	}
	print_row("%-*s  %-8s  %-4s  %s", w, "NAME", "ROLE", "TOTP", "TOKENS");
	for (size_t i = 0; i < u.n; i++) {
		size_t ntok = 0;
		for (size_t j = 0; j < t.n; j++)
			ntok += strcmp(t.v[j].user, u.v[i].name) == 0;
		print_row("%-*s  %-8s  %-4s  %zu", w, u.v[i].name, ipkvm_role_name(u.v[i].role),
			  u.v[i].totp[0] ? "yes" : "no", ntok);
	}
	ret = EXIT_OK;
out:
	ipkvm_tokens_free(&t);
	ipkvm_users_free(&u);
	return ret;
}

static int cmd_totp(const struct ctx *c, const struct opts *o)
{
	const char *name = o->pos[0];
	struct ipkvm_users u;
	char secret[IPKVM_TOTP_B32_MAX + 1];
	int lock = -1, ret = EXIT_FAIL;
	ipkvm_users_init(&u);
	secret[0] = '\0';
	if (!name_ok(name) || check_state_dir(c, false) < 0)
		goto out;
	lock = take_lock(c);
	if (lock < 0 || load_users(c, &u) < 0)
		goto out;
	struct ipkvm_user *x = ipkvm_users_find(&u, name);
	if (!x) {
		fail("no such user '%s'", name);
		goto out;
	}
	if (o->disable) {
		if (!x->totp[0]) {
			note("TOTP is already off for %s", name);
			ret = EXIT_OK;
			goto out;
		}
		explicit_bzero(x->totp, sizeof(x->totp));
	} else {
		int r = ipkvm_totp_generate_secret(secret, sizeof(secret));
		if (r < 0) {
			fail("cannot make a TOTP secret: %s", strerror(-r));
			goto out;
		}
		ipkvm_strlcpy(x->totp, secret, sizeof(x->totp));
	}
	if (save_users(c, &u) < 0)
		goto out;
	close(lock);
	lock = -1;
	audit(c, "user_totp", name, json_pack("{s:b}", "enabled", !o->disable));
	if (o->disable) {
		note("TOTP is now off for %s", name);
	} else {
		/* Names are [a-z0-9._-] and base32 is [A-Z2-7]: nothing needs URI escaping. */
		printf("secret: %s\n", secret);
		printf("uri: otpauth://totp/ipkvm:%s?secret=%s&issuer=ipkvm&algorithm=SHA1&"
		       "digits=6&period=30\n",
		       name, secret);
	}
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	explicit_bzero(secret, sizeof(secret));
	ipkvm_users_free(&u);
	return ret;
}

/* DAYS: a whole number 1..MAX_EXPIRES_DAYS. */
static bool parse_days(const char *s, int64_t *out)
{
	int64_t v = 0;
	if (!s || !s[0])
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (*p - '0');
		if (v > MAX_EXPIRES_DAYS)
			return false;
	}
	if (v < 1)
		return false;
	*out = v;
	return true;
}

static int cmd_token(const struct ctx *c, const struct opts *o)
{
	const char *name = o->pos[0];
	const char *label = o->label ? o->label : "";
	struct ipkvm_users u;
	struct ipkvm_tokens t;
	char token[IPKVM_TOKEN_LEN + 1];
	char id[IPKVM_TOKEN_ID_LEN + 1];
	int64_t days = 0, now = ipkvm_now(), expires = 0;
	int lock = -1, ret = EXIT_FAIL;
	ipkvm_users_init(&u);
	ipkvm_tokens_init(&t);
	token[0] = '\0';
	if (!name_ok(name))
		goto out;
	if (o->expires) {
		if (!parse_days(o->expires, &days)) {
			fail("--expires wants a whole number of days from 1 to %d",
			     MAX_EXPIRES_DAYS);
			goto out;
		}
		expires = now + days * 86400;
	}
	if (strlen(label) > IPKVM_TOKEN_LABEL_MAX || strchr(label, ':')) {
		fail("invalid label: at most %d characters, no ':' and no control characters",
		     IPKVM_TOKEN_LABEL_MAX);
		goto out;
	}
	if (check_state_dir(c, false) < 0)
		goto out;
	lock = take_lock(c);
	if (lock < 0 || load_users(c, &u) < 0 || load_tokens(c, &t) < 0)
		goto out;
	if (!ipkvm_users_find(&u, name)) {
		fail("no such user '%s'", name);
		goto out;
	}
	int r = ipkvm_tokens_create(&t, name, now, expires, label, token, sizeof(token));
	if (r == -EINVAL) {
		fail("invalid label: at most %d characters, no ':' and no control characters",
		     IPKVM_TOKEN_LABEL_MAX);
		goto out;
	} else if (r < 0) {
		fail("cannot make a token: %s", strerror(-r));
		goto out;
	}
	ipkvm_strlcpy(id, t.v[t.n - 1].id, sizeof(id));
	if (save_tokens(c, &t) < 0)
		goto out;
	close(lock);
	lock = -1;
	audit(c, "token_add", name,
	      json_pack("{s:s,s:s,s:I}", "id", id, "label", label, "expires", (json_int_t)expires));
	printf("%s\n", token);
	printf("id: %s\n", id);
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	explicit_bzero(token, sizeof(token));
	ipkvm_tokens_free(&t);
	ipkvm_users_free(&u);
	return ret;
}

static void iso_date(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, len, "%Y-%m-%d", &tm) == 0)
		ipkvm_strlcpy(out, "?", len);
}

static int cmd_tokens(const struct ctx *c, const struct opts *o)
{
	(void)o;
	struct ipkvm_tokens t;
	int ret = EXIT_FAIL;
	ipkvm_tokens_init(&t);
	if (check_state_dir(c, false) < 0 || load_tokens(c, &t) < 0)
		goto out;
	int w = 4;
	for (size_t i = 0; i < t.n; i++) {
		int l = (int)strlen(t.v[i].user);
		w = l > w ? l : w;
	}
	print_row("%-12s  %-*s  %-10s  %-10s  %s", "ID", w, "USER", "CREATED", "EXPIRES", "LABEL");
	for (size_t i = 0; i < t.n; i++) {
		char created[32], expires[32];
		iso_date(t.v[i].created, created, sizeof(created));
		if (t.v[i].expires)
			iso_date(t.v[i].expires, expires, sizeof(expires));
		else
			ipkvm_strlcpy(expires, "never", sizeof(expires));
		print_row("%-12s  %-*s  %-10s  %-10s  %s", t.v[i].id, w, t.v[i].user, created,
			  expires, t.v[i].label);
	}
	ret = EXIT_OK;
out:
	ipkvm_tokens_free(&t);
	return ret;
}

static int cmd_revoke(const struct ctx *c, const struct opts *o)
{
	const char *id = o->pos[0];
	struct ipkvm_tokens t;
	char user[IPKVM_USER_NAME_MAX + 1] = "";
	int lock = -1, ret = EXIT_FAIL;
	ipkvm_tokens_init(&t);
	if (check_state_dir(c, false) < 0)
		goto out;
	lock = take_lock(c);
	if (lock < 0 || load_tokens(c, &t) < 0)
		goto out;
	for (size_t i = 0; i < t.n; i++) {
		if (strcmp(t.v[i].id, id) == 0)
			ipkvm_strlcpy(user, t.v[i].user, sizeof(user));
	}
	if (ipkvm_tokens_del(&t, id) < 0) {
		fail("no token with id '%s' (see: ipkvmd user tokens)", id);
		goto out;
	}
	if (save_tokens(c, &t) < 0)
		goto out;
	close(lock);
	lock = -1;
	audit(c, "token_revoke", user, json_pack("{s:s}", "id", id));
	note("revoked token %s of %s", id, user);
	ret = EXIT_OK;
out:
	if (lock >= 0)
		close(lock);
	ipkvm_tokens_free(&t);
	return ret;
}

/* ---- argument parsing ---- */

struct subcmd {
	const char *name;
	int npos;
	unsigned opts;
	int (*run)(const struct ctx *c, const struct opts *o);
};

static const struct subcmd subcmds[] = {
    {"add", 1, OPT_ROLE | OPT_GENERATE, cmd_add},
    {"passwd", 1, OPT_GENERATE, cmd_passwd},
    {"del", 1, 0, cmd_del},
    {"role", 2, 0, cmd_role},
    {"list", 0, 0, cmd_list},
    {"totp", 1, OPT_DISABLE, cmd_totp},
    {"token", 1, OPT_LABEL | OPT_EXPIRES, cmd_token},
    {"tokens", 0, 0, cmd_tokens},
    {"revoke", 1, 0, cmd_revoke},
};

static const struct {
	const char *name;
	unsigned bit;
	bool has_value;
} optdefs[] = {
    {"role", OPT_ROLE, true},	{"generate", OPT_GENERATE, false}, {"disable", OPT_DISABLE, false},
    {"label", OPT_LABEL, true}, {"expires", OPT_EXPIRES, true},
};

static void set_opt(struct opts *o, unsigned bit, const char *value)
{
	switch (bit) {
	case OPT_ROLE:
		o->role = value;
		break;
	case OPT_GENERATE:
		o->generate = true;
		break;
	case OPT_DISABLE:
		o->disable = true;
		break;
	case OPT_LABEL:
		o->label = value;
		break;
	case OPT_EXPIRES:
		o->expires = value;
		break;
	}
}

/* Options may come before or after the positional arguments, as "--opt VALUE" or
 * "--opt=VALUE"; "--" ends the options. Returns 0 or an exit status. */
static int parse_args(const struct subcmd *sc, int argc, char **argv, struct opts *o)
{
	bool only_pos = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!only_pos && strcmp(a, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (only_pos || a[0] != '-' || a[1] == '\0') {
			if (o->npos >= sc->npos)
				return usage_error("too many arguments for '%s'", sc->name);
			o->pos[o->npos++] = a;
			continue;
		}
		if (a[1] != '-')
			return usage_error("unknown option '%s'", a);
		const char *nm = a + 2, *eq = strchr(nm, '=');
		size_t nlen = eq ? (size_t)(eq - nm) : strlen(nm);
		size_t k;
		for (k = 0; k < IPKVM_ARRAY_SIZE(optdefs); k++) {
			if (strlen(optdefs[k].name) == nlen &&
			    strncmp(optdefs[k].name, nm, nlen) == 0)
				break;
		}
		if (k == IPKVM_ARRAY_SIZE(optdefs) || !(sc->opts & optdefs[k].bit))
			return usage_error("'%s' does not take option '%s'", sc->name, a);
		const char *value = NULL;
		if (optdefs[k].has_value) {
			if (eq) {
				value = eq + 1;
			} else if (i + 1 < argc) {
				value = argv[++i];
			} else {
				return usage_error("option '--%s' needs a value", optdefs[k].name);
			}
		} else if (eq) {
			return usage_error("option '--%s' takes no value", optdefs[k].name);
		}
		set_opt(o, optdefs[k].bit, value);
	}
	if (o->npos < sc->npos)
		return usage_error("'%s' needs %d argument%s", sc->name, sc->npos,
				   sc->npos == 1 ? "" : "s");
	return 0;
}

static int path_in(char *out, size_t len, const char *dir, const char *file)
{
	return snprintf(out, len, "%s/%s", dir, file) >= (int)len ? -ENAMETOOLONG : 0;
}

int ipkvm_usercmd_main(const char *state_dir, int argc, char **argv)
{
	struct ctx c;
	struct opts o;
	int ret;
	memset(&o, 0, sizeof(o));
	if (argc < 2)
		return usage_error("missing command");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			fflush(stdout);
			return EXIT_OK;
		}
	}
	const struct subcmd *sc = NULL;
	for (size_t i = 0; i < IPKVM_ARRAY_SIZE(subcmds); i++) {
		if (strcmp(argv[1], subcmds[i].name) == 0)
			sc = &subcmds[i];
	}
	if (!sc)
		return usage_error("unknown command '%s'", argv[1]);
	ret = parse_args(sc, argc - 2, argv + 2, &o);
	if (ret != 0)
		return ret;
	if (!state_dir || !state_dir[0]) {
		fail("no state directory (give --state-dir DIR)");
		return EXIT_FAIL;
	}
	c.dir = state_dir;
	if (path_in(c.users_path, sizeof(c.users_path), state_dir, IPKVM_USERS_FILE) < 0 ||
	    path_in(c.tokens_path, sizeof(c.tokens_path), state_dir, IPKVM_TOKENS_FILE) < 0 ||
	    path_in(c.initpw_path, sizeof(c.initpw_path), state_dir, IPKVM_INITIAL_PASSWORD_FILE) <
		0) {
		fail("state directory path too long");
		return EXIT_FAIL;
	}
	ret = sc->run(&c, &o);
	fflush(stdout);
	return ret;
}
