// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The libvncserver functions display/vnc.c calls, through lazy_vncserver after
 * lazy_vncserver_load() (vmm/lazy_lib.h): only --vnc pays for libvncserver and its TLS stack.
 */
#ifndef DESKVM_VMM_LAZY_VNCSERVER_H
#define DESKVM_VMM_LAZY_VNCSERVER_H

#include <rfb/rfb.h>

#include "vmm/lazy_lib.h"

#define LAZY_VNCSERVER_FUNCS(X)                                                                    \
    X(rfbLogEnable)                                                                                \
    X(rfbGetScreen)                                                                                \
    X(rfbInitServer)                                                                               \
    X(rfbShutdownServer)                                                                           \
    X(rfbScreenCleanup)                                                                            \
    X(rfbNewFramebuffer)                                                                           \
    X(rfbMarkRectAsModified)                                                                       \
    X(rfbProcessEvents)                                                                            \
    X(rfbNewClient)                                                                                \
    X(rfbCheckPasswordByList)                                                                      \
    X(rfbGetClientIterator)                                                                        \
    X(rfbClientIteratorNext)                                                                       \
    X(rfbReleaseClientIterator)                                                                    \
    X(rfbSetCursor)

LAZY_LIB_DECLARE(vncserver, LAZY_VNCSERVER_FUNCS)

#endif
