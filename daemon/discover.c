// SPDX-License-Identifier: GPL-2.0
/*
 * GPU discovery with libdrm: every PCI device with a render node; on
 * amdgpu, amdgpu_query_gpu_info() gives the active CU count and
 * amdgpu_query_info(AMDGPU_INFO_VRAM_GTT) the VRAM size.  Devices of other
 * drivers are reported but not registered: gpumux does not know how to
 * partition their compute units yet.
 */
#include "gpumuxd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <amdgpu.h>
#include <amdgpu_drm.h>
#include <xf86drm.h>

#define MAX_DEVICES 64

static int probe_amdgpu(int fd, uint32_t *cus, uint64_t *vram)
{
	struct drm_amdgpu_info_vram_gtt vg;
	struct amdgpu_gpu_info info;
	amdgpu_device_handle dev;
	uint32_t major, minor;
	int ret;

	ret = amdgpu_device_initialize(fd, &major, &minor, &dev);
	if (ret)
		return ret < 0 ? ret : -EIO;
	ret = amdgpu_query_gpu_info(dev, &info);
	if (!ret)
		ret = amdgpu_query_info(dev, AMDGPU_INFO_VRAM_GTT, sizeof(vg),
					&vg);
	if (!ret) {
		*cus = info.cu_active_number;
		*vram = vg.vram_size;
	}
	amdgpu_device_deinitialize(dev);
	return ret < 0 ? ret : (ret ? -EIO : 0);
}

int gm_discover_drm(int (*add)(void *data, const char *ident,
			       const char *driver, uint32_t cus, uint64_t vram),
		    void *data)
{
	drmDevicePtr devs[MAX_DEVICES];
	int n, i, ret = 0;

	n = drmGetDevices2(0, devs, MAX_DEVICES);
	if (n < 0)
		return n == -ENODEV ? 0 : n;
	/* Older libdrm returns how many exist, not how many it filled. */
	if (n > MAX_DEVICES)
		n = MAX_DEVICES;
	if (!n)
		gm_info("libdrm: no DRM devices");
	for (i = 0; i < n && !ret; i++) {
		drmDevicePtr d = devs[i];
		char ident[GPUMUX_IDENT_LEN], driver[32] = "unknown";
		uint32_t cus = 0;
		uint64_t vram = 0;
		drmVersionPtr v;
		int fd;

		if (d->bustype != DRM_BUS_PCI ||
		    !(d->available_nodes & (1 << DRM_NODE_RENDER)))
			continue;
		snprintf(ident, sizeof(ident), "%04x:%02x:%02x.%u",
			 d->businfo.pci->domain, d->businfo.pci->bus,
			 d->businfo.pci->dev, d->businfo.pci->func);
		fd = open(d->nodes[DRM_NODE_RENDER], O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			gm_warn("%s (%s): %s", ident, d->nodes[DRM_NODE_RENDER],
				strerror(errno));
			continue;
		}
		v = drmGetVersion(fd);
		if (v) {
			snprintf(driver, sizeof(driver), "%s", v->name);
			drmFreeVersion(v);
		}
		if (!strcmp(driver, "amdgpu") &&
		    !probe_amdgpu(fd, &cus, &vram) && cus) {
			ret = add(data, ident, driver, cus, vram);
		} else {
			gm_info("%s (%s): not an amdgpu device with CUs: not managed",
				ident, driver);
		}
		close(fd);
	}
	drmFreeDevices(devs, n);
	return ret;
}
