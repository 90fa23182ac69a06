//! Page copy-on-write after `fork()`: the base laid out in anonymous memory, and a child
//! process per "image" that writes into it, so that the kernel copies each 4 KiB page on its
//! first write.
//!
//! Children are bounded and self-terminating: each arms `alarm()` before doing anything,
//! allocates nothing, talks to the parent only through two pipes, and ends with `_exit`. The
//! parent always reaps them with `waitpid`.

use std::time::Instant;

pub const PAGE: usize = 4096;

/// Seconds after which a child kills itself whatever happens.
const CHILD_ALARM_S: u32 = 30;

/// The base's words in a private anonymous mapping with transparent huge pages off, so that
/// the kernel copies on write at 4 KiB granularity.
pub struct ForkRegion {
    ptr: *mut u64,
    bytes: usize,
}

impl ForkRegion {
    pub fn new(words: &[u64]) -> ForkRegion {
        let bytes = (words.len() * 8).div_ceil(PAGE) * PAGE;
        // SAFETY: an anonymous private mapping with no address hint; we check the result.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED, "mmap failed");
        // SAFETY: `ptr..ptr + bytes` is the mapping we just created.
        unsafe { libc::madvise(ptr, bytes, libc::MADV_NOHUGEPAGE) };
        let ptr = ptr as *mut u64;
        // SAFETY: the mapping holds `bytes >= words.len() * 8` writable bytes, is page-aligned
        // (so u64-aligned), and does not overlap `words`.
        unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), ptr, words.len()) };
        // Touch the tail too, so that every page is present in the parent before any fork.
        for p in 0..bytes / PAGE {
            // SAFETY: in bounds of the mapping; reading a present or zero page is fine.
            unsafe { std::ptr::read_volatile(ptr.add(p * PAGE / 8)) };
        }
        ForkRegion { ptr, bytes }
    }

    pub fn pages(&self) -> usize {
        self.bytes / PAGE
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forks a child that writes one word into each of `pages` (page numbers, distinct),
    /// timing each first write; answers the nanoseconds of each write.
    pub fn first_write_ns(&self, pages: &[usize]) -> Vec<u64> {
        assert!(pages.iter().all(|&p| p < self.pages()));
        let mut out = vec![0u64; pages.len()];
        let child = Child::fork(|ctl| {
            // In the child: no allocation, no locks; only raw memory, the clock and pipes.
            for (i, &p) in pages.iter().enumerate() {
                // SAFETY: `p` is a page of the mapping, which the child inherited.
                let target = unsafe { self.ptr.add(p * PAGE / 8 + 1) };
                std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
                let t = Instant::now();
                // SAFETY: `target` is in bounds of the writable mapping.
                unsafe { std::ptr::write_volatile(target, i as u64) };
                std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
                let ns = t.elapsed().as_nanos() as u64;
                ctl.send(&ns.to_ne_bytes());
            }
        });
        for slot in out.iter_mut() {
            let mut b = [0u8; 8];
            child.recv(&mut b);
            *slot = u64::from_ne_bytes(b);
        }
        child.finish();
        out
    }

    /// Forks a child that stores 8 bytes at each of `word_offsets` (from the start of the
    /// region); answers the pages the kernel copied for it, read from the child's
    /// `Private_Dirty` in `/proc/PID/smaps` before and after the stores.
    pub fn scattered_writes(&self, word_offsets: &[usize]) -> usize {
        assert!(word_offsets.iter().all(|&w| w * 8 < self.bytes));
        let child = Child::fork(|ctl| {
            ctl.send(b"r");
            ctl.wait_go();
            for (i, &w) in word_offsets.iter().enumerate() {
                // SAFETY: `w` is a word of the mapping, checked above.
                unsafe { std::ptr::write_volatile(self.ptr.add(w), i as u64) };
            }
            ctl.send(b"d");
        });
        let mut b = [0u8; 1];
        child.recv(&mut b);
        let before = private_dirty_kb(child.pid, self.ptr as usize);
        child.go();
        child.recv(&mut b);
        let after = private_dirty_kb(child.pid, self.ptr as usize);
        child.finish();
        (after.saturating_sub(before) * 1024) / PAGE
    }

    /// Forks a child that exits at once, and waits for it: the cost of a new "image".
    pub fn fork_and_reap(&self) {
        let child = Child::fork(|_| {});
        child.finish();
    }
}

impl Drop for ForkRegion {
    fn drop(&mut self) {
        // SAFETY: the mapping was created in `new` with exactly this length and is no longer
        // referenced (children have been reaped).
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.bytes) };
    }
}

/// The `Private_Dirty` kB of the mapping containing `addr` in process `pid`.
fn private_dirty_kb(pid: libc::pid_t, addr: usize) -> usize {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo <= addr && addr < hi;
                    continue;
                }
            }
        }
        if inside {
            if let Some(rest) = line.strip_prefix("Private_Dirty:") {
                return rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
        }
    }
    0
}

/// The child's end of the pipes.
pub struct Ctl {
    to_parent: libc::c_int,
    from_parent: libc::c_int,
}

impl Ctl {
    fn send(&self, bytes: &[u8]) {
        let mut done = 0;
        while done < bytes.len() {
            // SAFETY: writing from a live buffer to our pipe's write end.
            let n = unsafe {
                libc::write(
                    self.to_parent,
                    bytes[done..].as_ptr() as *const libc::c_void,
                    bytes.len() - done,
                )
            };
            if n <= 0 {
                // SAFETY: `_exit` is async-signal-safe and never returns.
                unsafe { libc::_exit(2) };
            }
            done += n as usize;
        }
    }

    fn wait_go(&self) {
        let mut b = 0u8;
        // SAFETY: reading one byte into a live local from our pipe's read end.
        unsafe { libc::read(self.from_parent, &mut b as *mut u8 as *mut libc::c_void, 1) };
    }
}

/// The parent's handle on a forked child.
struct Child {
    pid: libc::pid_t,
    from_child: libc::c_int,
    to_child: libc::c_int,
}

impl Child {
    fn fork(body: impl FnOnce(&Ctl)) -> Child {
        let mut up = [0 as libc::c_int; 2];
        let mut down = [0 as libc::c_int; 2];
        // SAFETY: `pipe` fills the two-element arrays we pass.
        assert_eq!(unsafe { libc::pipe(up.as_mut_ptr()) }, 0);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::pipe(down.as_mut_ptr()) }, 0);
        // SAFETY: the child runs only `body`, which the callers keep to raw memory writes, the
        // clock and pipe I/O (no allocation, no locks), then `_exit`s without unwinding.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // SAFETY: `alarm` and `close` are async-signal-safe.
            unsafe {
                libc::alarm(CHILD_ALARM_S);
                libc::close(up[0]);
                libc::close(down[1]);
            }
            let ctl = Ctl {
                to_parent: up[1],
                from_parent: down[0],
            };
            body(&ctl);
            // Wait until the parent has read what it needs (it closes its end), then leave.
            ctl.wait_go();
            // SAFETY: `_exit` ends the child at once, without running the parent's destructors.
            unsafe { libc::_exit(0) };
        }
        // SAFETY: closing the child's ends in the parent.
        unsafe {
            libc::close(up[1]);
            libc::close(down[0]);
        }
        Child {
            pid,
            from_child: up[0],
            to_child: down[1],
        }
    }

    fn recv(&self, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            // SAFETY: reading into the live remainder of `buf` from our pipe's read end.
            let n = unsafe {
                libc::read(
                    self.from_child,
                    buf[done..].as_mut_ptr() as *mut libc::c_void,
                    buf.len() - done,
                )
            };
            assert!(n > 0, "child died early");
            done += n as usize;
        }
    }

    fn go(&self) {
        // SAFETY: writing one byte from a live local to our pipe's write end.
        unsafe { libc::write(self.to_child, b"g".as_ptr() as *const libc::c_void, 1) };
    }

    fn finish(self) {
        let mut status = 0;
        // SAFETY: closing our pipe ends lets the child's final read return; then we reap it.
        unsafe {
            libc::close(self.to_child);
            libc::close(self.from_child);
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}
