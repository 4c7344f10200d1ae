//! The shape of a Codex session (thread) id: a UUID, `8-4-4-4-12` hex
//! digits. Ids read from rollout files, notify payloads, a tracker or the
//! command line are checked before csm stores them or puts them on Codex's
//! command line, so a hostile "id" such as
//! `--dangerously-bypass-approvals-and-sandbox` can never become a flag.

/// Whether `id` is UUID-shaped.
pub fn is_session_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuid_shapes_pass() {
        assert!(is_session_id("019a0000-0000-7000-8000-0000000000aa"));
        assert!(is_session_id("019A0000-ABCD-7000-8000-0000000000AA"));
        for bad in [
            "--dangerously-bypass-approvals-and-sandbox",
            "",
            "t1",
            "019a0000-0000-7000-8000-0000000000a",
            "019a0000-0000-7000-8000-0000000000aag",
            "019a0000-0000-7000-8000-0000000000a-",
            "019a0000_0000-7000-8000-0000000000aa",
            "-19a0000-0000-7000-8000-0000000000aa",
            "019a0000-0000-7000-8000-0000000000aa\n",
        ] {
            assert!(!is_session_id(bad), "{bad:?}");
        }
    }
}
