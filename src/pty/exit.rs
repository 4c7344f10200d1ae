//! How the child ended, and the exit code csm passes on.

/// How the child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The child called `exit` with this code.
    Code(i32),
    /// The child was killed by this signal number.
    Signal(i32),
}

impl Exit {
    /// The code csm exits with: the child's own code, or `128 + signal`
    /// for a killed child, the convention shells use so scripts can tell.
    pub fn code(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(signal) => 128 + signal,
        }
    }

    /// Whether the child exited with code 0.
    pub fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// Decodes a raw status from `waitpid`; `None` for a stop or continue
    /// report, which is not an end.
    pub(crate) fn from_wait_status(status: libc::c_int) -> Option<Exit> {
        if libc::WIFEXITED(status) {
            Some(Exit::Code(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(Exit::Signal(libc::WTERMSIG(status)))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn exit_code_passes_through() {
        assert_eq!(Exit::Code(0).code(), 0);
        assert_eq!(Exit::Code(3).code(), 3);
        assert!(Exit::Code(0).success());
        assert!(!Exit::Code(1).success());
    }

    #[test]
    fn killed_child_maps_to_128_plus_signal() {
        assert_eq!(Exit::Signal(libc::SIGKILL).code(), 137);
        assert_eq!(Exit::Signal(libc::SIGTERM).code(), 143);
        assert!(!Exit::Signal(libc::SIGTERM).success());
    }

    #[test]
    fn decodes_wait_statuses() {
        // Linux encodes an exit as code << 8 and a kill as the bare signal.
        assert_eq!(Exit::from_wait_status(0), Some(Exit::Code(0)));
        assert_eq!(Exit::from_wait_status(42 << 8), Some(Exit::Code(42)));
        assert_eq!(
            Exit::from_wait_status(libc::SIGKILL),
            Some(Exit::Signal(libc::SIGKILL))
        );
        // A stopped child (0x7f in the low byte) has not ended.
        assert_eq!(Exit::from_wait_status((libc::SIGSTOP << 8) | 0x7f), None);
    }
}
