//! The executor's answer handlers: what each answer records and which step follows.
//! Pure bookkeeping over the ledger; requests are sent by the loop in the parent module.

use super::{Call, Executor, Job, MAX_CREATE_ATTEMPTS, Next, Stage};
use crate::api::model::{PatchOp, Token};
use crate::apply::ports::{Ledger, TokenApi};
use crate::model::Address;
use crate::plan::model::{Change, Rotation, TokenSpec};
use crate::plan::refresh::state_from_live;
use crate::plan::scope::{orphans, state_ids};
use crate::secret::Secret;
use crate::state::JournalRecord;
use crate::state::model::{IdHolder, PendingCreate, RetiringToken, TokenState};

impl<A: TokenApi, L: Ledger> Executor<'_, A, L> {
    /// The GET of an import or a refresh: record the live token.
    pub(super) fn on_get(&mut self, job: &Job, address: &Address, token: &Token) -> Next {
        let refresh = matches!(job.step.change, Change::Refresh { .. });
        if let Some(refused) = self.already_held(address, &token.id, refresh) {
            return refused;
        }
        let prev = if refresh { self.ledger.state().tokens.get(address).cloned() } else { None };
        let record = self.token_state(token, prev.as_ref(), job.step.change.desired());
        let address = address.clone();
        let mut records = vec![JournalRecord::Upsert { address: address.clone(), token: Box::new(record) }];
        records.extend(self.pending_clear(&address));
        if !self.record(records) {
            return self.ledger_failed();
        }
        if refresh {
            self.counts.refreshed += 1;
            Next::Done(format!("Refreshed from live [id={}]", token.id))
        } else {
            self.counts.imported += 1;
            Next::Done(format!(
                "Import complete [id={}] (secret unknown: `tokenform apply --rotate {address}` takes it over)",
                token.id
            ))
        }
    }

    /// A list after a lost answer (or a leftover intent): delete the orphan, or create again.
    pub(super) fn on_reconcile(
        &mut self,
        job: &mut Job,
        address: &Address,
        spec: &TokenSpec,
        live: &[Token],
    ) -> Next {
        let pending = PendingCreate {
            address: address.clone(),
            name: spec.api.name.clone(),
            intent_at: job.intent_at.unwrap_or_else(jiff::Timestamp::now),
            member_id: self.live.caller.member_id.clone(),
        };
        let taken = state_ids(self.ledger.state());
        let found =
            orphans(&pending, live, &self.live.caller, |id| taken.contains(id) || self.claimed.contains(id));
        if let Some(orphan) = found.first() {
            let id = orphan.id.clone();
            return self.discard_lost(job, &id);
        }
        if job.attempts >= MAX_CREATE_ATTEMPTS {
            if !self.clear_pending(&pending.address) {
                return self.ledger_failed();
            }
            return Next::Failed(format!(
                "the create's outcome stayed unknown {MAX_CREATE_ATTEMPTS} times; no token of it is left live; \
                 run apply again"
            ));
        }
        // Not created: sending it again cannot make a duplicate. The intent stays recorded.
        if job.attempts == 0 {
            // A leftover intent from an earlier run that created nothing: start afresh.
            job.intent_at = None;
            if !self.clear_pending(&pending.address) {
                return self.ledger_failed();
            }
            return self.begin_create(job, address, spec);
        }
        job.attempts += 1;
        job.stage = Stage::Create;
        Next::Call(Call::Create(spec.api.post()))
    }

    /// The orphan of a create whose answer was lost (or held no secret): nobody has its
    /// secret, so it is deleted at once, then the list is read again (`Stage::DiscardLost`).
    /// The intent stays recorded until then, so a crash meanwhile leaves it to the next plan.
    pub(super) fn discard_lost(&mut self, job: &mut Job, id: &str) -> Next {
        self.claimed.insert(id.to_owned());
        self.progress.note(
            &super::subject(&job.step),
            &format!("Deleting token {id}, left by a create whose answer was lost (nobody has its secret)"),
        );
        job.new_id = Some(id.to_owned());
        job.stage = Stage::DiscardLost;
        Next::Call(Call::Delete(id.to_owned()))
    }

    /// A new token exists with its secret: seal, record, go on.
    pub(super) fn on_created(
        &mut self,
        job: &mut Job,
        address: &Address,
        spec: &TokenSpec,
        token: &Token,
        secret: &Secret,
    ) -> Next {
        let address = address.clone();
        if let Some(refused) = self.already_held(&address, &token.id, false) {
            // Not ours to delete either: whoever holds it keeps it. Its intent is settled.
            if !self.clear_pending(&address) {
                return self.ledger_failed();
            }
            return refused;
        }
        let now = jiff::Timestamp::now();
        let sealed = match self.ledger.seal(secret, &spec.state.recipients, now) {
            Ok(record) => record,
            Err(e) => {
                // A token nobody can read the secret of is worse than none: delete it.
                job.seal_error = Some(e.to_string());
                job.new_id = Some(token.id.clone());
                job.stage = Stage::DiscardNew;
                return Next::Call(Call::Delete(token.id.clone()));
            }
        };
        let mut record = self.token_state(token, None, Some(spec));
        record.secret = Some(sealed);
        // With sinks, the old generation is held (no expiry) until every sink has the new
        // secret; each delivered sink leaves `undelivered` as it reaches it.
        let sinks = job.step.change.deliveries();
        let hold = !sinks.is_empty();
        record.undelivered = sinks.iter().map(crate::deliver::Sink::describe).collect();
        // The old generation is listed as retiring before the address moves on, so a crash
        // between the two records can never leave it untracked.
        let retire = match &job.step.change {
            Change::Replace { token_id: old_id, create_before_destroy: true, .. } => {
                Some((old_id.clone(), now))
            }
            Change::Rotate { token_id: old_id, rotation, .. } => {
                let grace_seconds = &rotation.grace_seconds();
                // Never extend a hard expiry the old token already has.
                let own = self.ledger.state().tokens.get(&address).and_then(|t| t.expiry);
                // Checked before the create was sent; the start-time end covers the clock
                // moving past the range meanwhile.
                let grace_end = after(*grace_seconds).or(job.grace_end).unwrap_or(jiff::Timestamp::MAX);
                Some((old_id.clone(), own.map_or(grace_end, |own| own.min(grace_end))))
            }
            _ => None,
        };
        let old_expiry = self.ledger.state().tokens.get(&address).and_then(|t| t.expiry);
        let mut records = Vec::with_capacity(3);
        if let Some((old, expires_at)) = &retire
            && !self.ledger.state().retiring.iter().any(|r| &r.id == old)
        {
            let name = self.ledger.state().tokens.get(&address).map_or_else(String::new, |t| t.name.clone());
            let mut retiring = RetiringToken::new(address.clone(), old.clone(), name, *expires_at);
            if hold {
                // Held: its grace starts once the delivery completes; until then it may end
                // no later than its own hard expiry.
                retiring.held_grace_seconds = Some(match &job.step.change {
                    Change::Rotate { rotation, .. } => rotation.grace_seconds(),
                    _ => 0,
                });
                retiring.expires_at = old_expiry.unwrap_or(jiff::Timestamp::MAX);
            }
            records.push(JournalRecord::AddRetiring { retiring });
        }
        records.push(JournalRecord::Upsert { address: address.clone(), token: Box::new(record) });
        records.extend(self.pending_clear(&address));
        // One write: the old generation, the successor and the cleared intent land together.
        if !self.record(records) {
            return self.ledger_failed();
        }
        job.new_id = Some(token.id.clone());
        if hold {
            return super::delivery::check_new_secret(job, secret.clone());
        }
        match &job.step.change {
            Change::Replace { create_before_destroy: false, token_id: old_id, .. } => {
                self.counts.created += 1;
                self.counts.deleted += 1;
                let line = format!("Replacement complete [id={}, old id={old_id} deleted first]", token.id);
                self.finish(job, line)
            }
            Change::Rotate {
                rotation: Rotation::Replace { grace_seconds: 0, .. }, token_id: old_id, ..
            }
            | Change::Replace { token_id: old_id, .. } => {
                job.stage = Stage::DeleteOldAfter;
                Next::Call(Call::Delete(old_id.clone()))
            }
            Change::Rotate { token_id: old_id, .. } => {
                let expires = retire.map_or(now, |(_, at)| at);
                if old_expiry == Some(expires) {
                    // It already expires before the grace would end: nothing to set.
                    let old = format!("old id={old_id} expires at {}", plan_time(expires));
                    return self.finish_successor(job, &old);
                }
                // `add` sets a member whether or not the token already has an expiry (RFC 6902).
                let op = PatchOp::add("/expiry", serde_json::json!(expires.as_millisecond()));
                job.stage = Stage::ExpireOld;
                Next::Call(Call::Patch(old_id.clone(), vec![op]))
            }
            // A plain create: done.
            _ => {
                self.counts.created += 1;
                let line = format!("Creation complete [id={}]", token.id);
                self.finish(job, line)
            }
        }
    }

    /// A failure when live token `id` is already held in state (by anyone but `address`
    /// itself when `own_ok`: a refresh): one live id belongs to one address
    /// (`State::holder_of`), whatever the API answers. A new token is never held by anyone.
    fn already_held(&self, address: &Address, id: &str, own_ok: bool) -> Option<Next> {
        match self.ledger.state().holder_of(id) {
            Some(IdHolder::Token(a)) if own_ok && &a == address => None,
            Some(holder) => Some(Next::Failed(format!(
                "the API answered with token {id}, which {holder} already holds; not recorded at {address} \
                 (a live token belongs to one address)"
            ))),
            None => None,
        }
    }

    pub(super) fn finish_successor(&mut self, job: &mut Job, old: &str) -> Next {
        let new = job.new_id.clone().unwrap_or_default();
        let line = if let Change::Replace { .. } = &job.step.change {
            self.counts.created += 1;
            self.counts.deleted += 1;
            format!("Replacement complete [id={new}, {old}]")
        } else {
            self.counts.rotated += 1;
            format!("Rotation complete [id={new}, method=replace, {old}]")
        };
        self.finish(job, line)
    }

    pub(super) fn on_reset(&mut self, job: &mut Job, address: &Address, token: &Token) -> Next {
        let address = address.clone();
        let prev = self.ledger.state().tokens.get(&address).cloned();
        let mut record = self.token_state(token, prev.as_ref(), None);
        let extra: Vec<String> = prev.as_ref().and_then(|p| p.secret.as_ref()).map_or_else(Vec::new, |s| {
            // The token's own readers, beyond the state's: kept from the last secret.
            s.recipients.clone()
        });
        let secret = token.token.clone().filter(|s| s.expose().len() > 4);
        let sealed = secret.as_ref().map(|s| self.ledger.seal(s, &extra, jiff::Timestamp::now()));
        let (secret_record, failure) = match sealed {
            Some(Ok(r)) => (Some(r), None),
            Some(Err(e)) => (None, Some(format!("the new secret could not be encrypted ({e})"))),
            None => (None, Some("the reset answer held no secret".to_owned())),
        };
        record.secret = secret_record;
        // A new secret: what is left to deliver is this change's sinks, all of them.
        let sinks = job.step.change.deliveries();
        record.undelivered = sinks.iter().map(crate::deliver::Sink::describe).collect();
        if !self.record(vec![JournalRecord::Upsert { address, token: Box::new(record) }]) {
            return self.ledger_failed();
        }
        if let Some(f) = failure {
            return Next::Failed(format!("{f}; the old secret works until the grace ends: rotate again"));
        }
        job.new_id = Some(token.id.clone());
        if let (false, Some(secret)) = (sinks.is_empty(), secret) {
            return super::delivery::check_new_secret(job, secret);
        }
        self.counts.rotated += 1;
        let until = match (job.grace_end, &job.step.change) {
            (Some(t), _) => format!("until {}", plan_time(t)),
            (None, Change::Rotate { rotation, .. }) => format!("{}s more", rotation.grace_seconds()),
            (None, _) => "until the grace ends".to_owned(),
        };
        let line = format!("Rotation complete [id={}, method=reset, old secret works {until}]", token.id);
        self.finish(job, line)
    }

    pub(super) fn on_patched(&mut self, job: &Job, address: &Address, token: &Token) -> Next {
        let address = address.clone();
        let prev = self.ledger.state().tokens.get(&address).cloned();
        let record = self.token_state(token, prev.as_ref(), job.step.change.desired());
        if !self.record(vec![JournalRecord::Upsert { address, token: Box::new(record) }]) {
            return self.ledger_failed();
        }
        self.counts.updated += 1;
        Next::Done(format!("Modifications complete [id={}]", token.id))
    }

    /// An update that changes only what state remembers (`prevent_destroy`, role keys): no request.
    pub(super) fn update_state_only(&mut self, address: &Address, spec: &TokenSpec) -> Next {
        let Some(mut record) = self.ledger.state().tokens.get(address).cloned() else {
            return Next::Failed("an update of a token that is not in state".into());
        };
        stamp(&mut record, spec);
        let id = record.id.clone();
        if !self.record(vec![JournalRecord::Upsert { address: address.clone(), token: Box::new(record) }]) {
            return self.ledger_failed();
        }
        self.counts.updated += 1;
        Next::Done(format!("State updated [id={id}] (no API change)"))
    }

    /// The delete of a retire, an orphan, a managed or an unmanaged token.
    pub(super) fn on_deleted(&mut self, job: &Job) -> Next {
        match &job.step.change {
            Change::Retire { token_id: id } => {
                if !self.record(vec![JournalRecord::RemoveRetiring { id: id.clone() }]) {
                    return self.ledger_failed();
                }
                self.counts.retired += 1;
                Next::Done(format!("Retired old generation [id={id}]"))
            }
            Change::DiscardOrphan { token_id: id } => {
                if job.step.clears_intent
                    && let Some(address) = job.step.address.clone()
                    && !self.clear_pending(&address)
                {
                    return self.ledger_failed();
                }
                self.counts.discarded += 1;
                Next::Done(format!(
                    "Deleted orphan [id={id}] of an interrupted create (nobody had its secret)"
                ))
            }
            change => {
                // A managed token's record goes with it; an unmanaged token has none.
                let id = change.token_id().unwrap_or_default();
                let managed = job
                    .step
                    .address
                    .as_ref()
                    .filter(|a| self.ledger.state().tokens.get(*a).is_some_and(|t| t.id == id));
                if let Some(a) = managed.cloned()
                    && !self.record(vec![JournalRecord::Remove { address: a }])
                {
                    return self.ledger_failed();
                }
                self.counts.deleted += 1;
                Next::Done(format!("Destruction complete [id={id}]"))
            }
        }
    }

    /// The state record of a live token: secret and protection kept from `prev`; the
    /// configuration's role keys and protection flag where the spec is known.
    pub(super) fn token_state(
        &self,
        token: &Token,
        prev: Option<&TokenState>,
        spec: Option<&TokenSpec>,
    ) -> TokenState {
        let mut record = state_from_live(token, self.live, prev);
        if let Some(spec) = spec {
            stamp(&mut record, spec);
        }
        if let Some(p) = prev
            && p.custom_role_ids == record.custom_role_ids
            && spec.is_none()
        {
            record.custom_role_keys.clone_from(&p.custom_role_keys);
        }
        record
    }
}

/// What state records of the configuration on a token's record: its protection, the
/// custom role keys (in configuration order, when the token has exactly the configured
/// roles) and the API version the token was made with, where the live token does not say.
fn stamp(record: &mut TokenState, spec: &TokenSpec) {
    record.prevent_destroy = spec.state.prevent_destroy;
    let ids = spec.api.custom_role_ids();
    if sorted(&record.custom_role_ids) == sorted(&ids) {
        record.custom_role_keys = spec.api.custom_roles().iter().map(|r| r.key.clone()).collect();
        record.custom_role_ids = ids;
    }
    record.api_version = record.api_version.or(spec.api.api_version);
}

pub(super) fn sorted(ids: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = ids.iter().collect();
    v.sort();
    v
}

/// The token a replacement or a rotation by replace succeeds.
pub(super) fn old_id(change: &Change) -> &str {
    change.token_id().unwrap_or_default()
}

/// Now plus `seconds`; `None` past the end of time (a grace of thousands of years from a
/// hand-edited plan), never silently "now".
pub(super) fn after(seconds: u64) -> Option<jiff::Timestamp> {
    let secs = i64::try_from(seconds).ok()?;
    jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(secs)).ok()
}

/// A time as progress lines print it: UTC, to the second.
pub(super) fn plan_time(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The failure of a task whose grace cannot be expressed as a time: nothing was sent.
pub(super) fn grace_out_of_range(seconds: u64) -> Next {
    Next::Failed(format!(
        "a grace of {seconds}s ends past the year 9999: nothing was sent (rotation.grace is at most 365d)"
    ))
}
