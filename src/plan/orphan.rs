//! Orphans: the tokens a create left behind when its answer never arrived (a crash, a
//! timeout, a dropped connection). The one rule both the planner (an intent left by a
//! killed run) and the executor (an answer lost mid-run) use. Pure: callers list, this
//! decides.
//!
//! A live token is an orphan of a [`PendingCreate`] when its name is the intended name, it
//! was created by the member tokenform authenticates as, no earlier than the intent (less
//! [`CLOCK_SKEW`] for the difference between this machine's clock and the server's) and no
//! later than [`WINDOW`] after it, and no address already holds it. Nobody ever saw an
//! orphan's secret, so it is useless to everyone: it is deleted at once, never adopted
//! (`docs/spec.md` §5), so no duplicate name lingers and no service-token slot is held.

use crate::api::model::Token;
use crate::plan::refresh::ms_to_timestamp;
use crate::state::model::PendingCreate;

/// How far the server's clock may run behind ours and a token still count as created
/// after the intent was recorded.
pub const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// How long after its intent an interrupted create can have landed. A create never
/// outlives its timeouts and rate-limit waits by this much, and the bound keeps a token
/// made by hand much later under the same name from being taken for an orphan.
pub const WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(1);

/// Every live token `pending` may have produced, earliest first (ties by id), leaving out
/// those `taken` says an address (or this run) already holds.
pub fn orphans<'a>(
    pending: &PendingCreate,
    live: &'a [Token],
    taken: impl Fn(&str) -> bool,
) -> Vec<&'a Token> {
    let earliest = pending.intent_at.checked_sub(CLOCK_SKEW).unwrap_or(pending.intent_at);
    let latest = pending.intent_at.checked_add(WINDOW).unwrap_or(pending.intent_at);
    let mut found: Vec<&Token> = live
        .iter()
        .filter(|t| t.name() == pending.name)
        // Without a known creator, the name and time must do.
        .filter(|t| pending.member_id.as_deref().is_none_or(|m| m == t.member_id))
        .filter(|t| ms_to_timestamp(t.creation_date).is_some_and(|c| c >= earliest && c <= latest))
        .filter(|t| !taken(&t.id))
        .collect();
    found.sort_by(|a, b| (a.creation_date, &a.id).cmp(&(b.creation_date, &b.id)));
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
        assert_eq!(ids(&orphans(&pending(T), &live, |_| false)), ["e", "d"]);
        assert_eq!(ids(&orphans(&pending(T), &live, |id| id == "e")), ["d"]);
    }

    #[test]
    fn tolerates_a_server_clock_slightly_behind() {
        let live = [token("c", "ci", "me", T - 30_000), token("d", "ci", "me", T - 121_000)];
        assert_eq!(ids(&orphans(&pending(T), &live, |_| false)), ["c"]);
    }

    #[test]
    fn without_a_known_creator_name_and_time_decide() {
        let mut p = pending(T);
        p.member_id = None;
        let live = [token("b", "ci", "someone-else", T + 10)];
        assert_eq!(ids(&orphans(&p, &live, |_| false)), ["b"]);
    }
}
