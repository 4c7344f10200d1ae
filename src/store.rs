//! The store: csm's own state in one SQLite file.
//!
//! It holds the sessions (ticket ↔ folder ↔ Codex session id ↔ settings),
//! the events each session produced (turns completed, launches, tabs), the
//! outbox of notes waiting to be posted to a tracker, and a small cache
//! (tracker field ids, ticket statuses).
//!
//! Several csm processes use the store at once (a running session records
//! events while `csm list` reads), so it runs in WAL mode with a busy
//! timeout, and every multi-statement change is one `IMMEDIATE` transaction.
//! The schema version is SQLite's `user_version`; migrations run in one
//! transaction when the store is opened, and a database written by a newer
//! csm is refused rather than touched.
//!
//! No secret is ever written here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{EventKind, SessionEvent};

/// How long a writer waits for another process's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The migrations, in order; the store's `user_version` counts how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, their events, the outbox and the cache.
    "CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        ticket_key TEXT NOT NULL,
        tracker TEXT NOT NULL,
        folder TEXT NOT NULL,
        codex_session_id TEXT UNIQUE,
        settings TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'new',
        branch TEXT,
        start_commit TEXT,
        ticket_snapshot TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        launched_at INTEGER,
        last_activity_at INTEGER
    );
    CREATE INDEX sessions_by_ticket ON sessions(ticket_key, created_at);
    CREATE TABLE session_events (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX session_events_by_session ON session_events(session_id, at);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        ticket_key TEXT NOT NULL,
        tracker TEXT NOT NULL,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        marker TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        sent_at INTEGER,
        remote_id TEXT
    );
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );",
    // 2: the process id of a running Codex, to tell a live session from one
    // whose csm was killed.
    "ALTER TABLE sessions ADD COLUMN pid INTEGER;",
    // 3: outbox claims (which csm process delivers an item, until when)
    // and parking (a tracker refused the item for good).
    "ALTER TABLE outbox ADD COLUMN claim_owner TEXT;
    ALTER TABLE outbox ADD COLUMN claim_until INTEGER;
    ALTER TABLE outbox ADD COLUMN parked_at INTEGER;",
];

/// Queues one outbox item: ticket, tracker, kind, body, marker, time.
const OUTBOX_INSERT: &str =
    "INSERT INTO outbox (ticket_key, tracker, kind, body, marker, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Sessions not done, and done ones whose ticket's note has not reached
/// the tracker yet (they show "note queued" or "note refused").
const WAITING_NOTE: &str = "WHERE status <> 'done' OR ticket_key IN (SELECT ticket_key FROM outbox
    WHERE sent_at IS NULL AND kind = 'comment' AND outbox.tracker = sessions.tracker)";

/// The schema version this csm writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder for the database cannot be made.
    #[error("cannot create {path}: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database was written by a newer csm.
    #[error(
        "the store {path} has schema version {found}, newer than this csm understands ({supported})"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its `user_version`.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// SQLite failed.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A Codex session id is already linked to another csm session.
    #[error("Codex session {codex_id} is already linked to {ticket}")]
    CodexIdTaken {
        /// The Codex session id.
        codex_id: String,
        /// The ticket that owns it.
        ticket: String,
    },
    /// A stored JSON value cannot be read back.
    #[error("store {path}: corrupt {what}: {source}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Which value.
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// What a session is doing, as far as csm knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// Recorded, Codex not launched yet (or its id not yet seen).
    New,
    /// Codex is running and working on a turn.
    Running,
    /// Codex finished a turn and waits for the user.
    Waiting,
    /// Codex is not running.
    Idle,
    /// The ticket's work is finished (`csm done`).
    Done,
}

impl SessionStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::New => "new",
            SessionStatus::Running => "running",
            SessionStatus::Waiting => "waiting",
            SessionStatus::Idle => "idle",
            SessionStatus::Done => "done",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => SessionStatus::Running,
            "waiting" => SessionStatus::Waiting,
            "idle" => SessionStatus::Idle,
            "done" => SessionStatus::Done,
            _ => SessionStatus::New,
        }
    }
}

/// A recorded session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Session {
    /// csm's own id for the session.
    pub id: i64,
    /// The ticket key.
    pub ticket_key: String,
    /// The tracker's id (see `Tracker::id`).
    pub tracker: String,
    /// The folder Codex runs in.
    pub folder: PathBuf,
    /// Codex's session (thread) id, once seen.
    pub codex_session_id: Option<String>,
    /// The per-session Codex settings, as JSON.
    pub settings: Value,
    /// What the session is doing.
    pub status: SessionStatus,
    /// The git branch the session works on, when known.
    pub branch: Option<String>,
    /// The commit HEAD pointed at when the session started.
    pub start_commit: Option<String>,
    /// The ticket as it was at the last launch (to tell Codex what changed).
    pub ticket_snapshot: Option<Value>,
    /// When the session was recorded (Unix milliseconds).
    pub created_at: i64,
    /// When the record last changed.
    pub updated_at: i64,
    /// When Codex was last launched or resumed for it.
    pub launched_at: Option<i64>,
    /// When Codex last showed activity (a turn, a launch).
    pub last_activity_at: Option<i64>,
    /// The process id of Codex while csm runs it.
    pub pid: Option<i64>,
}

/// The outcome of [`Store::claim_session`].
#[derive(Debug)]
pub enum Claim {
    /// The session was recorded with this id.
    New(i64),
    /// The ticket already has this session.
    Taken(Box<Session>),
}

/// What is needed to record a new session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewSession {
    /// The ticket key.
    pub ticket_key: String,
    /// The tracker's id.
    pub tracker: String,
    /// The folder Codex runs in.
    pub folder: PathBuf,
    /// Settings as JSON (an object).
    pub settings: Value,
    /// The git branch, when known.
    pub branch: Option<String>,
    /// HEAD at start, when in a git repository.
    pub start_commit: Option<String>,
    /// The ticket as read at start.
    pub ticket_snapshot: Option<Value>,
}

/// One thing that happened in a session.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// The event's id (increasing).
    pub id: i64,
    /// The session it belongs to.
    pub session_id: i64,
    /// When (Unix milliseconds).
    pub at: i64,
    /// What kind, as stored ([`EventKind::as_str`]; a kind this version
    /// does not know stays readable).
    pub kind: String,
    /// Details, as JSON.
    pub data: Value,
}

impl Event {
    /// Whether the event is of `kind`.
    pub fn is(&self, kind: EventKind) -> bool {
        self.kind == kind.as_str()
    }

    /// The event with its payload typed.
    pub fn parsed(&self) -> SessionEvent {
        SessionEvent::from_row(&self.kind, &self.data)
    }
}

/// A note waiting to be (or already) posted to a tracker.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutboxItem {
    /// The item's id.
    pub id: i64,
    /// The ticket it goes to.
    pub ticket_key: String,
    /// The tracker's id.
    pub tracker: String,
    /// What kind of write: `comment` (body: Markdown) or `transition`
    /// (body: the status to move to).
    pub kind: String,
    /// The body (Markdown).
    pub body: String,
    /// A unique marker carried in the body, to find it again after an
    /// unknown outcome.
    pub marker: String,
    /// When it was queued.
    pub created_at: i64,
    /// How many posting attempts were made.
    pub attempts: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it was posted, once it was.
    pub sent_at: Option<i64>,
    /// The tracker's id for the posted item.
    pub remote_id: Option<String>,
    /// When the tracker refused it for good (it waits for the user:
    /// `csm sync --edit` or `--discard`); `last_error` says why.
    pub parked_at: Option<i64>,
}

/// Where a ticket's completion note is, for `csm list` and the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteState {
    /// Queued, not yet on the tracker (it will be retried).
    Queued,
    /// The tracker refused it for good; it waits for the user.
    Refused,
}

impl NoteState {
    /// The words shown in place of "done".
    pub fn label(self) -> &'static str {
        match self {
            NoteState::Queued => "note queued",
            NoteState::Refused => "note refused",
        }
    }
}

/// The open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Store {
    /// Opens (creating and migrating when needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent() {
            crate::paths::create_private_dir(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // The store quotes tickets: the user's only. SQLite gives its WAL
        // and shared-memory files the database file's mode.
        let _ = crate::paths::create_private_file(path);
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        Store::setup(conn, path.to_path_buf())
    }

    /// Opens a private in-memory store (tests, dry runs).
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Sqlite {
            path: PathBuf::from(":memory:"),
            source,
        })?;
        Store::setup(conn, PathBuf::from(":memory:"))
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Store, StoreError> {
        let mut store = Store { conn, path };
        store
            .conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| store.err(e))?;
        // Refuse a newer database before changing anything in it (even the
        // journal mode is written to the file header).
        store.check_not_newer()?;
        // WAL lets readers go on while a session writes events; NORMAL sync
        // is durable across application crashes, which is what matters here.
        store.set_wal()?;
        store
            .conn
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| store.err(e))?;
        store.migrate()?;
        Ok(store)
    }

    /// Switches to WAL. SQLite answers "database is locked" at once, without
    /// waiting, when another connection holds the file while the mode
    /// changes (two csm processes creating the store together): try again
    /// until the busy timeout.
    fn set_wal(&self) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match self.conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => return Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The database file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn check_not_newer(&self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let found: u32 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        for sql in &MIGRATIONS[found as usize..] {
            tx.execute_batch(sql).map_err(err)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Records a new session and returns its id.
    pub fn insert_session(&self, new: &NewSession) -> Result<i64, StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO sessions (ticket_key, tracker, folder, settings, branch,
                    start_commit, ticket_snapshot, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    new.ticket_key,
                    new.tracker,
                    new.folder.to_string_lossy(),
                    new.settings.to_string(),
                    new.branch,
                    new.start_commit,
                    new.ticket_snapshot.as_ref().map(Value::to_string),
                    now,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records a new session for a ticket unless it already has one, in one
    /// `IMMEDIATE` transaction, so two `csm start` of one ticket at once
    /// make one session. Sessions `is_leftover` calls abandoned (an
    /// interrupted start) are removed first. The new session's `pid` is
    /// `owner` (csm itself, until Codex runs).
    pub fn claim_session(
        &self,
        new: &NewSession,
        owner: u32,
        is_leftover: impl Fn(&Session) -> bool,
    ) -> Result<Claim, StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let existing = self.sessions_for_ticket(&new.ticket_key)?;
        for s in existing.iter().filter(|s| is_leftover(s)) {
            self.delete_session(s.id)?;
        }
        if let Some(taken) = existing.into_iter().rev().find(|s| !is_leftover(s)) {
            return Ok(Claim::Taken(Box::new(taken)));
        }
        let id = self.insert_session(new)?;
        self.set_pid(id, Some(owner))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Claim::New(id))
    }

    const SESSION_COLUMNS: &'static str = "id, ticket_key, tracker, folder, codex_session_id,
        settings, status, branch, start_commit, ticket_snapshot, created_at, updated_at,
        launched_at, last_activity_at, pid";

    fn read_session(row: &Row<'_>) -> rusqlite::Result<(Session, String, Option<String>)> {
        let settings: String = row.get(5)?;
        let snapshot: Option<String> = row.get(9)?;
        let status: String = row.get(6)?;
        let folder: String = row.get(3)?;
        Ok((
            Session {
                id: row.get(0)?,
                ticket_key: row.get(1)?,
                tracker: row.get(2)?,
                folder: PathBuf::from(folder),
                codex_session_id: row.get(4)?,
                settings: Value::Null,
                status: SessionStatus::parse(&status),
                branch: row.get(7)?,
                start_commit: row.get(8)?,
                ticket_snapshot: None,
                created_at: row.get(10)?,
                updated_at: row.get(11)?,
                launched_at: row.get(12)?,
                last_activity_at: row.get(13)?,
                pid: row.get(14)?,
            },
            settings,
            snapshot,
        ))
    }

    fn finish_session(
        &self,
        (mut s, settings, snapshot): (Session, String, Option<String>),
    ) -> Result<Session, StoreError> {
        let corrupt = |what, source| StoreError::Corrupt {
            path: self.path.clone(),
            what,
            source,
        };
        s.settings = serde_json::from_str(&settings).map_err(|e| corrupt("settings", e))?;
        s.ticket_snapshot = snapshot
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| corrupt("ticket snapshot", e))?;
        Ok(s)
    }

    fn query_sessions(
        &self,
        where_clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Session>, StoreError> {
        let sql = format!(
            "SELECT {} FROM sessions {where_clause}",
            Self::SESSION_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, Self::read_session)
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter().map(|r| self.finish_session(r)).collect()
    }

    /// One session by csm's id.
    pub fn session(&self, id: i64) -> Result<Option<Session>, StoreError> {
        Ok(self
            .query_sessions("WHERE id = ?1", [id])?
            .into_iter()
            .next())
    }

    /// The sessions of a ticket, oldest first.
    pub fn sessions_for_ticket(&self, ticket_key: &str) -> Result<Vec<Session>, StoreError> {
        self.query_sessions(
            "WHERE ticket_key = ?1 ORDER BY created_at, id",
            [ticket_key],
        )
    }

    /// Every session, most recently active first; done ones only with
    /// `include_done`.
    pub fn list_sessions(&self, include_done: bool) -> Result<Vec<Session>, StoreError> {
        let filter = if include_done { "" } else { WAITING_NOTE };
        self.query_sessions(
            &format!("{filter} ORDER BY COALESCE(last_activity_at, updated_at) DESC, id DESC"),
            [],
        )
    }

    /// The sessions the dashboard shows: every one not done, and those
    /// done (last changed) at or after `done_since` (Unix ms); most
    /// recently active first.
    pub fn sessions_shown(&self, done_since: i64) -> Result<Vec<Session>, StoreError> {
        self.query_sessions(
            "WHERE status <> 'done' OR updated_at >= ?1 OR ticket_key IN (SELECT ticket_key FROM outbox
               WHERE sent_at IS NULL AND kind = 'comment' AND outbox.tracker = sessions.tracker)
             ORDER BY COALESCE(last_activity_at, updated_at) DESC, id DESC",
            [done_since],
        )
    }

    /// The session linked to a Codex session id.
    pub fn session_by_codex_id(&self, codex_id: &str) -> Result<Option<Session>, StoreError> {
        Ok(self
            .query_sessions("WHERE codex_session_id = ?1", [codex_id])?
            .into_iter()
            .next())
    }

    /// Links a Codex session id to a session. Fails with
    /// [`StoreError::CodexIdTaken`] when another session already owns it.
    pub fn set_codex_session_id(&self, id: i64, codex_id: &str) -> Result<(), StoreError> {
        if let Some(owner) = self.session_by_codex_id(codex_id)? {
            if owner.id == id {
                return Ok(());
            }
            return Err(StoreError::CodexIdTaken {
                codex_id: codex_id.to_string(),
                ticket: owner.ticket_key,
            });
        }
        self.update(
            "UPDATE sessions SET codex_session_id = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, codex_id, now_ms()],
        )
    }

    /// Every Codex session id some csm session owns.
    pub fn owned_codex_ids(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT codex_session_id FROM sessions WHERE codex_session_id IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(ids)
    }

    /// Replaces a session's settings.
    pub fn set_settings(&self, id: i64, settings: &Value) -> Result<(), StoreError> {
        self.update(
            "UPDATE sessions SET settings = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, settings.to_string(), now_ms()],
        )
    }

    /// Sets a session's status.
    pub fn set_status(&self, id: i64, status: SessionStatus) -> Result<(), StoreError> {
        self.update(
            "UPDATE sessions SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, status.as_str(), now_ms()],
        )
    }

    /// Records a launch or resume: the time, and the ticket as read then.
    pub fn mark_launched(
        &self,
        id: i64,
        ticket_snapshot: Option<&Value>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        self.update(
            "UPDATE sessions SET launched_at = ?2, last_activity_at = ?2, updated_at = ?2,
                ticket_snapshot = COALESCE(?3, ticket_snapshot), status = 'running'
             WHERE id = ?1",
            params![id, now, ticket_snapshot.map(Value::to_string)],
        )
    }

    /// Records (or, with `None`, clears) the process id of Codex.
    pub fn set_pid(&self, id: i64, pid: Option<u32>) -> Result<(), StoreError> {
        self.update(
            "UPDATE sessions SET pid = ?2 WHERE id = ?1",
            params![id, pid.map(i64::from)],
        )
    }

    /// Records under `new` what was recorded under `old` for one tracker
    /// (a ticket moved to another key): its sessions and its queued outbox
    /// items. Returns how many sessions moved.
    pub fn rekey_ticket(&self, tracker: &str, old: &str, new: &str) -> Result<usize, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let n = tx
            .execute(
                "UPDATE sessions SET ticket_key = ?3 WHERE tracker = ?1 AND ticket_key = ?2",
                params![tracker, old, new],
            )
            .map_err(|e| self.err(e))?;
        tx.execute(
            "UPDATE outbox SET ticket_key = ?3
             WHERE tracker = ?1 AND ticket_key = ?2 AND sent_at IS NULL",
            params![tracker, old, new],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n)
    }

    /// Deletes a session and its events.
    pub fn delete_session(&self, id: i64) -> Result<(), StoreError> {
        self.update("DELETE FROM sessions WHERE id = ?1", params![id])
    }

    fn update(&self, sql: &str, params: impl rusqlite::Params) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Appends an event to a session and marks the session active now.
    pub fn add_event(&self, session_id: i64, event: &SessionEvent) -> Result<i64, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let event_id = self.insert_event(session_id, event)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(event_id)
    }

    /// The statements of [`Store::add_event`], inside a transaction the
    /// caller holds.
    fn insert_event(&self, session_id: i64, event: &SessionEvent) -> Result<i64, StoreError> {
        let (kind, data) = event.to_row();
        let now = now_ms();
        self.conn
            .execute(
                "INSERT INTO session_events (session_id, at, kind, data) VALUES (?1, ?2, ?3, ?4)",
                params![session_id, now, kind, data.to_string()],
            )
            .map_err(|e| self.err(e))?;
        let event_id = self.conn.last_insert_rowid();
        self.conn
            .execute(
                "UPDATE sessions SET last_activity_at = ?2 WHERE id = ?1",
                params![session_id, now],
            )
            .map_err(|e| self.err(e))?;
        Ok(event_id)
    }

    /// The newest `limit` events of a session, newest first.
    pub fn events(&self, session_id: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.query_events(
            "WHERE session_id = ?1 ORDER BY id DESC LIMIT ?2",
            params![session_id, limit as i64],
        )
    }

    /// One event by its id.
    pub fn event(&self, id: i64) -> Result<Option<Event>, StoreError> {
        Ok(self
            .query_events("WHERE id = ?1", params![id])?
            .into_iter()
            .next())
    }

    /// A session's tab events (every kind starting with
    /// [`EventKind::TAB_PREFIX`]), oldest first.
    pub fn tab_events(&self, session_id: i64) -> Result<Vec<Event>, StoreError> {
        // `substr` rather than LIKE: no wildcard in the prefix to escape.
        self.query_events(
            "WHERE session_id = ?1 AND substr(kind, 1, length(?2)) = ?2 ORDER BY id",
            params![session_id, EventKind::TAB_PREFIX],
        )
    }

    /// Appends an event about `request` (an event whose id is in its
    /// `data.request`) unless the session already has one of the kinds
    /// `exclusive` about it, in one `IMMEDIATE` transaction: of two
    /// processes deciding at once, one wins. Returns the new event's id, or
    /// `None` when another got there first.
    pub fn add_event_once(
        &self,
        session_id: i64,
        request: i64,
        exclusive: &[EventKind],
        event: &SessionEvent,
    ) -> Result<Option<i64>, StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let placeholders = vec!["?"; exclusive.len()].join(", ");
        let sql = format!(
            "SELECT count(*) FROM session_events WHERE session_id = ? \
             AND json_extract(data, '$.request') = ? AND kind IN ({placeholders})"
        );
        let mut values: Vec<rusqlite::types::Value> = vec![session_id.into(), request.into()];
        values.extend(
            exclusive
                .iter()
                .map(|k| rusqlite::types::Value::Text(k.as_str().to_string())),
        );
        let taken: i64 = tx
            .query_row(&sql, rusqlite::params_from_iter(values), |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if taken > 0 {
            return Ok(None);
        }
        let id = self.insert_event(session_id, event)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Some(id))
    }

    /// A session's events of one kind, oldest first.
    pub fn events_of(&self, session_id: i64, kind: EventKind) -> Result<Vec<Event>, StoreError> {
        self.query_events(
            "WHERE session_id = ?1 AND kind = ?2 ORDER BY id",
            params![session_id, kind.as_str()],
        )
    }

    /// Every event of one kind, of every session, oldest first (for rare
    /// kinds, such as the worktrees csm made).
    pub fn events_of_kind(&self, kind: EventKind) -> Result<Vec<Event>, StoreError> {
        self.query_events("WHERE kind = ?1 ORDER BY id", params![kind.as_str()])
    }

    fn query_events(
        &self,
        where_clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Event>, StoreError> {
        let sql =
            format!("SELECT id, session_id, at, kind, data FROM session_events {where_clause}");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(id, session_id, at, kind, data)| {
                let data = serde_json::from_str(&data).map_err(|source| StoreError::Corrupt {
                    path: self.path.clone(),
                    what: "event data",
                    source,
                })?;
                Ok(Event {
                    id,
                    session_id,
                    at,
                    kind,
                    data,
                })
            })
            .collect()
    }

    /// The newest event of `kind` of a session, however old.
    pub fn latest_event(
        &self,
        session_id: i64,
        kind: EventKind,
    ) -> Result<Option<Event>, StoreError> {
        Ok(self
            .query_events(
                "WHERE session_id = ?1 AND kind = ?2 ORDER BY id DESC LIMIT 1",
                params![session_id, kind.as_str()],
            )?
            .pop())
    }

    /// Sets a session's times, for fixtures that need known ages.
    #[cfg(test)]
    pub(crate) fn set_times(
        &self,
        id: i64,
        created_at: i64,
        updated_at: i64,
        last_activity_at: Option<i64>,
    ) -> Result<(), StoreError> {
        self.update(
            "UPDATE sessions SET created_at = ?2, updated_at = ?3, last_activity_at = ?4
             WHERE id = ?1",
            params![id, created_at, updated_at, last_activity_at],
        )
    }

    /// Sets the time of an event, for fixtures that need known ages.
    #[cfg(test)]
    pub(crate) fn set_event_time(&self, event_id: i64, at: i64) -> Result<(), StoreError> {
        self.update(
            "UPDATE session_events SET at = ?2 WHERE id = ?1",
            params![event_id, at],
        )
    }

    /// Reads a cached value and when it was written (Unix milliseconds).
    pub fn cache_get(&self, key: &str) -> Result<Option<(String, i64)>, StoreError> {
        self.conn
            .prepare_cached("SELECT value, updated_at FROM cache WHERE key = ?1")
            .and_then(|mut s| {
                s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// Writes a cached value.
    pub fn cache_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.update(
            "INSERT INTO cache (key, value, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            params![key, value, now_ms()],
        )
    }

    /// Every cached value whose key starts with `prefix`.
    pub fn cache_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, value FROM cache WHERE substr(key, 1, length(?1)) = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Writes several cached values in one transaction.
    pub fn cache_set_many(&self, pairs: &[(String, String)]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        for (key, value) in pairs {
            self.cache_set(key, value)?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Takes or renews the lease `name` for `owner` for `ttl_ms`: true when
    /// `owner` holds it now (it was free, expired, or already `owner`'s).
    /// One statement, so of two processes asking at once one wins.
    pub fn take_lease(&self, name: &str, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let changed = self
            .conn
            .prepare_cached(
                "INSERT INTO cache (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
                 WHERE cache.value = excluded.value OR cache.updated_at < ?4",
            )
            .and_then(|mut s| s.execute(params![name, owner, now, now - ttl_ms]))
            .map_err(|e| self.err(e))?;
        Ok(changed == 1)
    }

    /// Gives the lease `name` up, if `owner` holds it.
    pub fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        self.update(
            "DELETE FROM cache WHERE key = ?1 AND value = ?2",
            params![name, owner],
        )
    }

    /// Records an event and makes `snapshot` the ticket as the session's
    /// Codex last heard of it, in one transaction (what the watcher told a
    /// running Codex is not told again by `resume`).
    pub fn add_event_with_snapshot(
        &self,
        session_id: i64,
        event: &SessionEvent,
        snapshot: &Value,
    ) -> Result<i64, StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let event_id = self.insert_event(session_id, event)?;
        self.update(
            "UPDATE sessions SET ticket_snapshot = ?2 WHERE id = ?1",
            params![session_id, snapshot.to_string()],
        )?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(event_id)
    }

    /// Queues a note for a tracker; `marker` must be unique.
    pub fn outbox_add(
        &self,
        ticket_key: &str,
        tracker: &str,
        kind: &str,
        body: &str,
        marker: &str,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                OUTBOX_INSERT,
                params![ticket_key, tracker, kind, body, marker, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Queues several items for one ticket, records `report` as a `report`
    /// event of the session and, with `done`, marks the session done, all
    /// in one transaction: either all of it is in the store or none. Items
    /// are (kind, body, marker).
    pub fn outbox_queue(
        &self,
        ticket_key: &str,
        tracker: &str,
        items: &[(&str, String, String)],
        session_id: i64,
        report: &Value,
        done: bool,
    ) -> Result<(), StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let now = now_ms();
        for (kind, body, marker) in items {
            tx.execute(
                OUTBOX_INSERT,
                params![ticket_key, tracker, kind, body, marker, now],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.execute(
            "INSERT INTO session_events (session_id, at, kind, data) VALUES (?1, ?2, ?3, ?4)",
            params![
                session_id,
                now,
                EventKind::Report.as_str(),
                report.to_string()
            ],
        )
        .map_err(|e| self.err(e))?;
        if done {
            tx.execute(
                "UPDATE sessions SET status = 'done', updated_at = ?2 WHERE id = ?1",
                params![session_id, now],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO session_events (session_id, at, kind, data) VALUES (?1, ?2, ?3, '{}')",
                params![session_id, now, EventKind::Done.as_str()],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Notes not yet posted (parked ones included), oldest first.
    pub fn outbox_pending(&self) -> Result<Vec<OutboxItem>, StoreError> {
        self.outbox_query("WHERE sent_at IS NULL ORDER BY id", [])
    }

    /// One item, sent or not.
    pub fn outbox_item(&self, id: i64) -> Result<Option<OutboxItem>, StoreError> {
        Ok(self.outbox_query("WHERE id = ?1", [id])?.pop())
    }

    fn outbox_query(
        &self,
        where_clause: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, ticket_key, tracker, kind, body, marker, created_at, attempts,
                        last_error, sent_at, remote_id, parked_at
                 FROM outbox {where_clause}"
            ))
            .map_err(|e| self.err(e))?;
        stmt.query_map(params, |r| {
            Ok(OutboxItem {
                id: r.get(0)?,
                ticket_key: r.get(1)?,
                tracker: r.get(2)?,
                kind: r.get(3)?,
                body: r.get(4)?,
                marker: r.get(5)?,
                created_at: r.get(6)?,
                attempts: r.get(7)?,
                last_error: r.get(8)?,
                sent_at: r.get(9)?,
                remote_id: r.get(10)?,
                parked_at: r.get(11)?,
            })
        })
        .map_err(|e| self.err(e))?
        .collect::<Result<_, _>>()
        .map_err(|e| self.err(e))
    }

    /// The outbox item with `marker`, sent or not.
    pub fn outbox_item_by_marker(&self, marker: &str) -> Result<Option<OutboxItem>, StoreError> {
        Ok(self.outbox_query("WHERE marker = ?1", [marker])?.pop())
    }

    /// Claims an unsent, unparked item for `owner` until `lease_ms` from
    /// now, in one write transaction: it succeeds only when nobody holds a
    /// live claim on it (or `owner` already does). Returns the item as it
    /// is now (its attempts counted by whoever held it before), or `None`
    /// when it is sent, parked, gone or claimed by another live owner.
    pub fn outbox_claim(
        &self,
        id: i64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<OutboxItem>, StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let now = now_ms();
        let n = tx
            .execute(
                "UPDATE outbox SET claim_owner = ?2, claim_until = ?3
                 WHERE id = ?1 AND sent_at IS NULL AND parked_at IS NULL
                   AND (claim_owner IS NULL OR claim_owner = ?2 OR claim_until < ?4)",
                params![id, owner, now.saturating_add(lease_ms), now],
            )
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(None);
        }
        self.outbox_item(id)
    }

    /// Takes a claim over from `from` (a claimant known to be gone) for
    /// `owner`, in one statement: of two processes trying, one wins.
    pub fn outbox_take_over(
        &self,
        id: i64,
        from: &str,
        owner: &str,
        lease_ms: i64,
    ) -> Result<Option<OutboxItem>, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET claim_owner = ?3, claim_until = ?4
                 WHERE id = ?1 AND claim_owner = ?2 AND sent_at IS NULL AND parked_at IS NULL",
                params![id, from, owner, now_ms().saturating_add(lease_ms)],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Ok(None);
        }
        self.outbox_item(id)
    }

    /// Who holds a live claim on an item, if anyone.
    pub fn outbox_claimant(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT claim_owner FROM outbox WHERE id = ?1 AND claim_until >= ?2",
                params![id, now_ms()],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// Lets go of a claim (the item stays queued).
    pub fn outbox_release(&self, id: i64, owner: &str) -> Result<(), StoreError> {
        self.update(
            "UPDATE outbox SET claim_owner = NULL, claim_until = NULL
             WHERE id = ?1 AND claim_owner = ?2",
            params![id, owner],
        )
    }

    /// Records that a posting attempt is about to be made, before the
    /// request goes out: a later run that finds `attempts > 0` on an unsent
    /// item cannot know whether the tracker got it, and checks first. With
    /// an `owner`, only while that owner's claim is live (and the lease is
    /// renewed); returns whether the attempt was counted.
    pub fn outbox_begin_attempt_as(
        &self,
        id: i64,
        owner: &str,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        self.conn
            .execute(
                "UPDATE outbox SET attempts = attempts + 1, claim_until = ?3
                 WHERE id = ?1 AND claim_owner = ?2 AND claim_until >= ?4 AND sent_at IS NULL",
                params![id, owner, now.saturating_add(lease_ms), now],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Counts an attempt without a claim (tests, single-process tools).
    pub fn outbox_begin_attempt(&self, id: i64) -> Result<(), StoreError> {
        self.update(
            "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?1",
            params![id],
        )
    }

    /// Marks a queued note as posted.
    pub fn outbox_mark_sent(&self, id: i64, remote_id: Option<&str>) -> Result<(), StoreError> {
        self.update(
            "UPDATE outbox SET sent_at = ?2, remote_id = ?3, last_error = NULL,
                    claim_owner = NULL, claim_until = NULL
             WHERE id = ?1",
            params![id, now_ms(), remote_id],
        )
    }

    /// Marks an item posted if `owner` still holds its claim (checked in
    /// the same statement); returns whether it did.
    pub fn outbox_mark_sent_as(
        &self,
        id: i64,
        owner: &str,
        remote_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET sent_at = ?3, remote_id = ?4, last_error = NULL,
                        claim_owner = NULL, claim_until = NULL
                 WHERE id = ?1 AND claim_owner = ?2 AND sent_at IS NULL",
                params![id, owner, now_ms(), remote_id],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Records why the last attempt failed.
    pub fn outbox_mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.update(
            "UPDATE outbox SET last_error = ?2 WHERE id = ?1",
            params![id, error],
        )
    }

    /// Records a failed attempt of `owner` and lets go of its claim (so
    /// another process may retry at once); with `park`, the tracker refused
    /// the item for good and it waits for the user (`csm sync --edit` or
    /// `--discard`). Nothing changes when `owner` lost the claim.
    pub fn outbox_fail_as(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        park: bool,
    ) -> Result<(), StoreError> {
        self.update(
            "UPDATE outbox SET last_error = ?3,
                    parked_at = CASE WHEN ?4 THEN ?5 ELSE parked_at END,
                    claim_owner = NULL, claim_until = NULL
             WHERE id = ?1 AND claim_owner = ?2 AND sent_at IS NULL",
            params![id, owner, error, park, now_ms()],
        )
    }

    /// Replaces an unsent item's body and puts it back in the queue (a
    /// parked one too); returns whether there was one not being delivered
    /// right now (under a live claim).
    pub fn outbox_edit(&self, id: i64, body: &str) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE outbox SET body = ?2, parked_at = NULL, last_error = NULL
                 WHERE id = ?1 AND sent_at IS NULL
                   AND (claim_until IS NULL OR claim_until < ?3)",
                params![id, body, now_ms()],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Removes an unsent item (the user gave up on it); returns whether
    /// there was one.
    pub fn outbox_discard(&self, id: i64) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM outbox WHERE id = ?1 AND sent_at IS NULL",
                params![id],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Where each ticket's unsent completion note is: (tracker, ticket)
    /// → queued or refused.
    pub fn outbox_note_states(
        &self,
    ) -> Result<std::collections::HashMap<(String, String), NoteState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT tracker, ticket_key, MAX(parked_at IS NOT NULL) FROM outbox
                 WHERE sent_at IS NULL AND kind = 'comment' GROUP BY tracker, ticket_key",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map([], |r| {
            let parked: bool = r.get(2)?;
            Ok((
                (r.get(0)?, r.get(1)?),
                if parked {
                    NoteState::Refused
                } else {
                    NoteState::Queued
                },
            ))
        })
        .map_err(|e| self.err(e))?
        .collect::<Result<_, _>>()
        .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new_session(key: &str) -> NewSession {
        NewSession {
            ticket_key: key.into(),
            tracker: "local:/repo".into(),
            folder: "/repo".into(),
            settings: json!({"model": "gpt-5.5"}),
            ..NewSession::default()
        }
    }

    #[test]
    fn fresh_store_is_migrated_and_reopening_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/csm.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let id = store.insert_session(&new_session("PROJ-1")).unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.session(id).unwrap().unwrap().ticket_key, "PROJ-1");
        let mode: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_version_1_store_is_migrated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("csm.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO sessions (ticket_key, tracker, folder, created_at, updated_at)
                 VALUES ('OLD-1', 'local:/r', '/r', 1, 1);
                 INSERT INTO outbox (ticket_key, tracker, kind, body, marker, created_at, attempts)
                 VALUES ('OLD-1', 'local:/r', 'comment', 'n', 'm-old', 1, 2);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 3);
        // A note queued by an older csm is claimed and delivered as usual.
        let queued = store.outbox_pending().unwrap();
        assert_eq!((queued[0].attempts, queued[0].parked_at), (2, None));
        assert!(
            store
                .outbox_claim(queued[0].id, "me", 1000)
                .unwrap()
                .is_some()
        );
        let old = &store.sessions_for_ticket("OLD-1").unwrap()[0];
        assert_eq!(old.pid, None);
        store.set_pid(old.id, Some(4242)).unwrap();
        assert_eq!(store.session(old.id).unwrap().unwrap().pid, Some(4242));
    }

    #[test]
    fn newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("csm.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .unwrap();
        }
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }));
        assert!(err.to_string().contains("newer than this csm understands"));
        let conn = Connection::open(&path).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, 99);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sessions'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn sessions_events_and_codex_ids() {
        let store = Store::open_in_memory().unwrap();
        let a = store.insert_session(&new_session("PROJ-1")).unwrap();
        let b = store.insert_session(&new_session("PROJ-1")).unwrap();
        store.set_codex_session_id(a, "uuid-a").unwrap();
        store.set_codex_session_id(a, "uuid-a").unwrap();
        let taken = store.set_codex_session_id(b, "uuid-a").unwrap_err();
        assert!(matches!(taken, StoreError::CodexIdTaken { .. }));
        assert_eq!(store.sessions_for_ticket("PROJ-1").unwrap().len(), 2);
        assert_eq!(store.session_by_codex_id("uuid-a").unwrap().unwrap().id, a);
        assert!(store.owned_codex_ids().unwrap().contains("uuid-a"));

        let turn = |last: &str| {
            SessionEvent::TurnComplete(crate::event::TurnComplete {
                turn_id: None,
                last_assistant_message: Some(last.into()),
            })
        };
        let exited = |code| SessionEvent::Exited(crate::event::Exited { code });
        store.add_event(a, &turn("all done")).unwrap();
        store.add_event(a, &exited(None)).unwrap();
        let events = store.events(a, 10).unwrap();
        assert!(events[0].is(EventKind::Exited));
        assert_eq!(events[1].data["last_assistant_message"], "all done");
        assert_eq!(events[1].parsed(), turn("all done"));
        store.add_event(b, &exited(Some(1))).unwrap();
        let exits = store.events_of_kind(EventKind::Exited).unwrap();
        assert_eq!(
            exits.iter().map(|e| e.session_id).collect::<Vec<_>>(),
            [a, b],
            "every session's, oldest first"
        );
        assert!(
            store
                .session(a)
                .unwrap()
                .unwrap()
                .last_activity_at
                .is_some()
        );

        assert_eq!(
            store
                .latest_event(a, EventKind::TurnComplete)
                .unwrap()
                .unwrap()
                .data["last_assistant_message"],
            "all done"
        );
        assert_eq!(store.latest_event(a, EventKind::Report).unwrap(), None);

        store.set_status(b, SessionStatus::Done).unwrap();
        assert_eq!(store.list_sessions(false).unwrap().len(), 1);
        assert_eq!(store.list_sessions(true).unwrap().len(), 2);
        assert_eq!(store.sessions_shown(0).unwrap().len(), 2);
        assert_eq!(store.sessions_shown(i64::MAX).unwrap().len(), 1);
        store.delete_session(a).unwrap();
        assert!(store.events(a, 10).unwrap().is_empty());
    }

    #[test]
    fn events_by_id_prefix_and_once() {
        let store = Store::open_in_memory().unwrap();
        let a = store.insert_session(&new_session("PROJ-1")).unwrap();
        let b = store.insert_session(&new_session("PROJ-2")).unwrap();
        let tab = |kind, data| SessionEvent::Tab(kind, data);
        let req = store
            .add_event(a, &tab(EventKind::TabRequested, json!({"argv": ["x"]})))
            .unwrap();
        store
            .add_event(a, &SessionEvent::TurnComplete(Default::default()))
            .unwrap();
        // A kind of another version that only looks like a tab's.
        store
            .add_event(
                a,
                &SessionEvent::Other {
                    kind: "tab_x".into(),
                    data: json!({}),
                },
            )
            .unwrap();
        store
            .add_event(b, &tab(EventKind::TabRequested, json!({})))
            .unwrap();
        assert_eq!(store.event(req).unwrap().unwrap().session_id, a);
        assert_eq!(store.event(9999).unwrap(), None);
        let tabs = store.tab_events(a).unwrap();
        assert_eq!(tabs.iter().map(|e| e.id).collect::<Vec<_>>(), vec![req]);

        let decisions = [EventKind::TabApproved, EventKind::TabDenied];
        let first = store
            .add_event_once(
                a,
                req,
                &decisions,
                &tab(EventKind::TabDenied, json!({"request": req})),
            )
            .unwrap();
        assert!(first.is_some());
        let second = store
            .add_event_once(
                a,
                req,
                &decisions,
                &tab(EventKind::TabApproved, json!({"request": req})),
            )
            .unwrap();
        assert_eq!(second, None, "one decision per request");
        // Other kinds, requests and sessions are not in the way.
        assert!(
            store
                .add_event_once(
                    a,
                    req + 100,
                    &decisions,
                    &tab(EventKind::TabApproved, json!({"request": req + 100}))
                )
                .unwrap()
                .is_some()
        );
        assert_eq!(store.tab_events(a).unwrap().len(), 3);
    }

    #[test]
    fn outbox_and_cache() {
        let store = Store::open_in_memory().unwrap();
        let id = store
            .outbox_add("PROJ-1", "local:/r", "comment", "body", "m-1")
            .unwrap();
        assert!(
            store
                .outbox_add("PROJ-1", "local:/r", "comment", "body", "m-1")
                .is_err()
        );
        store.outbox_begin_attempt(id).unwrap();
        store.outbox_mark_failed(id, "HTTP 500").unwrap();
        let pending = store.outbox_pending().unwrap();
        assert_eq!(pending[0].attempts, 1);
        assert_eq!(pending[0].last_error.as_deref(), Some("HTTP 500"));
        store.outbox_mark_sent(id, Some("10001")).unwrap();
        assert!(store.outbox_pending().unwrap().is_empty());
        assert!(!store.outbox_discard(id).unwrap(), "a sent item stays");
        let other = store
            .outbox_add("PROJ-1", "local:/r", "transition", "Done", "m-2")
            .unwrap();
        assert!(store.outbox_discard(other).unwrap());
        assert!(store.outbox_pending().unwrap().is_empty());

        assert_eq!(store.cache_get("k").unwrap(), None);
        store.cache_set("k", "v1").unwrap();
        store.cache_set("k", "v2").unwrap();
        assert_eq!(store.cache_get("k").unwrap().unwrap().0, "v2");
    }

    #[test]
    fn processes_creating_the_store_together_all_open_it() {
        for _ in 0..30 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("csm.db");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Store::open(&path).map(|_| ()).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for o in openers {
                o.join().unwrap().unwrap();
            }
        }
    }

    #[test]
    fn two_writers_at_once_both_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("csm.db");
        let id = Store::open(&path)
            .unwrap()
            .insert_session(&new_session("PROJ-1"))
            .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = Store::open(&path).unwrap();
                    for i in 0..50 {
                        store
                            .add_event(
                                id,
                                &SessionEvent::Other {
                                    kind: "tick".into(),
                                    data: json!({"t": t, "i": i}),
                                },
                            )
                            .unwrap();
                        store.set_settings(id, &json!({"i": i})).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.events(id, 1000).unwrap().len(), 200);
    }
}
