/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tmig: drive trustmig's data path (/dev/trustmig) for the selftests: a
 * source and a destination session keyed alike, and a growing buffer
 * standing in for the network.
 */
#ifndef _TMIG_H
#define _TMIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include <linux/trustmig.h>

#include "tnl.h"
#include "tvm.h"

struct tmig_end {
	int fd;				/* an open /dev/trustmig */
	__u32 id;
	__u8 ticket[TRUSTMIG_TICKET_LEN];
};

struct tmig_pair {
	struct tmig_end src, dst;
	__u32 stream;
	__u8 key[TRUSTMIG_KEY_LEN];
	__u8 salt[TRUSTMIG_SALT_LEN];
};

struct tmig_stream {
	__u8 *buf;
	size_t len, cap;
};

/* Two sessions with one random key, and a /dev/trustmig file for each. */
int tmig_pair_new(struct tnl *t, struct tmig_pair *p, __u8 cipher);
/* Closes both files and, with @t, deletes both sessions. */
void tmig_pair_close(struct tnl *t, struct tmig_pair *p);

/* TRUSTMIG_ATTACH with one lane, or @lanes; 0 or -errno. */
int tmig_attach(struct tmig_end *e, int vm_fd, const __u8 *ticket);
int tmig_attach_lanes(struct tmig_end *e, int vm_fd, const __u8 *ticket,
		      __u32 lanes);

/*
 * Seals the slot of @vm into @st until nothing is pending; @flags and
 * @bitmap go with the first call only.  0 or -errno.
 */
int tmig_seal(int fd, struct tvm *vm, __u32 flags,
	      const unsigned long *bitmap, struct tmig_stream *st);
/* The same for memslot @slot ((address space << 16) | id). */
int tmig_seal_slot(int fd, __u32 slot, __u32 flags,
		   const unsigned long *bitmap, struct tmig_stream *st);
/* The same on @lane. */
int tmig_seal_lane(int fd, __u32 slot, __u32 lane, __u32 flags,
		   const unsigned long *bitmap, struct tmig_stream *st);
/* A SEAL that only harvests @slot (no buffer); the pages it left. */
int tmig_harvest(int fd, __u32 slot, const unsigned long *bitmap,
		 __u64 *pages_left);
int tmig_end_round(int fd, struct tmig_stream *st);
int tmig_end_round_lane(int fd, __u32 lane, struct tmig_stream *st);
int tmig_commit(int fd, struct tmig_stream *st);
/* TRUSTMIG_SEAL_STATE of @len bytes at @data into @st. */
int tmig_seal_state(int fd, const void *data, __u32 len,
		    struct tmig_stream *st);

/*
 * TRUSTMIG_OPEN on @len bytes; 0 or -errno, @res filled either way.  A
 * STATE record's payload goes to @state (@state_cap bytes), if given.
 */
int tmig_open(int fd, const __u8 *buf, size_t len, __u32 flags,
	      struct trustmig_open *res);
int tmig_open_lane(int fd, __u32 lane, const __u8 *buf, size_t len,
		   __u32 flags, struct trustmig_open *res);
int tmig_open_state(int fd, const __u8 *buf, size_t len, void *state,
		    __u32 state_cap, struct trustmig_open *res);

/*
 * A thread keeping the guest of @vm writing (tvm_run_pass() over every
 * data page, the stride varying) until @stop, as a live VM does while
 * rounds are sealed; @passes counts its passes, @err its first error.
 */
struct tmig_writer {
	struct tvm *vm;
	atomic_bool stop;
	int passes, err;
};

void *tmig_guest_writes(void *writer);

/* Size of the record starting at @rec, from its header. */
size_t tmig_record_size(const __u8 *rec);
/* Offsets of the records in @st; returns how many. */
size_t tmig_index(const struct tmig_stream *st, size_t *offs, size_t max);

/* Room for @more bytes after st->len; 0 or -ENOMEM. */
int tmig_reserve(struct tmig_stream *st, size_t more);
void tmig_stream_free(struct tmig_stream *st);

/* finit_module of the module file at @ko; 0 or -errno. */
int tmig_module_load(const char *ko);
/* delete_module(@name) without waiting for users; 0 or -errno. */
int tmig_module_unload(const char *name);
bool tmig_module_loaded(void);

/*
 * The trustmig.ko under test: a build tree's ($TRUSTMIG_KO, loaded from
 * its path) or, without one, the installed module that modprobe finds.
 */
int tmig_trustmig_load(void);
/* For a test's teardown: loads it again if trustmig is not loaded. */
void tmig_trustmig_restore(void);
/* Its file, into @path (@len bytes); 0 or -ENOENT. */
int tmig_trustmig_path(char *path, size_t len);

/*
 * Where @tool (trustmig, trustmig-vm, ...) is, into @path: the build
 * tree's ($TRUSTMIG_BUILD/user), else its bare name (the installed one,
 * on $PATH).
 */
void tmig_tool(const char *tool, char *path, size_t len);

/* trustmig's module parameter @name (/sys/module/trustmig/parameters). */
int tmig_param_get(const char *name, unsigned int *val);
/* 0 or the -errno of the write (EINVAL: out of the parameter's range). */
int tmig_param_set(const char *name, unsigned int val);

/*
 * Runs @cmd in a shell, its stdout into @out (@len bytes, NUL-ended;
 * NULL: read and dropped); its exit status, or -1 if it did not exit.
 */
int tmig_sh(const char *cmd, char *out, size_t len);

#endif /* _TMIG_H */
