//! Token labels for generated blocks: derived from a token's name (`adopt`) or from its
//! Terraform address (`migrate terraform`), always valid identifiers, and made unique
//! against every label already taken. Pure.

use std::collections::BTreeSet;

use crate::onboard::terraform::{IndexKey, Instance};

/// `"hand writer (ops)"` → `hand_writer_ops`: lowercase ASCII letters and digits, every
/// other run of characters one `_`, none at either end; `token_…` before a leading digit,
/// and `token` for a name with nothing usable in it.
pub fn from_name(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        "token".to_owned()
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("token_{out}")
    } else {
        out
    }
}

/// `module.team["a"].launchdarkly_access_token.ci[0]` → `team_a_ci_0`: the module names and
/// keys, the resource name and its key, each part as [`from_name`] cleans it.
pub fn from_terraform(instance: &Instance) -> String {
    let key_text = |k: &IndexKey| match k {
        IndexKey::Int(i) => i.to_string(),
        IndexKey::Str(s) => s.clone(),
    };
    let mut parts: Vec<String> = Vec::new();
    for m in &instance.resource.module {
        parts.push(m.name.clone());
        parts.extend(m.key.as_ref().map(key_text));
    }
    parts.push(instance.resource.name.clone());
    parts.extend(instance.key.as_ref().map(key_text));
    from_name(&parts.join(" "))
}

/// Hands out labels no one else has: the first `base` as is, then `base_2`, `base_3`, ….
#[derive(Debug, Clone, Default)]
pub struct Labels {
    taken: BTreeSet<String>,
}

impl Labels {
    /// Starts with `taken` (labels of the configuration and the state) already used.
    pub fn new<I: IntoIterator<Item = String>>(taken: I) -> Self {
        Self { taken: taken.into_iter().collect() }
    }

    /// A label starting with `base` that is not yet taken; it is taken from now on.
    pub fn unique(&mut self, base: &str) -> String {
        let mut label = base.to_owned();
        let mut n = 2;
        while self.taken.contains(&label) {
            label = format!("{base}_{n}");
            n += 1;
        }
        self.taken.insert(label.clone());
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::is_identifier;

    #[test]
    fn labels_from_names() {
        for (name, want) in [
            ("hand writer (ops)", "hand_writer_ops"),
            ("ci-reader", "ci_reader"),
            ("CI Reader", "ci_reader"),
            ("  --x--  ", "x"),
            ("2024 deploy", "token_2024_deploy"),
            ("", "token"),
            ("ünïcødé", "n_c_d"),
            ("日本", "token"),
            ("a\"b${c}", "a_b_c"),
        ] {
            let got = from_name(name);
            assert_eq!(got, want, "{name:?}");
            assert!(is_identifier(&got), "{got}");
        }
    }

    #[test]
    fn made_unique_against_taken_and_each_other() {
        let mut labels = Labels::new(["ci".to_owned(), "ci_2".to_owned()]);
        assert_eq!(labels.unique("ci"), "ci_3");
        assert_eq!(labels.unique("ci"), "ci_4");
        assert_eq!(labels.unique("ops"), "ops");
        assert_eq!(labels.unique("ops"), "ops_2");
    }
}
