//! Small wrappers over raw descriptors: poll, read, write, a wake pipe.
//!
//! The pumps use `poll` on raw descriptors rather than blocking `Read`
//! objects so a thread waiting on the user's stdin can be told to stop:
//! a thread blocked in `read()` on a terminal can't be joined.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// `poll` that retries on EINTR; returns the number of ready descriptors.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    loop {
        // SAFETY: fds is a valid slice of pollfd for its length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A pollfd asking whether `fd` is readable.
pub(crate) fn readable(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// One `read`; EINTR is retried.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is valid for writes of its length.
        let rc = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Writes all of `buf`, waiting out EAGAIN: the user's terminal may have
/// been left non-blocking by another program sharing it.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for reads of its length.
        let rc = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if rc >= 0 {
            buf = &buf[rc as usize..];
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                let mut fds = [libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                poll(&mut fds, -1)?;
            }
            _ => return Err(err),
        }
    }
    Ok(())
}

/// A duplicate of `fd` that closes on exec.
pub(crate) fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we then own.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// One `read` that reports EINTR instead of retrying: a thread blocked in
/// it can be interrupted with [`interrupt`].
pub(crate) fn read_interruptible(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writes of its length.
    let rc = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if rc >= 0 {
        Ok(rc as usize)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How many bytes a read of `fd` would return at once (`FIONREAD`); 0 on
/// error, so callers simply stop asking.
pub(crate) fn available(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if rc == 0 { n.max(0) as usize } else { 0 }
}

/// The signal that interrupts a blocking read: ignored by default, and
/// nothing else in csm uses it.
const INTERRUPT: libc::c_int = libc::SIGURG;

extern "C" fn on_interrupt(_: libc::c_int) {}

/// Installs a do-nothing handler for the interrupt signal, without
/// `SA_RESTART`, so a read it hits returns EINTR. Idempotent.
pub(crate) fn allow_interrupts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with a valid handler and an empty
        // mask is a well-formed argument; the handler does nothing.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_interrupt as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(INTERRUPT, &action, std::ptr::null_mut());
        }
    });
}

/// Interrupts a blocking call of `thread` (see [`allow_interrupts`]).
pub(crate) fn interrupt(thread: libc::pthread_t) {
    // SAFETY: the caller holds the thread's JoinHandle, so the id is live.
    unsafe {
        libc::pthread_kill(thread, INTERRUPT);
    }
}

/// Makes reads and writes on `fd` (and on every duplicate of it) return
/// EAGAIN instead of blocking.
pub(crate) fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL only change the descriptor's status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe whose read end turns readable, for good, once `wake` is called:
/// every pump polls it next to its own descriptor.
#[derive(Debug)]
pub(crate) struct Waker {
    read: Arc<OwnedFd>,
    write: OwnedFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 fills two descriptors on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both descriptors are fresh and ours.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        Ok(Waker {
            read: Arc::new(read),
            write,
        })
    }

    /// The end the pumps poll.
    pub(crate) fn watch(&self) -> Arc<OwnedFd> {
        Arc::clone(&self.read)
    }

    pub(crate) fn wake(&self) {
        // Nobody reads the byte, so the read end stays readable.
        let _ = write_all(self.write.as_raw_fd(), &[1]);
    }
}
