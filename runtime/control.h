/*
 * control.h - the control protocol between an instance and whoever
 * supervises it: imgsupd for a jail (supervisor/instance.c), the guest init
 * for the instance inside a VM (guest/init.c).
 *
 * One SOCK_SEQPACKET socket pair per instance; each message is one packet:
 * a type byte, then a payload of at most CTL_PAYLOAD_MAX bytes, and with
 * CTL_CONN and CTL_LISTEN exactly one descriptor (SCM_RIGHTS), but
 * under imgtool run, whose instance has its stdio from the clone.
 *
 *   to the instance                     from the instance
 *   CTL_GO      jail: you are in your    CTL_READY   set up, waiting for work;
 *               cgroup now, set up                   text, if any: a warning
 *                                                    (what it mended: its
 *                                                    stderr file), logged
 *                                        CTL_ERROR   text: why it cannot go
 *   CTL_CONN    a connection: its              on (before the service's
 *               socket, and the                execve); it exits after
 *               variables it adds, as    CTL_EXITED  text "exit=N" or
 *               NAME=VALUE strings each        "signal=N" (a jail's
 *               ending in NUL                  session: then " conn=K",
 *   CTL_LISTEN  the listening socket           K its Kth CTL_CONN): one
 *               (recycle="interval")           service process ended
 *   CTL_KILL    kill the service now
 *
 * The VM channel between the host and the guest init is another protocol
 * with its own names (channel.h); these letters mean nothing there.
 *
 * Once its service runs, an instance is not trusted: the supervisor checks
 * every message it reads (instance_read) and takes no descriptor from it.
 */
#ifndef IMGTOOL_CONTROL_H
#define IMGTOOL_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#define CTL_PAYLOAD_MAX 16384	/* a CTL_CONN's variables, a CTL_ERROR's text */
#define CTL_TEXT_MAX 256	/* CTL_ERROR and CTL_EXITED texts */

enum ctl_type {
	CTL_GO = 'g',
	CTL_CONN = 'C',
	CTL_LISTEN = 'L',
	CTL_KILL = 'K',
	CTL_READY = 'R',
	CTL_ERROR = 'E',
	CTL_EXITED = 'X',
};

/*
 * Sends one message: type, len bytes of payload (at most CTL_PAYLOAD_MAX)
 * and, when fd >= 0, that descriptor. 0, or -1 with errno (EMSGSIZE for a
 * payload that is too long). Never raises SIGPIPE.
 */
int ctl_send(int ctl, enum ctl_type type, const void *payload, size_t len,
	     int fd);

/*
 * The instance's side: sends type with text (cut to CTL_TEXT_MAX - 1
 * bytes; NULL for none). An instance that cannot reach its supervisor has
 * nothing left to do: it exits with status 126.
 */
void ctl_tell(int ctl, enum ctl_type type, const char *text);

/*
 * The instance's side: CTL_EXITED for a service process that ended with
 * wait status status, as "exit=N" or "signal=N"; with conn > 0, followed by
 * " conn=CONN", the number of the CTL_CONN (from 1) that the process served,
 * so that the supervisor knows which connection is over (a session's
 * processes end in any order).
 */
void ctl_tell_exit(int ctl, int status, unsigned long conn);

/*
 * Receives one message into buf (size bytes, at least 2): *type, the
 * payload NUL-terminated (cut to size - 1 bytes), its length in *len.
 * With fd non-NULL, the descriptor that came with it (close-on-exec) or
 * -1; with fd NULL any descriptor that came is closed. flags go to
 * recvmsg (MSG_DONTWAIT). Returns 1 for a message, 0 at end of file, -1
 * on error with errno (EAGAIN: nothing waits).
 */
int ctl_recv(int ctl, int flags, enum ctl_type *type, char *buf, size_t size,
	     size_t *len, int *fd);

#endif
