//! Finding the token a create left behind when its answer was lost (a crash, a timeout, a
//! dropped connection). Pure: the executor lists, this decides.
//!
//! A live token is the orphan of a [`PendingCreate`] when its name is the intended name, it
//! was created by the member tokenform authenticates as, no earlier than the intent (minus
//! [`CLOCK_SKEW`] for the difference between this machine's clock and the server's), and no
//! address in state already holds it.

use std::collections::HashSet;

use crate::api::model::Token;
use crate::plan::refresh::ms_to_timestamp;
use crate::state::model::{PendingCreate, State};

/// How far the server's clock may run behind ours and a token still count as created
/// after the intent was recorded.
pub const CLOCK_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// The ids state already accounts for (managed tokens and retiring generations).
pub fn known_ids(state: &State) -> HashSet<String> {
    state.tokens.values().map(|t| t.id.clone()).chain(state.retiring.iter().map(|r| r.id.clone())).collect()
}

/// The live token `pending` produced, if any: the earliest match not in `taken`.
pub fn find_orphan<'a, S: std::hash::BuildHasher>(
    pending: &PendingCreate,
    live: &'a [Token],
    taken: &HashSet<String, S>,
) -> Option<&'a Token> {
    let earliest = pending.intent_at.checked_sub(CLOCK_SKEW).unwrap_or(pending.intent_at);
    live.iter()
        .filter(|t| t.name() == pending.name)
        .filter(|t| !taken.contains(&t.id))
        .filter(|t| match &pending.member_id {
            Some(member) => &t.member_id == member,
            // Without a known creator, the name and time must do.
            None => true,
        })
        .filter(|t| ms_to_timestamp(t.creation_date).is_some_and(|c| c >= earliest))
        .min_by_key(|t| t.creation_date)
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

    #[test]
    fn adopts_the_matching_token() {
        let live = [
            token("a", "other", "me", T + 10),
            token("b", "ci", "someone-else", T + 10),
            token("c", "ci", "me", T - 3_600_000), // an hour before the intent: not ours
            token("d", "ci", "me", T + 20),
            token("e", "ci", "me", T + 10),
        ];
        assert_eq!(find_orphan(&pending(T), &live, &HashSet::new()).map(|t| t.id.as_str()), Some("e"));
        let taken: HashSet<String> = ["e".to_owned()].into();
        assert_eq!(find_orphan(&pending(T), &live, &taken).map(|t| t.id.as_str()), Some("d"));
    }

    #[test]
    fn nothing_matches_means_no_create_happened() {
        let live = [token("c", "ci", "me", T - 3_600_000)];
        assert!(find_orphan(&pending(T), &live, &HashSet::new()).is_none());
    }

    #[test]
    fn tolerates_a_server_clock_slightly_behind() {
        let live = [token("c", "ci", "me", T - 30_000)];
        assert!(find_orphan(&pending(T), &live, &HashSet::new()).is_some());
    }
}
