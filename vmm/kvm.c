// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM system checks (Documentation/virt/kvm/api.rst: KVM_GET_API_VERSION, KVM_CHECK_EXTENSION).
 */
#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

struct required_cap {
    int cap;
    const char *name;
};

static const struct required_cap required_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_HLT, "KVM_CAP_HLT"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IRQ_INJECT_STATUS, "KVM_CAP_IRQ_INJECT_STATUS"},
    {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_TSC_DEADLINE_TIMER, "KVM_CAP_TSC_DEADLINE_TIMER"},
    {KVM_CAP_SYNC_MMU, "KVM_CAP_SYNC_MMU"},
};

int kvm_sys_open(struct kvm_sys *kvm, const char *path, char *err, size_t errlen)
{
    memset(kvm, 0, sizeof(*kvm));
    kvm->fd = open(path, O_RDWR | O_CLOEXEC);
    if (kvm->fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENXIO || e == ENODEV) {
            snprintf(err, errlen,
                     "%s does not exist: enable virtualization (VT-x/AMD-V) in the firmware "
                     "settings and load the kvm_intel or kvm_amd module",
                     path);
        } else if (e == EACCES || e == EPERM) {
            snprintf(err, errlen,
                     "no permission to open %s: add yourself to the kvm group "
                     "(sudo usermod -aG kvm $USER) and log in again",
                     path);
        } else {
            snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
        }
        return -e;
    }
    int version = ioctl(kvm->fd, KVM_GET_API_VERSION, 0);
    if (version < 0) {
        /* e.g. --kvm-device /dev/null: the ioctl is not even understood. */
        snprintf(err, errlen, "%s is not a KVM device (KVM_GET_API_VERSION: %s)", path,
                 strerror(errno));
        kvm_sys_close(kvm);
        return -ENOTTY;
    }
    if (version != KVM_API_VERSION) {
        snprintf(err, errlen, "%s speaks KVM API version %d, deskvm needs %d", path, version,
                 KVM_API_VERSION);
        kvm_sys_close(kvm);
        return -ENOTSUP;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(kvm->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            snprintf(err, errlen, "the host's KVM lacks %s, which deskvm needs",
                     required_caps[i].name);
            kvm_sys_close(kvm);
            return -ENOTSUP;
        }
    }
    kvm->vcpu_mmap_size = ioctl(kvm->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (kvm->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed");
        kvm_sys_close(kvm);
        return -ENOTSUP;
    }
    kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (kvm->max_vcpus <= 0) {
        kvm->max_vcpus = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    }
    if (kvm->max_vcpus <= 0) {
        kvm->max_vcpus = 4; /* the API documents 4 when neither cap answers */
    }
    kvm->nr_memslots = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
    int page = ioctl(kvm->fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
    long psize = sysconf(_SC_PAGESIZE);
    /* Optional: without it every write to a coalesced zone is an ordinary MMIO exit. */
    kvm->coalesced_mmio_page =
        page > 0 && psize > 0 && (long)(page + 1) * psize <= kvm->vcpu_mmap_size ? page : 0;
    return 0;
}

void kvm_sys_close(struct kvm_sys *kvm)
{
    if (kvm && kvm->fd >= 0) {
        close(kvm->fd);
        kvm->fd = -1;
    }
}
