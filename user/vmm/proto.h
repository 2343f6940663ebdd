/* SPDX-License-Identifier: GPL-2.0 */
/*
 * trustmig-vm migration connections: the framing around the sealed record
 * stream (docs/vmm.md describes it for humans).
 *
 * A migration has one TCP connection per stream, each carrying one lane
 * of the session: connection 0 (lane 0) opens with HELLO and carries
 * everything but the other lanes' records; each further connection opens
 * with a LANE frame naming its lane.  Every message is a frame: an
 * 8-byte header (type, payload length, both big-endian) and the payload.
 * The sealed records travel in RECORDS frames, split anywhere: the
 * destination reassembles each lane's byte stream and the module finds
 * the record boundaries.  Frames themselves carry no protection:
 * everything that matters for the guest is inside the sealed records,
 * and RESUMED, the one frame that lets the source destroy its VM,
 * carries the destination module's sealed receipt, which the source's
 * module verifies.  HELLO, LANE, READY and ABORT are not authenticated:
 * forged, they can only make a migration fail, and a failed migration
 * keeps the source VM.
 */
#ifndef TMVM_PROTO_H
#define TMVM_PROTO_H

#include <linux/types.h>

#define TMVM_MAGIC		0x544d564d	/* "TMVM" */
#define TMVM_VERSION		3
#define TMVM_FRAME_MAX		1048576		/* payload bytes */
#define TMVM_WHY_MAX		200
/*
 * Streams a migration may have.  Each costs a thread and buffers at both
 * ends, and well before 16 the module's serialised page copy, not the
 * cipher, bounds the rate (docs/architecture.md, "Lanes").
 */
#define TMVM_LANES_MAX		16

struct tmvm_frame {
	__be32 type;		/* enum tmvm_frame_type */
	__be32 len;		/* payload bytes, <= TMVM_FRAME_MAX */
};

enum tmvm_frame_type {
	TMVM_F_HELLO = 1,	/* src -> dst: struct tmvm_hello */
	TMVM_F_READY = 2,	/* dst -> src: VM created and attached */
	TMVM_F_RECORDS = 3,	/* src -> dst: sealed record bytes */
	TMVM_F_RESUMED = 4,	/* dst -> src: the TRUSTMIG_REC_RESUMED record
				 * (TRUSTMIG_RESUMED_REC_LEN bytes)
				 */
	TMVM_F_ABORT = 5,	/* either way on connection 0: struct
				 * tmvm_abort + text
				 */
	TMVM_F_LANE = 6,	/* src -> dst, first on connections 1..:
				 * struct tmvm_lane
				 */
};

struct tmvm_hello {
	__be32 magic;		/* TMVM_MAGIC */
	__be32 version;		/* TMVM_VERSION */
	__be64 mem_bytes;	/* guest memory, one slot at gpa 0 */
	__be32 vcpus;		/* 1 */
	__be32 wire;		/* TRUSTMIG_WIRE_VERSION of the records;
				 * 0 in connection version 1 (records v1)
				 */
	/* Versions 1 and 2 ended here. */
	__be32 lanes;		/* streams, 1..TMVM_LANES_MAX: the session's
				 * lanes
				 */
	__be32 pad;		/* 0 */
};

struct tmvm_lane {
	__be32 magic;		/* TMVM_MAGIC */
	__be32 lane;		/* 1..lanes - 1: the lane of this connection */
};

struct tmvm_abort {
	__be32 err;		/* positive errno */
	/* followed by up to TMVM_WHY_MAX bytes of text, no NUL */
};

#endif /* TMVM_PROTO_H */
