//! The payload Codex passes to its `notify` program at the end of a turn:
//! one JSON argument such as
//! `{"type":"agent-turn-complete","thread-id":"...","turn-id":"...",
//! "cwd":"...","last-assistant-message":"..."}`.

use serde::Deserialize;

/// A turn-complete notification; unknown fields are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TurnComplete {
    /// The session (thread) id.
    #[serde(rename = "thread-id")]
    pub thread_id: String,
    /// The turn's id.
    #[serde(rename = "turn-id", default)]
    pub turn_id: Option<String>,
    /// The folder Codex runs in.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Which Codex front end (`codex-tui`, `codex_exec`).
    #[serde(default)]
    pub client: Option<String>,
    /// The assistant's last message of the turn.
    #[serde(rename = "last-assistant-message", default)]
    pub last_assistant_message: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
}

/// Parses a notify argument; `None` for other event types or malformed
/// input (a hook must never fail Codex's turn).
pub fn parse(arg: &str) -> Option<TurnComplete> {
    let envelope: Envelope = serde_json::from_str(arg).ok()?;
    if envelope.kind != "agent-turn-complete" {
        return None;
    }
    serde_json::from_str(arg)
        .ok()
        .filter(|t: &TurnComplete| super::is_session_id(&t.thread_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_turn_complete_and_ignores_the_rest() {
        let p = parse(r#"{"type":"agent-turn-complete","thread-id":"019a0000-0000-7000-8000-0000000000aa","turn-id":"u","cwd":"/x","client":"codex-tui","input-messages":["hi"],"last-assistant-message":"done","future":1}"#).unwrap();
        assert_eq!(p.thread_id, "019a0000-0000-7000-8000-0000000000aa");
        // A thread id that is not UUID-shaped is refused.
        assert_eq!(
            parse(r#"{"type":"agent-turn-complete","thread-id":"t1"}"#),
            None
        );
        assert_eq!(p.last_assistant_message.as_deref(), Some("done"));
        assert_eq!(parse(r#"{"type":"other","thread-id":"t"}"#), None);
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse(r#"{"type":"agent-turn-complete"}"#), None);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,200}") {
            let _ = parse(&text);
        }
    }
}
