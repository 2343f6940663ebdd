/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * trustmig: attested, kernel-sealed live migration of KVM guests.
 *
 * This header is the one definition of trustmig's interfaces:
 *
 *  1. the generic netlink family "trustmig" (control plane: sessions, keys,
 *     statistics, events), used by the attestation helper (trustmigd);
 *  2. the /dev/trustmig ioctls (data plane), used by the VMM;
 *  3. the sealed-record wire format that the data plane produces and
 *     consumes (byte-level description in docs/wire-format.md).
 *
 * Every netlink command needs CAP_NET_ADMIN.  Keys go in and never come out.
 */
#ifndef _UAPI_LINUX_TRUSTMIG_H
#define _UAPI_LINUX_TRUSTMIG_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

/* ------------------------------------------------------------------------
 * Generic netlink control plane
 * ------------------------------------------------------------------------
 *
 * TRUSTMIG_CMD_SESSION_NEW   create a session; reply carries id and ticket
 *   request:
 *     TRUSTMIG_A_ROLE            u8   enum trustmig_role          (required)
 *     TRUSTMIG_A_CIPHER          u8   enum trustmig_cipher        (optional,
 *                                     default AES-256-GCM)
 *     TRUSTMIG_A_ATTACH_TIMEOUT  u32  seconds from now until a VMM must have
 *                                     attached, 1..max_attach_timeout
 *                                     (optional, default that maximum)
 *     TRUSTMIG_A_LIFETIME        u32  seconds from now until the session
 *                                     must have completed, at least the
 *                                     attach timeout, 1..max_lifetime
 *                                     (optional, default that maximum)
 *     TRUSTMIG_A_PEER_NAME       string  peer's certified host name  (optional)
 *     TRUSTMIG_A_PEER_ADDR       string  peer's address, "HOST:PORT" (optional)
 *     TRUSTMIG_A_POLICY_ID       string  migration policy id         (optional)
 *                                     (each string at most
 *                                     TRUSTMIG_LABEL_LEN - 1 bytes; kept
 *                                     for GET only, never interpreted)
 *   reply (same command):
 *     TRUSTMIG_A_SESSION_ID      u32
 *     TRUSTMIG_A_TICKET          binary[TRUSTMIG_TICKET_LEN]  one-time attach
 *                                     ticket; shown once, only here
 *
 * TRUSTMIG_CMD_SESSION_SET_KEY  install the traffic key (once per session)
 *   request:
 *     TRUSTMIG_A_SESSION_ID      u32                              (required)
 *     TRUSTMIG_A_STREAM_ID       u32  id both ends derived from the
 *                                     handshake, reported by GET (records
 *                                     do not carry it: the key alone
 *                                     names the session)
 *     TRUSTMIG_A_KEY             binary[TRUSTMIG_KEY_LEN]         (required)
 *     TRUSTMIG_A_SALT            binary[TRUSTMIG_SALT_LEN]        (required)
 *   A source session seals with this key, a destination opens with it: the
 *   key is the one of the source->destination direction.  No reply body.
 *
 * TRUSTMIG_CMD_SESSION_GET   one session (doit) or all sessions (dumpit)
 *   request (doit):
 *     TRUSTMIG_A_SESSION_ID      u32                              (required)
 *   reply, one message per session:
 *     TRUSTMIG_A_SESSION_ID      u32
 *     TRUSTMIG_A_ROLE            u8   enum trustmig_role
 *     TRUSTMIG_A_CIPHER          u8   enum trustmig_cipher
 *     TRUSTMIG_A_STATE           u8   enum trustmig_state
 *     TRUSTMIG_A_KEYED           u8   1 once a key is installed
 *     TRUSTMIG_A_ATTACHED        u8   1 while a VM is attached
 *     TRUSTMIG_A_STREAM_ID       u32  (present once keyed)
 *     TRUSTMIG_A_RECORDS         u64  records sealed (source) or opened
 *     TRUSTMIG_A_BYTES           u64  wire bytes sealed or opened
 *     TRUSTMIG_A_PAGES           u64  guest pages carried (full + zero)
 *     TRUSTMIG_A_ZERO_PAGES      u64  of which zero pages
 *     TRUSTMIG_A_ROUNDS          u32  completed rounds
 *     TRUSTMIG_A_FAILURES        u32  rejected operations (the first one
 *                                     fails the session)
 *     TRUSTMIG_A_REASON          u8   enum trustmig_reason of the failure
 *     TRUSTMIG_A_ERRNO           u32  positive errno of the failure
 *     TRUSTMIG_A_AGE             u32  seconds since SESSION_NEW
 *     TRUSTMIG_A_ATTACH_TIMEOUT  u32  as set (or defaulted) at SESSION_NEW
 *     TRUSTMIG_A_LIFETIME        u32  as set (or defaulted) at SESSION_NEW
 *     TRUSTMIG_A_PEER_NAME, TRUSTMIG_A_PEER_ADDR, TRUSTMIG_A_POLICY_ID
 *                                     as given at SESSION_NEW, if given
 *
 * Lifetimes: a session that no VMM attached by its attach timeout, or
 * that has not completed by the end of its lifetime, fails
 * (TRUSTMIG_REASON_ATTACH_TIMEOUT or TRUSTMIG_REASON_EXPIRED, ETIMEDOUT)
 * and its key is erased; a completed session's receipt key is erased at
 * the end of its lifetime too.  A failed session, and a completed one
 * whose key is gone, leaves the table gc_delay seconds later (GET then
 * says ENOENT).  max_attach_timeout (default 120), max_lifetime (default
 * 86400) and gc_delay (default 300) are module parameters, 1 ..
 * TRUSTMIG_SECONDS_MAX, writable at run time; a change applies to
 * sessions created after it (gc_delay: to sessions that finish after it).
 *
 * TRUSTMIG_CMD_SESSION_DEL   delete a session, completed or not (attached
 *                            VMMs see EPIPE, a receipt key is erased too)
 *   request:
 *     TRUSTMIG_A_SESSION_ID      u32                              (required)
 *
 * Multicast group TRUSTMIG_MCGRP_EVENTS ("events"), kernel -> listeners:
 *
 * TRUSTMIG_CMD_EVENT_FAILED  a session failed (it accepts nothing more)
 *     TRUSTMIG_A_SESSION_ID      u32
 *     TRUSTMIG_A_REASON          u8   enum trustmig_reason
 *     TRUSTMIG_A_ERRNO           u32  positive errno returned to the caller
 *     TRUSTMIG_A_SEQ             u64  sequence number expected next on
 *                                     lane 0
 *
 * TRUSTMIG_CMD_EVENT_COMPLETE  a session sealed or verified its commit
 *     TRUSTMIG_A_SESSION_ID      u32
 *     TRUSTMIG_A_RECORDS         u64
 *     TRUSTMIG_A_BYTES           u64
 *     TRUSTMIG_A_PAGES           u64
 *
 * Errors: every failed request returns a negative errno and an extack
 * message.  Netlink's policy checks give EINVAL for an unknown attribute,
 * an attribute the command does not take, or a wrong type; ERANGE for a
 * value out of range or a key/salt/ticket of the wrong length.  A missing
 * attribute gives EINVAL (and NLMSGERR_ATTR_MISS_TYPE), an unknown session
 * ENOENT, a second key EEXIST, a key for a failed session EPIPE, a caller
 * without CAP_NET_ADMIN EPERM (also for joining the events group).
 */
#define TRUSTMIG_GENL_NAME		"trustmig"
#define TRUSTMIG_GENL_VERSION		2
#define TRUSTMIG_MCGRP_EVENTS		"events"

#define TRUSTMIG_KEY_LEN		32
#define TRUSTMIG_SALT_LEN		12
#define TRUSTMIG_TICKET_LEN		32
#define TRUSTMIG_LABEL_LEN		256	/* with the NUL: a DNS name */
#define TRUSTMIG_SECONDS_MAX		31536000 /* a year: bound on every
						  * session deadline
						  */

enum trustmig_cmd {
	TRUSTMIG_CMD_UNSPEC,
	TRUSTMIG_CMD_SESSION_NEW,
	TRUSTMIG_CMD_SESSION_SET_KEY,
	TRUSTMIG_CMD_SESSION_GET,
	TRUSTMIG_CMD_SESSION_DEL,
	TRUSTMIG_CMD_EVENT_FAILED,
	TRUSTMIG_CMD_EVENT_COMPLETE,
	__TRUSTMIG_CMD_MAX
};

#define TRUSTMIG_CMD_MAX (__TRUSTMIG_CMD_MAX - 1)

enum trustmig_attr {
	TRUSTMIG_A_UNSPEC,
	TRUSTMIG_A_PAD,
	TRUSTMIG_A_SESSION_ID,
	TRUSTMIG_A_ROLE,
	TRUSTMIG_A_CIPHER,
	TRUSTMIG_A_TICKET,
	TRUSTMIG_A_STREAM_ID,
	TRUSTMIG_A_KEY,
	TRUSTMIG_A_SALT,
	TRUSTMIG_A_STATE,
	TRUSTMIG_A_KEYED,
	TRUSTMIG_A_ATTACHED,
	TRUSTMIG_A_RECORDS,
	TRUSTMIG_A_BYTES,
	TRUSTMIG_A_PAGES,
	TRUSTMIG_A_ZERO_PAGES,
	TRUSTMIG_A_ROUNDS,
	TRUSTMIG_A_FAILURES,
	TRUSTMIG_A_REASON,
	TRUSTMIG_A_ERRNO,
	TRUSTMIG_A_SEQ,
	TRUSTMIG_A_AGE,
	TRUSTMIG_A_ATTACH_TIMEOUT,
	TRUSTMIG_A_LIFETIME,
	TRUSTMIG_A_PEER_NAME,
	TRUSTMIG_A_PEER_ADDR,
	TRUSTMIG_A_POLICY_ID,
	__TRUSTMIG_A_MAX
};

#define TRUSTMIG_A_MAX (__TRUSTMIG_A_MAX - 1)

enum trustmig_role {
	TRUSTMIG_ROLE_SOURCE = 1,	/* seals pages of a running VM */
	TRUSTMIG_ROLE_DEST = 2,		/* opens records into a new VM */
};

enum trustmig_cipher {
	TRUSTMIG_CIPHER_AES256GCM = 1,		/* "gcm(aes)", default */
	TRUSTMIG_CIPHER_CHACHA20POLY1305 = 2,	/* "rfc7539(chacha20,poly1305)" */
};

enum trustmig_state {
	TRUSTMIG_STATE_NEW = 1,		/* created, no key yet */
	TRUSTMIG_STATE_KEYED = 2,	/* key installed, no VM attached */
	TRUSTMIG_STATE_ACTIVE = 3,	/* VM attached, records flowing */
	TRUSTMIG_STATE_COMPLETE = 4,	/* commit sealed / verified */
	TRUSTMIG_STATE_FAILED = 5,	/* see reason; key already erased */
};

enum trustmig_reason {
	TRUSTMIG_REASON_NONE = 0,
	TRUSTMIG_REASON_BAD_HEADER = 1,	  /* version, type or length (EPROTO) */
	TRUSTMIG_REASON_LANE = 2,	  /* lane out of range, or a lane-0
					   * record on another (EPROTO)
					   */
	TRUSTMIG_REASON_SEQUENCE = 3,	  /* replayed, reordered or dropped
					   * record (EPROTO)
					   */
	TRUSTMIG_REASON_ROUND = 4,	  /* round number out of order (EPROTO) */
	TRUSTMIG_REASON_GFN = 5,	  /* gfn, or a zero run, outside one
					   * user memslot (ERANGE)
					   */
	TRUSTMIG_REASON_AUTH = 6,	  /* AEAD tag mismatch (EBADMSG) */
	TRUSTMIG_REASON_COMMIT = 7,	  /* commit disagrees with the stream
					   * (EBADMSG)
					   */
	TRUSTMIG_REASON_TRUNCATED = 8,	  /* stream ended before commit
					   * (ENODATA)
					   */
	TRUSTMIG_REASON_TICKET = 9,	  /* wrong or reused ticket (EACCES) */
	TRUSTMIG_REASON_EXHAUSTED = 10,	  /* sequence or round would wrap
					   * (EOVERFLOW)
					   */
	TRUSTMIG_REASON_DELETED = 11,	  /* deleted by the operator (EPIPE) */
	TRUSTMIG_REASON_DETACHED = 12,	  /* VMM closed before commit (EPIPE) */
	TRUSTMIG_REASON_SLOT = 13,	  /* memslot vanished or changed (ESTALE) */
	TRUSTMIG_REASON_CRYPTO = 14,	  /* the cipher itself failed (EIO) */
	TRUSTMIG_REASON_FAULT = 15,	  /* guest memory or a buffer of the
					   * VMM unreadable/unwritable (EFAULT)
					   */
	TRUSTMIG_REASON_ATTACH_TIMEOUT = 16, /* no VMM attached in time
					      * (ETIMEDOUT)
					      */
	TRUSTMIG_REASON_EXPIRED = 17,	  /* lifetime over before the commit
					   * (ETIMEDOUT)
					   */
	TRUSTMIG_REASON_VERSION = 18,	  /* record of another wire format
					   * version (EPROTO)
					   */
};

/* ------------------------------------------------------------------------
 * Sealed-record wire format (docs/wire-format.md)
 * ------------------------------------------------------------------------
 *
 * record = header (24 bytes, AEAD associated data)
 *          || ciphertext (header.len bytes)
 *          || tag (16 bytes)
 *
 * A stream is made of lanes 0..lanes-1 (lanes agreed by both VMMs and
 * given at ATTACH), each with its own sequence from 0, sealed and opened
 * concurrently.  nonce = salt XOR (be32(lane) || be64(seq)), 12 bytes:
 * no two records of a session, on whatever lane, share a nonce.  A page
 * travels on one lane only, the owner of its 2 MiB stripe,
 * TRUSTMIG_LANE_OF(gfn, lanes), so the versions of a page keep their
 * order whatever order the lanes arrive in.  The receiver takes on each
 * lane only the next sequence number; the COMMIT (lane 0, after every
 * lane's last record) carries each lane's count, which must equal what
 * the receiver opened.  All multi-byte fields are big-endian.
 *
 * type        len                    payload (plaintext)
 * PAGE        4096                   the guest page at gfn
 * ZERO_RUN    4                      struct trustmig_zero_run: pages from
 *                                    gfn on, all zero, in one user memslot
 * ROUND_END   16                     struct trustmig_round_end
 * COMMIT      16 + 16 * lanes        struct trustmig_commit, lane 0 only
 * STATE       1..TRUSTMIG_STATE_MAX  opaque VMM state, lane 0 only
 * RESUMED     16                     struct trustmig_resumed, lane 0,
 *                                    destination -> source only
 * Control records (all but PAGE and ZERO_RUN) carry gfn 0.
 */
#define TRUSTMIG_WIRE_VERSION		2
#define TRUSTMIG_TAG_LEN		16
#define TRUSTMIG_PAGE_SIZE		4096
#define TRUSTMIG_GFN_BITS		40	/* covers 52-bit guest physical */
#define TRUSTMIG_LANES_MAX		64	/* lanes a stream may have */
#define TRUSTMIG_LANE_STRIPE_SHIFT	9	/* 512 pages: 2 MiB */
/* The lane that carries the page at @gfn: stripes dealt round-robin. */
#define TRUSTMIG_LANE_OF(gfn, lanes) \
	((__u32)((gfn) >> TRUSTMIG_LANE_STRIPE_SHIFT) % (lanes))

struct trustmig_rec_hdr {
	__u8	version;	/* TRUSTMIG_WIRE_VERSION */
	__u8	type;		/* enum trustmig_rec_type */
	__u8	flags;		/* must be 0 in version 2 */
	__u8	gfn_hi;		/* gfn bits 39..32 */
	__be32	gfn_lo;		/* gfn bits 31..0 */
	__be32	lane;		/* lane, 0..TRUSTMIG_LANES_MAX - 1 */
	__be16	round;		/* pre-copy round of the lane, from 0 */
	__be16	len;		/* ciphertext bytes, tag excluded */
	__be64	seq;		/* the lane's record sequence, from 0, +1
				 * per record
				 */
};

enum trustmig_rec_type {
	TRUSTMIG_REC_PAGE = 1,		/* len 4096: one guest page */
	TRUSTMIG_REC_ZERO_RUN = 2,	/* len 4: struct trustmig_zero_run */
	TRUSTMIG_REC_ROUND_END = 3,	/* len 16: struct trustmig_round_end */
	TRUSTMIG_REC_COMMIT = 4,	/* len TRUSTMIG_COMMIT_LEN(lanes) */
	TRUSTMIG_REC_STATE = 5,		/* len 1..TRUSTMIG_STATE_MAX: opaque
					 * VMM state (vCPU registers, clock)
					 */
	TRUSTMIG_REC_RESUMED = 6,	/* len 16: struct trustmig_resumed;
					 * destination -> source, after
					 * the commit, never in the stream
					 */
};

/*
 * Largest STATE payload: a record must fit the module's 16 KiB buffer.
 * Enough for one vCPU (registers, XSAVE, MSRs, LAPIC) per record.
 */
#define TRUSTMIG_STATE_MAX	(16384 - 24 - TRUSTMIG_TAG_LEN)

/*
 * Payload of TRUSTMIG_REC_ZERO_RUN: @pages consecutive zero pages from
 * the header's gfn on, 1 or more, all in the memslot of the first and,
 * with more than one lane, in the stripe of the first.
 */
struct trustmig_zero_run {
	__be32	pages;
};

#define TRUSTMIG_ZERO_RUN_REC_LEN	(24 + 4 + TRUSTMIG_TAG_LEN)

/* Payload of TRUSTMIG_REC_ROUND_END (gfn 0), one per lane and round. */
struct trustmig_round_end {
	__be64	pages;		/* pages of the lane in this round, full
				 * and zero
				 */
	__be64	records;	/* records of the lane before this one */
};

/* One lane's entry in the commit. */
struct trustmig_commit_lane {
	__be64	records;	/* records of the lane before the commit */
	__be64	pages;		/* pages of the lane, full and zero */
};

/*
 * Payload of TRUSTMIG_REC_COMMIT (gfn 0, lane 0): the last record of a
 * stream, after every lane's last record.  Every lane listed ended every
 * round; a lane not listed must carry no record.
 */
struct trustmig_commit {
	__be64	rounds;		/* rounds ended */
	__be32	lanes;		/* entries in @lane, 1..TRUSTMIG_LANES_MAX */
	__be32	pad;		/* 0 */
	struct trustmig_commit_lane lane[];
};

#define TRUSTMIG_COMMIT_LEN(lanes) \
	(sizeof(struct trustmig_commit) + \
	 (lanes) * sizeof(struct trustmig_commit_lane))

/*
 * Payload of TRUSTMIG_REC_RESUMED (gfn 0): the destination's receipt, the
 * one record that goes back.  Sealed with the stream's key on lane 0 at
 * the sequence number after the commit (one the source never seals), so
 * only the peer holding this session's key can make it.
 */
struct trustmig_resumed {
	__be64	records;	/* records verified, every lane's, the
				 * commit included
				 */
	__be64	pages;		/* pages applied, full and zero */
};

#define TRUSTMIG_RESUMED_REC_LEN	(24 + 16 + TRUSTMIG_TAG_LEN)

/* ------------------------------------------------------------------------
 * /dev/trustmig data plane (ioctls on an open file; one session per file)
 * ------------------------------------------------------------------------
 *
 * A VMM opens /dev/trustmig, attaches its KVM VM (the VM fd from
 * KVM_CREATE_VM) to a session with the one-time ticket the helper gave it
 * and the number of lanes both VMMs use, and then, on a source:
 *
 *   for each round:
 *     re-protect: KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG (or GET_DIRTY_LOG
 *       without manual protect) for every user memslot
 *     for each user memslot: TRUSTMIG_SEAL with TRUSTMIG_SEAL_HARVEST
 *     then on every lane, one thread each:
 *       for each user memslot: TRUSTMIG_SEAL on the lane until pages_left
 *         is 0, sending buf[0..bytes) on the lane's connection each time
 *       TRUSTMIG_END_ROUND on the lane  (EBUSY while its pages are pending)
 *   with every vCPU out of KVM_RUN (paused), one more such round; then,
 *   once every lane's thread is done, one TRUSTMIG_SEAL_STATE per vCPU
 *   (and device) and TRUSTMIG_COMMIT, on lane 0.
 *
 * Calls on different lanes run concurrently: they share no lock but
 * KVM's slots_lock, held while a page is read, and the cipher runs
 * unlocked.  Calls on one lane wait for each other.  SEAL_STATE, COMMIT,
 * RESUMED and CONFIRM are lane 0's; COMMIT waits for every lane's call.
 *
 * The module tracks dirty pages itself (a hook on KVM's dirty marking,
 * from ATTACH on) and reads KVM's dirty bit of every page it seals: a
 * page sealed while that bit is set (not re-protected since it was last
 * written) is sealed again at every later harvest until it is sealed
 * after a re-protection.  So the VMM's bitmap may be withheld (0) or
 * wrong without losing a page, and an extra harvest only costs
 * bandwidth; but pages the VMM never re-protects keep the commit
 * refused.  COMMIT fails with EBUSY unless a round ended last, no vCPU
 * is in KVM_RUN, every user memslot was harvested, and no page is
 * pending, dirtied since the last harvest, or sealed while writable;
 * EOPNOTSUPP if the VM has SMM memory (not migrated).  A tracked memslot
 * changed in any way (deleted, moved, re-created, dirty logging switched
 * off even briefly) fails the session at its next SEAL or at COMMIT
 * (ESTALE, TRUSTMIG_REASON_SLOT).  A VM logging into a dirty ring is
 * refused at ATTACH (EOPNOTSUPP); ATTACH fails with EIO if the module's
 * hook on KVM does not fire.  Writes KVM does not log (the VMM's own,
 * vhost, DMA, ...) are the VMM's to send: docs/architecture.md.
 *
 * and on a destination, on every lane (one thread each), TRUSTMIG_OPEN
 * on whatever bytes of the lane arrived; lane 0's caller waits for the
 * other lanes' threads once its first STATE record opened, then goes on
 * until the reply says TRUSTMIG_OPEN_COMPLETE.  TRUSTMIG_OPEN_EOF tells
 * the module the lane ended: lane 0 without the commit, or any lane in
 * the middle of a record, fails the session.  All calls must come from
 * the process that owns the VM.
 *
 * Handover: once the VM runs on the destination, TRUSTMIG_RESUMED seals
 * the receipt (a TRUSTMIG_RESUMED_REC_LEN-byte record) for the source,
 * whose TRUSTMIG_CONFIRM verifies it (EBADMSG: not from the peer; the
 * source must then treat the handover as unconfirmed).  The key serves
 * only this record after the commit and is erased right after it, or
 * when the file is closed.  EBUSY before the commit, EALREADY after the
 * receipt.
 */
#define TRUSTMIG_DEV_NAME		"trustmig"
/*
 * /dev/trustmig is misc device 10:248 (devices.txt: 243-254 "reserved for
 * local use"), fixed so that depmod's devname index lets kmod create the
 * node at boot, before the module is loaded, and opening it loads the
 * module.  A host where another driver holds 10:248 refuses to load it.
 */
#define TRUSTMIG_DEV_MINOR		248

struct trustmig_attach {
	__u32	session_id;
	__s32	vm_fd;
	__u8	ticket[TRUSTMIG_TICKET_LEN];
	__u32	lanes;		/* 1..TRUSTMIG_LANES_MAX, the same at both
				 * ends (a mismatch fails the commit)
				 */
	__u32	pad;		/* must be 0 */
};

/* Output buffer for the sealing ioctls. */
struct trustmig_out {
	__u64	buf;		/* in: user address */
	__u64	buf_len;	/* in */
	__u64	bytes;		/* out: bytes written to buf */
	__u32	records;	/* out: records written */
	__u32	lane;		/* in: the lane to seal on (SEAL, END_ROUND;
				 * below the attached lanes), 0 otherwise
				 */
};

/*
 * Add the module's own dirty set, the pages it carries and dirty_bitmap
 * (if not 0) to the slot's pending set first.  Tracking a slot starts
 * with every page of it pending (at ATTACH, or at the first harvest of a
 * slot whose logging started later): the first round always carries the
 * whole slot.
 */
#define TRUSTMIG_SEAL_HARVEST	_BITUL(0)

/*
 * TRUSTMIG_SEAL reads the lane's pending pages of the slot (those of
 * stripes TRUSTMIG_LANE_OF() gives it) in gfn order until the buffer has no
 * room for one more full-page record (and the zero run it may end),
 * nothing is pending, or it read TRUSTMIG_SEAL_PAGES_MAX pages.  Runs of
 * consecutive zero pages become one ZERO_RUN record each, ending with the
 * call at the latest.  ENOBUFS if pages are pending and nothing fit;
 * with TRUSTMIG_SEAL_HARVEST and buf_len 0 the call only harvests.
 */
#define TRUSTMIG_SEAL_PAGES_MAX	4096

struct trustmig_seal {
	__u32	slot;		/* in: (address space << 16) | slot id */
	__u32	flags;		/* in: TRUSTMIG_SEAL_* */
	__u64	dirty_bitmap;	/* in: user address of the slot's harvested
				 * KVM dirty log (bit n = page base_gfn + n),
				 * or 0
				 */
	struct trustmig_out out;
	__u64	pages_left;	/* out: pages of the slot still pending on
				 * out.lane
				 */
	__u64	pages;		/* out: pages sealed by this call, full and
				 * zero (a zero run's count is sealed: the
				 * VMM cannot read it)
				 */
};

#define TRUSTMIG_OPEN_EOF	_BITUL(0) /* in: no more bytes will come */
#define TRUSTMIG_OPEN_COMPLETE	_BITUL(0) /* out: commit verified */
#define TRUSTMIG_OPEN_STATE	_BITUL(1) /* out: a STATE record's payload
					   * is in state_buf; the call
					   * stopped right after it
					   */

struct trustmig_open {
	__u64	buf;		/* in: user address of received bytes */
	__u64	buf_len;	/* in */
	__u32	flags;		/* in: TRUSTMIG_OPEN_EOF */
	__u32	result;		/* out: TRUSTMIG_OPEN_* */
	__u64	consumed;	/* out: bytes of whole records taken; the
				 * rest is a partial record to resend with
				 * what follows it
				 */
	__u64	records;	/* out: records opened */
	__u64	state_buf;	/* in: where a STATE payload goes, or 0 */
	__u32	state_len;	/* in: its size; out: bytes written */
	__u32	lane;		/* in: the lane of every record in buf */
};

/*
 * Seal @len bytes at @data as one STATE record (source).  The destination
 * gets them back, authenticated, through TRUSTMIG_OPEN's state_buf, and
 * must not use them before the commit verified.
 */
struct trustmig_seal_state {
	__u64	data;		/* in: user address */
	__u32	len;		/* in: 1..TRUSTMIG_STATE_MAX */
	__u32	pad;		/* must be 0 */
	struct trustmig_out out;
};

struct trustmig_confirm {
	__u64	buf;		/* in: user address of the received record */
	__u64	buf_len;	/* in: TRUSTMIG_RESUMED_REC_LEN */
};

#define TRUSTMIG_IOC_MAGIC	0xb7
#define TRUSTMIG_ATTACH		_IOW(TRUSTMIG_IOC_MAGIC, 1, struct trustmig_attach)
#define TRUSTMIG_SEAL		_IOWR(TRUSTMIG_IOC_MAGIC, 2, struct trustmig_seal)
#define TRUSTMIG_END_ROUND	_IOWR(TRUSTMIG_IOC_MAGIC, 3, struct trustmig_out)
#define TRUSTMIG_COMMIT		_IOWR(TRUSTMIG_IOC_MAGIC, 4, struct trustmig_out)
#define TRUSTMIG_OPEN		_IOWR(TRUSTMIG_IOC_MAGIC, 5, struct trustmig_open)
#define TRUSTMIG_SEAL_STATE	_IOWR(TRUSTMIG_IOC_MAGIC, 6, struct trustmig_seal_state)
#define TRUSTMIG_RESUMED	_IOWR(TRUSTMIG_IOC_MAGIC, 7, struct trustmig_out)
#define TRUSTMIG_CONFIRM	_IOW(TRUSTMIG_IOC_MAGIC, 8, struct trustmig_confirm)

#endif /* _UAPI_LINUX_TRUSTMIG_H */
