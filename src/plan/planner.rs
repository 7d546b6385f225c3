//! The planning rules of `docs/spec.md` §5: configuration, state and one live snapshot in, ordered
//! actions with reasons out. Pure: no I/O, no clock (`now` is an argument), no async.
//!
//! Which `prevent_destroy` counts: for a token still in configuration, its lifecycle block
//! (so `prevent_destroy = false` there releases it at once); for a token whose block is
//! gone, the flag recorded in state. Each plan records the configured flag into state
//! (an update with an empty patch when nothing else changes), which is how the flag
//! survives deleting the block.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::api::model::{Live, Token};
use crate::config::{Config, DesiredToken, UnmanagedMode};
use crate::model::glob_match;
use crate::model::{Access, Address, RotationMethod, TokenField};
use crate::plan::diff::{self, target_matches};
use crate::plan::model::{
    Action, AttributeDiff, Change, DriftEntry, DriftKind, PLAN_FORMAT_VERSION, Plan, Reason, Rotation,
    TokenSpec, UnmanagedToken,
};
use crate::plan::refresh::live_changes;
use crate::plan::scope;
use crate::plan::{PlanError, PlanOptions, UnknownRole};
use crate::state::model::{State, TokenState};

/// LaunchDarkly's default limit of service tokens per account.
pub const SERVICE_TOKEN_LIMIT: usize = 200;

/// Default grace of a rotation when configuration has no `rotation` block.
const DEFAULT_GRACE_SECS: u64 = 24 * 3600;

pub(crate) struct Planner<'a> {
    config: &'a Config,
    state: &'a State,
    live: &'a Live,
    now: jiff::Timestamp,
    opts: &'a PlanOptions,
    by_id: HashMap<&'a str, &'a Token>,
    /// Live ids that some address owns (state, retiring, imports) or this plan deletes (orphans).
    claimed: BTreeSet<&'a str>,
    actions: Vec<Action>,
    drift: Vec<DriftEntry>,
    warnings: Vec<String>,
    notes: Vec<String>,
    unmanaged: Vec<UnmanagedToken>,
}

/// What a plan says about the token tokenform authenticates with (`docs/spec.md` §5: it is
/// never rotated, reset, expired, replaced or deleted), after `what` was left out.
pub(crate) fn caller_note(address: &Address, what: &str) -> String {
    let what = if what.is_empty() { String::new() } else { format!(" {what}") };
    format!("{address} is the token tokenform runs with:{what} rotate it from another credential")
}

/// The import of live `token` at `address`: record it, keeping from `spec` what state holds
/// of the configuration.
pub(crate) fn import_action(address: &Address, token: &Token, spec: TokenSpec) -> Action {
    action(
        Reason::ImportRequested,
        Some(address),
        token.name(),
        Change::Import { token_id: token.id.clone(), desired: spec },
    )
}

/// The note for a managed token whose secret tokenform does not know.
pub(crate) fn secret_unknown_note(address: &Address) -> String {
    format!("{address}: secret unknown: `tokenform apply --rotate {address}` takes it over")
}

fn action(reason: Reason, address: Option<&Address>, name: &str, change: Change) -> Action {
    Action { address: address.cloned(), reason, name: name.to_owned(), diffs: Vec::new(), change }
}

impl<'a> Planner<'a> {
    pub(crate) fn new(
        config: &'a Config,
        state: &'a State,
        live: &'a Live,
        now: jiff::Timestamp,
        opts: &'a PlanOptions,
    ) -> Self {
        let by_id = live.tokens.iter().map(|t| (t.id.as_str(), t)).collect();
        let mut claimed: BTreeSet<&str> = state.tokens.values().map(|t| t.id.as_str()).collect();
        claimed.extend(state.retiring.iter().map(|r| r.id.as_str()));
        Self {
            config,
            state,
            live,
            now,
            opts,
            by_id,
            claimed,
            actions: Vec::new(),
            drift: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            unmanaged: Vec::new(),
        }
    }

    fn selected(&self, address: &Address) -> bool {
        self.opts.targets.is_empty() || self.opts.targets.iter().any(|t| target_matches(t, address))
    }

    fn is_caller(&self, id: &str) -> bool {
        scope::is_callers(&self.live.caller, id)
    }

    pub(crate) fn run(mut self) -> Result<Plan, PlanError> {
        for address in &self.opts.rotate {
            let known = |a: &Address| target_matches(address, a);
            if !self.config.tokens.keys().any(known) && !self.state.tokens.keys().any(known) {
                return Err(PlanError::UnknownRotateAddress { address: address.to_string() });
            }
        }
        let imports: BTreeMap<&Address, &str> =
            self.config.imports.iter().map(|i| (&i.to, i.id.as_str())).collect();
        for to in imports.keys() {
            if !self.config.tokens.contains_key(*to) {
                return Err(PlanError::ImportWithoutConfig { address: to.to_string() });
            }
        }
        // Import targets are claimed up front, so no orphan search or unmanaged sweep takes
        // them. One live id belongs to one address: not two import blocks, nor an import of
        // an id state already holds (at another address, or as a retiring generation).
        let mut importing: BTreeMap<&str, &Address> = BTreeMap::new();
        for (to, id) in &imports {
            if self.state.tokens.contains_key(*to) {
                continue;
            }
            if let Some(other) = self.state.holder_of(id) {
                return Err(PlanError::ImportAlreadyManaged {
                    address: to.to_string(),
                    id: (*id).to_owned(),
                    managed_as: other.to_string(),
                });
            }
            if let Some(first) = importing.insert(id, to) {
                return Err(PlanError::ImportedTwice {
                    id: (*id).to_owned(),
                    first: first.to_string(),
                    second: to.to_string(),
                });
            }
            self.claimed.insert(id);
        }

        self.plan_drift();
        if !self.opts.refresh_only {
            self.plan_orphans();
            if !self.opts.destroy {
                self.check_custom_roles()?;
                for (address, desired) in &self.config.tokens {
                    if self.selected(address) {
                        self.plan_desired(address, desired, imports.get(address).copied())?;
                    }
                }
            }
            self.plan_gone()?;
            self.plan_retire();
            if !self.opts.destroy {
                // Live tokens no address owns, before any is deleted (one scan for both uses).
                let found =
                    scope::unmanaged(self.config, self.state, self.live, |id| self.claimed.contains(id));
                self.survey_unmanaged(&found);
                if self.opts.targets.is_empty() && self.config.unmanaged.mode == UnmanagedMode::Delete {
                    self.plan_unmanaged(found);
                }
            }
        }
        Ok(self.finish())
    }

    /// Every selected token's custom role keys against the live custom roles: all unknown
    /// ones in one error, each with the place its `custom_roles` is written.
    fn check_custom_roles(&self) -> Result<(), PlanError> {
        let mut roles = Vec::new();
        for (address, desired) in &self.config.tokens {
            let Access::CustomRoles(keys) = &desired.access else { continue };
            if !self.selected(address) {
                continue;
            }
            for key in keys.iter().filter(|k| self.live.role_id(k).is_none()) {
                roles.push(UnknownRole {
                    address: address.to_string(),
                    key: key.clone(),
                    site: self
                        .config
                        .sites
                        .token_attr(&address.label, "custom_roles")
                        .map(ToString::to_string),
                });
            }
        }
        if roles.is_empty() { Ok(()) } else { Err(PlanError::UnknownCustomRoles { roles }) }
    }

    /// `main.hcl:4:3: ` where token `address` writes `key`, or nothing.
    fn at(&self, address: &Address, key: &str) -> String {
        self.config.sites.token_attr(&address.label, key).map(|s| format!("{s}: ")).unwrap_or_default()
    }

    /// Drift: every selected managed token against its live counterpart.
    fn plan_drift(&mut self) {
        for (address, ts) in &self.state.tokens {
            if !self.selected(address) {
                continue;
            }
            match self.by_id.get(ts.id.as_str()) {
                None => self.drift.push(DriftEntry {
                    address: address.clone(),
                    token_id: ts.id.clone(),
                    kind: DriftKind::Missing,
                    fields: Vec::new(),
                }),
                Some(token) => {
                    let fields = live_changes(ts, token);
                    if !fields.is_empty() {
                        self.drift.push(DriftEntry {
                            address: address.clone(),
                            token_id: ts.id.clone(),
                            kind: DriftKind::Changed,
                            fields,
                        });
                    }
                }
            }
        }
    }

    fn plan_desired(
        &mut self,
        address: &Address,
        desired: &DesiredToken,
        import_id: Option<&'a str>,
    ) -> Result<(), PlanError> {
        let spec = diff::spec(desired, self.live)?;
        if let Some(ts) = self.state.tokens.get(address) {
            if self.by_id.contains_key(ts.id.as_str()) {
                self.warn_expired(address, desired);
            }
            return self.plan_managed(address, desired, ts, spec);
        }
        if let Some(id) = import_id {
            let token = *self.by_id.get(id).ok_or_else(|| PlanError::ImportNotFound {
                address: address.to_string(),
                id: id.to_owned(),
            })?;
            self.warn_expired(address, desired);
            return self.plan_import(address, desired, token, &spec);
        }
        self.check_new_token(address, &spec)?;
        let name = spec.api.name.clone();
        let deliver = desired.deliver.clone();
        self.actions.push(action(
            Reason::NotInState,
            Some(address),
            &name,
            Change::Create { desired: spec, deliver },
        ));
        Ok(())
    }

    /// The orphans of every selected leftover create intent (a run killed between sending a
    /// create and recording its answer): nobody ever saw their secret, so each is deleted at
    /// once (`docs/spec.md` §5). The address itself is planned as usual: a create when state
    /// has nothing there, nothing more when it kept its token. Apply deletes orphans first,
    /// before any create of the same address could adopt one again.
    fn plan_orphans(&mut self) {
        for pending in &self.state.pending_creates {
            if !self.selected(&pending.address) {
                continue;
            }
            let found =
                scope::orphans(pending, &self.live.tokens, &self.live.caller, |id| self.claimed.contains(id));
            for orphan in found {
                self.claimed.insert(orphan.id.as_str());
                self.actions.push(action(
                    Reason::OrphanDiscarded,
                    Some(&pending.address),
                    orphan.name(),
                    Change::DiscardOrphan { token_id: orphan.id.clone() },
                ));
            }
        }
    }

    /// An import: record the live token, then bring it to the configuration. Its secret
    /// stays unknown until `--rotate` asks for a new one.
    fn plan_import(
        &mut self,
        address: &Address,
        desired: &DesiredToken,
        token: &Token,
        spec: &TokenSpec,
    ) -> Result<(), PlanError> {
        self.actions.push(import_action(address, token, spec.clone()));
        let replaced = self.plan_changes(address, desired, token, None, spec, &BTreeSet::new())?;
        if !replaced {
            self.plan_rotation(address, desired, token, None, spec)?;
        }
        Ok(())
    }

    fn plan_managed(
        &mut self,
        address: &Address,
        desired: &DesiredToken,
        ts: &TokenState,
        spec: TokenSpec,
    ) -> Result<(), PlanError> {
        let Some(token) = self.by_id.get(ts.id.as_str()).copied() else {
            self.check_new_token(address, &spec)?;
            let name = spec.api.name.clone();
            self.actions.push(action(
                Reason::DeletedOutside,
                Some(address),
                &name,
                Change::Create { desired: spec, deliver: desired.deliver.clone() },
            ));
            return Ok(());
        };
        let drifted: BTreeSet<TokenField> = live_changes(ts, token).into_iter().map(|d| d.field).collect();
        let replaced = self.plan_changes(address, desired, token, Some(ts), &spec, &drifted)?;
        if !replaced {
            self.plan_rotation(address, desired, token, ts.secret.as_ref().map(|s| s.issued_at), &spec)?;
        }
        Ok(())
    }

    /// An update or a replacement closing the gap between `spec` and `token`. Returns
    /// whether the token is replaced (which also gives it a new secret).
    fn plan_changes(
        &mut self,
        address: &Address,
        desired: &DesiredToken,
        token: &Token,
        ts: Option<&TokenState>,
        spec: &TokenSpec,
        drifted: &BTreeSet<TokenField>,
    ) -> Result<bool, PlanError> {
        let mut diffs: Vec<AttributeDiff> = diff::field_diffs(&spec.api, token, ts, self.live)
            .into_iter()
            .filter(|d| !desired.lifecycle.ignore_changes.contains(&d.field))
            .collect();
        // Setting a hard expiry on the token this very run authenticates with would lock
        // tokenform out when it passes: left alone, and said so (removing one is harmless).
        if self.is_caller(&token.id)
            && let Some(at) = diffs.iter().position(|d| d.field == TokenField::ExpiresAt && d.new.is_some())
        {
            diffs.remove(at);
            self.warnings.push(caller_note(address, "its expires_at is not set from this plan;"));
        }
        let reason = if diffs.iter().any(|d| drifted.contains(&d.field)) {
            Reason::ChangedOutside
        } else {
            Reason::ConfigChanged
        };
        if diffs.iter().any(|d| d.forces_replacement) {
            self.check_destroyable(address, &token.id, spec.state.prevent_destroy, "replace")?;
            self.check_new_token(address, spec)?;
            let mut replace = action(
                Reason::ForcesReplacement,
                Some(address),
                &spec.api.name,
                Change::Replace {
                    token_id: token.id.clone(),
                    desired: spec.clone(),
                    create_before_destroy: desired.lifecycle.create_before_destroy,
                    deliver: desired.deliver.clone(),
                },
            );
            replace.diffs = diffs;
            self.actions.push(replace);
            return Ok(true);
        }
        let protection_changed = ts.is_some_and(|ts| ts.prevent_destroy != spec.state.prevent_destroy);
        if !diffs.is_empty() || protection_changed {
            let fields: Vec<TokenField> = diffs.iter().map(|d| d.field).collect();
            let mut update = action(
                if diffs.is_empty() { Reason::ConfigChanged } else { reason },
                Some(address),
                token.name(),
                Change::Update {
                    token_id: token.id.clone(),
                    patch: diff::patch(&spec.api, token, &fields),
                    desired: spec.clone(),
                },
            );
            update.diffs = diffs;
            self.actions.push(update);
        }
        Ok(false)
    }

    /// A rotation when asked (`--rotate`) or when it is due by a known `issued_at`. A secret
    /// tokenform does not know (an imported token) is never rotated unasked: whoever uses
    /// it would lose access without having been asked (`docs/spec.md` §5); the plan notes it.
    fn plan_rotation(
        &mut self,
        address: &Address,
        desired: &DesiredToken,
        token: &Token,
        issued_at: Option<jiff::Timestamp>,
        spec: &TokenSpec,
    ) -> Result<(), PlanError> {
        let requested = self.opts.rotate.iter().any(|r| target_matches(r, address));
        let due = |every: std::time::Duration| {
            issued_at.is_some_and(|at| {
                i128::from(self.now.as_millisecond()) - i128::from(at.as_millisecond())
                    >= i128::try_from(every.as_millis()).unwrap_or(i128::MAX)
            })
        };
        let is_due = desired.rotation.as_ref().is_some_and(|r| due(r.every));
        if self.is_caller(&token.id) {
            // Rotating (or resetting) the credential of this very run cuts it off after the
            // grace: never planned. An explicit --rotate is an error, anything else a note.
            if requested {
                return Err(PlanError::CallerToken {
                    address: address.to_string(),
                    id: token.id.clone(),
                    action: "rotate",
                });
            }
            if is_due {
                self.warnings.push(caller_note(address, "its rotation is due but not planned;"));
            } else {
                self.notes.push(caller_note(address, ""));
            }
            return Ok(());
        }
        // A secret that did not reach every sink, or an old generation held for one, is
        // finished by rotating again: no identity needed (`docs/delivery.md`).
        let unfinished =
            self.state.tokens.get(address).is_some_and(|t| t.id == token.id && !t.undelivered.is_empty())
                || self.state.retiring.iter().any(|r| &r.address == address && r.is_held());
        let reason = if requested {
            Reason::RotationRequested
        } else if unfinished {
            Reason::DeliveryIncomplete
        } else if issued_at.is_none() {
            self.notes.push(secret_unknown_note(address));
            return Ok(());
        } else if is_due {
            Reason::RotationDue
        } else {
            return Ok(());
        };
        let (method, grace_seconds) = desired
            .rotation
            .as_ref()
            .map_or((RotationMethod::Replace, DEFAULT_GRACE_SECS), |r| (r.method, r.grace.as_secs()));
        // The old secret's end is sent as a time: a grace past the end of time must not
        // become "now" on the way.
        let grace_end = i64::try_from(grace_seconds)
            .ok()
            .and_then(|s| self.now.checked_add(jiff::SignedDuration::from_secs(s)).ok());
        if grace_end.is_none() {
            return Err(PlanError::GraceOutOfRange { address: address.to_string(), seconds: grace_seconds });
        }
        let rotation = match method {
            RotationMethod::Replace => {
                self.check_new_token(address, spec)?;
                Rotation::Replace { grace_seconds, desired: spec.clone() }
            }
            RotationMethod::Reset => {
                if !desired.deliver.is_empty() {
                    self.warnings.push(format!(
                        "{address}: rotation.method = \"reset\" starts the old secret's grace at the reset, before \
                         its deliveries: a failed one cannot hold it (method = \"replace\" can; docs/delivery.md)"
                    ));
                }
                Rotation::Reset { grace_seconds }
            }
        };
        self.actions.push(action(
            reason,
            Some(address),
            &spec.api.name,
            Change::Rotate { token_id: token.id.clone(), rotation, deliver: desired.deliver.clone() },
        ));
        Ok(())
    }

    /// A token about to be made (create, replacement, successor) must not be dead on
    /// arrival: an `expires_at` already past is an error, not a token that never works.
    fn check_new_token(&self, address: &Address, spec: &TokenSpec) -> Result<(), PlanError> {
        match spec.api.expiry {
            Some(at) if at <= self.now => Err(PlanError::ExpiresInPast {
                address: address.to_string(),
                expires_at: at.to_string(),
                at: self.at(address, "expires_at"),
            }),
            _ => Ok(()),
        }
    }

    /// A live token whose configured `expires_at` has passed no longer works: a warning
    /// (nothing new is made, and updating it there changes nothing that still works).
    fn warn_expired(&mut self, address: &Address, desired: &DesiredToken) {
        if let Some(at) = desired.expires_at.filter(|at| *at <= self.now) {
            let site = self.at(address, "expires_at");
            self.warnings.push(format!(
                "{site}{address}: expires_at {at} is in the past: the token no longer works (move expires_at \
                 forward, or remove it, to plan a working replacement)"
            ));
        }
    }

    fn check_destroyable(
        &self,
        address: &Address,
        id: &str,
        prevent_destroy: bool,
        what: &'static str,
    ) -> Result<(), PlanError> {
        if prevent_destroy {
            return Err(PlanError::PreventDestroy { address: address.to_string(), action: what });
        }
        if self.is_caller(id) {
            return Err(PlanError::CallerToken {
                address: address.to_string(),
                id: id.to_owned(),
                action: what,
            });
        }
        Ok(())
    }

    /// Managed tokens whose block is gone (or every managed token, for `destroy`).
    fn plan_gone(&mut self) -> Result<(), PlanError> {
        for (address, ts) in &self.state.tokens {
            let in_config = self.config.tokens.get(address);
            if (in_config.is_some() && !self.opts.destroy) || !self.selected(address) {
                continue;
            }
            let removed = self.config.removed.iter().find(|r| &r.from == address);
            let reason = if self.opts.destroy {
                Reason::DestroyRequested
            } else if removed.is_some() {
                Reason::RemovedBlock
            } else {
                Reason::RemovedFromConfig
            };
            let token_id = ts.id.clone();
            let step = if removed.is_some_and(|r| !r.destroy) && !self.opts.destroy {
                self.warn_forget_then_delete(ts);
                action(Reason::RemovedBlock, Some(address), &ts.name, Change::Forget { token_id })
            } else if !self.by_id.contains_key(ts.id.as_str()) {
                // Nothing left to delete: only the record goes.
                action(Reason::DeletedOutside, Some(address), &ts.name, Change::Forget { token_id })
            } else {
                let protected = in_config.map_or(ts.prevent_destroy, |d| d.lifecycle.prevent_destroy);
                self.check_destroyable(address, &ts.id, protected, "delete")?;
                action(reason, Some(address), &ts.name, Change::Delete { token_id })
            };
            self.actions.push(step);
        }
        Ok(())
    }

    /// A forgotten token becomes unmanaged: in `delete` mode the next plan would delete it.
    fn warn_forget_then_delete(&mut self, ts: &TokenState) {
        let settings = &self.config.unmanaged;
        if settings.mode == UnmanagedMode::Delete
            && self.by_id.contains_key(ts.id.as_str())
            && !settings.ignore_names.iter().any(|g| glob_match(g, &ts.name))
        {
            self.warnings.push(format!(
                "token {:?} (id {}) is forgotten by a removed block, but unmanaged.mode = \"delete\": the next \
                 plan deletes it as unmanaged unless unmanaged.ignore_names matches its name",
                ts.name, ts.id
            ));
        }
    }

    /// Old generations of rotated tokens whose grace has ended (all of them for `destroy`).
    fn plan_retire(&mut self) {
        for r in &self.state.retiring {
            // A held generation waits for its successor's delivery, unless nothing at its
            // address will ever deliver again (its token block is gone).
            let ended = if r.is_held() {
                !self.config.tokens.contains_key(&r.address)
            } else {
                r.expires_at <= self.now
            };
            if !self.selected(&r.address) || !(self.opts.destroy || ended) {
                continue;
            }
            if self.is_caller(&r.id) {
                self.warnings.push(format!(
                    "the old generation of {} (id {}) is the token tokenform authenticates with: not retired",
                    r.address, r.id
                ));
                continue;
            }
            let reason = if self.opts.destroy { Reason::DestroyRequested } else { Reason::GraceEnded };
            self.actions.push(action(
                reason,
                Some(&r.address),
                &r.name,
                Change::Retire { token_id: r.id.clone() },
            ));
        }
    }

    /// Live tokens no address owns, before any is deleted: a create whose name one of them
    /// already has is warned about (state lost, or a token made by hand: importing it keeps
    /// its users working, a second token would not), and in `report` mode an untargeted
    /// plan lists them (`docs/config.md`: report mode makes plan and drift list them). The
    /// caller's own token is not listed, as `drift` leaves it out: the operator knows it.
    fn survey_unmanaged(&mut self, found: &[&'a Token]) {
        if found.is_empty() {
            return;
        }
        let mut by_name: HashMap<&str, Vec<&Token>> = HashMap::new();
        for token in found {
            by_name.entry(token.name()).or_default().push(token);
        }
        let deletes = self.config.unmanaged.mode == UnmanagedMode::Delete && self.opts.targets.is_empty();
        for action in &self.actions {
            let (Change::Create { desired, .. }, Reason::NotInState, Some(address)) =
                (&action.change, action.reason, &action.address)
            else {
                continue;
            };
            let Some(same) = by_name.get(desired.api.name.as_str()) else { continue };
            for token in same {
                let goes = if deletes && !self.is_caller(&token.id) {
                    "; unmanaged.mode = \"delete\" deletes it in this plan"
                } else {
                    ""
                };
                self.warnings.push(format!(
                    "a live token named {:?} exists (id {}) that no address manages: import it? An `import` \
                     block with `to = {address}` and `id = \"{}\"` keeps the secret its users hold; this plan \
                     creates a second token{goes}",
                    token.name(),
                    token.id,
                    token.id
                ));
            }
        }
        if self.config.unmanaged.mode == UnmanagedMode::Report && self.opts.targets.is_empty() {
            self.unmanaged = found
                .iter()
                .filter(|t| !self.is_caller(&t.id))
                .map(|t| UnmanagedToken { id: t.id.clone(), name: t.name().to_owned() })
                .collect();
        }
    }

    /// `unmanaged { mode = "delete" }`: live tokens no address owns.
    fn plan_unmanaged(&mut self, candidates: Vec<&'a Token>) {
        for token in candidates {
            if self.is_caller(&token.id) {
                self.warnings.push(format!(
                    "unmanaged token {:?} (id {}) is the token tokenform authenticates with: not deleted",
                    token.name(),
                    token.id
                ));
                continue;
            }
            self.actions.push(action(
                Reason::Unmanaged,
                None,
                token.name(),
                Change::DeleteUnmanaged { token_id: token.id.clone() },
            ));
        }
    }

    fn finish(mut self) -> Plan {
        // Plan order by kind; managed addresses in address order, unmanaged tokens last.
        self.actions.sort_by(|a, b| {
            (a.kind(), a.address.is_none(), &a.address, &a.name, a.token_id()).cmp(&(
                b.kind(),
                b.address.is_none(),
                &b.address,
                &b.name,
                b.token_id(),
            ))
        });
        if !self.opts.targets.is_empty() {
            self.warnings.insert(
                0,
                "resource targeting is in effect: this plan may be incomplete (unmanaged tokens are not \
                 considered). Use --target to recover from mistakes, not routinely."
                    .to_owned(),
            );
        }
        let live_service = self.live.tokens.iter().filter(|t| t.service_token).count();
        let new_service = self
            .actions
            .iter()
            .filter(|a| matches!(&a.change, Change::Create { desired, .. } if desired.api.service_token))
            .count();
        if live_service + new_service > SERVICE_TOKEN_LIMIT {
            self.warnings.push(format!(
                "{} service tokens after this plan ({live_service} live, {new_service} to create): more than \
                 LaunchDarkly's default limit of {SERVICE_TOKEN_LIMIT}; creates may be refused",
                live_service + new_service
            ));
        }
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            lineage: self.state.lineage.clone(),
            serial: self.state.serial,
            config_digest: self.config.digest.clone(),
            refresh_only: self.opts.refresh_only,
            actions: self.actions,
            drift: self.drift,
            warnings: self.warnings,
            notes: self.notes,
            unmanaged: self.unmanaged,
        }
    }
}
