//! Walking a workflow to a status more than one transition away.
//!
//! Only the transitions leaving the current status are offered, so a
//! status further away is reached one step at a time: take a transition
//! without required fields that leads to the target, else one that moves
//! the ticket's status category forward (or keeps it: In Progress → In
//! Review), re-read the status, and go on; never revisit a status, stop
//! after [`MAX_STEPS`]. A step that needs fields csm does not set stops
//! the walk, naming the status reached and the fields.

use super::{StatusCategory, TicketKey, Tracker, TrackerError, Transition, pick_transition};

/// The most transitions one walk takes.
pub const MAX_STEPS: usize = 5;

/// Where a walk ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walked {
    /// The status the ticket is in.
    pub status: String,
    /// The statuses it passed through, the last one included (empty when
    /// it was already there).
    pub path: Vec<String>,
}

impl Walked {
    /// ` (through In Review)` when the walk passed other statuses, else
    /// nothing.
    pub fn via(&self) -> String {
        match self.path.split_last() {
            Some((_, before)) if !before.is_empty() => format!(" (through {})", before.join(", ")),
            _ => String::new(),
        }
    }

    /// `In Review → Done`, or the status alone.
    pub fn describe(&self) -> String {
        if self.path.is_empty() {
            self.status.clone()
        } else {
            self.path.join(" → ")
        }
    }
}

/// The statuses a walk from `current` to `target` is to pass through:
/// the configured path (ending at `target`, and after `current` when the
/// ticket is on it already) when there is one, else `target` alone.
pub fn planned(current: &str, target: &str, path: &[String]) -> Vec<String> {
    let mut steps: Vec<String> = path
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if !steps
        .last()
        .is_some_and(|l| l.eq_ignore_ascii_case(target.trim()))
    {
        steps.push(target.trim().to_string());
    }
    if let Some(at) = steps
        .iter()
        .position(|s| s.eq_ignore_ascii_case(current.trim()))
    {
        // Already at the target: the target alone (a move that does
        // nothing), never a way back along the path.
        let keep_last = at + 1 == steps.len();
        steps.drain(..if keep_last { at } else { at + 1 });
    }
    steps
}

/// The step chosen from one status.
#[derive(Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// The transition to take.
    pub transition: &'a Transition,
    /// Whether it ends the walk (it leads to the target, by status or by
    /// the transition's own name).
    pub last: bool,
}

/// Why no step can be taken from a status.
#[derive(Debug, PartialEq, Eq)]
pub enum NoStep {
    /// Nothing leads on.
    Nowhere,
    /// The transition leading straight to the target needs fields (a walk
    /// does not go round it: other ways there usually need the same).
    DirectNeedsFields(Transition),
    /// The only ways on need fields: the first such transition.
    NeedsFields(Transition),
}

/// What is known of the status asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Goal {
    /// The workflow has it, in this category (when the tracker says): a
    /// walk may go towards it.
    Known(Option<StatusCategory>),
    /// The workflow's statuses are unknown, or it has no such status: only
    /// a transition leading straight there (by status or by name) is taken.
    Unknown,
}

/// Chooses the next step towards `target` from a status of `category`,
/// among `all`, avoiding the statuses in `visited`. Pure.
pub fn choose<'a>(
    all: &'a [Transition],
    category: Option<StatusCategory>,
    target: &str,
    goal: &Goal,
    visited: &[String],
) -> Result<Step<'a>, NoStep> {
    if let Some(t) = pick_transition(all, target) {
        return if t.required_fields.is_empty() {
            Ok(Step {
                transition: t,
                last: true,
            })
        } else {
            Err(NoStep::DirectNeedsFields(t.clone()))
        };
    }
    let Goal::Known(target_category) = goal else {
        return Err(NoStep::Nowhere);
    };
    let mut forward: Vec<&Transition> = all
        .iter()
        .filter(|t| !visited.iter().any(|v| v.eq_ignore_ascii_case(&t.to_status)))
        .filter(|t| match (category, t.to_category) {
            (Some(now), Some(to)) => to >= now,
            _ => true,
        })
        .filter(|t| match (target_category, t.to_category) {
            (Some(cap), Some(to)) => to <= *cap,
            _ => true,
        })
        .collect();
    // The smallest step forward first, in the tracker's order.
    forward.sort_by_key(|t| t.to_category);
    if let Some(t) = forward.iter().find(|t| t.required_fields.is_empty()) {
        return Ok(Step {
            transition: t,
            last: false,
        });
    }
    match forward.first() {
        Some(t) => Err(NoStep::NeedsFields((*t).clone())),
        None => Err(NoStep::Nowhere),
    }
}

/// What the tracker knows of `target` (one request on Jira).
fn goal(tracker: &dyn Tracker, key: &TicketKey, target: &str) -> Result<Goal, TrackerError> {
    Ok(match tracker.workflow_statuses(key)? {
        Some(statuses) => statuses
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(target))
            .map_or(Goal::Unknown, |(_, category)| Goal::Known(category)),
        None => Goal::Unknown,
    })
}

struct Stuck<'a> {
    key: &'a TicketKey,
    target: &'a str,
    reached: &'a str,
    first: bool,
}

impl Stuck<'_> {
    fn error(&self, all: &[Transition], e: NoStep) -> TrackerError {
        let stopped = |t: Transition| TrackerError::WalkStopped {
            key: self.key.to_string(),
            target: self.target.to_string(),
            reached: self.reached.to_string(),
            next: t.to_status,
            fields: t.required_fields,
        };
        match e {
            NoStep::Nowhere => TrackerError::NoSuchTransition {
                key: self.key.to_string(),
                target: self.target.to_string(),
                available: all.iter().map(|t| t.to_status.clone()).collect(),
            },
            NoStep::DirectNeedsFields(t) if self.first => TrackerError::TransitionNeedsFields {
                key: self.key.to_string(),
                target: self.target.to_string(),
                fields: t.required_fields,
            },
            NoStep::DirectNeedsFields(t) | NoStep::NeedsFields(t) => stopped(t),
        }
    }
}

/// Checks, changing nothing, that a walk from `current` can begin: the
/// ticket is there already, or a first step exists that needs no field.
pub fn check_first_step(
    tracker: &dyn Tracker,
    key: &TicketKey,
    current: &str,
    target: &str,
) -> Result<(), TrackerError> {
    let target = target.trim();
    if current.eq_ignore_ascii_case(target) {
        return Ok(());
    }
    let all = tracker.transitions(key)?;
    let stuck = Stuck {
        key,
        target,
        reached: current,
        first: true,
    };
    let visited = [current.to_string()];
    match choose(&all, None, target, &Goal::Unknown, &visited) {
        Ok(_) => return Ok(()),
        Err(NoStep::Nowhere) => {}
        Err(e) => return Err(stuck.error(&all, e)),
    }
    let goal = goal(tracker, key, target)?;
    let (_, category) = tracker.status(key)?;
    choose(&all, category, target, &goal, &visited)
        .map(|_| ())
        .map_err(|e| stuck.error(&all, e))
}

/// Walks `key` to `target`; `before_step` runs before each transition is
/// taken (the outbox counts an attempt there).
pub fn walk_with<E: From<TrackerError>>(
    tracker: &dyn Tracker,
    key: &TicketKey,
    target: &str,
    mut before_step: impl FnMut(&Transition) -> Result<(), E>,
) -> Result<Walked, E> {
    let target = target.trim();
    let (mut reached, mut category) = tracker.status(key)?;
    let mut visited = vec![reached.clone()];
    let mut path = Vec::new();
    // Asked for only when no transition leads straight there.
    let mut known: Option<Goal> = None;
    for steps in 0..=MAX_STEPS {
        if reached.eq_ignore_ascii_case(target) {
            break;
        }
        if steps == MAX_STEPS {
            return Err(TrackerError::WalkTooLong {
                key: key.to_string(),
                target: target.to_string(),
                reached,
                steps,
            }
            .into());
        }
        let all = tracker.transitions(key)?;
        let stuck = Stuck {
            key,
            target,
            reached: &reached,
            first: steps == 0,
        };
        let step = match choose(&all, category, target, &Goal::Unknown, &visited) {
            Ok(step) => step,
            Err(NoStep::Nowhere) => {
                if known.is_none() {
                    known = Some(goal(tracker, key, target)?);
                }
                let goal = known.as_ref().unwrap_or(&Goal::Unknown);
                match choose(&all, category, target, goal, &visited) {
                    Ok(step) => step,
                    // Nothing to walk: the tracker's own move decides (a
                    // GitHub issue without a label for the status stays
                    // open; elsewhere, no transition leads there).
                    Err(NoStep::Nowhere) if steps == 0 => {
                        let asked = Transition {
                            id: String::new(),
                            name: target.to_string(),
                            to_status: target.to_string(),
                            required_fields: Vec::new(),
                            to_category: None,
                        };
                        before_step(&asked)?;
                        let now = tracker.transition(key, target)?;
                        let path = if now == reached {
                            Vec::new()
                        } else {
                            vec![now.clone()]
                        };
                        return Ok(Walked { status: now, path });
                    }
                    Err(e) => return Err(stuck.error(&all, e).into()),
                }
            }
            Err(e) => return Err(stuck.error(&all, e).into()),
        };
        before_step(step.transition)?;
        let now = tracker.take(key, step.transition)?;
        category = if now.eq_ignore_ascii_case(&step.transition.to_status) {
            step.transition.to_category
        } else {
            None
        };
        visited.push(now.clone());
        path.push(now.clone());
        reached = now;
        if step.last {
            break;
        }
    }
    Ok(Walked {
        status: reached,
        path,
    })
}

/// Walks `key` to `target` (see the module docs).
pub fn walk(tracker: &dyn Tracker, key: &TicketKey, target: &str) -> Result<Walked, TrackerError> {
    walk_with(tracker, key, target, |_| Ok::<(), TrackerError>(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatusCategory::*;

    fn t(id: &str, to: &str, cat: StatusCategory, required: &[&str]) -> Transition {
        Transition {
            id: id.into(),
            name: format!("Move to {to}"),
            to_status: to.into(),
            required_fields: required.iter().map(|s| s.to_string()).collect(),
            to_category: Some(cat),
        }
    }

    #[test]
    fn direct_first_then_the_smallest_step_forward_never_back() {
        let known = Goal::Known(Some(Done));
        let from_progress = vec![
            t("1", "To Do", New, &[]),
            t("2", "Won't Do", Done, &["Resolution"]),
            t("3", "In Review", Indeterminate, &[]),
        ];
        let visited = vec!["In Progress".to_string()];
        let step = choose(
            &from_progress,
            Some(Indeterminate),
            "Done",
            &known,
            &visited,
        )
        .unwrap();
        assert_eq!((step.transition.id.as_str(), step.last), ("3", false));
        let with_direct = [from_progress.clone(), vec![t("4", "Done", Done, &[])]].concat();
        let step = choose(&with_direct, Some(Indeterminate), "done", &known, &visited).unwrap();
        assert_eq!((step.transition.id.as_str(), step.last), ("4", true));
        // Visited statuses are not gone back to.
        let visited = vec!["In Progress".to_string(), "In Review".to_string()];
        assert_eq!(
            choose(
                &from_progress,
                Some(Indeterminate),
                "Done",
                &known,
                &visited
            ),
            Err(NoStep::NeedsFields(from_progress[1].clone()))
        );
        // A direct way that needs a field is not walked round.
        let only = vec![
            t("5", "Done", Done, &["Resolution"]),
            t("3", "In Review", Indeterminate, &[]),
        ];
        assert_eq!(
            choose(&only, Some(Indeterminate), "Done", &known, &[]),
            Err(NoStep::DirectNeedsFields(only[0].clone()))
        );
        assert_eq!(
            choose(
                &[t("1", "To Do", New, &[])],
                Some(Indeterminate),
                "Done",
                &known,
                &[]
            ),
            Err(NoStep::Nowhere)
        );
        // A status the workflow does not have is never walked towards.
        assert_eq!(
            choose(
                &from_progress,
                Some(Indeterminate),
                "Shipped",
                &Goal::Unknown,
                &[]
            ),
            Err(NoStep::Nowhere)
        );
    }

    #[test]
    fn a_transition_named_like_the_target_ends_the_walk() {
        let all = vec![Transition {
            name: "Ship it".into(),
            ..t("9", "Done", Done, &[])
        }];
        let step = choose(&all, Some(Indeterminate), "ship it", &Goal::Unknown, &[]).unwrap();
        assert!(step.last);
    }

    #[test]
    fn walks_the_local_tracker_and_describes_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let local = crate::tracker::local::LocalTracker::new(
            dir.path(),
            "CSM".into(),
            vec![
                "To Do".into(),
                "In Progress".into(),
                "In Review".into(),
                "Done".into(),
            ],
        )
        .unwrap();
        let key = local
            .create(&crate::tracker::NewTicket {
                summary: "x".into(),
                ..Default::default()
            })
            .unwrap();
        let w = walk(&local, &key, "In Review").unwrap();
        assert_eq!(w.describe(), "In Review");
        assert_eq!(
            walk(&local, &key, "in review").unwrap().path,
            Vec::<String>::new()
        );
        let w = Walked {
            status: "Done".into(),
            path: vec!["In Review".into(), "Done".into()],
        };
        assert_eq!(w.describe(), "In Review → Done");
        assert_eq!(w.via(), " (through In Review)");
    }

    #[test]
    fn a_configured_path_starts_after_the_status_the_ticket_is_in() {
        let path = vec!["In Review".to_string(), "Done".to_string()];
        assert_eq!(planned("In Progress", "Done", &path), ["In Review", "Done"]);
        assert_eq!(planned("in review", "Done", &path), ["Done"]);
        assert_eq!(planned("Done", "Done", &path), ["Done"]);
        assert_eq!(
            planned("To Do", "Shipped", &path),
            ["In Review", "Done", "Shipped"]
        );
        assert_eq!(planned("To Do", "Done", &[]), ["Done"]);
        assert_eq!(planned("Done", "Done", &[]), ["Done"]);
    }
}
