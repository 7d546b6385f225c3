//! The shape of the language: which blocks exist, how many labels each takes, and which
//! attributes and nested blocks each may hold. Both syntaxes (HCL and `*.hcl.json`) are
//! checked against this one table. Pure data.

/// One block type.
#[derive(Debug)]
pub(super) struct BlockSchema {
    pub name: &'static str,
    /// Number of labels (`token "x"` has 1).
    pub labels: usize,
    /// What the label is called in messages.
    pub label_name: &'static str,
    /// Allowed attributes; `None` allows any name (`locals`).
    pub attrs: Option<&'static [&'static str]>,
    /// Allowed nested block types.
    pub blocks: &'static [&'static str],
    /// May appear more than once in its parent.
    pub repeatable: bool,
}

const TOP: &[BlockSchema] = &[
    BlockSchema {
        name: "launchdarkly",
        labels: 0,
        label_name: "",
        attrs: Some(&["base_url", "access_token_env", "api_version", "parallelism"]),
        blocks: &[],
        repeatable: false,
    },
    BlockSchema {
        name: "state",
        labels: 0,
        label_name: "",
        attrs: Some(&["path", "recipients", "recipients_file", "encrypt"]),
        blocks: &["backend"],
        repeatable: false,
    },
    BlockSchema {
        name: "variable",
        labels: 1,
        label_name: "variable name",
        attrs: Some(&["type", "default", "description", "sensitive"]),
        blocks: &[],
        repeatable: true,
    },
    BlockSchema { name: "locals", labels: 0, label_name: "", attrs: None, blocks: &[], repeatable: true },
    BlockSchema {
        name: "token",
        labels: 1,
        label_name: "token label",
        attrs: Some(&[
            "for_each",
            "name",
            "description",
            "role",
            "custom_roles",
            "service_token",
            "api_version",
            "expires_at",
            "recipients",
        ]),
        blocks: &["policy", "rotation", "lifecycle", "checks", "deliver"],
        repeatable: true,
    },
    BlockSchema {
        name: "import",
        labels: 0,
        label_name: "",
        attrs: Some(&["to", "id"]),
        blocks: &[],
        repeatable: true,
    },
    BlockSchema {
        name: "removed",
        labels: 0,
        label_name: "",
        attrs: Some(&["from", "destroy"]),
        blocks: &[],
        repeatable: true,
    },
    BlockSchema {
        name: "unmanaged",
        labels: 0,
        label_name: "",
        attrs: Some(&["mode", "ignore_names", "personal"]),
        blocks: &[],
        repeatable: false,
    },
    // `tokenform check` suppressions for the whole configuration (config/checks.rs).
    BlockSchema {
        name: "checks",
        labels: 0,
        label_name: "",
        attrs: Some(&["skip", "reason"]),
        blocks: &[],
        repeatable: false,
    },
];

const NESTED: &[BlockSchema] = &[
    // Attributes depend on the backend type: config/backend.rs checks them.
    BlockSchema {
        name: "backend",
        labels: 1,
        label_name: "backend type",
        attrs: None,
        blocks: &[],
        repeatable: false,
    },
    BlockSchema {
        name: "policy",
        labels: 0,
        label_name: "",
        attrs: Some(&["effect", "actions", "not_actions", "resources", "not_resources"]),
        blocks: &[],
        repeatable: true,
    },
    BlockSchema {
        name: "rotation",
        labels: 0,
        label_name: "",
        attrs: Some(&["every", "grace", "method"]),
        blocks: &[],
        repeatable: false,
    },
    BlockSchema {
        name: "lifecycle",
        labels: 0,
        label_name: "",
        attrs: Some(&["prevent_destroy", "create_before_destroy", "ignore_changes"]),
        blocks: &[],
        repeatable: false,
    },
    // Where a token's new secret goes; attributes depend on the sink type (config/deliver.rs).
    BlockSchema {
        name: "deliver",
        labels: 1,
        label_name: "sink type (\"exec\" or \"file\")",
        attrs: None,
        blocks: &[],
        repeatable: true,
    },
    // A token's own `tokenform check` suppressions (config/checks.rs).
    BlockSchema {
        name: "checks",
        labels: 0,
        label_name: "",
        attrs: Some(&["skip", "reason"]),
        blocks: &[],
        repeatable: false,
    },
];

/// A top-level block type.
pub(super) fn top(name: &str) -> Option<&'static BlockSchema> {
    TOP.iter().find(|b| b.name == name)
}

/// Names of the top-level block types, for help text.
pub(super) fn top_names() -> Vec<&'static str> {
    TOP.iter().map(|b| b.name).collect()
}

/// A nested block type of `parent`.
pub(super) fn nested(parent: &BlockSchema, name: &str) -> Option<&'static BlockSchema> {
    if parent.blocks.contains(&name) { NESTED.iter().find(|b| b.name == name) } else { None }
}

/// The closest of `candidates` to `name` (edit distance at most 2), for "did you mean".
pub(super) fn suggest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names() {
        assert_eq!(suggest("rol", &["role", "name"]), Some("role"));
        assert_eq!(suggest("zzzzzz", &["role", "name"]), None);
        assert!(nested(top("token").unwrap(), "rotation").is_some());
        assert!(nested(top("state").unwrap(), "rotation").is_none());
    }
}
