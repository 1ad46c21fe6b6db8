// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-console: finds the modern virtio-pci console (1af4:1043), negotiates VERSION_1
 * without MULTIPORT (so port 0's queues work as soon as the driver is up), posts a receive
 * buffer, and writes "hello from the guest now=<now>" through port 0's transmit queue. The
 * runner (console_expect=1) checks that the line reached the host side. With console_input=1
 * the runner feeds "ping now=<now>\n" to the console's host side and the guest must receive
 * exactly that through port 0's receive queue. Polled at CPL3, no interrupts.
 */
#include "guest.h"
#include "virtio_guest.h"

static struct vq_mem rxring __attribute__((aligned(4096)));
static struct vq_mem txring __attribute__((aligned(4096)));
static char rxbuf[256];
static char line[128];

void test_main(void)
{
    struct vpci d;
    CHECK(vpci_find(VIRTIO_ID_CONSOLE, 0, &d) == 0, "no usable virtio-console device");
    printf("virtio-console at 00:%02x.%u\n", d.dev, d.fn);
    CHECK(vpci_reset(&d) == 0, "reset failed");
    uint16_t nq = vpci_num_queues(&d);
    CHECK(nq >= 2, "num_queues %u", nq);
    CHECK(vpci_negotiate(&d, 0) == 0, "feature negotiation failed");
    printf("features offered %#lx, %u queues\n", d.features, nq);
    CHECK(d.device != 0 && d.device_len >= 8, "device config missing (%u bytes)", d.device_len);

    struct vq rx, tx;
    CHECK(vq_setup(&d, &rx, 0, &rxring, 16) == 0, "receive queue setup failed");
    CHECK(vq_setup(&d, &tx, 1, &txring, 16) == 0, "transmit queue setup failed");
    vpci_driver_ok(&d);
    uint8_t st = vpci_status(&d);
    CHECK((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET), "status %#x", st);

    vq_post(&rx, rxbuf, sizeof(rxbuf), true);
    vq_kick(&rx);

    char now[24] = "0";
    cmdline_get("now", now, sizeof(now));
    int n = snprintf(line, sizeof(line), "hello from the guest now=%s\n", now);
    vq_post(&tx, line, (uint32_t)n, false);
    vq_kick(&tx);
    uint32_t id, len;
    CHECK(vq_poll(&tx, &id, &len, 5000), "transmit buffer not returned");
    CHECK(id == 0, "used id %u", id);
    printf("wrote: %s", line);
    st = vpci_status(&d);
    CHECK(!(st & VIRTIO_STATUS_NEEDS_RESET), "status %#x after transmit", st);

    char flag[4];
    if (!cmdline_get("console_input", flag, sizeof(flag)) || flag[0] != '1') {
        return;
    }
    /* Host input may arrive in pieces: collect until the newline, reposting the buffer. */
    char want[48], got[64];
    int wn = snprintf(want, sizeof(want), "ping now=%s\n", now);
    unsigned have = 0;
    while (have < (unsigned)wn) {
        CHECK(vq_poll(&rx, &id, &len, 10000), "no console input after %u bytes", have);
        CHECK(len <= sizeof(rxbuf) && have + len < sizeof(got), "input too long (%u)", len);
        memcpy(got + have, rxbuf, len);
        have += len;
        vq_post(&rx, rxbuf, sizeof(rxbuf), true);
        vq_kick(&rx);
    }
    got[have] = '\0';
    CHECK(have == (unsigned)wn && memcmp(got, want, (size_t)wn) == 0,
          "received %u bytes '%s', want '%s'", have, got, want);
    printf("read: %s", got);
}
