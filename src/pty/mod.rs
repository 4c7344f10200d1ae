//! The passthrough PTY that runs Codex.
//!
//! csm does not emulate a terminal. It runs the child in a pseudo-terminal
//! opened at the user's terminal size and copies bytes both ways untouched,
//! so the child draws itself exactly as it would alone. Around that copy:
//! raw mode on the user's terminal (always restored), SIGWINCH bursts
//! coalesced into one resize, SIGTERM/SIGHUP/SIGINT/SIGQUIT forwarded to
//! the child, and the child's exit status handed back.
//!
//! [`spawn`] returns a [`Session`] so the caller can work while the child
//! runs (csm polls Codex's rollout files for the session id) and then
//! [`Session::wait`]; [`run`] does both. When stdin or stdout is not a
//! terminal the child simply inherits csm's stdio, unless
//! [`PtyOptions::force_pty`] says otherwise.

mod exit;
mod fdio;
mod pump;
mod resize;
mod term;

use std::ffi::OsString;
use std::io;
use std::os::unix::thread::JoinHandleExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use signal_hook::consts::{SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGWINCH};
use signal_hook::iterator::{Handle, Signals};

pub use exit::Exit;

use fdio::Waker;
use resize::Size;
use term::RawMode;

/// How long a child gets to exit after a forwarded SIGTERM/SIGHUP (or after
/// csm drops a running [`Session`]) before it is killed.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// How long shutdown waits for a pump thread before leaving it behind (one
/// blocked writing into a child that stopped reading, say).
const JOIN_GRACE: Duration = Duration::from_millis(500);
/// Size used when no terminal can tell us (a forced PTY in CI).
const FALLBACK_SIZE: Size = Size { rows: 24, cols: 80 };

/// The program to run, fully spelled out: csm decides the environment.
#[derive(Debug, Clone)]
pub struct Command {
    /// Program name (searched on the `PATH` in [`Command::env`]) or path.
    pub program: OsString,
    /// Arguments, without the program name.
    pub args: Vec<OsString>,
    /// Working folder; must exist.
    pub cwd: PathBuf,
    /// The child's whole environment: nothing is inherited besides this.
    pub env: Vec<(OsString, OsString)>,
}

/// Watches the child's output, called on the output thread with each
/// chunk *after* it has been written to the terminal. Keep it quick (hand
/// heavy work to a channel); if it panics it is dropped.
pub type Observer = Box<dyn FnMut(&[u8]) + Send + 'static>;

/// Options for [`spawn`] and [`run`].
#[derive(Default)]
pub struct PtyOptions {
    /// Use a PTY even when stdin or stdout is not a terminal (tests,
    /// benchmarks). Raw mode is still only applied to a terminal stdin.
    pub force_pty: bool,
    /// Sees every chunk of output; only in PTY mode.
    pub observer: Option<Observer>,
}

impl std::fmt::Debug for PtyOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyOptions")
            .field("force_pty", &self.force_pty)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// Why the child could not be run.
#[derive(Debug, thiserror::Error)]
pub enum PtyError {
    /// The working folder does not exist.
    #[error("cannot run {program} in {}: not a folder", cwd.display())]
    Cwd {
        /// The program that was to run.
        program: String,
        /// The missing folder.
        cwd: PathBuf,
    },
    /// No pseudo-terminal could be opened.
    #[error("cannot open a pseudo-terminal: {0}")]
    Open(String),
    /// The program could not be started.
    #[error("cannot start {program}: {reason}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// What the system said.
        reason: String,
    },
    /// A system call around the child failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> PtyError {
    move |source| PtyError::Io { what, source }
}

/// Runs `cmd` to the end and returns how it ended. See [`spawn`].
pub fn run(cmd: &Command, opts: PtyOptions) -> Result<Exit, PtyError> {
    spawn(cmd, opts)?.wait()
}

/// Starts `cmd` behind the passthrough (or with inherited stdio when not on
/// a terminal) and returns at once; the terminal is restored when the
/// [`Session`] is waited for or dropped, including during a panic.
///
/// csm's SIGTERM/SIGHUP/SIGINT/SIGQUIT handling is taken over while the
/// session lives, and those signals are not restored to their default
/// action afterwards (signal-hook cannot): exit soon after the session, as
/// csm does.
pub fn spawn(cmd: &Command, opts: PtyOptions) -> Result<Session, PtyError> {
    let program = cmd.program.to_string_lossy().into_owned();
    if !cmd.cwd.is_dir() {
        return Err(PtyError::Cwd {
            program,
            cwd: cmd.cwd.clone(),
        });
    }
    let use_pty =
        opts.force_pty || (term::is_tty(libc::STDIN_FILENO) && term::is_tty(libc::STDOUT_FILENO));
    // Registered before the child exists, so no SIGTERM can slip between
    // spawning and watching and leave the child behind.
    let signals = Signals::new([SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT])
        .map_err(io_err("cannot watch signals"))?;
    if use_pty {
        spawn_pty(cmd, &program, opts, signals)
    } else {
        say_no_pty(&cmd.program);
        spawn_inherited(cmd, &program, signals)
    }
}

/// Says once per process why there is no PTY.
fn say_no_pty(program: &OsString) {
    static SAID: AtomicBool = AtomicBool::new(false);
    if SAID.swap(true, Ordering::Relaxed) {
        return;
    }
    let which = if term::is_tty(libc::STDOUT_FILENO) {
        "stdin"
    } else {
        "stdout"
    };
    let name = Path::new(program)
        .file_name()
        .unwrap_or(program)
        .to_string_lossy()
        .into_owned();
    eprintln!("csm: {which} is not a terminal; running {name} without a PTY");
}

fn spawn_inherited(cmd: &Command, program: &str, signals: Signals) -> Result<Session, PtyError> {
    // The child stays in csm's process group: it is in the foreground of
    // the user's terminal and gets Ctrl-C from it directly, so csm only
    // ignores SIGINT/SIGQUIT (see `watch_signals`).
    let child = std::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .current_dir(&cmd.cwd)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .map_err(|e| PtyError::Spawn {
            program: program.to_owned(),
            reason: e.to_string(),
        })?;
    let mut session = Session::started(child.id(), false);
    // The std handle is not needed: the waiter thread reaps by pid.
    drop(child);
    session.start_signals(signals, None)?;
    Ok(session)
}

fn spawn_pty(
    cmd: &Command,
    program: &str,
    opts: PtyOptions,
    signals: Signals,
) -> Result<Session, PtyError> {
    let size = term::size().unwrap_or(FALLBACK_SIZE);
    let pair = native_pty_system()
        .openpty(PtySize {
            rows: size.rows,
            cols: size.cols,
            pixel_width: 0,
            pixel_height: 0,
        })
        .map_err(|e| PtyError::Open(format!("{e:#}")))?;
    let mut builder = CommandBuilder::new(&cmd.program);
    builder.args(&cmd.args);
    builder.env_clear();
    for (key, value) in &cmd.env {
        builder.env(key, value);
    }
    builder.cwd(&cmd.cwd);
    let mut child = pair
        .slave
        .spawn_command(builder)
        .map_err(|e| PtyError::Spawn {
            program: program.to_owned(),
            reason: format!("{e:#}"),
        })?;
    // Our copy of the slave would keep the PTY open after the child exits
    // and the output pump would never see EIO.
    drop(pair.slave);
    let Some(pid) = child.process_id() else {
        let _ = child.kill();
        return Err(PtyError::Spawn {
            program: program.to_owned(),
            reason: "the child has no process id".to_owned(),
        });
    };
    let mut session = Session::started(pid, true);
    // From here on, an error drops `session`, which ends the child and
    // puts the terminal back.
    session.pty_child = Some(child);
    session.raw = RawMode::enter(libc::STDIN_FILENO)
        .map_err(io_err("cannot put the terminal in raw mode"))?;

    let master_fd = pair
        .master
        .as_raw_fd()
        .ok_or_else(|| PtyError::Open("the PTY master has no descriptor".to_owned()))?;
    let reader = fdio::dup(master_fd).map_err(io_err("cannot duplicate the PTY"))?;
    let writer = fdio::dup(master_fd).map_err(io_err("cannot duplicate the PTY"))?;
    let waker = Waker::new().map_err(io_err("cannot create a pipe"))?;
    let (wake_out, wake_in) = (waker.watch(), waker.watch());
    session.waker = Some(waker);
    let observer = opts.observer;
    fdio::allow_interrupts();
    session.start_worker("csm-pty-out", move || {
        pump::output(reader, wake_out, observer)
    })?;
    if let Some(out) = session.workers.last_mut() {
        out.interruptible = true;
    }
    session.start_worker("csm-pty-in", move || pump::input(writer, wake_in))?;

    let (resize_tx, resize_rx) = mpsc::channel();
    let master = pair.master;
    session.resizer = Some(spawn_worker("csm-pty-resize", move || {
        pump::resizer(master, resize_rx, size)
    })?);
    session.start_signals(signals, Some(resize_tx))?;
    Ok(session)
}

/// The child's end, filled in by the waiter thread.
#[derive(Debug, Default)]
struct ExitCell {
    exit: Mutex<Option<Exit>>,
    ended: Condvar,
}

impl ExitCell {
    fn get(&self) -> Option<Exit> {
        self.exit.lock().map(|e| *e).unwrap_or(Some(Exit::Code(1)))
    }

    fn wait(&self, timeout: Option<Duration>) -> Option<Exit> {
        let Ok(mut guard) = self.exit.lock() else {
            return Some(Exit::Code(1));
        };
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        while guard.is_none() {
            guard = match deadline {
                None => match self.ended.wait(guard) {
                    Ok(g) => g,
                    Err(_) => return Some(Exit::Code(1)),
                },
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    match self.ended.wait_timeout(guard, left) {
                        Ok((g, _)) => g,
                        Err(_) => return Some(Exit::Code(1)),
                    }
                }
            };
        }
        *guard
    }

    /// Sends `signal` to `pid` unless it has been reaped: holding the lock
    /// the waiter reaps under, so a reused pid is never hit.
    fn signal(&self, pid: u32, signal: libc::c_int) {
        if let Ok(guard) = self.exit.lock()
            && guard.is_none()
        {
            // SAFETY: kill has no memory effects.
            unsafe {
                libc::kill(pid as libc::pid_t, signal);
            }
        }
    }
}

/// Waits for `pid` to end and records how. It first waits without
/// reaping (the zombie keeps the pid reserved), then reaps under the lock
/// that signal senders take.
fn wait_for(pid: u32, cell: &ExitCell) {
    let pid = pid as libc::pid_t;
    loop {
        // SAFETY: siginfo_t is plain data filled by waitid.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break;
        }
    }
    let Ok(mut guard) = cell.exit.lock() else {
        return;
    };
    let exit = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: status is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            if let Some(exit) = Exit::from_wait_status(status) {
                break exit;
            }
            continue;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            tracing::warn!("waiting for child {pid} failed: {err}");
            break Exit::Code(1);
        }
    };
    *guard = Some(exit);
    cell.ended.notify_all();
}

/// A thread that can be told to stop and may not: `done` disconnects when
/// the thread ends, panicking or not.
struct Worker {
    handle: JoinHandle<()>,
    done: mpsc::Receiver<()>,
    /// Sits in a blocking read that must be interrupted to end early.
    interruptible: bool,
}

/// How long a blocking reader gets to end on its own (EIO once the child
/// is gone) before it is interrupted.
const INTERRUPT_AFTER: Duration = Duration::from_millis(20);

impl Worker {
    /// Joins the thread if it ends within `grace`; otherwise leaves it.
    /// Returns whether the thread ended (false: it was left behind).
    fn finish(self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        let mut wait = if self.interruptible {
            INTERRUPT_AFTER.min(grace)
        } else {
            grace
        };
        loop {
            match self.done.recv_timeout(wait) {
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.handle.join();
                    return true;
                }
                _ if !self.interruptible || Instant::now() >= deadline => return false,
                _ => {}
            }
            // A signal that lands just before the read starts is lost, so
            // it is sent again until the thread is out.
            fdio::interrupt(self.handle.as_pthread_t());
            wait =
                Duration::from_millis(10).min(deadline.saturating_duration_since(Instant::now()));
        }
    }
}

/// A running child. Work alongside it, then call [`Session::wait`];
/// dropping a session whose child still runs ends the child (SIGHUP, then
/// SIGKILL after a grace period) and restores the terminal.
pub struct Session {
    pid: u32,
    pty: bool,
    exit: Arc<ExitCell>,
    waiter: Option<JoinHandle<()>>,
    raw: Option<RawMode>,
    waker: Option<Waker>,
    /// The pumps, which end on the waker.
    workers: Vec<Worker>,
    signals: Option<(Handle, Worker)>,
    /// Ends when the signal watcher drops its sender, so after it.
    resizer: Option<Worker>,
    pty_child: Option<Box<dyn portable_pty::Child + Send + Sync>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pid", &self.pid)
            .field("pty", &self.pty)
            .field("exit", &self.exit.get())
            .finish_non_exhaustive()
    }
}

impl Session {
    fn started(pid: u32, pty: bool) -> Session {
        let exit = Arc::new(ExitCell::default());
        let cell = Arc::clone(&exit);
        // If the waiter cannot start, `wait` would hang: fall back to an
        // error exit rather than panicking.
        let waiter = std::thread::Builder::new()
            .name("csm-pty-wait".to_owned())
            .spawn(move || wait_for(pid, &cell))
            .ok();
        if waiter.is_none()
            && let Ok(mut guard) = exit.exit.lock()
        {
            *guard = Some(Exit::Code(1));
        }
        Session {
            pid,
            pty,
            exit,
            waiter,
            raw: None,
            waker: None,
            workers: Vec::new(),
            signals: None,
            resizer: None,
            pty_child: None,
        }
    }

    fn start_worker(
        &mut self,
        name: &str,
        work: impl FnOnce() + Send + 'static,
    ) -> Result<(), PtyError> {
        self.workers.push(spawn_worker(name, work)?);
        Ok(())
    }

    fn start_signals(
        &mut self,
        signals: Signals,
        resize: Option<mpsc::Sender<()>>,
    ) -> Result<(), PtyError> {
        let handle = signals.handle();
        let (pid, pty, cell) = (self.pid, self.pty, Arc::clone(&self.exit));
        let worker = spawn_worker("csm-pty-signals", move || {
            watch_signals(signals, pid, pty, &cell, resize)
        })?;
        self.signals = Some((handle, worker));
        Ok(())
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the child runs in csm's PTY (false: inherited stdio).
    pub fn uses_pty(&self) -> bool {
        self.pty
    }

    /// How the child ended, if it has; never blocks.
    pub fn try_exit(&self) -> Option<Exit> {
        self.exit.get()
    }

    /// Waits up to `timeout` for the child to end: a polling loop sleeps
    /// with this and wakes the moment the child exits.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Exit> {
        self.exit.wait(Some(timeout))
    }

    /// Waits for the child, lets the last output through, restores the
    /// terminal and returns how the child ended.
    pub fn wait(mut self) -> Result<Exit, PtyError> {
        let exit = self.exit.wait(None).unwrap_or(Exit::Code(1));
        self.shut_down();
        Ok(exit)
    }

    /// Ends every helper thread and puts the terminal back; returns how
    /// many threads had to be left behind (none, unless one is stuck).
    fn shut_down(&mut self) -> usize {
        let mut left = 0;
        if let Some(waiter) = self.waiter.take() {
            let _ = waiter.join();
        }
        if let Some(waker) = &self.waker {
            waker.wake();
        }
        // Output first: it drains what the child wrote last while the
        // terminal is still raw, as the child intended.
        for worker in self.workers.drain(..) {
            left += usize::from(!worker.finish(JOIN_GRACE));
        }
        // The watcher holds the resizer's sender: closing it ends both.
        if let Some((handle, worker)) = self.signals.take() {
            handle.close();
            left += usize::from(!worker.finish(JOIN_GRACE));
        }
        if let Some(worker) = self.resizer.take() {
            left += usize::from(!worker.finish(JOIN_GRACE));
        }
        if left > 0 {
            tracing::debug!(left, "threads left behind at shutdown");
        }
        self.raw = None;
        self.pty_child = None;
        left
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.exit.get().is_none() {
            self.exit.signal(self.pid, SIGHUP);
            if self.exit.wait(Some(KILL_GRACE)).is_none() {
                self.exit.signal(self.pid, SIGKILL);
                let _ = self.exit.wait(Some(KILL_GRACE));
            }
        }
        self.shut_down();
    }
}

fn spawn_worker(name: &str, work: impl FnOnce() + Send + 'static) -> Result<Worker, PtyError> {
    let (done_tx, done) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let _done = done_tx;
            work();
        })
        .map_err(io_err("cannot start a thread"))?;
    Ok(Worker {
        handle,
        done,
        interruptible: false,
    })
}

/// Handles csm's signals while the child runs. In a PTY, SIGINT/SIGQUIT
/// can only come from `kill` (raw mode makes Ctrl-C a byte), so they are
/// forwarded; with inherited stdio the terminal already sent them to the
/// child, so they are ignored. SIGTERM/SIGHUP are forwarded, then the
/// child is killed if it outlives the grace period; `wait` then returns
/// and the caller restores the terminal and exits with the child's code.
fn watch_signals(
    mut signals: Signals,
    pid: u32,
    pty: bool,
    cell: &Arc<ExitCell>,
    resize: Option<mpsc::Sender<()>>,
) {
    let mut reaper_armed = false;
    for signal in signals.forever() {
        match signal {
            SIGWINCH => {
                if let Some(tx) = &resize {
                    let _ = tx.send(());
                }
            }
            SIGINT | SIGQUIT if !pty => {}
            _ => {
                cell.signal(pid, signal);
                if matches!(signal, SIGTERM | SIGHUP) && !reaper_armed {
                    reaper_armed = true;
                    let cell = Arc::clone(cell);
                    let _ = std::thread::Builder::new()
                        .name("csm-pty-reaper".to_owned())
                        .spawn(move || {
                            if cell.wait(Some(KILL_GRACE)).is_none() {
                                cell.signal(pid, SIGKILL);
                            }
                        });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Once the child has exited, every helper thread ends on its own: a
    /// thread left to its grace period would hold csm's exit for it.
    #[test]
    fn a_finished_child_leaves_no_thread_behind() {
        let cmd = Command {
            program: "true".into(),
            args: Vec::new(),
            cwd: std::env::temp_dir(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        };
        let opts = PtyOptions {
            force_pty: true,
            observer: None,
        };
        let mut session = spawn(&cmd, opts).expect("spawn true");
        assert_eq!(session.exit.wait(None), Some(Exit::Code(0)));
        assert_eq!(session.shut_down(), 0, "threads were left behind");
    }
}
