//! In-memory stand-ins for the token API and the state ledger, for the executor's unit
//! tests: they log every call, can lose answers, and measure concurrency.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::ports::{CallError, ErrorClass, Ledger, TokenApi};
use crate::api::model::{PatchOp, Token, TokenPost};
use crate::secret::Secret;
use crate::state::model::{SecretRecord, State};
use crate::state::{JournalRecord, StateError};

#[derive(Debug, Default)]
pub(super) struct FakeApi {
    pub tokens: RefCell<BTreeMap<String, Token>>,
    /// Secrets that authenticate, by token id (several while a grace runs).
    pub secrets: RefCell<Vec<(String, String)>>,
    pub log: RefCell<Vec<String>>,
    /// Every call and answer in time order: `-> what` when sent, `<- what` when answered.
    pub timeline: RefCell<Vec<String>>,
    pub next_id: Cell<u32>,
    pub in_flight: Cell<usize>,
    pub max_in_flight: Cell<usize>,
    pub delay: Duration,
    /// Names whose next create is performed but answered with "outcome unknown".
    pub lose_answer: RefCell<HashSet<String>>,
    /// Names whose next create is not performed and answered with "outcome unknown".
    pub drop_request: RefCell<HashSet<String>>,
    /// A broken server: every create answers with the same token id (and a fresh secret).
    pub canned: Cell<bool>,
    /// Names whose creates fail outright (422).
    pub reject: RefCell<HashSet<String>>,
    /// The next this many caller-identity checks answer 401 (a new secret not yet live).
    pub unauthenticated: Cell<u32>,
    pub member_id: String,
}

fn err(class: ErrorClass, m: &str) -> CallError {
    CallError { class, message: m.into() }
}

impl FakeApi {
    pub(super) fn new() -> Self {
        Self { delay: Duration::from_millis(2), member_id: "me".into(), ..Self::default() }
    }

    pub(super) fn seed(&self, name: &str) -> String {
        let t = self.make(name, &TokenPost { name: Some(name.into()), ..TokenPost::default() });
        let id = t.id.clone();
        self.tokens.borrow_mut().insert(id.clone(), t);
        id
    }

    fn make(&self, name: &str, body: &TokenPost) -> Token {
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        let id = if self.canned.get() { format!("{:024x}", 0x00ca_11ed) } else { format!("{n:024x}") };
        let secret = format!("api-00000000-0000-4000-8000-{n:012x}");
        self.secrets.borrow_mut().push((id.clone(), secret.clone()));
        let mut t: Token = serde_json::from_value(serde_json::json!({
            "_id": id, "ownerId": "o", "memberId": self.member_id, "name": name,
            "creationDate": jiff::Timestamp::now().as_millisecond(), "lastModified": 0, "_links": {},
            "serviceToken": body.service_token.unwrap_or(false)
        }))
        .unwrap();
        t.role = body.role.map(|r| r.as_str().to_owned());
        t.token = Some(Secret::new(secret));
        t
    }

    pub(super) fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tokens.borrow().values().map(|t| t.name().to_owned()).collect();
        v.sort();
        v
    }

    async fn enter(&self, what: String) {
        self.timeline.borrow_mut().push(format!("-> {what}"));
        self.log.borrow_mut().push(what.clone());
        self.in_flight.set(self.in_flight.get() + 1);
        self.max_in_flight.set(self.max_in_flight.get().max(self.in_flight.get()));
        tokio::time::sleep(self.delay).await;
        self.in_flight.set(self.in_flight.get() - 1);
        self.timeline.borrow_mut().push(format!("<- {what}"));
    }

    fn public(t: &Token) -> Token {
        let mut t = t.clone();
        t.token = Some(Secret::new("last"));
        t
    }
}

impl TokenApi for FakeApi {
    async fn create(&self, body: &TokenPost) -> Result<Token, CallError> {
        let name = body.name.clone().unwrap_or_default();
        self.enter(format!("POST {name}")).await;
        if self.reject.borrow().contains(&name) {
            return Err(err(ErrorClass::Failed, "422 invalid"));
        }
        if self.drop_request.borrow_mut().remove(&name) {
            return Err(err(ErrorClass::OutcomeUnknown, "connection reset before sending"));
        }
        let t = self.make(&name, body);
        self.tokens.borrow_mut().insert(t.id.clone(), Self::public(&t));
        if self.lose_answer.borrow_mut().remove(&name) {
            return Err(err(ErrorClass::OutcomeUnknown, "timed out"));
        }
        Ok(t)
    }

    async fn patch(&self, id: &str, ops: &[PatchOp]) -> Result<Token, CallError> {
        self.enter(format!(
            "PATCH {id} {}",
            ops.iter().map(|o| o.path.as_str()).collect::<Vec<_>>().join(",")
        ))
        .await;
        let mut tokens = self.tokens.borrow_mut();
        let t = tokens.get_mut(id).ok_or_else(|| err(ErrorClass::NotFound, "404"))?;
        for op in ops {
            match op.path.as_str() {
                "/role" => t.role = op.value.as_ref().and_then(|v| v.as_str()).map(str::to_owned),
                "/expiry" => t.expiry = op.value.as_ref().and_then(serde_json::Value::as_i64),
                "/name" => t.name = op.value.as_ref().and_then(|v| v.as_str()).map(str::to_owned),
                _ => {}
            }
        }
        Ok(t.clone())
    }

    async fn delete(&self, id: &str) -> Result<(), CallError> {
        self.enter(format!("DELETE {id}")).await;
        self.secrets.borrow_mut().retain(|(i, _)| i != id);
        self.tokens.borrow_mut().remove(id).map(|_| ()).ok_or_else(|| err(ErrorClass::NotFound, "404"))
    }

    async fn reset(&self, id: &str, expiry_ms: Option<i64>) -> Result<Token, CallError> {
        self.enter(format!("RESET {id} {}", expiry_ms.is_some())).await;
        let n = self.next_id.get() + 1;
        self.next_id.set(n);
        let secret = format!("api-00000000-0000-4000-8000-{n:012x}");
        self.secrets.borrow_mut().push((id.into(), secret.clone()));
        let mut t = self.tokens.borrow().get(id).cloned().ok_or_else(|| err(ErrorClass::NotFound, "404"))?;
        t.token = Some(Secret::new(secret));
        Ok(t)
    }

    async fn get(&self, id: &str) -> Result<Token, CallError> {
        self.enter(format!("GET {id}")).await;
        self.tokens.borrow().get(id).cloned().ok_or_else(|| err(ErrorClass::NotFound, "404"))
    }

    async fn list(&self) -> Result<Vec<Token>, CallError> {
        self.enter("LIST".into()).await;
        Ok(self.tokens.borrow().values().cloned().collect())
    }

    async fn identify(&self, secret: &Secret) -> Result<Option<String>, CallError> {
        self.enter("WHOAMI".into()).await;
        if self.unauthenticated.get() > 0 {
            self.unauthenticated.set(self.unauthenticated.get() - 1);
            return Err(err(ErrorClass::Failed, "401 unauthorized"));
        }
        let secrets = self.secrets.borrow();
        let found = secrets.iter().find(|(_, s)| s == secret.expose()).map(|(id, _)| id.clone());
        found.map(Some).ok_or_else(|| err(ErrorClass::Failed, "401 unauthorized"))
    }
}

/// A ledger over an in-memory state; "seals" by tagging the secret's last four.
#[derive(Debug, Default)]
pub(super) struct FakeLedger {
    pub state: State,
    pub journal: Vec<JournalRecord>,
    pub saves: usize,
    pub no_recipients: bool,
}

impl Ledger for FakeLedger {
    fn state(&self) -> &State {
        &self.state
    }

    fn seal(
        &self,
        secret: &Secret,
        extra: &[String],
        issued_at: jiff::Timestamp,
    ) -> Result<SecretRecord, StateError> {
        if self.no_recipients {
            return Err(StateError::NoRecipients { what: "a fake secret".into() });
        }
        Ok(SecretRecord {
            // Reversible for tests only: the fake's "ciphertext" is the secret itself.
            ciphertext: format!("FAKE:{}", secret.expose()),
            last4: secret.last4(),
            issued_at,
            recipients: extra.to_vec(),
        })
    }

    fn record(&mut self, record: JournalRecord) -> Result<(), StateError> {
        record.clone().apply_to(&mut self.state);
        self.journal.push(record);
        Ok(())
    }

    fn save(&mut self) -> Result<(), StateError> {
        self.saves += 1;
        self.state.serial += 1;
        Ok(())
    }
}

impl FakeLedger {
    /// The secret a state record holds (fake sealing is reversible).
    pub(super) fn secret_of(&self, address: &crate::model::Address) -> Option<String> {
        let rec = self.state.tokens.get(address)?.secret.as_ref()?;
        rec.ciphertext.strip_prefix("FAKE:").map(str::to_owned)
    }
}
