/* SPDX-License-Identifier: GPL-2.0 */
/*
 * /dev/trustmig: the VMM's data path.
 */
#ifndef _TRUSTMIG_DEVICE_H
#define _TRUSTMIG_DEVICE_H

int trustmig_device_init(void);
void trustmig_device_exit(void);

#endif /* _TRUSTMIG_DEVICE_H */
