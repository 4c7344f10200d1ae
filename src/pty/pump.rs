//! The threads that move bytes: PTY → stdout (plus the observer), stdin →
//! PTY, and SIGWINCH → resize.

use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use portable_pty::{MasterPty, PtySize};

use super::Observer;
use super::fdio::{self, readable};
use super::resize::{self, Debounce, Size};
use super::term;

/// After the child has exited, output still buffered in the PTY is copied
/// until this long passes with nothing new: a grandchild that kept the PTY
/// open must not hold csm forever.
const DRAIN_QUIET_MS: libc::c_int = 100;

/// Copies the child's output to stdout, chunk by chunk as it arrives, then
/// shows each chunk to the observer. Ends at EOF/EIO on the master (the
/// child side closed) or once draining after a wake goes quiet.
pub(crate) fn output(master: OwnedFd, wake: Arc<OwnedFd>, mut observer: Option<Observer>) {
    // 64 KiB gathered from several tty reads per write; the only buffer
    // the proxy holds.
    let mut buf = vec![0u8; 64 * 1024];
    let mut draining = false;
    let mut stdout_ok = true;
    loop {
        let mut fds = [readable(master.as_raw_fd()), readable(wake.as_raw_fd())];
        let (watch, timeout) = if draining {
            (&mut fds[..1], DRAIN_QUIET_MS)
        } else {
            (&mut fds[..], -1)
        };
        match fdio::poll(watch, timeout) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => break,
        }
        if !draining && fds[1].revents != 0 {
            draining = true;
        }
        if fds[0].revents == 0 {
            continue;
        }
        // The master is non-blocking: read until it runs dry or the buffer
        // fills, then write once. A flood costs one write per 64 KiB
        // instead of a poll, a read and a write per 4 KiB tty chunk; a
        // keystroke's echo still goes out at once, since the read after it
        // finds nothing.
        loop {
            let mut filled = 0;
            let mut ended = false;
            while filled < buf.len() {
                match fdio::read(master.as_raw_fd(), &mut buf[filled..]) {
                    Ok(0) => {
                        ended = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    // EIO: every slave handle is closed, the normal end.
                    Err(_) => {
                        ended = true;
                        break;
                    }
                }
            }
            let chunk = &buf[..filled];
            if !chunk.is_empty() {
                // A dead stdout (terminal gone) must not stop the copy: the
                // child would block on a full PTY and never exit.
                if stdout_ok && fdio::write_all(libc::STDOUT_FILENO, chunk).is_err() {
                    stdout_ok = false;
                }
                if let Some(watcher) = observer.as_mut()
                    && catch_unwind(AssertUnwindSafe(|| watcher(chunk))).is_err()
                {
                    observer = None;
                    term::reassert_raw();
                }
            }
            if ended {
                return;
            }
            if filled < buf.len() {
                break;
            }
        }
    }
}

/// Copies the user's keys to the child until a wake, stdin EOF or a write
/// error. Writes go to a plain duplicate of the master: portable-pty's own
/// writer types a newline and EOF into the PTY when dropped, which would
/// be echoed back into the output after the child has gone.
pub(crate) fn input(master: OwnedFd, wake: Arc<OwnedFd>) {
    let mut buf = [0u8; 8 * 1024];
    let stdin = libc::STDIN_FILENO;
    loop {
        let mut fds = [readable(stdin), readable(wake.as_raw_fd())];
        if fdio::poll(&mut fds, -1).is_err() || fds[1].revents != 0 {
            return;
        }
        if fds[0].revents == 0 {
            continue;
        }
        match fdio::read(stdin, &mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if fdio::write_all(master.as_raw_fd(), &buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}

/// Applies coalesced SIGWINCH bursts to the PTY; ends when the signal
/// thread drops its sender.
pub(crate) fn resizer(master: Box<dyn MasterPty + Send>, signals: Receiver<()>, initial: Size) {
    let mut debounce = Debounce::new(resize::QUIET, resize::MAX_DELAY);
    let mut last = initial;
    loop {
        let got = match debounce.deadline() {
            None => signals.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => {
                signals.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            }
        };
        match got {
            Ok(()) => debounce.signal(Instant::now()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if debounce.take_due(Instant::now())
            && let Some(size) = resize::changed(last, term::size())
        {
            let applied = master.resize(PtySize {
                rows: size.rows,
                cols: size.cols,
                pixel_width: 0,
                pixel_height: 0,
            });
            if applied.is_ok() {
                last = size;
            }
        }
    }
}
