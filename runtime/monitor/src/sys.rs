//! The few raw syscalls nix does not wrap safely.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Result of [`fork`].
pub enum Forked {
    /// In the parent.
    Parent,
    /// In the child.
    Child,
}

/// fork(2). Callers must be single-threaded (the monitor calls this first thing).
#[allow(unsafe_code)]
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the monitor is a fresh,
    // single-threaded process at this point, so the child may keep running Rust code.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        _ => Ok(Forked::Parent),
    }
}

/// Sets a terminal's window size (TIOCSWINSZ).
#[allow(unsafe_code)]
pub fn set_winsize(fd: BorrowedFd<'_>, cols: u16, rows: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: fd is a valid open descriptor for the borrow's lifetime and `ws` is a properly
    // initialised winsize that outlives the call; TIOCSWINSZ only reads it.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        )
    };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Closes every descriptor above 2 except `keep` (inherited fds the monitor must not hold).
#[allow(unsafe_code)]
pub fn close_other_fds(keep: RawFd) {
    let fds: Vec<RawFd> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
            .filter(|&fd| fd > 2 && fd != keep)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // SAFETY: the descriptors were inherited across exec and nothing in this process owns
        // them (the monitor has opened nothing else yet; the read_dir fd is already closed, so
        // its number gives EBADF, which is ignored).
        unsafe {
            libc::close(fd);
        }
    }
}
