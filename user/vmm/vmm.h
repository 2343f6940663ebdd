/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trustmig-vm: the reference VMM.  One VM, one vCPU running the workload
 * guest (user/libtvm/guest_workload.S), live-migrated through
 * trustmig.ko.  See docs/vmm.md.
 */
#ifndef TMVM_VMM_H
#define TMVM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <linux/trustmig.h>

#include "tvm.h"
#include "tvm_workload.h"

/* Exit codes (docs/vmm.md). */
enum {
	TMVM_EXIT_OK = 0,	  /* migrated / resumed / ran, guest intact */
	TMVM_EXIT_SETUP = 1,	  /* usage or setup error, no VM ran */
	TMVM_EXIT_KEPT = 2,	  /* source: migration failed, VM kept */
	TMVM_EXIT_UNCONFIRMED = 3, /* source: committed, not confirmed,
				    * resumed here by the operator
				    */
	TMVM_EXIT_CORRUPT = 4,	  /* the guest found bad pages */
	TMVM_EXIT_REFUSED = 5,	  /* destination: resumed nothing */
	TMVM_EXIT_VCPU = 6,	  /* the vCPU failed */
};

struct vmm {
	struct tvm vm;
	double rate;			/* pages per second to let through */

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock: */
	bool pause_req, paused, stop;
	bool started;			/* first tick: initial fill done */
	bool verify_req, verdict_ready;
	struct tvm_wl_verdict verdict;
	int err;			/* the vCPU thread's failure */
	double tokens;
	double last_tick;
};

struct vmm_stats {
	__u64 records, bytes;		/* sealed records and their bytes */
	__u64 pages, zero_pages, states;
	__u64 frame_bytes;		/* framing on the connection */
};

/* vcpu.c */
double vmm_now(void);
int vmm_create(struct vmm *v, size_t mem_size, bool load_guest);
void vmm_destroy(struct vmm *v);
int vmm_start(struct vmm *v);
int vmm_pause(struct vmm *v);
void vmm_resume(struct vmm *v);
int vmm_wait_started(struct vmm *v, double timeout);
int vmm_verify(struct vmm *v, struct tvm_wl_verdict *out);
__u32 vmm_writes(struct vmm *v);
int vmm_report_verdict(const struct tvm_wl_verdict *vd);
int vmm_save_vm(struct vmm *v, void *buf, size_t cap, size_t *len);
int vmm_save_vcpu(struct vmm *v, void *buf, size_t cap, size_t *len);
int vmm_load_state(struct vmm *v, const void *buf, size_t len);

/* net.c */
int net_listen(const char *spec, int *port);
int net_accept(int lfd, double timeout);
/* Sends time out after @timeout s; refused connects retry for @retry s. */
int net_connect(const char *spec, double timeout, double retry);
int net_send_frame(int fd, __u32 type, const void *data, __u32 len);
/* Reads one frame; *len in: payload capacity, out: payload length. */
int net_recv_frame(int fd, __u32 *type, void *buf, __u32 *len,
		   double timeout);
/*
 * The source's HELLO: its guest memory size and streams (lanes), or
 * -EPROTO, -errno.  A source of another connection or record version
 * gets -EPROTONOSUPPORT, one asking for 0 or more than TMVM_LANES_MAX
 * streams -ERANGE, and @why (@why_len bytes) a line saying so; else
 * @why is "".
 */
int net_recv_hello(int fd, __u64 *mem_bytes, __u32 *lanes, double timeout,
		   char *why, size_t why_len);
/*
 * The source's connections of lanes 1..@lanes - 1 on @lfd, within
 * @timeout, into @fds[1..] by the lane their LANE frame names; 0, or
 * -errno with all of them closed and @why saying which went wrong (none
 * connected, no LANE frame, a lane out of range or named twice).
 */
int net_accept_lanes(int lfd, int *fds, __u32 lanes, double timeout,
		     char *why, size_t why_len);
/*
 * The source's next frame after READY: a RECORDS payload is appended to
 * @rx (@cap bytes, *@rx_len in use); -ECONNABORTED for an ABORT (printed),
 * -EPROTO for another frame, -ECONNRESET once the source closed the
 * connection, another -errno for a failed one (printed).
 */
int net_recv_records(int fd, __u8 *rx, size_t *rx_len, size_t cap,
		     double timeout);
int net_send_abort(int fd, int err, const char *why);
void net_print_abort(const char *who, const void *buf, __u32 len);

/* migrate.c */
struct mig_opts {
	__u32 session;
	__u8 ticket[TRUSTMIG_TICKET_LEN];
	double downtime;		/* seconds */
	unsigned int max_rounds;
	double timeout;			/* network, seconds */
	double confirm_timeout;		/* waiting for RESUMED */
	int json;			/* the summary as JSON on stdout */
	__u32 streams;			/* source: connections and lanes */
};

int mig_source(struct vmm *v, const char *dest, const struct mig_opts *o);
int mig_dest(const char *listen_spec, size_t mem_size, double rate,
	     const struct mig_opts *o, struct vmm *v);

#endif /* TMVM_VMM_H */
