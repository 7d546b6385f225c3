//! The order apply runs a plan's changes in. Pure: no I/O.
//!
//! Apply executes each action's [`Change`] as it is; a [`Step`] only adds where it runs
//! (its address) and, for an orphan, whether it is the address's last. Phases run one
//! after another; steps within a phase are independent (one token each) and run
//! concurrently. A change's own requests (create-before-destroy, delete-then-create,
//! create the successor then expire the old one) run in order inside its step.

use crate::model::Address;
use crate::plan::model::{Change, DriftKind, Plan, Rotation};

/// One plan change at its address (or, for a refresh-only plan, one drift entry's).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The managed address; `None` only for [`Change::DeleteUnmanaged`].
    pub address: Option<Address>,
    pub change: Change,
    /// A [`Change::DiscardOrphan`] that is the last of its address: it also drops the
    /// address's leftover create intent.
    pub clears_intent: bool,
}

impl Step {
    /// 0: orphans, imports and state-only changes; 1: creates, updates, replaces, rotations;
    /// 2: retires and deletes, last, so nothing is deleted before what replaces it exists
    /// (an orphan replaces nothing: nobody has its secret).
    pub fn phase(&self) -> usize {
        match self.change {
            Change::DiscardOrphan { .. }
            | Change::Import { .. }
            | Change::Refresh { .. }
            | Change::Forget { .. } => 0,
            Change::Create { .. }
            | Change::Update { .. }
            | Change::Replace { .. }
            | Change::Rotate { .. } => 1,
            Change::Retire { .. } | Change::Delete { .. } | Change::DeleteUnmanaged { .. } => 2,
        }
    }

    /// What the step acts on: its address, or the token id of an unmanaged token. Steps
    /// with the same key run one after another.
    pub fn key(&self) -> String {
        match (&self.address, &self.change) {
            (Some(a), _) => a.to_string(),
            (None, change) => format!("id {}", change.token_id().unwrap_or_default()),
        }
    }

    /// The label used in progress lines: the address, or the token id for unmanaged tokens.
    pub fn label(&self) -> String {
        match (&self.address, &self.change) {
            (Some(a), _) => a.to_string(),
            (None, change) => format!("token id {}", change.token_id().unwrap_or_default()),
        }
    }

    /// The token id this step deletes at once.
    pub fn destroys(&self) -> Option<&str> {
        match &self.change {
            Change::Replace { token_id, .. }
            | Change::Delete { token_id }
            | Change::DiscardOrphan { token_id }
            | Change::DeleteUnmanaged { token_id } => Some(token_id),
            _ => None,
        }
    }

    /// The token whose secret this step ends, at once or after a grace: deleted, retired,
    /// rotated, reset or given an expiry. The caller's own token is never one of them.
    pub fn ends(&self) -> Option<&str> {
        match &self.change {
            Change::Replace { token_id, .. }
            | Change::Delete { token_id }
            | Change::DiscardOrphan { token_id }
            | Change::DeleteUnmanaged { token_id }
            | Change::Retire { token_id }
            | Change::Rotate { token_id, .. } => Some(token_id),
            Change::Update { token_id, patch, .. }
                if patch.iter().any(|op| op.path == "/expiry" && op.op != "remove") =>
            {
                Some(token_id)
            }
            _ => None,
        }
    }

    /// Whether the step creates a token (and so records, reconciles and clears a create intent).
    pub fn makes_token(&self) -> bool {
        self.change.new_token().is_some()
    }

    /// The extra recipients of the secret this step receives (the new token's own readers).
    pub fn new_secret_readers(&self) -> Option<&[String]> {
        match &self.change {
            Change::Rotate { rotation: Rotation::Reset { .. }, .. } => Some(&[]),
            change => change.new_token().map(|spec| spec.state.recipients.as_slice()),
        }
    }
}

/// The steps of a plan, in plan order.
pub fn steps(plan: &Plan) -> Vec<Step> {
    let mut out: Vec<Step> = plan
        .actions
        .iter()
        .map(|a| Step { address: a.address.clone(), change: a.change.clone(), clears_intent: false })
        .collect();
    // Only the last orphan of an address drops its intent: one that fails to go keeps it,
    // so the next plan finds that orphan again.
    let mut seen = std::collections::HashSet::new();
    for s in out.iter_mut().rev() {
        if let (Change::DiscardOrphan { .. }, Some(address)) = (&s.change, &s.address) {
            s.clears_intent = seen.insert(address.clone());
        }
    }
    if plan.refresh_only {
        // A refresh-only plan changes no token: it records what changed live into state.
        for entry in &plan.drift {
            let token_id = entry.token_id.clone();
            let change = match entry.kind {
                DriftKind::Changed => Change::Refresh { token_id },
                DriftKind::Missing => Change::Forget { token_id },
            };
            out.push(Step { address: Some(entry.address.clone()), change, clears_intent: false });
        }
    }
    out
}

/// Step indexes grouped by phase, each group in plan order.
pub fn phases(steps: &[Step]) -> [Vec<usize>; 3] {
    let mut out: [Vec<usize>; 3] = Default::default();
    for (i, s) in steps.iter().enumerate() {
        out[s.phase()].push(i);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::model::PatchOp;
    use crate::model::{Access, Role};
    use crate::plan::model::{Action, ActionKind, DriftEntry, Reason, StateFields, TokenFields, TokenSpec};

    pub(crate) fn spec(name: &str) -> TokenSpec {
        TokenSpec {
            api: TokenFields {
                name: name.into(),
                description: None,
                access: Access::Role(Role::Reader),
                service_token: false,
                api_version: None,
                expiry: None,
            },
            state: StateFields::default(),
        }
    }

    /// A change of `kind` for token `label` (id `id`): an update sets the role to writer, a
    /// rotation replaces with a grace of 60 s.
    pub(crate) fn change(kind: ActionKind, label: &str, id: &str) -> Change {
        let token_id = id.to_owned();
        match kind {
            ActionKind::Import => Change::Import { token_id, desired: spec(label) },
            ActionKind::Create => Change::Create { desired: spec(label), deliver: vec![] },
            ActionKind::Update => Change::Update {
                token_id,
                patch: vec![PatchOp::replace("/role", serde_json::json!("writer"))],
                desired: spec(label),
            },
            ActionKind::Replace => Change::Replace {
                token_id,
                desired: spec(label),
                create_before_destroy: false,
                deliver: vec![],
            },
            ActionKind::Rotate => Change::Rotate {
                token_id,
                rotation: Rotation::Replace { grace_seconds: 60, desired: spec(label) },
                deliver: vec![],
            },
            ActionKind::Retire => Change::Retire { token_id },
            ActionKind::Delete => Change::Delete { token_id },
            ActionKind::Forget => Change::Forget { token_id },
        }
    }

    fn action(kind: ActionKind, label: &str) -> Action {
        Action {
            address: Some(Address::new(label)),
            reason: Reason::ConfigChanged,
            name: label.into(),
            diffs: vec![],
            change: change(kind, label, &format!("id-{label}")),
        }
    }

    fn plan(actions: Vec<Action>) -> Plan {
        Plan::of("l", 1, actions)
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
        let ts = steps(&p);
        let [first, middle, last] = phases(&ts);
        let labels = |ix: &[usize]| ix.iter().map(|&i| ts[i].label()).collect::<Vec<_>>();
        assert_eq!(labels(&first), ["token.i", "token.f"]);
        assert_eq!(labels(&middle), ["token.c", "token.r", "token.u"]);
        assert_eq!(labels(&last), ["token.d", "token.old"]);
    }

    #[test]
    fn only_the_last_orphan_of_an_address_clears_its_intent() {
        let orphan = |id: &str| Action {
            reason: Reason::OrphanDiscarded,
            change: Change::DiscardOrphan { token_id: id.into() },
            ..action(ActionKind::Delete, "a")
        };
        let ts = steps(&plan(vec![orphan("1"), orphan("2")]));
        assert_eq!(ts.iter().map(|s| s.clears_intent).collect::<Vec<_>>(), [false, true]);
    }

    #[test]
    fn refresh_only_turns_drift_into_state_updates() {
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
            steps(&p),
            vec![
                Step {
                    address: Some(Address::new("a")),
                    change: Change::Refresh { token_id: "1".into() },
                    clears_intent: false
                },
                Step {
                    address: Some(Address::new("b")),
                    change: Change::Forget { token_id: "2".into() },
                    clears_intent: false
                },
            ]
        );
    }

    #[test]
    fn create_body_omits_empty_fields() {
        let mut s = spec("ci");
        s.api.description = Some(String::new());
        s.api.expiry = Some(jiff::Timestamp::from_second(1_800_000_000).unwrap());
        let body = serde_json::to_value(s.api.normalised().post()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": "ci", "role": "reader", "serviceToken": false, "expiry": 1_800_000_000_000_i64})
        );
    }
}
