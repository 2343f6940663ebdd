// SPDX-License-Identifier: GPL-2.0
/*
 * tmig: data-path helpers for the selftests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tmig.h"

static int tmig_end_new(struct tnl *t, struct tmig_end *e, __u8 role,
			__u8 cipher)
{
	int err = tnl_new(t, role, cipher, &e->id, e->ticket);

	if (err)
		return err;
	e->fd = open("/dev/" TRUSTMIG_DEV_NAME, O_RDWR | O_CLOEXEC);
	return e->fd < 0 ? -errno : 0;
}

int tmig_pair_new(struct tnl *t, struct tmig_pair *p, __u8 cipher)
{
	int err;

	memset(p, 0, sizeof(*p));
	p->src.fd = -1;
	p->dst.fd = -1;
	if (getrandom(p->key, sizeof(p->key), 0) != sizeof(p->key) ||
	    getrandom(p->salt, sizeof(p->salt), 0) != sizeof(p->salt) ||
	    getrandom(&p->stream, sizeof(p->stream), 0) != sizeof(p->stream))
		return -EIO;
	err = tmig_end_new(t, &p->src, TRUSTMIG_ROLE_SOURCE, cipher);
	if (!err)
		err = tmig_end_new(t, &p->dst, TRUSTMIG_ROLE_DEST, cipher);
	if (!err)
		err = tnl_set_key(t, p->src.id, p->stream, p->key, p->salt);
	if (!err)
		err = tnl_set_key(t, p->dst.id, p->stream, p->key, p->salt);
	return err;
}

void tmig_pair_close(struct tnl *t, struct tmig_pair *p)
{
	if (t) {
		tnl_del(t, p->src.id);
		tnl_del(t, p->dst.id);
	}
	if (p->src.fd >= 0)
		close(p->src.fd);
	if (p->dst.fd >= 0)
		close(p->dst.fd);
	p->src.fd = -1;
	p->dst.fd = -1;
}

int tmig_attach_lanes(struct tmig_end *e, int vm_fd, const __u8 *ticket,
		      __u32 lanes)
{
	struct trustmig_attach a = {
		.session_id = e->id,
		.vm_fd = vm_fd,
		.lanes = lanes,
	};

	memcpy(a.ticket, ticket, sizeof(a.ticket));
	return ioctl(e->fd, TRUSTMIG_ATTACH, &a) ? -errno : 0;
}

int tmig_attach(struct tmig_end *e, int vm_fd, const __u8 *ticket)
{
	return tmig_attach_lanes(e, vm_fd, ticket, 1);
}

int tmig_reserve(struct tmig_stream *st, size_t more)
{
	size_t cap = st->cap ? st->cap : 1 << 20;
	__u8 *buf;

	while (cap - st->len < more)
		cap *= 2;
	if (cap == st->cap)
		return 0;
	buf = realloc(st->buf, cap);
	if (!buf)
		return -ENOMEM;
	st->buf = buf;
	st->cap = cap;
	return 0;
}

/* Room for this many full records per SEAL call. */
#define TMIG_BATCH	64
#define TMIG_REC_MAX	(sizeof(struct trustmig_rec_hdr) + \
			 TRUSTMIG_PAGE_SIZE + TRUSTMIG_TAG_LEN)

int tmig_seal_lane(int fd, __u32 slot, __u32 lane, __u32 flags,
		   const unsigned long *bitmap, struct tmig_stream *st)
{
	struct trustmig_seal s = {
		.slot = slot,
		.flags = flags,
		.dirty_bitmap = (unsigned long)bitmap,
		.out.lane = lane,
	};

	do {
		if (tmig_reserve(st, TMIG_BATCH * TMIG_REC_MAX))
			return -ENOMEM;
		s.out.buf = (unsigned long)(st->buf + st->len);
		s.out.buf_len = TMIG_BATCH * TMIG_REC_MAX;
		if (ioctl(fd, TRUSTMIG_SEAL, &s))
			return -errno;
		/* Pages left and none sealed: a VMM would spin forever. */
		if (!s.out.records && s.pages_left)
			return -ELOOP;
		st->len += s.out.bytes;
		s.flags = 0;
		s.dirty_bitmap = 0;
	} while (s.pages_left);
	return 0;
}

int tmig_seal_slot(int fd, __u32 slot, __u32 flags,
		   const unsigned long *bitmap, struct tmig_stream *st)
{
	return tmig_seal_lane(fd, slot, 0, flags, bitmap, st);
}

int tmig_harvest(int fd, __u32 slot, const unsigned long *bitmap,
		 __u64 *pages_left)
{
	struct trustmig_seal s = {
		.slot = slot,
		.flags = TRUSTMIG_SEAL_HARVEST,
		.dirty_bitmap = (unsigned long)bitmap,
	};

	if (ioctl(fd, TRUSTMIG_SEAL, &s))
		return -errno;
	if (s.out.bytes || s.out.records)
		return -EPROTO;
	*pages_left = s.pages_left;
	return 0;
}

int tmig_seal(int fd, struct tvm *vm, __u32 flags,
	      const unsigned long *bitmap, struct tmig_stream *st)
{
	return tmig_seal_slot(fd, vm->slot, flags, bitmap, st);
}

int tmig_seal_state(int fd, const void *data, __u32 len,
		    struct tmig_stream *st)
{
	struct trustmig_seal_state s = {
		.data = (unsigned long)data,
		.len = len,
		.out.buf_len = TRUSTMIG_STATE_MAX + 64,
	};

	if (tmig_reserve(st, s.out.buf_len))
		return -ENOMEM;
	s.out.buf = (unsigned long)(st->buf + st->len);
	if (ioctl(fd, TRUSTMIG_SEAL_STATE, &s))
		return -errno;
	st->len += s.out.bytes;
	return 0;
}

static int tmig_control(int fd, unsigned long cmd, __u32 lane,
			struct tmig_stream *st)
{
	struct trustmig_out o = { .buf_len = TMIG_REC_MAX, .lane = lane };

	if (tmig_reserve(st, TMIG_REC_MAX))
		return -ENOMEM;
	o.buf = (unsigned long)(st->buf + st->len);
	if (ioctl(fd, cmd, &o))
		return -errno;
	st->len += o.bytes;
	return 0;
}

int tmig_end_round_lane(int fd, __u32 lane, struct tmig_stream *st)
{
	return tmig_control(fd, TRUSTMIG_END_ROUND, lane, st);
}

int tmig_end_round(int fd, struct tmig_stream *st)
{
	return tmig_end_round_lane(fd, 0, st);
}

int tmig_commit(int fd, struct tmig_stream *st)
{
	return tmig_control(fd, TRUSTMIG_COMMIT, 0, st);
}

int tmig_open_state(int fd, const __u8 *buf, size_t len, void *state,
		    __u32 state_cap, struct trustmig_open *res)
{
	memset(res, 0, sizeof(*res));
	res->buf = (unsigned long)buf;
	res->buf_len = len;
	res->state_buf = (unsigned long)state;
	res->state_len = state_cap;
	return ioctl(fd, TRUSTMIG_OPEN, res) ? -errno : 0;
}

int tmig_open_lane(int fd, __u32 lane, const __u8 *buf, size_t len,
		   __u32 flags, struct trustmig_open *res)
{
	memset(res, 0, sizeof(*res));
	res->buf = (unsigned long)buf;
	res->buf_len = len;
	res->flags = flags;
	res->lane = lane;
	return ioctl(fd, TRUSTMIG_OPEN, res) ? -errno : 0;
}

int tmig_open(int fd, const __u8 *buf, size_t len, __u32 flags,
	      struct trustmig_open *res)
{
	return tmig_open_lane(fd, 0, buf, len, flags, res);
}

void *tmig_guest_writes(void *writer)
{
	struct tmig_writer *w = writer;
	__u32 stride = 1;

	while (!atomic_load(&w->stop) && !w->err) {
		w->err = tvm_run_pass(w->vm, 1, w->vm->npages - 1, stride);
		stride = stride % 7 + 2;
		w->passes++;
	}
	return NULL;
}

size_t tmig_record_size(const __u8 *rec)
{
	const struct trustmig_rec_hdr *h = (const void *)rec;

	return sizeof(*h) + ntohs(h->len) + TRUSTMIG_TAG_LEN;
}

size_t tmig_index(const struct tmig_stream *st, size_t *offs, size_t max)
{
	size_t off = 0, n = 0;

	while (off + sizeof(struct trustmig_rec_hdr) <= st->len && n < max) {
		offs[n++] = off;
		off += tmig_record_size(st->buf + off);
	}
	return n;
}

void tmig_stream_free(struct tmig_stream *st)
{
	free(st->buf);
	memset(st, 0, sizeof(*st));
}

int tmig_module_load(const char *ko)
{
	int fd, err;

	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return err;
}

int tmig_module_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

bool tmig_module_loaded(void)
{
	return !access("/sys/module/trustmig", F_OK);
}

/*
 * modprobe's "could not insert 'trustmig': <strerror>" back into the
 * errno, so that a test can tell why a load failed.
 */
static int tmig_modprobe(void)
{
	char out[512], *why;
	int e;

	if (!tmig_sh("modprobe trustmig 2>&1", out, sizeof(out)))
		return 0;
	why = strrchr(out, ':');
	if (!why)
		return -ENOENT;
	why += strspn(why, ": ");
	why[strcspn(why, "\n")] = '\0';
	for (e = 1; e < 4096; e++)
		if (!strcmp(strerror(e), why))
			return -e;
	return -ENOENT;
}

int tmig_trustmig_load(void)
{
	const char *ko = getenv("TRUSTMIG_KO");

	return ko ? tmig_module_load(ko) : tmig_modprobe();
}

void tmig_trustmig_restore(void)
{
	if (!tmig_module_loaded())
		tmig_trustmig_load();
}

int tmig_trustmig_path(char *path, size_t len)
{
	const char *ko = getenv("TRUSTMIG_KO");

	if (ko) {
		snprintf(path, len, "%s", ko);
		return 0;
	}
	if (tmig_sh("modinfo -n trustmig 2>/dev/null", path, len) || !*path)
		return -ENOENT;
	path[strcspn(path, "\n")] = '\0';
	return 0;
}

void tmig_tool(const char *tool, char *path, size_t len)
{
	const char *build = getenv("TRUSTMIG_BUILD");

	if (build)
		snprintf(path, len, "%s/user/%s", build, tool);
	else
		snprintf(path, len, "%s", tool);
}

static void tmig_param_path(const char *name, char *path, size_t len)
{
	snprintf(path, len, "/sys/module/trustmig/parameters/%s", name);
}

int tmig_param_get(const char *name, unsigned int *val)
{
	char path[128];
	FILE *f;
	int n;

	tmig_param_path(name, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return -errno;
	n = fscanf(f, "%u", val);
	fclose(f);
	return n == 1 ? 0 : -EBADMSG;
}

int tmig_param_set(const char *name, unsigned int val)
{
	char path[128], text[16];
	int fd, len, err = 0;

	tmig_param_path(name, path, sizeof(path));
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	len = snprintf(text, sizeof(text), "%u", val);
	if (write(fd, text, len) != len)
		err = -errno;
	close(fd);
	return err;
}

int tmig_sh(const char *cmd, char *out, size_t len)
{
	FILE *f = popen(cmd, "r");
	size_t n;
	int status;

	if (!f)
		return -1;
	if (out) {
		n = fread(out, 1, len - 1, f);
		out[n] = '\0';
	} else {
		while (fgetc(f) != EOF)
			;
	}
	status = pclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
