//! Test fixtures: builders for a configuration, a state and a live snapshot that agree,
//! so each planner test states only the difference it is about. Test-only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::api::model::{CallerIdentity, CustomRole, Live, Token};
use crate::config::{Config, DesiredToken, Rotation};
use crate::model::{Access, Address, Role, RotationMethod};
use crate::plan::refresh::state_from_live;
use crate::plan::{Plan, PlanError, PlanOptions};
use crate::state::model::{RetiringToken, SecretRecord, State};

/// The member tokenform authenticates as, and its own token.
pub(crate) const CALLER_MEMBER: &str = "m0000000000000000000000a";
pub(crate) const CALLER_TOKEN: &str = "c0000000000000000000000c";

/// 2027-01-15T08:00:00Z: the planner's clock in every test.
pub(crate) fn now() -> jiff::Timestamp {
    "2027-01-15T08:00:00Z".parse().unwrap()
}

pub(crate) fn days(n: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(24 * n)
}

/// A 24-hex id from a small number.
pub(crate) fn id(n: u64) -> String {
    format!("{n:024x}")
}

/// A desired service token `label`, role reader, nothing else set.
pub(crate) fn desired(label: &str) -> DesiredToken {
    DesiredToken {
        service_token: true,
        ..DesiredToken::new(Address::new(label), label, Access::Role(Role::Reader))
    }
}

pub(crate) fn rotation(every: &str, method: RotationMethod) -> Rotation {
    Rotation { every: crate::model::parse_duration(every).unwrap(), grace: Duration::from_hours(1), method }
}

/// A live token as the API shows it for `d` (service token of the caller's account).
pub(crate) fn live_for(d: &DesiredToken, token_id: &str, roles: &Live) -> Token {
    let (role, custom, inline) = match &d.access {
        Access::Role(r) => (Some(r.as_str().to_owned()), None, None),
        Access::CustomRoles(keys) => {
            (None, Some(keys.iter().map(|k| roles.role_id(k).unwrap().to_owned()).collect()), None)
        }
        Access::Policy(p) => (None, None, Some(p.clone())),
    };
    Token {
        id: token_id.to_owned(),
        owner_id: "o".into(),
        member_id: CALLER_MEMBER.into(),
        member: None,
        name: Some(d.name.clone()),
        description: d.description.clone(),
        creation_date: (now() - days(30)).as_millisecond(),
        last_modified: (now() - days(30)).as_millisecond(),
        last_used: None,
        custom_role_ids: custom,
        inline_role: inline,
        role,
        token: None,
        service_token: d.service_token,
        default_api_version: d.api_version.map(i64::from).or(Some(20_240_415)),
        expiry: d.expires_at.map(jiff::Timestamp::as_millisecond),
        links: serde_json::Value::Null,
    }
}

/// A fake sealed secret (the planner reads only `issued_at`).
pub(crate) fn secret(issued_at: jiff::Timestamp) -> SecretRecord {
    SecretRecord {
        ciphertext: "-----BEGIN AGE ENCRYPTED FILE-----\n-----END AGE ENCRYPTED FILE-----\n".into(),
        last4: "beef".into(),
        issued_at,
        recipients: vec!["age1example".into()],
    }
}

/// Configuration, state and live snapshot, built to agree and then bent by each test.
#[derive(Debug, Clone)]
pub(crate) struct World {
    pub config: Config,
    pub state: State,
    pub live: Live,
    next_id: u64,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub(crate) fn new() -> Self {
        let mut state = State::new();
        state.lineage = "00000000-0000-4000-8000-000000000001".into();
        state.serial = 7;
        let mut config = Config::empty("/cfg");
        config.digest = "d1g3st".into();
        let mut live = Live {
            caller: CallerIdentity {
                token_id: Some(CALLER_TOKEN.into()),
                member_id: Some(CALLER_MEMBER.into()),
                ..CallerIdentity::default()
            },
            ..Live::default()
        };
        for (n, key) in ["deploy-staging", "deploy-production"].into_iter().enumerate() {
            live.custom_roles.insert(
                key.into(),
                CustomRole {
                    id: format!("r{n:023x}"),
                    key: key.into(),
                    name: key.into(),
                    description: None,
                    policy: Vec::new(),
                    links: serde_json::Value::Null,
                },
            );
        }
        Self { config, state, live, next_id: 1 }
    }

    pub(crate) fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        id(self.next_id)
    }

    /// Declares `d` in configuration only.
    pub(crate) fn declare(&mut self, d: DesiredToken) -> &mut Self {
        self.config.tokens.insert(d.address.clone(), d);
        self
    }

    /// A live token nobody manages.
    pub(crate) fn live_only(&mut self, d: &DesiredToken) -> String {
        let token_id = self.fresh_id();
        let token = live_for(d, &token_id, &self.live);
        self.live.tokens.push(token);
        token_id
    }

    /// `d` declared, live and in state, all agreeing; the secret issued a day ago. Returns the id.
    pub(crate) fn managed(&mut self, d: DesiredToken) -> String {
        let token_id = self.live_only(&d);
        let token = self.live.token(&token_id).unwrap().clone();
        let mut ts = state_from_live(&token, &self.live, None);
        ts.api_version = d.api_version;
        ts.prevent_destroy = d.lifecycle.prevent_destroy;
        ts.secret = Some(secret(now() - days(1)));
        self.state.tokens.insert(d.address.clone(), ts);
        self.declare(d);
        token_id
    }

    pub(crate) fn live_mut(&mut self, token_id: &str) -> &mut Token {
        self.live.tokens.iter_mut().find(|t| t.id == token_id).unwrap()
    }

    pub(crate) fn plan_with(&self, opts: &PlanOptions) -> Result<Plan, PlanError> {
        crate::plan::plan(&self.config, &self.state, &self.live, now(), opts)
    }

    pub(crate) fn plan(&self) -> Plan {
        self.plan_with(&PlanOptions::default()).unwrap()
    }
}

/// An old generation of `address` working until `expires_at`.
pub(crate) fn retiring(
    address: &str,
    token_id: &str,
    name: &str,
    expires_at: jiff::Timestamp,
) -> RetiringToken {
    RetiringToken {
        address: address.parse().unwrap(),
        id: token_id.to_owned(),
        name: name.to_owned(),
        expires_at,
        held_grace_seconds: None,
    }
}

/// `deliver "exec" { command = ["gh", "secret", "set", NAME, "--repo", "acme/app"] }`.
pub(crate) fn gh_sink(name: &str) -> crate::deliver::Sink {
    crate::deliver::Sink::Exec(crate::deliver::ExecSink {
        command: ["gh", "secret", "set", name, "--repo", "acme/app"].map(String::from).to_vec(),
        timeout_seconds: crate::deliver::DEFAULT_TIMEOUT_SECONDS,
    })
}

/// `deliver "file" { path = PATH, format = "dotenv" }` with key `LD_API_TOKEN`.
pub(crate) fn file_sink(path: &str) -> crate::deliver::Sink {
    crate::deliver::Sink::File(crate::deliver::FileSink {
        path: path.into(),
        format: crate::deliver::FileFormat::Dotenv,
        key: "LD_API_TOKEN".into(),
    })
}

/// A world whose plan holds every action kind, drift of both kinds and a warning: the
/// renderers' snapshot fixture.
pub(crate) fn every_action_world() -> World {
    use crate::config::{ImportBlock, RemovedBlock, UnmanagedMode};
    use crate::model::{Effect, Statement, TokenField};
    let mut w = World::new();
    w.config.unmanaged.mode = UnmanagedMode::Delete;
    // import + update
    let mut legacy = desired("legacy");
    let legacy_id = w.live_only(&legacy);
    legacy.description = Some("adopted from the old script".into());
    w.declare(legacy);
    w.config.imports.push(ImportBlock { to: "token.legacy".parse().unwrap(), id: legacy_id });
    // create (with custom roles, for_each style address)
    let mut deploy = desired("deploy");
    deploy.address = Address::keyed("deploy", "staging");
    deploy.name = "deploy-staging".into();
    deploy.description = Some("Deploys to staging".into());
    deploy.access = Access::CustomRoles(vec!["deploy-staging".into()]);
    deploy.expires_at = Some("2027-06-01T00:00:00Z".parse().unwrap());
    deploy.deliver = vec![gh_sink("LD_DEPLOY_TOKEN"), file_sink("out/deploy.env")];
    w.declare(deploy);
    // re-create (deleted outside)
    let gone = w.managed(desired("ci_writer"));
    w.live.tokens.retain(|t| t.id != gone);
    // update: changed outside (role), and a policy change in config
    let edited = w.managed(desired("ci_reader"));
    w.live_mut(&edited).role = Some("admin".into());
    let stmt = |a: &str| Statement {
        effect: Effect::Allow,
        actions: Some(vec![a.into()]),
        resources: Some(vec!["proj/*".into()]),
        not_actions: None,
        not_resources: None,
    };
    let mut auditor = desired("auditor");
    auditor.access = Access::Policy(vec![stmt("viewProject")]);
    w.managed(auditor);
    w.config.tokens.get_mut(&"token.auditor".parse().unwrap()).unwrap().access =
        Access::Policy(vec![stmt("viewProject"), stmt("viewAuditLog")]);
    // ignored drift
    let mut quiet = desired("quiet");
    quiet.lifecycle.ignore_changes = vec![TokenField::Description];
    let quiet_id = w.managed(quiet);
    w.live_mut(&quiet_id).description = Some("edited by hand".into());
    // replace, create before destroy
    let mut personal = desired("personal");
    personal.lifecycle.create_before_destroy = true;
    personal.deliver = vec![file_sink("out/personal.env")];
    w.managed(personal);
    w.config.tokens.get_mut(&"token.personal".parse().unwrap()).unwrap().service_token = false;
    // rotate (due)
    let mut rotating = desired("rotating");
    rotating.rotation = Some(rotation("1d", RotationMethod::Replace));
    rotating.deliver = vec![gh_sink("LD_API_TOKEN")];
    w.managed(rotating);
    // retire
    let old = w.live_only(&desired("rotating"));
    w.state.retiring.push(retiring("token.rotating", &old, "rotating", now() - days(1)));
    // delete (removed from config), forget (removed block)
    w.managed(desired("old"));
    w.config.tokens.remove(&"token.old".parse().unwrap());
    w.managed(desired("handed_over"));
    w.config.tokens.remove(&"token.handed_over".parse().unwrap());
    w.config.removed.push(RemovedBlock { from: "token.handed_over".parse().unwrap(), destroy: false });
    // unmanaged delete
    w.live_only(&desired("stray-bot"));
    // the orphan of a rotation's create whose answer was lost
    let orphan = w.live_only(&desired("rotating"));
    w.live_mut(&orphan).creation_date = now().as_millisecond();
    w.state.pending_creates.push(crate::state::model::PendingCreate {
        address: "token.rotating".parse().unwrap(),
        name: "rotating".into(),
        intent_at: now(),
        member_id: Some(CALLER_MEMBER.into()),
    });
    w
}
