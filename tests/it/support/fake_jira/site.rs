//! What real Jira Cloud sites do that the plain fake does not, kept in one
//! block so the fake's core stays small:
//!
//! - **scoped API tokens**: `/_edge/tenant_info` answers the cloud id
//!   without a login; the platform gateway path
//!   `/ex/jira/<cloudId>/rest/api/3/...` serves the same API; a scoped token
//!   ([`SCOPED_TOKEN`]) works only there (401 on the site's own URL);
//! - **workflows several steps long**: a workflow set with
//!   [`FakeJira::set_workflow`] offers only the transitions leaving the
//!   current status, some with required fields;
//! - **moved tickets**: [`FakeJira::move_issue`] gives an issue a new key;
//!   the old one still answers, with the issue under its new key;
//! - **search lag**: with [`FakeJira::set_search_lag`] on, searches miss the
//!   issues changed since (Jira's search is eventually consistent).

use std::collections::{BTreeMap, BTreeSet};

use super::{FakeJira, Inner, Mode, b64};

/// The cloud id `/_edge/tenant_info` answers.
pub const CLOUD_ID: &str = "0b1c2d3e-4f50-4a6b-8c7d-9e0fa1b2c3d4";
/// A scoped API token: refused by the site, accepted by the gateway.
pub const SCOPED_TOKEN: &str = "scoped-FAKE-JIRA-5e7a13";

/// One transition of a workflow set with [`FakeJira::set_workflow`].
#[derive(Clone, Debug)]
pub struct Step {
    /// The status it leaves.
    pub from: String,
    /// Its id.
    pub id: String,
    /// The status it leads to.
    pub to: String,
    /// Names of the fields its screen requires.
    pub required: Vec<String>,
}

/// The real-site state of a fake.
#[derive(Default)]
pub struct Site {
    workflow: Option<Vec<Step>>,
    /// Old key → current key.
    moved: BTreeMap<String, String>,
    search_lag: bool,
    /// Whether the gateway refuses classic tokens.
    gateway_scoped_only: bool,
    /// Issues changed while the search lag is on.
    changed: BTreeSet<String>,
}

/// The gateway's path prefix for the fake's cloud id.
pub fn gateway_prefix() -> String {
    format!("/ex/jira/{CLOUD_ID}")
}

/// The API path of a request and whether it came through the gateway
/// (served under [`GATEWAY_MOUNT`], so that its URL differs from the
/// site's).
pub fn route(path: &str) -> (String, bool) {
    match path.strip_prefix(&format!("{GATEWAY_MOUNT}{}", gateway_prefix())) {
        Some(rest) => (rest.to_string(), true),
        None => (path.to_string(), false),
    }
}

/// Where on the fake's address the gateway is.
pub const GATEWAY_MOUNT: &str = "/gateway";

/// Whether `auth` may use the API by this route: the classic token works
/// on both (unless [`FakeJira::set_gateway_scoped_only`]), the scoped one
/// only through the gateway (Cloud).
pub fn auth_ok(st: &Inner, auth: &str, via_gateway: bool) -> bool {
    let basic = |token: &str| {
        format!(
            "Basic {}",
            b64(format!("{}:{token}", super::EMAIL).as_bytes())
        )
    };
    let classic_here = !(via_gateway && st.site.gateway_scoped_only);
    match st.mode {
        Mode::Cloud => {
            (classic_here && auth == basic(super::TOKEN))
                || (via_gateway && auth == basic(SCOPED_TOKEN))
        }
        Mode::DataCenter => auth == format!("Bearer {}", super::TOKEN),
    }
}

/// `/_edge/tenant_info`, answered without a login on Cloud.
pub fn tenant_info(mode: Mode, path: &str) -> Option<serde_json::Value> {
    (mode == Mode::Cloud && path == "/_edge/tenant_info")
        .then(|| serde_json::json!({"cloudId": CLOUD_ID}))
}

/// The current key of an issue asked for by `key` (moved, or any case).
pub fn resolve(st: &Inner, key: &str) -> String {
    if st.issues.contains_key(key) {
        return key.to_string();
    }
    if let Some(now) = st.site.moved.get(&key.to_ascii_uppercase()) {
        return now.clone();
    }
    st.issues
        .keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

/// Jira's status category key of a status.
pub fn category(status: &str) -> &'static str {
    match status {
        "To Do" | "Backlog" => "new",
        "Done" | "Won't Do" => "done",
        _ => "indeterminate",
    }
}

/// The transitions leaving `status`, when a workflow is set.
pub fn transitions(st: &Inner, status: &str) -> Option<Vec<serde_json::Value>> {
    let steps = st.site.workflow.as_ref()?;
    Some(
        steps
            .iter()
            .filter(|s| s.from == status)
            .map(|s| {
                let fields: serde_json::Map<String, serde_json::Value> = s
                    .required
                    .iter()
                    .map(|f| {
                        (
                            f.to_lowercase().replace(' ', "_"),
                            serde_json::json!({"required": true, "name": f}),
                        )
                    })
                    .collect();
                serde_json::json!({
                    "id": s.id, "name": format!("Move to {}", s.to), "hasScreen": !s.required.is_empty(),
                    "isAvailable": true, "fields": fields,
                    "to": {"id": s.id, "name": s.to, "statusCategory": {"key": category(&s.to)}},
                })
            })
            .collect(),
    )
}

/// The statuses of the workflow, when one is set.
pub fn statuses(st: &Inner) -> Option<Vec<String>> {
    let steps = st.site.workflow.as_ref()?;
    let mut out: Vec<String> = Vec::new();
    for s in steps {
        for name in [&s.from, &s.to] {
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
    }
    Some(out)
}

/// Takes transition `id` on the issue `key` (current key) when a workflow
/// is set: `Some(Ok(()))` moved it, `Some(Err(message))` refused, `None` no
/// workflow.
pub fn take(
    st: &mut Inner,
    key: &str,
    id: &str,
    body: &serde_json::Value,
) -> Option<Result<(), String>> {
    let steps = st.site.workflow.clone()?;
    let issue = st.issues.get_mut(key)?;
    let Some(step) = steps.iter().find(|s| s.id == id && s.from == issue.status) else {
        return Some(Err("Transition id is not valid.".into()));
    };
    for f in &step.required {
        if body["fields"][f.to_lowercase().replace(' ', "_")].is_null() {
            return Some(Err(format!("{f} is required.")));
        }
    }
    issue.status = step.to.clone();
    Some(Ok(()))
}

/// Notes that an issue changed (for the search lag).
pub fn changed(st: &mut Inner, key: &str) {
    if st.site.search_lag {
        st.site.changed.insert(key.to_string());
    }
}

/// Whether a search still misses the issue.
pub fn lagging(st: &Inner, key: &str) -> bool {
    st.site.search_lag && st.site.changed.contains(key)
}

impl FakeJira {
    /// Replaces the workflow: `(from, transition id, to, required fields)`.
    pub fn set_workflow(&self, steps: &[(&str, &str, &str, &[&str])]) {
        self.inner.lock().unwrap().site.workflow = Some(
            steps
                .iter()
                .map(|(from, id, to, required)| Step {
                    from: (*from).into(),
                    id: (*id).into(),
                    to: (*to).into(),
                    required: required.iter().map(|r| (*r).to_string()).collect(),
                })
                .collect(),
        );
    }

    /// To Do → In Progress → In Review → Done (and back), where In Progress
    /// has no direct way to Done.
    pub fn set_review_workflow(&self) {
        self.set_workflow(&[
            ("To Do", "11", "In Progress", &[]),
            ("In Progress", "21", "In Review", &[]),
            ("In Progress", "22", "To Do", &[]),
            ("In Review", "31", "Done", &[]),
            ("In Review", "32", "In Progress", &[]),
            ("Done", "41", "To Do", &[]),
        ]);
    }

    /// Moves an issue to a new key (another project); the old key still
    /// answers, with the issue under the new one.
    pub fn move_issue(&self, old: &str, new: &str) {
        let mut st = self.inner.lock().unwrap();
        let mut issue = st.issues.remove(old).expect("issue exists");
        issue.key = new.to_string();
        st.issues.insert(new.to_string(), issue);
        st.site.moved.insert(old.to_string(), new.to_string());
    }

    /// Turns the search lag on or off: while on, searches miss the issues
    /// changed since it was turned on.
    pub fn set_search_lag(&self, on: bool) {
        let mut st = self.inner.lock().unwrap();
        st.site.search_lag = on;
        st.site.changed.clear();
    }

    /// Makes the gateway refuse classic tokens.
    pub fn set_gateway_scoped_only(&self, on: bool) {
        self.inner.lock().unwrap().site.gateway_scoped_only = on;
    }

    /// Makes searches miss an issue (someone changed it a moment ago).
    pub fn hide_from_search(&self, key: &str) {
        let mut st = self.inner.lock().unwrap();
        st.site.search_lag = true;
        st.site.changed.insert(key.to_string());
    }

    /// The gateway's URL (`CSM_JIRA_GATEWAY_URL`).
    pub fn gateway_url(&self) -> String {
        format!("{}{GATEWAY_MOUNT}", self.url())
    }

    /// The path prefix of requests through the gateway.
    pub fn gateway_path(&self) -> String {
        format!("{GATEWAY_MOUNT}{}/rest/api/3/", gateway_prefix())
    }
}
