/*
 * usercmd: the `ipkvmd user ...` subcommands that edit the users and tokens files of a state
 * directory. They never talk to a running daemon: the daemon notices the changed files by
 * itself (it checks their identity on each authentication), so a password change ends that
 * user's sessions at once.
 */
#ifndef IPKVM_AUTH_USERCMD_H
#define IPKVM_AUTH_USERCMD_H

/* argv[0] is "user". Returns the process exit status (0 ok, 1 failure, 2 usage). */
int ipkvm_usercmd_main(const char *state_dir, int argc, char **argv);

#endif
