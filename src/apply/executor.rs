//! The executor: runs a plan's steps phase by phase, up to `parallelism` requests at once, and
//! records every successful mutation in the ledger as its answer arrives.
//!
//! Concurrency without shared state: all requests are futures polled by one task (a
//! `FuturesUnordered`), and only that task touches the ledger, so records are appended in
//! the order answers arrive and no lock is needed. Each task is a small state machine
//! ([`Stage`]); an answer moves it on and may issue its next request at once (the slot the
//! answer freed), so a task's own steps stay in order while unrelated tasks interleave.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::ports::{CallError, ErrorClass, Ledger, TokenApi};
use super::progress::{Counts, Progress, Subject};
use super::step::{Step, phases};
use crate::api::model::{Live, PatchOp, Token, TokenPost};
use crate::deliver::{Event, Runner, Sink};
use crate::model::Address;
use crate::plan::model::{Change, Rotation, TokenSpec};
use crate::render::stream::{HookAction, Resource};
use crate::secret::Secret;
use crate::state::model::PendingCreate;
use crate::state::{JournalRecord, StateError};

mod answers;
mod delivery;

use answers::{after, grace_out_of_range, old_id, plan_time};

/// How many times one create may be sent, each retry only after a list showed the
/// previous attempt created nothing.
pub const MAX_CREATE_ATTEMPTS: u8 = 3;

/// How many times a new secret is tried against `caller-identity` before apply concludes
/// it does not authenticate (waits of 0.25, 0.5, 1 and 2 s between tries).
pub const CHECK_ATTEMPTS: u32 = 5;

/// One failed task: what and why (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The address (or `token id …` for unmanaged tokens).
    pub label: String,
    pub message: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub counts: Counts,
    pub failures: Vec<StepFailure>,
    /// Ctrl-C (or a ledger failure) stopped the run before every task finished.
    pub interrupted: bool,
    /// Tasks never started because the run stopped.
    pub not_started: usize,
    /// Set when recording to the ledger failed: the run stopped at once.
    pub ledger_error: Option<String>,
}

enum Call {
    Create(TokenPost),
    Patch(String, Vec<PatchOp>),
    Delete(String),
    Reset(String, Option<i64>),
    Get(String),
    List,
    /// `caller-identity` with the new secret (retried briefly).
    Identify(Secret),
    /// One sink, with what its exec gets as metadata.
    Deliver(Box<Delivery>),
}

/// One delivery to run: the sink and everything it is told, owned by the request.
struct Delivery {
    sink: Sink,
    address: Address,
    token_id: String,
    name: String,
    event: Event,
    secret: Secret,
}

enum Reply {
    Token(Box<Token>),
    Deleted,
    Tokens(Vec<Token>),
    /// The token id the new secret authenticates as.
    Identity(Option<String>),
    /// What the sink printed (redacted, bounded).
    Delivered(String),
}

impl Call {
    /// What the request is for, in `apply_progress` lines (ids only, never a secret).
    fn describe(&self) -> String {
        match self {
            Call::Create(_) => "creating the new token".into(),
            Call::Patch(id, ops) if ops.iter().any(|op| op.path == "/expiry") => {
                format!("setting the expiry of id={id}")
            }
            Call::Patch(id, _) => format!("updating id={id}"),
            Call::Delete(id) => format!("deleting id={id}"),
            Call::Reset(id, _) => format!("resetting the secret of id={id}"),
            Call::Get(id) => format!("reading id={id}"),
            Call::List => "listing tokens to learn whether the create happened".into(),
            Call::Identify(_) => "checking that the new secret authenticates".into(),
            Call::Deliver(d) => format!("delivering to {}", d.sink.describe()),
        }
    }
}

/// What a step does, as the machine-readable stream names it.
pub(crate) fn hook_action(step: &Step) -> HookAction {
    match step.change {
        Change::Import { .. } => HookAction::Import,
        Change::Refresh { .. } => HookAction::Refresh,
        Change::Forget { .. } => HookAction::Forget,
        Change::Create { .. } => HookAction::Create,
        Change::Update { .. } => HookAction::Update,
        Change::Replace { .. } => HookAction::Replace,
        Change::Rotate { .. } => HookAction::Rotate,
        Change::Retire { .. } => HookAction::Retire,
        Change::Delete { .. } | Change::DiscardOrphan { .. } | Change::DeleteUnmanaged { .. } => {
            HookAction::Delete
        }
    }
}

/// The step as progress reports it.
pub(crate) fn subject(step: &Step) -> Subject {
    let id = match &step.change {
        Change::Create { .. } | Change::Forget { .. } => None,
        change => change.token_id(),
    };
    Subject { resource: Resource::new(step.address.as_ref(), id), action: hook_action(step) }
}

type Answer = Result<Reply, CallError>;
type InFlight<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = (usize, Answer)> + 'a>>>;

/// Where a task is: which answer it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Start,
    /// GET for import or refresh.
    Get,
    /// GET of the token state still holds for a create (it looked deleted outside).
    ConfirmGone,
    /// POST of a create (any task that makes a token).
    Create,
    /// A list to learn whether a create happened (lost answer, or a leftover intent).
    Reconcile,
    /// DELETE of the orphan a lost create answer left (nobody has its secret); then list again.
    DiscardLost,
    /// Replace without create_before_destroy: the old token goes first.
    DeleteOldFirst,
    /// After the new token is recorded: delete the old (create_before_destroy, grace 0).
    DeleteOldAfter,
    /// Rotation: PATCH `/expiry` on the old token.
    ExpireOld,
    /// The new token's secret could not be sealed: delete the token rather than keep it blind.
    DiscardNew,
    Reset,
    Patch,
    Delete,
    /// `caller-identity` with the new secret, before any sink gets it.
    Check,
    /// Sink number `Job::sink` is running.
    Deliver,
    /// Starting the grace of a generation held for this delivery (`Job::releasing`).
    Release,
}

struct Job {
    step: Step,
    stage: Stage,
    attempts: u8,
    intent_at: Option<jiff::Timestamp>,
    new_id: Option<String>,
    seal_error: Option<String>,
    /// Rotations: when the old secret stops working, as sent (or about to be).
    grace_end: Option<jiff::Timestamp>,
    /// The new secret, kept only while it is checked and delivered.
    secret: Option<Secret>,
    /// The next sink to deliver to (index into the change's deliveries).
    sink: usize,
    /// The held generation whose grace is being started.
    releasing: Option<String>,
    /// The step's closing line, waiting for the held generations to be released.
    done_line: Option<String>,
    /// What releasing held generations did (`old id=… expires at …`), for the closing line.
    released: Vec<String>,
}

enum Next {
    Call(Call),
    Done(String),
    Failed(String),
}

/// Runs the tasks. `interrupt` resolving means Ctrl-C: no new work starts, in-flight
/// answers are still recorded. The caller saves the ledger afterwards.
pub(crate) struct Executor<'a, A: TokenApi, L: Ledger> {
    pub api: &'a A,
    /// Runs the sinks of `deliver` blocks.
    pub sinks: &'a Runner,
    pub ledger: &'a mut L,
    pub live: &'a Live,
    pub parallelism: usize,
    pub progress: Progress,
    pub counts: Counts,
    pub failures: Vec<StepFailure>,
    /// Ids adopted during this run (not yet visible in a fresh `known_ids`).
    pub claimed: HashSet<String>,
    /// Tokens ([`Step::key`]) with a step in flight.
    pub busy: HashSet<String>,
    /// Tokens a task failed for: their later tasks are skipped.
    pub failed: HashSet<String>,
    pub fatal: Option<StateError>,
}

impl<'a, A: TokenApi, L: Ledger> Executor<'a, A, L> {
    pub fn new(
        api: &'a A,
        sinks: &'a Runner,
        ledger: &'a mut L,
        live: &'a Live,
        parallelism: usize,
        progress: Progress,
    ) -> Self {
        Self {
            api,
            sinks,
            ledger,
            live,
            parallelism: parallelism.max(1),
            progress,
            counts: Counts::default(),
            failures: Vec::new(),
            claimed: HashSet::new(),
            busy: HashSet::new(),
            failed: HashSet::new(),
            fatal: None,
        }
    }

    /// Executes `tasks`, phase after phase.
    pub async fn run(mut self, steps: Vec<Step>, interrupt: impl Future<Output = ()>) -> Report {
        let order = phases(&steps);
        let mut jobs: Vec<Job> = steps
            .into_iter()
            .map(|step| Job {
                step,
                stage: Stage::Start,
                attempts: 0,
                intent_at: None,
                new_id: None,
                seal_error: None,
                grace_end: None,
                secret: None,
                sink: 0,
                releasing: None,
                done_line: None,
                released: Vec::new(),
            })
            .collect();
        let mut interrupt = std::pin::pin!(interrupt);
        let mut interrupted = false;
        let mut not_started = 0;
        let api = self.api;
        let sinks = self.sinks;
        for phase in order {
            let mut ready: VecDeque<usize> = phase.into();
            let mut inflight: InFlight<'a> = FuturesUnordered::new();
            loop {
                while !interrupted && self.fatal.is_none() && inflight.len() < self.parallelism {
                    // Tasks of one token run one after another, in plan order (an update, then
                    // the rotation of the same token); the first task whose token is free starts.
                    let Some(pos) = ready.iter().position(|&i| !self.busy.contains(&jobs[i].step.key()))
                    else {
                        break;
                    };
                    let Some(i) = ready.remove(pos) else { break };
                    let key = jobs[i].step.key();
                    if self.failed.contains(&key) {
                        let step = jobs[i].step.clone();
                        self.fail(&step, "skipped: an earlier step for this token failed".into());
                        continue;
                    }
                    self.busy.insert(key);
                    self.progress.begin(&subject(&jobs[i].step));
                    let next = self.start(&mut jobs[i]);
                    self.dispatch((api, sinks), &mut inflight, &mut jobs[i], i, next, false);
                }
                if inflight.is_empty() {
                    break;
                }
                tokio::select! {
                    biased;
                    Some((i, answer)) = inflight.next() => {
                        let next = self.on_answer(&mut jobs[i], answer);
                        let stop = interrupted || self.fatal.is_some();
                        if let (Next::Call(call), false) = (&next, stop) {
                            self.progress.step(&subject(&jobs[i].step), &call.describe());
                        }
                        self.dispatch((api, sinks), &mut inflight, &mut jobs[i], i, next, stop);
                    }
                    () = &mut interrupt, if !interrupted => {
                        interrupted = true;
                        self.progress.write(&format!(
                            "Interrupt received: waiting for {} request(s) in flight, then saving state.",
                            inflight.len()
                        ));
                    }
                }
            }
            // After a stop, later phases start nothing either (deletes come last for a reason):
            // the loop above starts no job, so their tasks count as not started.
            not_started += ready.len();
        }
        Report {
            counts: self.counts,
            failures: self.failures,
            interrupted: interrupted || self.fatal.is_some(),
            not_started,
            ledger_error: self.fatal.map(|e| e.to_string()),
        }
    }

    fn dispatch(
        &mut self,
        (api, sinks): (&'a A, &'a Runner),
        inflight: &mut InFlight<'a>,
        job: &mut Job,
        i: usize,
        next: Next,
        stop: bool,
    ) {
        let key = job.step.key();
        if !matches!(next, Next::Call(_)) || stop {
            // The step is over: its secret is no longer needed.
            job.secret = None;
        }
        match next {
            Next::Call(call) if !stop => {
                inflight.push(request(api, sinks, i, call));
                return;
            }
            Next::Call(_) => {
                self.fail(
                    &job.step,
                    "interrupted before its next step; the next plan shows what is left".into(),
                );
            }
            Next::Done(line) => {
                let id = self.left_id(&job.step);
                self.progress.done(&subject(&job.step), id.as_deref(), &line);
            }
            Next::Failed(message) => {
                self.fail(&job.step, message);
                self.failed.insert(key.clone());
            }
        }
        self.busy.remove(&key);
    }

    fn fail(&mut self, step: &Step, message: String) {
        self.progress.errored(&subject(step), &message);
        self.failures.push(StepFailure { label: step.label(), message });
    }

    /// The token a finished step leaves: the one it deleted, or the one now recorded at its
    /// address (none for a forget).
    fn left_id(&self, step: &Step) -> Option<String> {
        match hook_action(step) {
            HookAction::Forget => None,
            HookAction::Delete | HookAction::Retire => step.ends().map(str::to_owned),
            _ => step.address.as_ref().and_then(|a| self.ledger.state().tokens.get(a)).map(|t| t.id.clone()),
        }
    }

    /// Records (one journal write and fsync for the batch); a ledger failure stops the run
    /// (nothing more may happen unrecorded).
    fn record(&mut self, records: Vec<JournalRecord>) -> bool {
        if self.fatal.is_some() {
            return false;
        }
        if records.is_empty() {
            return true;
        }
        match self.ledger.record_all(records) {
            Ok(()) => true,
            Err(e) => {
                self.fatal = Some(e);
                false
            }
        }
    }

    fn ledger_failed(&self) -> Next {
        Next::Failed(format!(
            "could not record in state: {}",
            self.fatal.as_ref().map_or_else(String::new, ToString::to_string)
        ))
    }

    fn start(&mut self, job: &mut Job) -> Next {
        let Some(address) = job.step.address.clone() else {
            // Only an unmanaged token has no address (the planner makes it so, and
            // `Plan::from_json` refuses a plan file that says otherwise).
            return match &job.step.change {
                Change::DeleteUnmanaged { token_id } => {
                    job.stage = Stage::Delete;
                    Next::Call(Call::Delete(token_id.clone()))
                }
                // Unreachable from a plan: kept as a failed step rather than a panic.
                change => Next::Failed(format!(
                    "not run: a {:?} change without the address it is for",
                    change.kind()
                )),
            };
        };
        match job.step.change.clone() {
            Change::Import { token_id, .. } | Change::Refresh { token_id } => {
                job.stage = Stage::Get;
                Next::Call(Call::Get(token_id))
            }
            Change::Forget { .. } => {
                if self.ledger.state().tokens.contains_key(&address)
                    && !self.record(vec![JournalRecord::Remove { address: address.clone() }])
                {
                    return self.ledger_failed();
                }
                if !self.clear_pending(&address) {
                    return self.ledger_failed();
                }
                self.counts.forgotten += 1;
                Next::Done("Removed from state (the live token is kept)".into())
            }
            Change::Create { desired, .. } => {
                // State still holds a token here: the plan says it was deleted outside. A list
                // that cannot see it (another member's personal token, a service-token caller)
                // must not lead to a duplicate: make sure it is gone first.
                if let Some(old) = self.ledger.state().tokens.get(&address) {
                    job.stage = Stage::ConfirmGone;
                    return Next::Call(Call::Get(old.id.clone()));
                }
                self.begin_create(job, &address, &desired)
            }
            Change::Rotate { rotation: Rotation::Replace { grace_seconds, desired }, .. } => {
                let Some(end) = after(grace_seconds) else { return grace_out_of_range(grace_seconds) };
                job.grace_end = Some(end);
                self.begin_create(job, &address, &desired)
            }
            Change::Replace { create_before_destroy: true, desired, .. } => {
                self.begin_create(job, &address, &desired)
            }
            Change::Replace { token_id, .. } => {
                job.stage = Stage::DeleteOldFirst;
                Next::Call(Call::Delete(token_id))
            }
            Change::Update { patch, desired, .. } if patch.is_empty() => {
                self.update_state_only(&address, &desired)
            }
            Change::Update { token_id, patch, .. } => {
                job.stage = Stage::Patch;
                Next::Call(Call::Patch(token_id, patch))
            }
            Change::Rotate { token_id, rotation: Rotation::Reset { grace_seconds }, .. } => {
                job.stage = Stage::Reset;
                let Some(end) = after(grace_seconds) else { return grace_out_of_range(grace_seconds) };
                job.grace_end = Some(end);
                Next::Call(Call::Reset(token_id, Some(end.as_millisecond())))
            }
            Change::Retire { token_id }
            | Change::Delete { token_id }
            | Change::DiscardOrphan { token_id }
            | Change::DeleteUnmanaged { token_id } => {
                job.stage = Stage::Delete;
                Next::Call(Call::Delete(token_id))
            }
        }
    }

    /// Journals the intent, then POSTs `spec`. A leftover intent from an earlier run for the
    /// same address is reconciled first: its token may exist.
    fn begin_create(&mut self, job: &mut Job, address: &Address, spec: &TokenSpec) -> Next {
        if job.intent_at.is_none()
            && let Some(p) = self.ledger.state().pending_creates.iter().find(|p| &p.address == address)
        {
            job.intent_at = Some(p.intent_at);
            job.stage = Stage::Reconcile;
            return Next::Call(Call::List);
        }
        let intent_at = *job.intent_at.get_or_insert_with(jiff::Timestamp::now);
        let pending = PendingCreate {
            address: address.clone(),
            name: spec.api.name.clone(),
            intent_at,
            member_id: self.live.caller.member_id.clone(),
        };
        if !self.record(vec![JournalRecord::PendingCreate { pending }]) {
            return self.ledger_failed();
        }
        job.attempts += 1;
        job.stage = Stage::Create;
        Next::Call(Call::Create(spec.api.post()))
    }

    fn clear_pending(&mut self, address: &Address) -> bool {
        let clear = self.pending_clear(address);
        self.record(clear.into_iter().collect())
    }

    /// The record that drops `address`'s create intent, if it has one.
    fn pending_clear(&self, address: &Address) -> Option<JournalRecord> {
        self.ledger
            .state()
            .pending_creates
            .iter()
            .any(|p| &p.address == address)
            .then(|| JournalRecord::ClearPending { address: address.clone() })
    }

    fn on_answer(&mut self, job: &mut Job, answer: Answer) -> Next {
        let Some(address) = job.step.address.clone() else {
            // An unmanaged token: its one request is the delete (gone already is as good).
            return match answer {
                Err(e) if e.class != ErrorClass::NotFound => Next::Failed(e.message),
                _ => self.on_deleted(job),
            };
        };
        // What a create-like step makes (create, replace, rotate by replace).
        let making = job.step.change.new_token().cloned();
        let stage = job.stage;
        match (stage, answer, making) {
            // A delete whose target is already gone has done its job.
            (Stage::DeleteOldFirst | Stage::DeleteOldAfter, Err(e), _) if e.class == ErrorClass::NotFound => {
                self.on_answer(job, Ok(Reply::Deleted))
            }
            (Stage::Check, answer, _) => self.on_check(job, &address, answer),
            (Stage::Deliver, answer, _) => self.on_delivered(job, &address, answer),
            (Stage::Release, answer, _) => self.on_released(job, answer),
            (Stage::Get, Ok(Reply::Token(token)), _) => self.on_get(job, &address, &token),
            (Stage::ConfirmGone, Err(e), Some(spec)) if e.class == ErrorClass::NotFound => {
                self.begin_create(job, &address, &spec)
            }
            (Stage::ConfirmGone, Ok(Reply::Token(token)), _) => Next::Failed(format!(
                "token {} is still live, but the token list did not show it, so it was planned as \
                 deleted; not creating a duplicate (a service token's list hides personal tokens: \
                 set `unmanaged {{ personal = true }}` so tokenform lists with showAll)",
                token.id
            )),
            (Stage::Get, Err(e), _) if e.class == ErrorClass::NotFound => {
                if !matches!(job.step.change, Change::Refresh { .. }) {
                    return Next::Failed(format!("no live token has this id ({})", e.message));
                }
                if !self.record(vec![JournalRecord::Remove { address }]) {
                    return self.ledger_failed();
                }
                self.counts.forgotten += 1;
                Next::Done("Gone live; removed from state".into())
            }
            (Stage::Create, Ok(Reply::Token(token)), Some(spec)) => {
                match token.token.clone().filter(|s| s.expose().len() > 4) {
                    Some(secret) => self.on_created(job, &address, &spec, &token, &secret),
                    // A token whose secret never arrived is an orphan like any other.
                    None => self.discard_lost(job, &token.id),
                }
            }
            (Stage::Create, Err(e), _) if e.class == ErrorClass::OutcomeUnknown => {
                job.stage = Stage::Reconcile;
                Next::Call(Call::List)
            }
            (Stage::Create, Err(e), _) => {
                // A definite failure: nothing was created.
                if !self.clear_pending(&address) {
                    return self.ledger_failed();
                }
                Next::Failed(e.message)
            }
            (Stage::Reconcile, Ok(Reply::Tokens(live)), Some(spec)) => {
                self.on_reconcile(job, &address, &spec, &live)
            }
            (Stage::DiscardLost, Err(e), _) if e.class == ErrorClass::NotFound => {
                self.on_answer(job, Ok(Reply::Deleted))
            }
            (Stage::DiscardLost, Ok(Reply::Deleted), _) => {
                // Gone: list again, for another orphan or to learn that a create may be sent.
                self.counts.discarded += 1;
                job.stage = Stage::Reconcile;
                Next::Call(Call::List)
            }
            (Stage::DiscardLost, Err(e), _) => Next::Failed(format!(
                "a create's answer was lost and the token it made ({}) could not be deleted ({}); \
                 the intent stays recorded and the next plan deletes it",
                job.new_id.as_deref().unwrap_or("?"),
                e.message
            )),
            (Stage::Reconcile, Err(e), _) => Next::Failed(format!(
                "a create's outcome is unknown and the token list could not be read ({}); \
                 the intent stays recorded and the next apply reconciles it",
                e.message
            )),
            (Stage::DeleteOldFirst, Ok(Reply::Deleted), Some(spec)) => {
                if !self.record(vec![JournalRecord::Remove { address: address.clone() }]) {
                    return self.ledger_failed();
                }
                self.begin_create(job, &address, &spec)
            }
            (Stage::DeleteOldAfter, Ok(Reply::Deleted), _) => {
                let old = old_id(&job.step.change).to_owned();
                if !self.record(vec![JournalRecord::RemoveRetiring { id: old.clone() }]) {
                    return self.ledger_failed();
                }
                self.finish_successor(job, &format!("old id={old} deleted"))
            }
            (Stage::DeleteOldAfter, Err(e), _) => Next::Failed(format!(
                "the new token is recorded, but deleting the old one failed ({}); \
                 it stays listed as retiring and a later apply deletes it",
                e.message
            )),
            (Stage::ExpireOld, Ok(_), _) => {
                let old_id = old_id(&job.step.change);
                // What was sent: the retiring record holds the expiry the PATCH carried.
                let sent = self.ledger.state().retiring.iter().find(|r| r.id == old_id).map(|r| r.expires_at);
                let old = match sent {
                    Some(at) => format!("old id={old_id} expires at {}", plan_time(at)),
                    None => format!("old id={old_id} expiry set"),
                };
                self.finish_successor(job, &old)
            }
            (Stage::ExpireOld, Err(e), _) if e.class == ErrorClass::NotFound => {
                let old = old_id(&job.step.change).to_owned();
                if !self.record(vec![JournalRecord::RemoveRetiring { id: old.clone() }]) {
                    return self.ledger_failed();
                }
                self.finish_successor(job, &format!("old id={old} already gone"))
            }
            (Stage::ExpireOld, Err(e), _) => Next::Failed(format!(
                "the new token is recorded, but setting the old token's expiry failed ({}); \
                 a later apply deletes it after the grace",
                e.message
            )),
            (Stage::DiscardNew, answer, _) => {
                let why = job.seal_error.clone().unwrap_or_default();
                let id = job.new_id.clone().unwrap_or_default();
                match answer {
                    Ok(_) => {
                        if !self.clear_pending(&address) {
                            return self.ledger_failed();
                        }
                        Next::Failed(format!(
                            "the new secret could not be encrypted ({why}); token {id} was deleted"
                        ))
                    }
                    Err(e) => Next::Failed(format!(
                        "the new secret could not be encrypted ({why}) and token {id} could not be deleted ({}); \
                         the next apply adopts it",
                        e.message
                    )),
                }
            }
            (Stage::Reset, Ok(Reply::Token(token)), _) => self.on_reset(job, &address, &token),
            (Stage::Reset, Err(e), _) if e.class == ErrorClass::OutcomeUnknown => Next::Failed(format!(
                "the reset's outcome is unknown ({}); if it happened, the stored secret stops working \
                 after the grace: rotate again",
                e.message
            )),
            (Stage::Patch, Ok(Reply::Token(token)), _) => self.on_patched(job, &address, &token),
            (Stage::Delete, Ok(Reply::Deleted), _) => self.on_deleted(job),
            (Stage::Delete, Err(e), _) if e.class == ErrorClass::NotFound => self.on_deleted(job),
            (_, Err(e), _) => Next::Failed(e.message),
            // Each stage sends one kind of request and the replies above are its answers;
            // the create stages belong to changes that make a token.
            (stage, Ok(_), _) => Next::Failed(format!(
                "internal error: a {stage:?} reply does not fit this step; nothing more was sent"
            )),
        }
    }
}

fn request<'a, A: TokenApi>(
    api: &'a A,
    sinks: &'a Runner,
    i: usize,
    call: Call,
) -> Pin<Box<dyn Future<Output = (usize, Answer)> + 'a>> {
    Box::pin(async move {
        let answer = match call {
            Call::Create(body) => api.create(&body).await.map(|t| Reply::Token(Box::new(t))),
            Call::Patch(id, ops) => api.patch(&id, &ops).await.map(|t| Reply::Token(Box::new(t))),
            Call::Delete(id) => api.delete(&id).await.map(|()| Reply::Deleted),
            Call::Reset(id, expiry) => api.reset(&id, expiry).await.map(|t| Reply::Token(Box::new(t))),
            Call::Get(id) => api.get(&id).await.map(|t| Reply::Token(Box::new(t))),
            Call::List => api.list().await.map(Reply::Tokens),
            Call::Identify(secret) => delivery::identify(api, &secret).await.map(Reply::Identity),
            Call::Deliver(d) => delivery::run(sinks, *d).await.map(Reply::Delivered),
        };
        (i, answer)
    })
}
