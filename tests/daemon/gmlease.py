# SPDX-License-Identifier: GPL-2.0
"""A gpumux lease (tenant file) seen from Python, written from the uapi
header (kmod/include/uapi/linux/gpumux.h) independently of the C code:
ioctls, events, acknowledgements, pinned buffers.  Used by the D-Bus tests
as the "independent client" of the daemon."""

import ctypes
import fcntl
import mmap
import os
import select
import struct

MAGIC = 0xB8
MAX_CUS = 1024


def _iowr(nr, size):
    return (3 << 30) | (size << 16) | (MAGIC << 8) | nr


INFO = struct.Struct("<IIQIIIIQQII4Q")
PART_ACK = struct.Struct("<IIQ")
BUF_ALLOC = struct.Struct("<QIIQ2Q")
LIST = struct.Struct("<IIQIIII2Q")
EVENT = struct.Struct("<IIIIQQQ")
PART_INFO = struct.Struct("<IIIIQQ16Q16Q")

CMD_GET_INFO = _iowr(0x00, INFO.size)
CMD_PART_ACK = _iowr(0x06, PART_ACK.size)
CMD_BUF_ALLOC = _iowr(0x07, BUF_ALLOC.size)
CMD_LIST = _iowr(0x0B, LIST.size)

FILE_TENANT = 2
LIST_PARTITIONS = 3
EV_PART_CHANGED = 5
EV_FENCED = 6

assert INFO.size == 88 and PART_ACK.size == 16 and BUF_ALLOC.size == 40
assert LIST.size == 48 and EVENT.size == 40 and PART_INFO.size == 288


def mask_bits(words):
    """CU numbers set in a mask of 64-bit words."""
    return [w * 64 + b for w, v in enumerate(words) for b in range(64)
            if v >> b & 1]


def bytes_bits(data):
    """CU numbers set in a D-Bus 'ay' mask (little-endian bitmap)."""
    return [i * 8 + b for i, v in enumerate(bytes(data)) for b in range(8)
            if v >> b & 1]


class Lease:
    """A tenant file descriptor (ours: we close it)."""

    def __init__(self, fd):
        self.fd = fd
        self.acks = 0

    def info(self):
        buf = bytearray(INFO.size)
        fcntl.ioctl(self.fd, CMD_GET_INFO, buf)
        f = INFO.unpack(bytes(buf))
        return {"version": f[0], "file_kind": f[1], "features": f[2],
                "tenant_id": f[6], "pinned_limit": f[7],
                "pinned_used": f[8]}

    def partitions(self):
        """{gpu: (generation, state, active CUs, target CUs)}"""
        arr = ctypes.create_string_buffer(PART_INFO.size * 64)
        buf = bytearray(LIST.pack(LIST_PARTITIONS, PART_INFO.size,
                                  ctypes.addressof(arr), 64, 0, 0, 0, 0, 0))
        fcntl.ioctl(self.fd, CMD_LIST, buf)
        count = LIST.unpack(bytes(buf))[4]
        out = {}
        for i in range(count):
            f = PART_INFO.unpack_from(arr.raw, i * PART_INFO.size)
            out[f[1]] = (f[4], f[3], mask_bits(f[6:22]), mask_bits(f[22:38]))
        return out

    def cus(self):
        return sum(len(p[2]) for p in self.partitions().values())

    def events(self, timeout=0.0):
        """Events queued on the lease (waiting up to timeout for one)."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        fl = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        try:
            data = os.read(self.fd, EVENT.size * 64)
        except BlockingIOError:
            data = b""
        finally:
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fl)
        return [EVENT.unpack_from(data, o)
                for o in range(0, len(data) - EVENT.size + 1, EVENT.size)]

    def ack_pending(self, timeout=0.0):
        """Acknowledge every shrink waiting for us (a well-behaved
        tenant); returns the events seen."""
        evs = self.events(timeout)
        for gpu, part in self.partitions().items():
            gen, state = part[0], part[1]
            if state == 1:  # REVOKING
                try:
                    fcntl.ioctl(self.fd, CMD_PART_ACK,
                                bytearray(PART_ACK.pack(gpu, 0, gen)))
                    self.acks += 1
                except OSError:
                    pass  # raced with a newer generation: next round
        return evs

    def buf_alloc(self, size):
        buf = bytearray(BUF_ALLOC.pack(size, 0, 0, 0, 0, 0))
        fcntl.ioctl(self.fd, CMD_BUF_ALLOC, buf)
        f = BUF_ALLOC.unpack(bytes(buf))
        return f[2], f[3]  # buf_id, mmap offset

    def map(self, size, offset):
        return mmap.mmap(self.fd, size, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
