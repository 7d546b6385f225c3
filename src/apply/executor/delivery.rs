//! A new secret's way to its consumers, inside the step that made it (`docs/spec.md` §10):
//! check that it authenticates, deliver it to every sink in order, recording each one, and
//! only then start the grace of the generations held for it. A failed check or delivery
//! ends the step there: nothing held is released, so the old secret keeps working with no
//! expiry, and the next plan rotates again (`Reason::DeliveryIncomplete`).

use std::fmt::Write as _;
use std::time::Duration;

use super::{Answer, Call, Delivery, Executor, Job, Next, Reply, Stage, subject};
use super::{CHECK_ATTEMPTS, answers::after, answers::grace_out_of_range, answers::plan_time};
use crate::api::model::PatchOp;
use crate::apply::ports::{CallError, ErrorClass, Ledger, TokenApi};
use crate::deliver::{DeliverError, Runner};
use crate::model::Address;
use crate::plan::model::{Change, Rotation};
use crate::secret::Secret;
use crate::state::JournalRecord;
use crate::state::model::RetiringToken;

/// `caller-identity` with `secret`, tried [`CHECK_ATTEMPTS`] times: a secret just issued may
/// take a moment to be accepted everywhere.
pub(super) async fn identify<A: TokenApi>(api: &A, secret: &Secret) -> Result<Option<String>, CallError> {
    let mut wait = Duration::from_millis(250);
    let mut tries = 1;
    loop {
        match api.identify(secret).await {
            Ok(id) => return Ok(id),
            Err(e) if tries >= CHECK_ATTEMPTS || e.class == ErrorClass::OutcomeUnknown => return Err(e),
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
                tries += 1;
            }
        }
    }
}

/// Runs one sink; a failure's message carries what the sink printed (already redacted).
pub(super) async fn run(sinks: &Runner, d: Delivery) -> Result<String, CallError> {
    let Delivery { sink, address, token_id, name, event, secret } = d;
    let subject = crate::deliver::Subject { address: &address, token_id: &token_id, name: &name, event };
    sinks.deliver(&sink, &subject, &secret).await.map_err(|e| CallError::failed(failure_text(&e)))
}

/// The error, then the sink's output indented below it.
fn failure_text(e: &DeliverError) -> String {
    let mut text = crate::secret::redact_secrets(&e.to_string());
    let output = e.output().trim_end();
    if !output.is_empty() {
        text.push_str("; it printed:");
        for line in output.lines() {
            let _ = write!(text, "\n    {line}");
        }
    }
    text
}

impl<A: TokenApi, L: Ledger> Executor<'_, A, L> {
    pub(super) fn on_check(&mut self, job: &mut Job, address: &Address, answer: Answer) -> Next {
        let want = job.new_id.clone().unwrap_or_default();
        match answer {
            Ok(Reply::Identity(Some(id))) if id != want => {
                not_delivered(job, &format!("the new secret authenticates as token {id}, not as {want}"))
            }
            Ok(Reply::Identity(_)) => self.next_delivery(job, address),
            Ok(_) => not_delivered(job, "internal error: the check got a reply of another kind"),
            Err(e) => not_delivered(
                job,
                &format!("the new secret does not authenticate after {CHECK_ATTEMPTS} tries ({})", e.message),
            ),
        }
    }

    /// Sends the next sink its secret, or, after the last, finishes the step.
    fn next_delivery(&mut self, job: &mut Job, address: &Address) -> Next {
        let sinks = job.step.change.deliveries();
        let (Some(sink), Some(secret)) = (sinks.get(job.sink).cloned(), job.secret.clone()) else {
            job.secret = None;
            let line = self.delivered_line(job);
            return self.finish(job, line);
        };
        let name = job
            .step
            .change
            .desired()
            .map(|d| d.api.name.clone())
            .or_else(|| self.ledger.state().tokens.get(address).map(|t| t.name.clone()))
            .unwrap_or_default();
        job.stage = Stage::Deliver;
        Next::Call(Call::Deliver(Box::new(Delivery {
            sink,
            address: address.clone(),
            token_id: job.new_id.clone().unwrap_or_default(),
            name,
            event: job.step.change.delivery_event().unwrap_or(crate::deliver::Event::Deliver),
            secret,
        })))
    }

    pub(super) fn on_delivered(&mut self, job: &mut Job, address: &Address, answer: Answer) -> Next {
        let Some(sink) = job.step.change.deliveries().get(job.sink).cloned() else {
            return not_delivered(job, "internal error: a delivery answer for no sink");
        };
        let what = sink.describe();
        let output = match answer {
            Ok(Reply::Delivered(output)) => output,
            Ok(_) => return not_delivered(job, "internal error: a delivery got a reply of another kind"),
            Err(e) => return not_delivered(job, &format!("delivery to {what} failed: {}", e.message)),
        };
        let mut note = format!("Delivered to {what}");
        for line in output.trim_end().lines() {
            let _ = write!(note, "\n    {line}");
        }
        self.progress.note(&subject(&job.step), &note);
        // Journaled at once: a crash after this sink never sends it this secret again.
        if let Some(mut token) = self.ledger.state().tokens.get(address).cloned() {
            if let Some(at) = token.undelivered.iter().position(|s| s == &what) {
                token.undelivered.remove(at);
            }
            if !self.record(vec![JournalRecord::Upsert { address: address.clone(), token: Box::new(token) }])
            {
                return self.ledger_failed();
            }
        }
        job.sink += 1;
        self.next_delivery(job, address)
    }

    /// The closing line of a step whose secret reached every sink.
    fn delivered_line(&mut self, job: &Job) -> String {
        let new = job.new_id.clone().unwrap_or_default();
        let n = job.step.change.deliveries().len();
        let delivered = format!("delivered to {n} sink{}", if n == 1 { "" } else { "s" });
        match &job.step.change {
            Change::Create { .. } => {
                self.counts.created += 1;
                format!("Creation complete [id={new}, {delivered}]")
            }
            Change::Replace { create_before_destroy, token_id, .. } => {
                self.counts.created += 1;
                self.counts.deleted += 1;
                if *create_before_destroy {
                    format!("Replacement complete [id={new}, {delivered}]")
                } else {
                    format!("Replacement complete [id={new}, {delivered}, old id={token_id} deleted first]")
                }
            }
            Change::Rotate { rotation: Rotation::Reset { grace_seconds }, .. } => {
                self.counts.rotated += 1;
                let until = job
                    .grace_end
                    .map_or_else(|| format!("{grace_seconds}s more"), |t| format!("until {}", plan_time(t)));
                format!("Rotation complete [id={new}, method=reset, {delivered}, old secret works {until}]")
            }
            _ => {
                self.counts.rotated += 1;
                format!("Rotation complete [id={new}, method=replace, {delivered}]")
            }
        }
    }

    /// The step's work is done: release the generations held at its address, then close
    /// with `line` (plus what the releases did).
    pub(super) fn finish(&mut self, job: &mut Job, line: String) -> Next {
        job.done_line = Some(line);
        self.next_release(job)
    }

    /// Starts the grace of the next generation held at the step's address (recording its end
    /// first, so a crash before the request leaves it to be retired then), or closes the step.
    fn next_release(&mut self, job: &mut Job) -> Next {
        loop {
            let held = job.step.address.as_ref().and_then(|address| {
                self.ledger.state().retiring.iter().find(|r| &r.address == address && r.is_held()).cloned()
            });
            let Some(r) = held else {
                let mut line = job.done_line.take().unwrap_or_default();
                if !job.released.is_empty() {
                    let notes = format!(", {}", job.released.join(", "));
                    match line.rfind(']') {
                        Some(at) => line.insert_str(at, &notes),
                        None => line.push_str(&notes),
                    }
                }
                return Next::Done(line);
            };
            let grace = r.held_grace_seconds.unwrap_or(0);
            let Some(end) = after(grace) else { return grace_out_of_range(grace) };
            // Never later than a hard expiry the old token already has.
            let end = end.min(r.expires_at);
            let released = RetiringToken { expires_at: end, held_grace_seconds: None, ..r.clone() };
            if !self.record(vec![JournalRecord::AddRetiring { retiring: released }]) {
                return self.ledger_failed();
            }
            job.releasing = Some(r.id.clone());
            job.stage = Stage::Release;
            if grace == 0 {
                return Next::Call(Call::Delete(r.id));
            }
            if end == r.expires_at {
                job.released.push(format!("old id={} expires at {}", r.id, plan_time(end)));
                continue;
            }
            let op = PatchOp::add("/expiry", serde_json::json!(end.as_millisecond()));
            return Next::Call(Call::Patch(r.id, vec![op]));
        }
    }

    pub(super) fn on_released(&mut self, job: &mut Job, answer: Answer) -> Next {
        let id = job.releasing.take().unwrap_or_default();
        let end = self.ledger.state().retiring.iter().find(|r| r.id == id).map(|r| r.expires_at);
        match answer {
            Ok(Reply::Deleted) => {
                if !self.record(vec![JournalRecord::RemoveRetiring { id: id.clone() }]) {
                    return self.ledger_failed();
                }
                job.released.push(format!("old id={id} deleted"));
            }
            Err(e) if e.class == ErrorClass::NotFound => {
                if !self.record(vec![JournalRecord::RemoveRetiring { id: id.clone() }]) {
                    return self.ledger_failed();
                }
                job.released.push(format!("old id={id} already gone"));
            }
            Ok(_) => job.released.push(match end {
                Some(at) => format!("old id={id} expires at {}", plan_time(at)),
                None => format!("old id={id} expiry set"),
            }),
            Err(e) => {
                return Next::Failed(format!(
                    "the new secret reached every sink, but ending old token {id} failed ({}); state records \
                     its grace as ending {}, when a later apply deletes it",
                    e.message,
                    end.map_or_else(|| "now".to_owned(), plan_time)
                ));
            }
        }
        self.next_release(job)
    }
}

/// The new secret is recorded: check it, then deliver it (a change with sinks).
pub(super) fn check_new_secret(job: &mut Job, secret: Secret) -> Next {
    job.secret = Some(secret.clone());
    job.sink = 0;
    job.stage = Stage::Check;
    Next::Call(Call::Identify(secret))
}

/// A failed check or delivery: the step fails, saying what keeps working and what the
/// next apply does. Nothing held is released.
fn not_delivered(job: &mut Job, why: &str) -> Next {
    job.secret = None;
    let new = job.new_id.clone().unwrap_or_default();
    let address = job.step.address.as_ref().map_or_else(String::new, ToString::to_string);
    let kept = match &job.step.change {
        Change::Create { .. } => format!(
            "token {new} is recorded in state with its secret, which not every sink has; the next apply \
             rotates it and delivers a new secret (or `tokenform deliver {address}` with the identity \
             delivers this one)"
        ),
        Change::Replace { create_before_destroy: false, token_id, .. } => format!(
            "the old token {token_id} was deleted first; the new one ({new}) is recorded in state; the next \
             apply rotates it and delivers a new secret"
        ),
        Change::Replace { token_id, .. } => format!(
            "the old token {token_id} is kept (not deleted) and keeps working; the next apply rotates again \
             and delivers a new secret"
        ),
        Change::Rotate { rotation: Rotation::Reset { .. }, .. } => format!(
            "a reset ends the old secret on its own clock ({}): deliver before then (the next apply resets \
             again and delivers, or `tokenform deliver {address}` with the identity)",
            job.grace_end
                .map_or_else(|| "at the end of its grace".to_owned(), |t| format!("at {}", plan_time(t)))
        ),
        Change::Rotate { token_id, .. } => format!(
            "the old secret ({token_id}) keeps working: no expiry was set; the next apply rotates again and \
             delivers a new secret, without needing the identity"
        ),
        _ => String::new(),
    };
    Next::Failed(format!("{why}. {kept}"))
}
