#!/usr/bin/env python3
"""crashfs: a directory mounted through FUSE that forgets, on command, every write not yet made
durable, as a power cut does. For tests of what an fsync promises.

    python3 scripts/crashfs.py BACKING MOUNTPOINT     # serves until SIGTERM or SIGINT, then unmounts
    echo cut > MOUNTPOINT/.crashfs                    # the power goes: every write not fsync'd is undone
    echo "cut some 42" > MOUNTPOINT/.crashfs          # ... a random half of them, seed 42 (a torn write-back)
    echo "fail-fsync 3 -wal" > MOUNTPOINT/.crashfs    # the next 3 fsyncs of files ending in -wal fail (EIO)
    echo heal > MOUNTPOINT/.crashfs                   # fsyncs told to fail and not yet failed will not
    cat MOUNTPOINT/.crashfs                           # what it holds and forgot, one JSON object
    python3 scripts/crashfs.py --self-test            # shows that it forgets what it should and keeps the rest

A process killed with SIGKILL loses nothing the kernel already holds: its writes are in the page
cache and reach the disk in time. A machine that loses power loses what was not flushed. The
kill -9 soak (scripts/soak-kill.py) cannot tell an fsync that was made from one that was not;
through this file system it can (`soak-kill.py --power-cut`).

What is durable here, at the least favourable moment (what ext4 and xfs promise an application):
  - a write or truncate, once its file is fsync'd or fdatasync'd after it; until then a cut undoes
    it (the old bytes and the old size come back). "cut some" undoes a random subset of them
    instead, later writes kept while earlier ones go, as a disk's write-back may order them;
  - a file created, once it or its directory is fsync'd (ext4 and xfs commit the new name with the
    file's fsync); until then a cut removes it;
  - a write whose fsync failed (EIO, "fail-fsync") is lost for good: a later fsync that succeeds
    does not make it durable, since Linux marks the pages clean after a failed write-back (the
    writes after that fsync are made durable by it, and kept);
  - files whose names end in -shm (SQLite's shared-memory index, never fsync'd, rebuilt from the
    WAL after a crash) are memory: a cut empties them;
  - a hard link's new name, like a file created (intake makes its key file so, and fsyncs both);
  - unlink, rename, mkdir and rmdir are taken as durable at once (a simplification: the services
    here create their databases and write-ahead logs and never rename them).
The backing directory is never itself fsync'd: durability is what this process is told, not what
the machine's disk does. Operations are served one at a time, so a cut sees no write half done.
Needs fusepy (pip) and libfuse2 (apt), and root or fusermount to mount.
"""
import errno
import json
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time

CONTROL = "/.crashfs"
# The control file's size: its JSON padded with spaces (see `_stats`).
STATS_SIZE = 4096
CONTROL_FH = 1 << 62
VOLATILE_SUFFIXES = ("-shm",)


PENDING, DURABLE, LOST = 0, 1, 2


class Pending:
    """A file's writes and truncates since it was last made durable, in order, each with what it
    replaced and its state: pending (no fsync yet), durable (an fsync after it succeeded, kept only
    while a lost write comes before it) or lost (an fsync after it failed)."""

    __slots__ = ("ops", "created")

    def __init__(self, created=False):
        self.ops = []          # [("w", offset, old bytes, new bytes, size before) or ("t", length, old tail, size before), state]
        self.created = created  # its name is not durable yet

    def size(self):
        return sum(len(op[3]) for op, state in self.ops if op[0] == "w" and state != DURABLE)

    def writes(self):
        return sum(1 for op, state in self.ops if op[0] == "w" and state != DURABLE)


def make_operations():
    from fuse import FuseOSError, Operations

    class CrashFS(Operations):
        def __init__(self, root):
            self.root = os.path.realpath(root)
            self.pending = {}
            # CRASHFS_TRACE=DIR: every operation since the last cut, written to DIR/cut-N.log at each cut.
            self.trace_dir = os.environ.get("CRASHFS_TRACE")
            self.trace = []
            self.failing_fsyncs = []   # [count left, path suffix]: fail-fsync commands not yet spent
            self.counts = {"cuts": 0, "syncs": 0, "writes": 0, "failed_fsyncs_total": 0, "lost_bytes_total": 0, "lost_writes_total": 0,
                           "removed_files_total": 0, "emptied_volatile_total": 0, "lost_bytes_last_cut": 0,
                           "lost_writes_last_cut": 0, "removed_files_last_cut": 0, "kept_writes_last_cut": 0}

        # -- paths and the control file

        def _full(self, path):
            return os.path.join(self.root, path.lstrip("/"))

        @staticmethod
        def _volatile(path):
            return path.endswith(VOLATILE_SUFFIXES)

        def _stats(self):
            s = dict(self.counts)
            s["unsynced_files"] = len(self.pending)
            s["unsynced_bytes"] = sum(p.size() for p in self.pending.values())
            s["failing_fsyncs_left"] = sum(f[0] for f in self.failing_fsyncs)
            # Of one size whatever the counts: a reader reads the file, then once more at its end for
            # the end of file, and each read asks for the stats again. A snapshot that had grown by
            # a digit in between gave that second read the tail of another snapshot ("Extra data").
            # Padded, the second read starts past the end of any snapshot and gets nothing.
            text = json.dumps(s, sort_keys=True) + "\n"
            return text.ljust(STATS_SIZE).encode() if len(text) < STATS_SIZE else text.encode()

        def _control(self, data):
            words = data.decode("utf-8", "replace").split()
            if not words:
                return
            if words == ["heal"]:
                self.failing_fsyncs = []
                return
            if words[0] == "fail-fsync":
                if len(words) not in (2, 3) or not words[1].isdigit():
                    raise FuseOSError(errno.EINVAL)
                self.failing_fsyncs.append([int(words[1]), words[2] if len(words) == 3 else ""])
                return
            if words[0] != "cut" or len(words) > 3 or (len(words) > 1 and words[1] not in ("all", "some")):
                raise FuseOSError(errno.EINVAL)
            mode = words[1] if len(words) > 1 else "all"
            seed = int(words[2]) if len(words) > 2 else 0
            self.cut(mode, seed)

        # -- the cut

        def _note(self, *what):
            if self.trace_dir is not None:
                self.trace.append("%.6f %s" % (time.time(), " ".join(str(w) for w in what)))

        def cut(self, mode, seed):
            rng = random.Random(seed)
            if self.trace_dir is not None:
                self._note("cut", mode, seed, "pending:", ", ".join("%s %d ops%s" % (k, len(p.ops), " created" if p.created else "")
                                                                    for k, p in sorted(self.pending.items())))
                with open(os.path.join(self.trace_dir, "cut-%04d.log" % (self.counts["cuts"] + 1)), "w") as f:
                    f.write("\n".join(self.trace) + "\n")
                self.trace = []
            lost = lost_writes = kept = removed = emptied = 0
            for path, p in sorted(self.pending.items()):
                full = self._full(path)
                if not os.path.lexists(full):
                    continue
                if p.created and (mode == "all" or rng.random() < 0.5):
                    os.unlink(full)
                    removed += 1
                    lost += p.size()
                    lost_writes += p.writes()
                    continue
                fd = os.open(full, os.O_RDWR)
                try:
                    # Back to the file as it was at its last clean fsync, then forward again through
                    # what is durable (and, in "some", a random part of the rest).
                    for op, _state in reversed(p.ops):
                        if op[0] == "w":
                            _, offset, old, _new, size_before = op
                            os.pwrite(fd, old, offset)
                            os.ftruncate(fd, size_before)
                        else:
                            _, length, old_tail, size_before = op
                            os.ftruncate(fd, size_before)
                            if old_tail:
                                os.pwrite(fd, old_tail, length)
                    for op, state in p.ops:
                        if state == DURABLE or (mode == "some" and rng.random() < 0.5):
                            kept += state != DURABLE
                            if op[0] == "w":
                                os.pwrite(fd, op[3], op[1])
                            else:
                                os.ftruncate(fd, op[1])
                        elif op[0] == "w":
                            lost += len(op[3])
                            lost_writes += 1
                finally:
                    os.close(fd)
            self.pending.clear()
            for directory, _dirs, files in os.walk(self.root):
                for name in files:
                    if name.endswith(VOLATILE_SUFFIXES):
                        os.truncate(os.path.join(directory, name), 0)
                        emptied += 1
            c = self.counts
            c["cuts"] += 1
            c["lost_bytes_total"] += lost
            c["lost_writes_total"] += lost_writes
            c["removed_files_total"] += removed
            c["emptied_volatile_total"] += emptied
            c["lost_bytes_last_cut"], c["lost_writes_last_cut"] = lost, lost_writes
            c["removed_files_last_cut"], c["kept_writes_last_cut"] = removed, kept

        def _durable(self, path):
            p = self.pending.get(path)
            for failing in self.failing_fsyncs:
                if failing[0] > 0 and path.endswith(failing[1]):
                    # The disk failed the write-back: EIO, and (as Linux does) what it held is
                    # marked clean in the page cache, so a later fsync succeeds without writing it.
                    failing[0] -= 1
                    self.counts["failed_fsyncs_total"] += 1
                    self._note("fsync-failed", path)
                    if p:
                        for entry in p.ops:
                            if entry[1] == PENDING:
                                entry[1] = LOST
                    self.failing_fsyncs = [f for f in self.failing_fsyncs if f[0] > 0]
                    raise FuseOSError(errno.EIO)
            self.counts["syncs"] += 1
            self._note("fsync", path, len(p.ops) if p else 0)
            if p is None:
                return
            if any(state == LOST for _op, state in p.ops):
                for entry in p.ops:
                    if entry[1] == PENDING:
                        entry[1] = DURABLE
                p.created = False
            else:
                del self.pending[path]

        # -- file operations, passed through to the backing directory

        def access(self, path, amode):
            if path == CONTROL:
                return 0
            if not os.access(self._full(path), amode):
                raise FuseOSError(errno.EACCES)
            return 0

        def getattr(self, path, fh=None):
            if path == CONTROL:
                now = time.time()
                return {"st_mode": stat.S_IFREG | 0o666, "st_nlink": 1, "st_size": len(self._stats()),
                        "st_atime": now, "st_mtime": now, "st_ctime": now, "st_uid": os.getuid(), "st_gid": os.getgid()}
            try:
                st = os.lstat(self._full(path))
            except OSError as e:
                raise FuseOSError(e.errno)
            return {k: getattr(st, k) for k in ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid")}

        def readdir(self, path, fh):
            return [".", ".."] + os.listdir(self._full(path))

        def readlink(self, path):
            return os.readlink(self._full(path))

        def statfs(self, path):
            sv = os.statvfs(self._full(path))
            return {k: getattr(sv, k) for k in ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree",
                                                 "f_files", "f_flag", "f_frsize", "f_namemax")}

        def chmod(self, path, mode):
            return os.chmod(self._full(path), mode)

        def chown(self, path, uid, gid):
            return os.chown(self._full(path), uid, gid)

        def utimens(self, path, times=None):
            if path != CONTROL:
                os.utime(self._full(path), times)
            return 0

        def mkdir(self, path, mode):
            return os.mkdir(self._full(path), mode)

        def rmdir(self, path):
            return os.rmdir(self._full(path))

        def mknod(self, path, mode, dev):
            return os.mknod(self._full(path), mode, dev)

        def symlink(self, target, source):
            return os.symlink(source, self._full(target))

        def link(self, target, source):
            # A second name (target) for a file: durable once the file or its directory is fsync'd.
            # Writes through two names of one file are undone name by name, not in their common order.
            os.link(self._full(source), self._full(target))
            self.pending[target] = Pending(created=True)

        def unlink(self, path):
            self._note("unlink", path)
            os.unlink(self._full(path))
            self.pending.pop(path, None)

        def rename(self, old, new):
            os.rename(self._full(old), self._full(new))
            prefix = old.rstrip("/") + "/"
            moved = {}
            for key in list(self.pending):
                if key == old:
                    moved[new] = self.pending.pop(key)
                elif key.startswith(prefix):
                    moved[new.rstrip("/") + "/" + key[len(prefix):]] = self.pending.pop(key)
            self.pending.pop(new, None)
            self.pending.update(moved)

        @staticmethod
        def _flags(flags):
            # Reads through every descriptor (to keep what a write replaces); offsets as the kernel gives them.
            if flags & os.O_ACCMODE == os.O_WRONLY:
                flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
            return flags & ~(os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_TRUNC)

        def open(self, path, flags):
            if path == CONTROL:
                return CONTROL_FH
            try:
                return os.open(self._full(path), self._flags(flags))
            except OSError as e:
                raise FuseOSError(e.errno)

        def create(self, path, mode, fi=None):
            full = self._full(path)
            existed = os.path.lexists(full)
            self._note("create", path, "existed" if existed else "new")
            fd = os.open(full, os.O_RDWR | os.O_CREAT, mode)
            if not existed and not self._volatile(path):
                self.pending[path] = Pending(created=True)
            return fd

        def read(self, path, size, offset, fh):
            if fh == CONTROL_FH:
                return self._stats()[offset:offset + size]
            return os.pread(fh, size, offset)

        def write(self, path, data, offset, fh):
            if fh == CONTROL_FH:
                self._control(data)
                return len(data)
            self.counts["writes"] += 1
            if not self._volatile(path):
                self._note("write", path, offset, len(data))
                size_before = os.fstat(fh).st_size
                old = os.pread(fh, len(data), offset) if offset < size_before else b""
                self.pending.setdefault(path, Pending()).ops.append([("w", offset, old, bytes(data), size_before), PENDING])
            return os.pwrite(fh, data, offset)

        def truncate(self, path, length, fh=None):
            if path == CONTROL:
                return 0
            full = self._full(path)
            if not self._volatile(path):
                self._note("truncate", path, length)
                size_before = os.stat(full).st_size
                old_tail = b""
                if length < size_before:
                    with open(full, "rb") as f:
                        f.seek(length)
                        old_tail = f.read()
                self.pending.setdefault(path, Pending()).ops.append([("t", length, old_tail, size_before), PENDING])
            os.truncate(full, length)

        def flush(self, path, fh):
            return 0

        def release(self, path, fh):
            if fh != CONTROL_FH:
                os.close(fh)
            return 0

        def fsync(self, path, datasync, fh):
            if path != CONTROL:
                self._durable(path)
            return 0

        def fsyncdir(self, path, datasync, fh):
            self.counts["syncs"] += 1
            prefix = path.rstrip("/") + "/"
            for key, p in self.pending.items():
                if key.startswith(prefix) and "/" not in key[len(prefix):]:
                    p.created = False
            return 0

        def opendir(self, path):
            return 0

        def releasedir(self, path, fh):
            return 0

    return CrashFS


def serve(backing, mountpoint):
    from fuse import FUSE
    import signal
    # libfuse stops (and unmounts) on these only if they are neither ignored nor blocked, and a
    # process inherits both from the one that started it (swift test's runner ignores SIGTERM, and
    # starts programs from threads that block most signals).
    stops = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for sig in stops:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    os.makedirs(backing, exist_ok=True)
    os.makedirs(mountpoint, exist_ok=True)
    FUSE(make_operations()(backing), mountpoint, foreground=True, nothreads=True, big_writes=True,
         attr_timeout=0, entry_timeout=0, negative_timeout=0)


class Mounted:
    """crashfs serving `backing` at `mountpoint` in a process of its own, until `close()`."""

    def __init__(self, backing, mountpoint, log=None, timeout=20):
        self.mountpoint = mountpoint
        self.control = os.path.join(mountpoint, CONTROL.lstrip("/"))
        os.makedirs(mountpoint, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), backing, mountpoint],
                                     stdout=log or subprocess.DEVNULL, stderr=log or subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not (os.path.ismount(mountpoint) and os.path.exists(self.control)):
            if self.proc.poll() is not None:
                raise RuntimeError("crashfs exited with status %s before %s was mounted" % (self.proc.returncode, mountpoint))
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("crashfs did not mount %s within %d s" % (mountpoint, timeout))
            time.sleep(0.02)

    def cut(self, mode="all", seed=0):
        """The power goes: what was not made durable is forgotten. Returns the counters after it."""
        with open(self.control, "w") as f:
            f.write("cut %s %d\n" % (mode, seed))
        return self.stats()

    def fail_fsyncs(self, count, suffix=""):
        """The next `count` fsyncs of files whose paths end in `suffix` fail with EIO, and what they
        would have made durable is lost even if a later fsync succeeds (Linux's behaviour)."""
        with open(self.control, "w") as f:
            f.write("fail-fsync %d %s\n" % (count, suffix))

    def heal(self):
        """Fsyncs told to fail and not failed yet will not."""
        with open(self.control, "w") as f:
            f.write("heal\n")

    def stats(self):
        with open(self.control) as f:
            return json.loads(f.read())

    def stall(self):
        """The disk stops answering: every operation on the mount (a write, an fsync, a read not in
        the page cache) waits until `resume()`, as on a disk that stalls. The control file too."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.mounted():   # the daemon did not unmount (killed): a dead mount, which os.path.ismount cannot see
            subprocess.run(["umount", "-l", self.mountpoint], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def mounted(self):
        point = os.path.realpath(self.mountpoint)
        with open("/proc/self/mounts") as f:
            return any(len(line.split()) > 1 and line.split()[1] == point for line in f)


def self_test():
    """What the soak relies on: unsynced writes, truncates and new names are forgotten, synced ones
    kept; SQLite loses committed rows without fsync (synchronous=OFF) and none with FULL."""
    import sqlite3
    problems = []

    def check(ok, what):
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        if not ok:
            problems.append(what)

    tmp = tempfile.mkdtemp(prefix="crashfs-self-test-")
    fs = Mounted(os.path.join(tmp, "disk"), os.path.join(tmp, "mnt"))
    try:
        m = fs.mountpoint

        def write(name, data, sync, mode="ab"):
            with open(os.path.join(m, name), mode) as f:
                f.write(data)
                f.flush()
                if sync:
                    os.fsync(f.fileno())

        def content(name):
            try:
                with open(os.path.join(m, name), "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None

        write("never-synced", b"lost", sync=False)
        write("synced", b"kept", sync=True)
        write("synced-then-more", b"kept", sync=True)
        write("synced-then-more", b" and lost", sync=False)
        write("overwritten", b"0123456789", sync=True)
        write("overwritten", b"abc", sync=False, mode="r+b")
        write("truncated", b"0123456789", sync=True)
        os.truncate(os.path.join(m, "truncated"), 2)
        os.mkdir(os.path.join(m, "dir"))
        write("dir/named-by-directory", b"kept", sync=False)
        dfd = os.open(os.path.join(m, "dir"), os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
        write("x.sqlite-shm", b"index", sync=False)
        before = fs.stats()
        check(before["unsynced_files"] == 5, "five files hold writes not made durable: %d" % before["unsynced_files"])
        after = fs.cut()
        check(content("never-synced") is None, "a file never synced is gone")
        check(content("synced") == b"kept", "a synced file is kept")
        check(content("synced-then-more") == b"kept", "what was written after the fsync is undone: %r" % content("synced-then-more"))
        check(content("overwritten") == b"0123456789", "an overwrite not synced is undone: %r" % content("overwritten"))
        check(content("truncated") == b"0123456789", "a truncate not synced is undone: %r" % content("truncated"))
        check(content("dir/named-by-directory") == b"", "a file whose directory was synced keeps its name, not its data: %r"
              % content("dir/named-by-directory"))
        check(content("x.sqlite-shm") == b"", "a -shm file is emptied")
        check(after["lost_bytes_last_cut"] == 4 + 9 + 3 + 4 and after["removed_files_last_cut"] == 1,
              "the counters name what was forgotten: %s" % after)

        write("failed", b"AAAA", sync=True)
        fs.fail_fsyncs(1, "failed")
        try:
            write("failed", b"BBBB", sync=True)
            check(False, "an fsync told to fail fails")
        except OSError as e:
            check(e.errno == errno.EIO, "an fsync told to fail fails with EIO: %s" % e)
        write("failed", b"CCCC", sync=True)
        fs.cut()
        check(content("failed") == b"AAAA\0\0\0\0CCCC", "what the failed fsync held is lost though a later one succeeded; "
              "what that one flushed is kept: %r" % content("failed"))

        writer = (
            "import sqlite3, sys, time\n"
            "path, synchronous = sys.argv[1], sys.argv[2]\n"
            "db = sqlite3.connect(path, isolation_level=None)\n"
            "db.execute('PRAGMA journal_mode=WAL')\n"
            "db.execute('PRAGMA synchronous=FULL')\n"
            "db.execute('PRAGMA wal_autocheckpoint=0')\n"
            "db.execute('CREATE TABLE t(n INTEGER PRIMARY KEY, body TEXT)')\n"
            "db.execute('PRAGMA wal_checkpoint(TRUNCATE)')\n"
            "db.execute('PRAGMA synchronous=%s' % synchronous)\n"
            "for n in range(1, 51):\n"
            "    db.execute('INSERT INTO t VALUES (?, ?)', (n, ('row %d ' % n) * 20))\n"
            "print('committed', flush=True)\n"
            "time.sleep(60)\n")

        def sqlite_rows(synchronous, mode):
            """50 commits by a process then killed (SIGKILL), the power cut after: the rows left."""
            path = os.path.join(m, "t-%s-%s.sqlite" % (synchronous, mode))
            p = subprocess.Popen([sys.executable, "-c", writer, path, synchronous], stdout=subprocess.PIPE)
            try:
                line = p.stdout.readline()
            finally:
                p.kill()
                p.wait()
            if line != b"committed\n":
                return -1, "the writer failed"
            fs.cut(mode, 7)
            db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
            try:
                return db.execute("SELECT count(*) FROM t").fetchone()[0], db.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                db.close()

        rows, ok = sqlite_rows("FULL", "all")
        check(rows == 50 and ok == "ok", "SQLite WAL, synchronous=FULL: 50 commits, all 50 there after a cut (%d, %s)" % (rows, ok))
        rows, ok = sqlite_rows("OFF", "all")
        check(rows < 50 and ok == "ok", "SQLite WAL, synchronous=OFF: 50 commits, %d there after a cut (fewer: the cut bites)" % rows)
        failing = (
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA synchronous=FULL')\n"
            "db.execute('CREATE TABLE t(n INTEGER PRIMARY KEY, body TEXT)')\n"
            "acked = []\n"
            "for n in range(1, 41):\n"
            "    if n == 20:\n"
            "        open(sys.argv[2], 'w').write('fail-fsync 1 -wal\\n')\n"
            "    try:\n"
            "        db.execute('INSERT INTO t VALUES (?, ?)', (n, ('row %d ' % n) * 20))\n"
            "        acked.append(n)\n"
            "    except sqlite3.Error as e:\n"
            "        print('failed', n, e, flush=True)\n"
            "print('acked', ' '.join(map(str, acked)), flush=True)\n"
            "time.sleep(60)\n")
        path = os.path.join(m, "t-failing.sqlite")
        p = subprocess.Popen([sys.executable, "-c", failing, path, fs.control], stdout=subprocess.PIPE, text=True)
        try:
            out = [p.stdout.readline(), p.stdout.readline()]
        finally:
            p.kill()
            p.wait()
        acked = [int(x) for x in out[-1].split()[1:]] if out[-1].startswith("acked") else []
        fs.cut("all", 3)
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
        try:
            rows = [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")]
            ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            db.close()
        check(out[0].startswith("failed 20") and 20 not in acked and len(acked) == 39,
              "SQLite reports the commit whose fsync failed: %s" % out[0].strip())
        check(set(acked) <= set(rows) and ok == "ok", "every commit that returned is there after a cut (%d of %d, %s)" % (
            len(set(acked) & set(rows)), len(acked), ok))
        rows, ok = sqlite_rows("FULL", "some")
        check(rows == 50 and ok == "ok", "SQLite WAL, synchronous=FULL, a torn cut: all 50 there (%d, %s)" % (rows, ok))

        # The counters read while another process writes and syncs (as the soak reads them while
        # the services run): every read is one whole snapshot, however the counts grew meanwhile.
        writer = subprocess.Popen([sys.executable, "-c",
                                   "import os, sys\n"
                                   "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)\n"
                                   "for i in range(3000):\n"
                                   "    os.write(fd, b'x' * (1 + i % 7000)); os.fsync(fd)\n",
                                   os.path.join(m, "counting")])
        reads, broken = 0, []
        try:
            while writer.poll() is None or reads < 50:
                try:
                    fs.stats()
                except ValueError as e:
                    broken.append(str(e))
                reads += 1
        finally:
            writer.kill()
            writer.wait()
        check(not broken, "the counters read %d times while a writer synced: each one snapshot (%s)" % (reads, broken[:1] or "ok"))
    finally:
        fs.close()
        subprocess.run(["rm", "-rf", tmp])
    print("passed" if not problems else "FAILED: %d" % len(problems))
    return 0 if not problems else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 3 or sys.argv[1].startswith("-"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    serve(sys.argv[1], sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
