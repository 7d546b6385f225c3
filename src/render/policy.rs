//! A token's inline policy in a plan, shaped as the configuration writes it: one
//! `policy { … }` block per statement. Between two policies, a statement-by-statement diff
//! (Terraform's nested-block rendering): unchanged statements are counted, not shown; an
//! edited statement is `~ policy { … }` with attribute-level changes inside; a new or a
//! dropped one is `+ policy { … }` / `- policy { … }`. A long list (many resources) is
//! shown one element per line, with only the changed elements and their neighbours.
//! Pure: lines in, lines out.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use serde_json::Value;
use similar::{Algorithm, DiffTag, capture_diff_slices};

use crate::model::{Effect, Statement};
use crate::render::plan_text::{Line, Shape, Sign};

/// A list is written inline (`["a", "b"]`) when it has at most this many elements…
const INLINE_ELEMENTS: usize = 3;
/// …and its inline form is at most this wide; otherwise one element per line.
const INLINE_WIDTH: usize = 60;
/// Unchanged elements shown on each side of a changed one in a long list.
const CONTEXT: usize = 1;

/// The policy diff of an attribute diff's JSON values, or `None` when a value is not a
/// list of statements (a hand-edited plan file): the caller then shows the raw values.
pub fn diff(old: Option<&Value>, new: Option<&Value>) -> Option<Vec<Line>> {
    let parse = |v: Option<&Value>| match v {
        None => Some(None),
        Some(v) => serde_json::from_value::<Vec<Statement>>(v.clone()).ok().map(Some),
    };
    let (old, new) = (parse(old)?, parse(new)?);
    Some(blocks(old.as_deref(), new.as_deref()))
}

/// The `policy` blocks going from `old` to `new` (`None`: no policy), at the token's level.
pub fn blocks(old: Option<&[Statement]>, new: Option<&[Statement]>) -> Vec<Line> {
    let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
    let mut out = Vec::new();
    let mut unchanged = 0;
    for op in capture_diff_slices(Algorithm::Myers, old, new) {
        let (tag, o, n) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => unchanged += o.len(),
            DiffTag::Delete => old[o].iter().for_each(|s| whole(&mut out, Sign::Remove, s)),
            DiffTag::Insert => new[n].iter().for_each(|s| whole(&mut out, Sign::Add, s)),
            DiffTag::Replace => replaced(&mut out, &old[o], &new[n]),
        }
    }
    if unchanged > 0 {
        let s = if unchanged == 1 { "" } else { "s" };
        out.push(comment(0, format!("# ({unchanged} unchanged policy block{s} hidden)")));
    }
    out
}

fn comment(depth: usize, text: String) -> Line {
    Line::at(depth, Sign::Same, Shape::Comment { text })
}

fn quoted(s: &str) -> String {
    crate::escape::quoted(s)
}

fn effect(e: Effect) -> String {
    quoted(match e {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    })
}

/// A statement's list attributes in configuration order, absent ones included.
fn lists(s: &Statement) -> [(&'static str, Option<&[String]>); 4] {
    [
        ("actions", s.actions.as_deref()),
        ("not_actions", s.not_actions.as_deref()),
        ("resources", s.resources.as_deref()),
        ("not_resources", s.not_resources.as_deref()),
    ]
}

/// The inline form of a list, when it is short enough to read on one line.
fn inline(list: &[String]) -> Option<String> {
    let text = format!("[{}]", list.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "));
    (list.len() <= INLINE_ELEMENTS && text.len() <= INLINE_WIDTH).then_some(text)
}

fn open_block(sign: Sign) -> Line {
    Line::at(0, sign, Shape::OpenBlock { name: "policy".into() })
}

fn close(depth: usize, sign: Sign, bracket: char, to_null: bool) -> Line {
    Line::at(depth, sign, Shape::Close { bracket, to_null })
}

/// A statement added or removed as a whole: every attribute carries the block's sign.
fn whole(out: &mut Vec<Line>, sign: Sign, s: &Statement) {
    out.push(open_block(sign));
    let (old, new) =
        if sign == Sign::Remove { (Some(effect(s.effect)), None) } else { (None, Some(effect(s.effect))) };
    out.push(Line::at(1, sign, Shape::Attr { key: "effect".into(), old, new }));
    for (key, list) in lists(s) {
        if let Some(list) = list {
            whole_list(out, 1, sign, key, list);
        }
    }
    out.push(close(0, sign, '}', false));
}

/// A list attribute added or removed as a whole.
fn whole_list(out: &mut Vec<Line>, depth: usize, sign: Sign, key: &str, list: &[String]) {
    let removed = sign == Sign::Remove;
    if let Some(text) = inline(list) {
        let (old, new) = if removed { (Some(text), None) } else { (None, Some(text)) };
        out.push(Line::at(depth, sign, Shape::Attr { key: key.into(), old, new }));
        return;
    }
    out.push(Line::at(depth, sign, Shape::OpenList { key: key.into() }));
    for e in list {
        out.push(Line::at(depth + 1, sign, Shape::Element { text: quoted(e) }));
    }
    out.push(close(depth, sign, ']', removed));
}

/// How alike two statements are: the list elements they share under the same attribute.
/// Statements sharing none are not paired (shown as one removed, one added).
fn likeness(a: &Statement, b: &Statement) -> usize {
    lists(a)
        .into_iter()
        .zip(lists(b))
        .map(|((_, x), (_, y))| match (x, y) {
            (Some(x), Some(y)) => {
                let x: BTreeSet<&String> = x.iter().collect();
                y.iter().filter(|e| x.contains(e)).count()
            }
            _ => 0,
        })
        .sum()
}

/// A run of statements replaced by another: each old statement is paired with the most
/// alike unpaired new one (an edit); the rest were removed or added.
fn replaced(out: &mut Vec<Line>, old: &[Statement], new: &[Statement]) {
    let mut pair_of_new: Vec<Option<usize>> = vec![None; new.len()];
    let mut paired_old = vec![false; old.len()];
    for (i, o) in old.iter().enumerate() {
        let best = (0..new.len())
            .filter(|&j| pair_of_new[j].is_none())
            .map(|j| (likeness(o, &new[j]), j))
            .filter(|&(score, _)| score > 0)
            .max_by_key(|&(score, j)| (score, Reverse(j)));
        if let Some((_, j)) = best {
            pair_of_new[j] = Some(i);
            paired_old[i] = true;
        }
    }
    for (o, _) in old.iter().zip(&paired_old).filter(|(_, paired)| !**paired) {
        whole(out, Sign::Remove, o);
    }
    for (n, pair) in new.iter().zip(&pair_of_new) {
        match pair {
            Some(i) => edited(out, &old[*i], n),
            None => whole(out, Sign::Add, n),
        }
    }
}

/// `~ policy { … }`: the effect always (it says which statement this is), changed
/// attributes with their change, unchanged short lists as they are, unchanged long lists
/// counted.
fn edited(out: &mut Vec<Line>, old: &Statement, new: &Statement) {
    out.push(open_block(Sign::Change));
    let (eo, en) = (effect(old.effect), effect(new.effect));
    out.push(if eo == en {
        Line::at(1, Sign::Same, Shape::Attr { key: "effect".into(), old: None, new: Some(en) })
    } else {
        Line::at(1, Sign::Change, Shape::Attr { key: "effect".into(), old: Some(eo), new: Some(en) })
    });
    let mut hidden = 0;
    for ((key, o), (_, n)) in lists(old).into_iter().zip(lists(new)) {
        match (o, n) {
            (None, None) => {}
            (Some(o), None) => whole_list(out, 1, Sign::Remove, key, o),
            (None, Some(n)) => whole_list(out, 1, Sign::Add, key, n),
            (Some(o), Some(n)) if o == n => match inline(n) {
                Some(text) => {
                    out.push(Line::at(
                        1,
                        Sign::Same,
                        Shape::Attr { key: key.into(), old: None, new: Some(text) },
                    ));
                }
                None => hidden += 1,
            },
            (Some(o), Some(n)) => match (inline(o), inline(n)) {
                (Some(o), Some(n)) => {
                    out.push(Line::at(
                        1,
                        Sign::Change,
                        Shape::Attr { key: key.into(), old: Some(o), new: Some(n) },
                    ));
                }
                _ => list_diff(out, 1, key, o, n),
            },
        }
    }
    if hidden > 0 {
        let s = if hidden == 1 { "" } else { "s" };
        out.push(comment(1, format!("# ({hidden} unchanged attribute{s} hidden)")));
    }
    out.push(close(0, Sign::Change, '}', false));
}

/// `~ key = [ … ]`, element by element: added and removed elements, [`CONTEXT`] unchanged
/// neighbours around them, and a count of the unchanged elements left out.
fn list_diff(out: &mut Vec<Line>, depth: usize, key: &str, old: &[String], new: &[String]) {
    let mut elements: Vec<(Sign, &String)> = Vec::with_capacity(old.len().max(new.len()));
    for op in capture_diff_slices(Algorithm::Myers, old, new) {
        let (tag, o, n) = op.as_tag_tuple();
        match tag {
            DiffTag::Equal => elements.extend(new[n].iter().map(|e| (Sign::Same, e))),
            DiffTag::Delete => elements.extend(old[o].iter().map(|e| (Sign::Remove, e))),
            DiffTag::Insert => elements.extend(new[n].iter().map(|e| (Sign::Add, e))),
            DiffTag::Replace => {
                elements.extend(old[o].iter().map(|e| (Sign::Remove, e)));
                elements.extend(new[n].iter().map(|e| (Sign::Add, e)));
            }
        }
    }
    // Changed elements are shown, and so are their CONTEXT neighbours.
    let mut shown: Vec<bool> = elements.iter().map(|(s, _)| *s != Sign::Same).collect();
    for c in (0..elements.len()).filter(|&c| elements[c].0 != Sign::Same) {
        let last = (c + CONTEXT).min(elements.len() - 1);
        shown[c.saturating_sub(CONTEXT)..=last].fill(true);
    }
    out.push(Line::at(depth, Sign::Change, Shape::OpenList { key: key.into() }));
    let mut i = 0;
    while i < elements.len() {
        let run = shown[i..].iter().take_while(|s| !**s).count();
        // A one-element gap reads better as the element than as a comment.
        if run <= 1 {
            let (sign, e) = elements[i];
            out.push(Line::at(depth + 1, sign, Shape::Element { text: quoted(e) }));
            i += 1;
        } else {
            out.push(comment(depth + 1, format!("# ({run} unchanged elements hidden)")));
            i += run;
        }
    }
    out.push(close(depth, Sign::Change, ']', false));
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
