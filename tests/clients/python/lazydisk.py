"""A disk that forgets what was not flushed: power loss for the tests.

Serves one file, ``disk.img``, through FUSE (the kernel protocol spoken directly on
/dev/fuse, no library), backed by a real image file. Writes stay in memory until the
kernel asks for a flush (FSYNC, which the loop driver sends for every flush and FUA write
a filesystem issues); only then do they reach the image and its fsync. A filesystem on a
loop device over ``disk.img`` therefore behaves like one on a disk with a volatile write
cache, and a power cut is:

- SIGUSR1 (cut): unflushed writes are dropped, and every later write and flush is
  accepted and dropped (the disk is dead; the kernel may still write back dirty pages
  while the filesystem is unmounted);
- SIGUSR2 (power back): unflushed writes are dropped again and writes work as before.

Usage: ``python3 lazydisk.py IMAGE MOUNTPOINT`` (as root). Runs until MOUNTPOINT is
unmounted. Counters go to stderr at exit. With LAZYDISK_TRACE=FILE every write, flush, cut and
power-back is appended to FILE (time, operation, offset, length), for post-mortems.
"""

import errno
import os
import signal
import struct
import sys
import time

PAGE = 4096
MAX_WRITE = 1 << 20
ROOT, DISK = 1, 2
NAME = b"disk.img"

# Opcodes (linux/fuse.h).
LOOKUP, FORGET, GETATTR, SETATTR = 1, 2, 3, 4
OPEN, READ, WRITE, STATFS, RELEASE = 14, 15, 16, 17, 18
FSYNC, FLUSH, INIT = 20, 25, 26
OPENDIR, READDIR, RELEASEDIR, ACCESS = 27, 28, 29, 34
INTERRUPT, DESTROY, BATCH_FORGET = 36, 38, 42
NO_REPLY = {FORGET, BATCH_FORGET, INTERRUPT}

FUSE_BIG_WRITES = 1 << 5
FUSE_MAX_PAGES = 1 << 22
FOPEN_DIRECT_IO = 1 << 0

IN_HEADER = struct.Struct("<IIQQIIIHH")  # len, opcode, unique, nodeid, uid, gid, pid, extlen, pad
OUT_HEADER = struct.Struct("<IiQ")  # len, error, unique


class Disk:
    """The image plus unflushed pages."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.pending = {}  # page index -> bytearray(PAGE)
        self.dead = False
        trace = os.environ.get("LAZYDISK_TRACE")
        self.trace = open(trace, "a", buffering=1 << 20) if trace else None
        self.stats = {"writes": 0, "flushes": 0, "dropped_pages": 0, "writes_while_dead": 0, "cuts": 0}

    def _page(self, index: int) -> bytearray:
        page = self.pending.get(index)
        if page is None:
            page = bytearray(os.pread(self.fd, PAGE, index * PAGE).ljust(PAGE, b"\0"))
        return page

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        out = bytearray()
        pos = offset
        while pos < offset + size:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, offset + size - pos)
            page = self.pending.get(index)
            if page is None:
                out += os.pread(self.fd, take, pos).ljust(take, b"\0")
            else:
                out += page[within:within + take]
            pos += take
        return bytes(out)

    def note(self, op: str, offset: int = 0, size: int = 0) -> None:
        if self.trace:
            self.trace.write(f"{time.time():.6f} {op} {offset} {size}\n")
            if op in ("cut", "back"):
                self.trace.flush()

    def write(self, offset: int, data: memoryview) -> int:
        self.note("write-dead" if self.dead else "write", offset, len(data))
        self.stats["writes"] += 1
        if self.dead:
            self.stats["writes_while_dead"] += 1
            return len(data)
        end = min(offset + len(data), self.size)
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, end - pos)
            page = self._page(index)
            page[within:within + take] = data[pos - offset:pos - offset + take]
            self.pending[index] = page
            pos += take
        return len(data)

    def flush(self) -> None:
        self.note("flush-dead" if self.dead else "flush", 0, len(self.pending))
        self.stats["flushes"] += 1
        if self.dead:
            return
        for index in sorted(self.pending):
            os.pwrite(self.fd, self.pending[index], index * PAGE)
        os.fsync(self.fd)
        self.pending.clear()

    def drop(self) -> None:
        self.stats["dropped_pages"] += len(self.pending)
        self.pending.clear()


def attr(node: int, size: int) -> bytes:
    mode = (0o040755 if node == ROOT else 0o100600)
    blocks = (size + 511) // 512
    return struct.pack(
        "<QQQQQQIIIIIIIIII", node, size, blocks, 0, 0, 0, 0, 0, 0, mode,
        2 if node == ROOT else 1, 0, 0, 0, PAGE, 0,
    )


def attr_out(node: int, size: int) -> bytes:
    return struct.pack("<QII", 3600, 0, 0) + attr(node, size)


def mount(mountpoint: str) -> int:
    import ctypes

    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0,allow_other".encode()
    if libc.mount(b"lazydisk", mountpoint.encode(), b"fuse", 6, opts) != 0:  # MS_NOSUID|MS_NODEV
        e = ctypes.get_errno()
        raise OSError(e, f"mount {mountpoint}: {os.strerror(e)}")
    return fd


def serve(disk: Disk, fd: int) -> None:
    while True:
        try:
            request = os.read(fd, MAX_WRITE + 64 * 1024)
        except OSError as e:
            if e.errno == errno.ENODEV:  # unmounted
                return
            if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                continue
            raise
        _, opcode, unique, node, *_ = IN_HEADER.unpack_from(request)
        body = memoryview(request)[IN_HEADER.size:]
        error, payload = 0, b""
        if opcode in NO_REPLY:
            continue
        if opcode == INIT:
            major, minor, readahead, flags = struct.unpack_from("<IIII", body)
            flags &= FUSE_BIG_WRITES | FUSE_MAX_PAGES
            payload = struct.pack(
                "<IIIIHHIIHHII24x", 7, min(minor, 31), readahead, flags, 16, 12,
                MAX_WRITE, 1, MAX_WRITE // PAGE, 0, 0, 0,
            )
        elif opcode == LOOKUP:
            if node == ROOT and bytes(body).rstrip(b"\0") == NAME:
                payload = struct.pack("<QQQQII", DISK, 0, 3600, 3600, 0, 0) + attr(DISK, disk.size)
            else:
                error = -errno.ENOENT
        elif opcode in (GETATTR, SETATTR):
            payload = attr_out(node, disk.size if node == DISK else 0)
        elif opcode in (OPEN, OPENDIR):
            payload = struct.pack("<QIi", 0, FOPEN_DIRECT_IO if opcode == OPEN else 0, 0)
        elif opcode == READ:
            _, offset, size = struct.unpack_from("<QQI", body)
            payload = disk.read(offset, size)
        elif opcode == WRITE:
            _, offset, size = struct.unpack_from("<QQI", body)
            written = disk.write(offset, body[40:40 + size])
            payload = struct.pack("<II", written, 0)
        elif opcode == FSYNC:
            disk.flush()
        elif opcode == STATFS:
            payload = struct.pack("<QQQQQIIII24x", 1, 0, 0, 2, 0, PAGE, 255, PAGE, 0)
        elif opcode in (FLUSH, RELEASE, RELEASEDIR, ACCESS, READDIR, DESTROY):
            pass
        else:
            error = -errno.ENOSYS
        reply = OUT_HEADER.pack(OUT_HEADER.size + len(payload), error, unique) + payload
        try:
            os.write(fd, reply)
        except OSError as e:
            if e.errno != errno.ENOENT:  # the request was interrupted meanwhile
                raise


def main() -> None:
    image, mountpoint = sys.argv[1], sys.argv[2]
    disk = Disk(image)

    def cut(*_):
        disk.note("cut", 0, len(disk.pending))
        disk.stats["cuts"] += 1
        disk.drop()
        disk.dead = True

    def power_back(*_):
        disk.note("back")
        disk.drop()
        disk.dead = False

    signal.signal(signal.SIGUSR1, cut)
    signal.signal(signal.SIGUSR2, power_back)
    fd = mount(mountpoint)
    print("lazydisk: ready", flush=True)
    try:
        serve(disk, fd)
    finally:
        print(f"lazydisk: {disk.stats}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
