//! The user's terminal: size, raw mode, and putting it back.

use std::io;
use std::os::fd::RawFd;
use std::sync::{Mutex, Once};

use super::resize::Size;

/// Whether `fd` is a terminal.
pub(crate) fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The size of the user's terminal, asked of stdout, then stdin, then
/// stderr: whichever is a terminal knows.
pub(crate) fn size() -> Option<Size> {
    [libc::STDOUT_FILENO, libc::STDIN_FILENO, libc::STDERR_FILENO]
        .into_iter()
        .find_map(size_of)
}

fn size_of(fd: RawFd) -> Option<Size> {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some(Size {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

/// The settings to put back if the process panics while in raw mode. The
/// panic hook restores them *before* the message prints, so the message is
/// not smeared across a raw terminal; the guard's Drop restores them again
/// during unwinding, which is harmless.
static SAVED: Mutex<Option<(RawFd, libc::termios)>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

fn restore(fd: RawFd, termios: &libc::termios) {
    // SAFETY: termios came from tcgetattr on the same descriptor.
    unsafe {
        libc::tcsetattr(fd, libc::TCSANOW, termios);
    }
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(saved) = SAVED.lock()
                && let Some((fd, termios)) = saved.as_ref()
            {
                restore(*fd, termios);
            }
            previous(info);
        }));
    });
}

/// Raw mode on a terminal for as long as the guard lives: keys go to the
/// child byte by byte (Ctrl-C included) and nothing is echoed twice.
#[derive(Debug)]
pub(crate) struct RawMode {
    fd: RawFd,
    saved: libc::termios,
}

impl RawMode {
    /// Puts `fd` in raw mode, or returns `None` if it is not a terminal.
    pub(crate) fn enter(fd: RawFd) -> io::Result<Option<RawMode>> {
        if !is_tty(fd) {
            return Ok(None);
        }
        // SAFETY: termios is plain data filled by tcgetattr.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(io::Error::last_os_error());
        }
        install_panic_hook();
        if let Ok(mut slot) = SAVED.lock() {
            *slot = Some((fd, saved));
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the struct in place.
        unsafe { libc::cfmakeraw(&mut raw) };
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            let err = io::Error::last_os_error();
            if let Ok(mut slot) = SAVED.lock() {
                *slot = None;
            }
            return Err(err);
        }
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore(self.fd, &self.saved);
        if let Ok(mut slot) = SAVED.lock() {
            *slot = None;
        }
    }
}

/// Puts raw mode back after a panic hook restored the saved settings for
/// a panic that was then caught (an observer's), so the session goes on.
pub(crate) fn reassert_raw() {
    if let Ok(saved) = SAVED.lock()
        && let Some((fd, termios)) = saved.as_ref()
    {
        let mut raw = *termios;
        // SAFETY: as in `RawMode::enter`.
        unsafe {
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(*fd, libc::TCSANOW, &raw);
        }
    }
}
