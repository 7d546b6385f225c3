//! Who a live token belongs to: the rules the planner, apply and `drift` must agree on,
//! in one place. Pure: callers list, this decides.
//!
//! - **The caller's token** ([`is_callers`]): the token tokenform authenticates with is
//!   never deleted, rotated, reset or expired, never an orphan and never "unmanaged".
//! - **Orphans** ([`orphans`]): the tokens a create left behind when its answer never
//!   arrived (a crash, a timeout, a dropped connection). A live token is an orphan of a
//!   [`PendingCreate`] when its name is the intended name, it was created by the member
//!   tokenform authenticates as, no earlier than the intent (less [`CLOCK_SKEW`] for the
//!   difference between this machine's clock and the server's) and no later than [`WINDOW`]
//!   after it, it is not the caller's token, and no address already holds it. Nobody ever
//!   saw an orphan's secret, so it is useless to everyone: it is deleted at once, never
//!   adopted (`docs/spec.md` §5), so no duplicate name lingers and no service-token slot is
//!   held. Earliest first, ties by id: every caller picks the same one.
//! - **The unmanaged scope** ([`unmanaged`]): live tokens no address owns ([`owned_ids`]:
//!   state's tokens and retiring generations, and every `import` block's id), minus
//!   `unmanaged.ignore_names`, and minus personal tokens not known to be the caller
//!   member's unless `unmanaged.personal`. When the caller's member is unknown, no personal
//!   token is known to be its own: they are all left out (the planner's rule; `drift` used
//!   to count them all in, which `mode = "delete"` and `adopt` must not).

use std::collections::HashSet;

use crate::api::model::{CallerIdentity, Live, Token};
use crate::config::{Config, Unmanaged};
use crate::model::glob_match;
use crate::plan::refresh::ms_to_timestamp;
use crate::state::model::{PendingCreate, State};

/// How far the server's clock may run behind ours and a token still count as created
/// after the intent was recorded.
pub const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// How long after its intent an interrupted create can have landed. A create never
/// outlives its timeouts and rate-limit waits by this much, and the bound keeps a token
/// made by hand much later under the same name from being taken for an orphan.
pub const WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Whether live token `id` is the one tokenform authenticates with.
pub fn is_callers(caller: &CallerIdentity, id: &str) -> bool {
    caller.token_id.as_deref() == Some(id)
}

/// The earliest creation time a token of `pending` can have.
pub fn earliest(pending: &PendingCreate) -> jiff::Timestamp {
    pending.intent_at.checked_sub(CLOCK_SKEW).unwrap_or(pending.intent_at)
}

/// Every live token `pending` may have produced, earliest first (ties by id), leaving out
/// the caller's token and those `taken` says an address (or this run) already holds.
pub fn orphans<'a>(
    pending: &PendingCreate,
    live: &'a [Token],
    caller: &CallerIdentity,
    taken: impl Fn(&str) -> bool,
) -> Vec<&'a Token> {
    let earliest = earliest(pending);
    let latest = pending.intent_at.checked_add(WINDOW).unwrap_or(pending.intent_at);
    let mut found: Vec<&Token> = live
        .iter()
        .filter(|t| t.name() == pending.name)
        // Without a known creator, the name and time must do.
        .filter(|t| pending.member_id.as_deref().is_none_or(|m| m == t.member_id))
        .filter(|t| ms_to_timestamp(t.creation_date).is_some_and(|c| c >= earliest && c <= latest))
        .filter(|t| !is_callers(caller, &t.id) && !taken(&t.id))
        .collect();
    found.sort_by(|a, b| (a.creation_date, &a.id).cmp(&(b.creation_date, &b.id)));
    found
}

/// The ids state already accounts for (managed tokens and retiring generations).
pub fn state_ids(state: &State) -> HashSet<String> {
    state.tokens.values().map(|t| t.id.clone()).chain(state.retiring.iter().map(|r| r.id.clone())).collect()
}

/// The live ids some address owns: state's tokens and retiring generations, and the id of
/// every `import` block (also one whose address state already holds: it is not unmanaged).
pub fn owned_ids<'a>(config: &'a Config, state: &'a State) -> HashSet<&'a str> {
    state
        .tokens
        .values()
        .map(|t| t.id.as_str())
        .chain(state.retiring.iter().map(|r| r.id.as_str()))
        .chain(config.imports.iter().map(|i| i.id.as_str()))
        .collect()
}

/// Whether `token`, owned by no address, is in the unmanaged scope of `settings`.
pub fn in_unmanaged_scope(token: &Token, settings: &Unmanaged, caller: &CallerIdentity) -> bool {
    let callers_member = caller.member_id.as_deref() == Some(token.member_id.as_str());
    !settings.ignore_names.iter().any(|g| glob_match(g, token.name()))
        && (token.service_token || settings.personal || callers_member)
}

/// The unmanaged live tokens, by name then id: owned by no address ([`owned_ids`]) nor
/// `taken` by this plan, in the scope of `config.unmanaged`. The caller's own token is
/// among them when it is unmanaged: callers say so rather than act on it.
pub fn unmanaged<'a>(
    config: &Config,
    state: &State,
    live: &'a Live,
    taken: impl Fn(&str) -> bool,
) -> Vec<&'a Token> {
    let owned = owned_ids(config, state);
    let mut found: Vec<&Token> = live
        .tokens
        .iter()
        .filter(|t| !owned.contains(t.id.as_str()) && !taken(&t.id))
        .filter(|t| in_unmanaged_scope(t, &config.unmanaged, &live.caller))
        .collect();
    found.sort_by(|a, b| (a.name(), &a.id).cmp(&(b.name(), &b.id)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Address;

    fn token(id: &str, name: &str, member: &str, created_ms: i64) -> Token {
        serde_json::from_value(serde_json::json!({
            "_id": id, "ownerId": "o", "memberId": member, "name": name,
            "creationDate": created_ms, "lastModified": created_ms, "_links": {}
        }))
        .unwrap()
    }

    fn caller(id: Option<&str>) -> CallerIdentity {
        CallerIdentity { token_id: id.map(str::to_owned), ..CallerIdentity::default() }
    }

    fn pending(at_ms: i64) -> PendingCreate {
        PendingCreate {
            address: Address::new("ci"),
            name: "ci".into(),
            intent_at: jiff::Timestamp::from_millisecond(at_ms).unwrap(),
            member_id: Some("me".into()),
        }
    }

    const T: i64 = 1_800_000_000_000;

    fn ids(found: &[&Token]) -> Vec<String> {
        found.iter().map(|t| t.id.clone()).collect()
    }

    #[test]
    fn matches_name_creator_and_time_earliest_first() {
        let live = [
            token("a", "other", "me", T + 10),
            token("b", "ci", "someone-else", T + 10),
            token("c", "ci", "me", T - 3_600_000), // an hour before the intent: not ours
            token("d", "ci", "me", T + 20),
            token("e", "ci", "me", T + 10),
            token("f", "ci", "me", T + 7_200_000), // two hours after: made by hand, not ours
        ];
        assert_eq!(ids(&orphans(&pending(T), &live, &caller(None), |_| false)), ["e", "d"]);
        assert_eq!(ids(&orphans(&pending(T), &live, &caller(None), |id| id == "e")), ["d"]);
    }

    #[test]
    fn tolerates_a_server_clock_slightly_behind() {
        let live = [token("c", "ci", "me", T - 30_000), token("d", "ci", "me", T - 121_000)];
        assert_eq!(ids(&orphans(&pending(T), &live, &caller(None), |_| false)), ["c"]);
    }

    #[test]
    fn without_a_known_creator_name_and_time_decide() {
        let mut p = pending(T);
        p.member_id = None;
        let live = [token("b", "ci", "someone-else", T + 10)];
        assert_eq!(ids(&orphans(&p, &live, &caller(None), |_| false)), ["b"]);
    }

    #[test]
    fn the_callers_token_is_never_an_orphan() {
        let live = [token("c", "ci", "me", T + 10), token("d", "ci", "me", T + 20)];
        assert_eq!(ids(&orphans(&pending(T), &live, &caller(Some("c")), |_| false)), ["d"]);
    }

    /// The two copies disagreed when the caller's member is unknown: the planner left every
    /// personal token out, `drift` counted them all in. One rule now, the planner's: a
    /// personal token is in scope only when known to be the caller member's (or with
    /// `unmanaged.personal`), so neither `mode = "delete"` nor `adopt` reaches another
    /// member's token because identity was incomplete.
    #[test]
    fn personal_tokens_are_in_scope_only_when_known_to_be_the_callers_members() {
        let mut personal = token("p", "mine", "me", T);
        personal.service_token = false;
        let mut service = token("s", "svc", "someone", T);
        service.service_token = true;
        let mut ignored = token("i", "legacy-x", "someone", T);
        ignored.service_token = true;
        let settings = Unmanaged { ignore_names: vec!["legacy-*".into()], ..Unmanaged::default() };
        let known = CallerIdentity { member_id: Some("me".into()), ..CallerIdentity::default() };
        let other = CallerIdentity { member_id: Some("other".into()), ..CallerIdentity::default() };
        let unknown = CallerIdentity::default();
        let scope = |t: &Token, c: &CallerIdentity, s: &Unmanaged| in_unmanaged_scope(t, s, c);
        assert!(scope(&personal, &known, &settings));
        assert!(!scope(&personal, &other, &settings));
        assert!(!scope(&personal, &unknown, &settings), "unknown member: not known to be ours");
        let all = Unmanaged { personal: true, ..settings.clone() };
        assert!(scope(&personal, &unknown, &all) && scope(&personal, &other, &all));
        assert!(scope(&service, &unknown, &settings), "service tokens are always in scope");
        assert!(!scope(&ignored, &known, &all), "ignore_names wins");
    }
}
