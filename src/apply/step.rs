//! Turning plan actions into executable tasks, and the order they run in. Pure: no I/O.
//!
//! Phases run one after another; tasks within a phase are independent (one address each)
//! and run concurrently. A task's own steps (create-before-destroy, delete-then-create,
//! create the successor then expire the old one) run in order inside the task.

use crate::api::model::{PatchOp, TokenPost};
use crate::model::{Address, RotationMethod};
use crate::plan::model::{Action, ActionKind, DriftKind, Plan, Reason, TokenSpec};

/// One unit of work, built from one plan action (or, for refresh-only plans, one drift entry).
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// GET the live token and record it (secret unknown).
    Import {
        address: Address,
        id: String,
        desired: Option<TokenSpec>,
    },
    /// GET the live token and record its current fields, keeping the secret (refresh-only).
    Refresh {
        address: Address,
        id: String,
    },
    /// Stop tracking the address; no API call.
    Forget {
        address: Address,
    },
    Create {
        address: Address,
        spec: TokenSpec,
    },
    Update {
        address: Address,
        id: String,
        patch: Vec<PatchOp>,
        desired: Option<TokenSpec>,
    },
    /// `create_before_destroy`: create, record, then delete the old one; else delete first.
    Replace {
        address: Address,
        old_id: String,
        spec: TokenSpec,
        create_before_destroy: bool,
    },
    /// `method = "replace"`: create the successor, then expire the old one after `grace_seconds`.
    RotateReplace {
        address: Address,
        old_id: String,
        spec: TokenSpec,
        grace_seconds: u64,
    },
    /// `method = "reset"`: legacy reset; the old secret works `grace_seconds` more.
    RotateReset {
        address: Address,
        id: String,
        grace_seconds: u64,
    },
    /// Delete a retiring generation.
    Retire {
        address: Option<Address>,
        id: String,
    },
    /// Delete a token (managed at `address`, or unmanaged).
    Delete {
        address: Option<Address>,
        id: String,
    },
    /// Delete the orphan of a create at `address` whose answer was lost: nobody has its
    /// secret. Runs first, so no create of the address can adopt it again; the last one of
    /// an address also drops the address's leftover create intent.
    DiscardOrphan {
        address: Address,
        id: String,
        clears_intent: bool,
    },
}

impl Task {
    /// 0: orphans, imports and state-only changes; 1: creates, updates, replaces, rotations;
    /// 2: retires and deletes, last, so nothing is deleted before what replaces it exists
    /// (an orphan replaces nothing: nobody has its secret).
    pub fn phase(&self) -> usize {
        match self {
            Task::DiscardOrphan { .. } | Task::Import { .. } | Task::Refresh { .. } | Task::Forget { .. } => {
                0
            }
            Task::Create { .. }
            | Task::Update { .. }
            | Task::Replace { .. }
            | Task::RotateReplace { .. }
            | Task::RotateReset { .. } => 1,
            Task::Retire { .. } | Task::Delete { .. } => 2,
        }
    }

    /// The managed address, if any.
    pub fn address(&self) -> Option<&Address> {
        match self {
            Task::Import { address, .. }
            | Task::Refresh { address, .. }
            | Task::Forget { address }
            | Task::Create { address, .. }
            | Task::Update { address, .. }
            | Task::Replace { address, .. }
            | Task::RotateReplace { address, .. }
            | Task::RotateReset { address, .. }
            | Task::DiscardOrphan { address, .. } => Some(address),
            Task::Retire { address, .. } | Task::Delete { address, .. } => address.as_ref(),
        }
    }

    /// What the task acts on: its address, or the token id of an unmanaged token. Tasks
    /// with the same key run one after another.
    pub fn key(&self) -> String {
        match (self.address(), self) {
            (Some(a), _) => a.to_string(),
            (None, Task::Retire { id, .. } | Task::Delete { id, .. }) => format!("id {id}"),
            (None, _) => String::new(),
        }
    }

    /// The token ids this task deletes (or schedules for deletion).
    pub fn destroys(&self) -> Option<&str> {
        match self {
            Task::Replace { old_id, .. } => Some(old_id),
            Task::Delete { id, .. } | Task::DiscardOrphan { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The token whose secret this task ends, at once or after a grace: deleted, retired,
    /// rotated, reset or given an expiry. The caller's own token is never one of them.
    pub fn ends(&self) -> Option<&str> {
        match self {
            Task::Replace { old_id: id, .. }
            | Task::Delete { id, .. }
            | Task::DiscardOrphan { id, .. }
            | Task::Retire { id, .. }
            | Task::RotateReplace { old_id: id, .. }
            | Task::RotateReset { id, .. } => Some(id),
            Task::Update { id, patch, .. }
                if patch.iter().any(|op| op.path == "/expiry" && op.op != "remove") =>
            {
                Some(id)
            }
            _ => None,
        }
    }

    /// Whether the task creates a token (and so records, reconciles and clears a create intent).
    pub fn makes_token(&self) -> bool {
        matches!(self, Task::Create { .. } | Task::Replace { .. } | Task::RotateReplace { .. })
    }

    /// Whether the task receives a new secret (and so needs a recipient to seal it to).
    pub fn makes_secret(&self) -> bool {
        matches!(
            self,
            Task::Create { .. }
                | Task::Replace { .. }
                | Task::RotateReplace { .. }
                | Task::RotateReset { .. }
        )
    }

    /// The label used in progress lines: the address, or the token id for unmanaged tokens.
    pub fn label(&self) -> String {
        match (self.address(), self) {
            (Some(a), _) => a.to_string(),
            (None, Task::Retire { id, .. } | Task::Delete { id, .. }) => format!("token id {id}"),
            (None, _) => String::from("token"),
        }
    }
}

/// A plan action apply cannot execute (a plan file edited by hand, or a planner bug).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plan action {index} ({kind:?} {label}) is malformed: {why}")]
pub struct MalformedAction {
    pub index: usize,
    pub kind: ActionKind,
    pub label: String,
    pub why: &'static str,
}

/// The tasks of a plan, in plan order.
pub fn tasks(plan: &Plan) -> Result<Vec<Task>, MalformedAction> {
    let mut out = Vec::with_capacity(plan.actions.len());
    for (index, action) in plan.actions.iter().enumerate() {
        out.push(task(index, action)?);
    }
    // Only the last orphan of an address drops its intent: one that fails to go keeps it,
    // so the next plan finds that orphan again.
    let mut seen = std::collections::HashSet::new();
    for t in out.iter_mut().rev() {
        if let Task::DiscardOrphan { address, clears_intent, .. } = t {
            *clears_intent = seen.insert(address.clone());
        }
    }
    if plan.refresh_only {
        // A refresh-only plan changes no token: it records what changed live into state.
        for entry in &plan.drift {
            out.push(match entry.kind {
                DriftKind::Changed => {
                    Task::Refresh { address: entry.address.clone(), id: entry.token_id.clone() }
                }
                DriftKind::Missing => Task::Forget { address: entry.address.clone() },
            });
        }
    }
    Ok(out)
}

fn task(index: usize, a: &Action) -> Result<Task, MalformedAction> {
    let bad = |why| MalformedAction {
        index,
        kind: a.kind,
        label: a.address.as_ref().map_or_else(|| a.name.clone(), ToString::to_string),
        why,
    };
    let address = || a.address.clone().ok_or_else(|| bad("no address"));
    let id = || a.token_id.clone().ok_or_else(|| bad("no token id"));
    let spec = || a.desired.clone().ok_or_else(|| bad("no desired token"));
    Ok(match a.kind {
        ActionKind::Import => Task::Import { address: address()?, id: id()?, desired: a.desired.clone() },
        ActionKind::Forget => Task::Forget { address: address()? },
        ActionKind::Create => Task::Create { address: address()?, spec: spec()? },
        ActionKind::Update => Task::Update {
            address: address()?,
            id: id()?,
            patch: a.patch.clone(),
            desired: a.desired.clone(),
        },
        ActionKind::Replace => Task::Replace {
            address: address()?,
            old_id: id()?,
            spec: spec()?,
            create_before_destroy: a.create_before_destroy,
        },
        ActionKind::Rotate => {
            let rotation = a.rotation.ok_or_else(|| bad("a rotation without method"))?;
            match rotation.method {
                RotationMethod::Replace => Task::RotateReplace {
                    address: address()?,
                    old_id: id()?,
                    spec: spec()?,
                    grace_seconds: rotation.grace_seconds,
                },
                RotationMethod::Reset => Task::RotateReset {
                    address: address()?,
                    id: id()?,
                    grace_seconds: rotation.grace_seconds,
                },
            }
        }
        ActionKind::Retire => Task::Retire { address: a.address.clone(), id: id()? },
        ActionKind::Delete if a.reason == Reason::OrphanDiscarded => {
            Task::DiscardOrphan { address: address()?, id: id()?, clears_intent: false }
        }
        ActionKind::Delete => Task::Delete { address: a.address.clone(), id: id()? },
    })
}

/// Task indexes grouped by phase, each group in plan order.
pub fn phases(tasks: &[Task]) -> [Vec<usize>; 3] {
    let mut out: [Vec<usize>; 3] = Default::default();
    for (i, t) in tasks.iter().enumerate() {
        out[t.phase()].push(i);
    }
    out
}

/// The body of a create.
pub fn token_post(spec: &TokenSpec) -> TokenPost {
    TokenPost {
        name: Some(spec.name.clone()),
        description: spec.description.clone().filter(|d| !d.is_empty()),
        role: spec.role,
        custom_role_ids: (!spec.custom_role_ids.is_empty()).then(|| spec.custom_role_ids.clone()),
        inline_role: spec.inline_role.clone().filter(|p| !p.is_empty()),
        service_token: Some(spec.service_token),
        default_api_version: spec.api_version.map(i64::from),
        expiry: spec.expiry.map(jiff::Timestamp::as_millisecond),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Role;
    use crate::plan::model::{PLAN_FORMAT_VERSION, RotationStep};

    pub(crate) fn spec(name: &str) -> TokenSpec {
        TokenSpec {
            name: name.into(),
            description: None,
            role: Some(Role::Reader),
            custom_role_ids: vec![],
            custom_role_keys: vec![],
            inline_role: None,
            service_token: false,
            api_version: None,
            expiry: None,
            recipients: vec![],
            prevent_destroy: false,
        }
    }

    fn action(kind: ActionKind, label: &str) -> Action {
        Action {
            address: Some(Address::new(label)),
            kind,
            reason: Reason::ConfigChanged,
            token_id: (kind != ActionKind::Create).then(|| format!("id-{label}")),
            name: label.into(),
            desired: Some(spec(label)),
            patch: if kind == ActionKind::Update {
                vec![PatchOp::replace("/role", serde_json::json!("writer"))]
            } else {
                vec![]
            },
            diffs: vec![],
            create_before_destroy: false,
            rotation: (kind == ActionKind::Rotate)
                .then_some(RotationStep { method: RotationMethod::Replace, grace_seconds: 60 }),
        }
    }

    fn plan(actions: Vec<Action>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            lineage: "l".into(),
            serial: 1,
            config_digest: String::new(),
            refresh_only: false,
            actions,
            drift: vec![],
            warnings: vec![],
            notes: vec![],
        }
    }

    #[test]
    fn deletes_run_last_and_imports_first() {
        let p = plan(vec![
            action(ActionKind::Delete, "d"),
            action(ActionKind::Create, "c"),
            action(ActionKind::Import, "i"),
            action(ActionKind::Rotate, "r"),
            action(ActionKind::Retire, "old"),
            action(ActionKind::Update, "u"),
            action(ActionKind::Forget, "f"),
        ]);
        let ts = tasks(&p).unwrap();
        let [first, middle, last] = phases(&ts);
        let labels = |ix: &[usize]| ix.iter().map(|&i| ts[i].label()).collect::<Vec<_>>();
        assert_eq!(labels(&first), ["token.i", "token.f"]);
        assert_eq!(labels(&middle), ["token.c", "token.r", "token.u"]);
        assert_eq!(labels(&last), ["token.d", "token.old"]);
    }

    #[test]
    fn malformed_actions_are_refused() {
        let mut create = action(ActionKind::Create, "c");
        create.desired = None;
        let err = tasks(&plan(vec![create])).unwrap_err();
        assert_eq!(err.why, "no desired token");
        let mut delete = action(ActionKind::Delete, "d");
        delete.token_id = None;
        assert_eq!(tasks(&plan(vec![delete])).unwrap_err().why, "no token id");
        let mut rotate = action(ActionKind::Rotate, "r");
        rotate.rotation = None;
        assert!(tasks(&plan(vec![rotate])).is_err());
    }

    #[test]
    fn rotation_method_picks_the_task() {
        let mut reset = action(ActionKind::Rotate, "r");
        reset.rotation = Some(RotationStep { method: RotationMethod::Reset, grace_seconds: 5 });
        assert_eq!(
            tasks(&plan(vec![reset])).unwrap()[0],
            Task::RotateReset { address: Address::new("r"), id: "id-r".into(), grace_seconds: 5 }
        );
    }

    #[test]
    fn refresh_only_turns_drift_into_state_updates() {
        use crate::plan::model::DriftEntry;
        let mut p = plan(vec![]);
        p.refresh_only = true;
        p.drift = vec![
            DriftEntry {
                address: Address::new("a"),
                token_id: "1".into(),
                kind: DriftKind::Changed,
                fields: vec![],
            },
            DriftEntry {
                address: Address::new("b"),
                token_id: "2".into(),
                kind: DriftKind::Missing,
                fields: vec![],
            },
        ];
        assert_eq!(
            tasks(&p).unwrap(),
            vec![
                Task::Refresh { address: Address::new("a"), id: "1".into() },
                Task::Forget { address: Address::new("b") }
            ]
        );
    }

    #[test]
    fn create_body_omits_empty_fields() {
        let mut s = spec("ci");
        s.description = Some(String::new());
        s.expiry = Some(jiff::Timestamp::from_second(1_800_000_000).unwrap());
        let body = serde_json::to_value(token_post(&s)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": "ci", "role": "reader", "serviceToken": false, "expiry": 1_800_000_000_000_i64})
        );
    }
}
