//! Configuration diagnostics: one [`Problem`] per broken rule, with a stable code
//! (`tokenform::config::<rule>`), the file it is in, a label on the offending span and help
//! where a fix is known. A [`Sink`] collects every problem of one run. No I/O.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode, SourceSpan};

/// The rule a [`Problem`] breaks; its code is `tokenform::config::<rule>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    DirNotFound,
    NoConfigFiles,
    ReadError,
    InvalidUtf8,
    Syntax,
    UnknownBlock,
    UnknownAttribute,
    DuplicateAttribute,
    DuplicateBlock,
    MissingAttribute,
    BadLabel,
    DuplicateLabel,
    DuplicateName,
    ConflictingAccess,
    NoAccess,
    InvalidRole,
    InvalidPolicy,
    InvalidValue,
    BadDuration,
    BadTimestamp,
    BadUrl,
    BadAddress,
    UnknownAddress,
    UnknownVariable,
    UndeclaredVariable,
    MissingVariable,
    BadVariable,
    BadVarFile,
    UnknownLocal,
    DuplicateLocal,
    LocalsCycle,
    UnknownReference,
    UnknownFunction,
    EvalError,
    BadForEach,
    SecretInConfig,
    BadRecipient,
    BadRecipientsFile,
    WrongType,
    StillConfigured,
    UnknownCheck,
    OutsideConfigDir,
}

impl Rule {
    /// The rule's name, the last part of its code.
    pub fn name(self) -> &'static str {
        match self {
            Rule::DirNotFound => "dir_not_found",
            Rule::NoConfigFiles => "no_config_files",
            Rule::ReadError => "read_error",
            Rule::InvalidUtf8 => "invalid_utf8",
            Rule::Syntax => "syntax",
            Rule::UnknownBlock => "unknown_block",
            Rule::UnknownAttribute => "unknown_attribute",
            Rule::DuplicateAttribute => "duplicate_attribute",
            Rule::DuplicateBlock => "duplicate_block",
            Rule::MissingAttribute => "missing_attribute",
            Rule::BadLabel => "bad_label",
            Rule::DuplicateLabel => "duplicate_label",
            Rule::DuplicateName => "duplicate_name",
            Rule::ConflictingAccess => "conflicting_access",
            Rule::NoAccess => "no_access",
            Rule::InvalidRole => "invalid_role",
            Rule::InvalidPolicy => "invalid_policy",
            Rule::InvalidValue => "invalid_value",
            Rule::BadDuration => "bad_duration",
            Rule::BadTimestamp => "bad_timestamp",
            Rule::BadUrl => "bad_url",
            Rule::BadAddress => "bad_address",
            Rule::UnknownAddress => "unknown_address",
            Rule::UnknownVariable => "unknown_variable",
            Rule::UndeclaredVariable => "undeclared_variable",
            Rule::MissingVariable => "missing_variable",
            Rule::BadVariable => "bad_variable",
            Rule::BadVarFile => "bad_var_file",
            Rule::UnknownLocal => "unknown_local",
            Rule::DuplicateLocal => "duplicate_local",
            Rule::LocalsCycle => "locals_cycle",
            Rule::UnknownReference => "unknown_reference",
            Rule::UnknownFunction => "unknown_function",
            Rule::EvalError => "eval_error",
            Rule::BadForEach => "bad_for_each",
            Rule::SecretInConfig => "secret_in_config",
            Rule::BadRecipient => "bad_recipient",
            Rule::BadRecipientsFile => "bad_recipients_file",
            Rule::WrongType => "wrong_type",
            Rule::StillConfigured => "still_configured",
            Rule::UnknownCheck => "unknown_check",
            Rule::OutsideConfigDir => "outside_config_dir",
        }
    }

    /// The stable diagnostic code, e.g. `tokenform::config::unknown_attribute`.
    pub fn code(self) -> String {
        format!("tokenform::config::{}", self.name())
    }
}

/// One source file as diagnostics show it: its display name and its text with every
/// secret-shaped run masked (same length, so spans still match).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub source: Arc<NamedSource<String>>,
}

impl SourceFile {
    pub fn new(name: &str, text: &str) -> Self {
        let masked = mask_secrets(text);
        Self { name: name.to_owned(), source: Arc::new(NamedSource::new(name, masked)) }
    }

    /// 1-based (line, column) of a byte offset, for messages that point at another place.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let text = self.source.inner();
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// Replaces the body of every `api-`/`sdk-` + UUID run, and every password in a URL or
/// `password=` pair, with `*`, keeping byte offsets.
fn mask_secrets(text: &str) -> String {
    let mut out = crate::secret::mask_url_passwords(text);
    let mut from = 0;
    while let Some(at) = crate::secret::find_secret(&out[from..]) {
        let start = from + at + 4;
        let end = from + at + 40;
        // The run is ASCII (hex digits and dashes), so byte replacement keeps UTF-8 valid.
        out.replace_range(start..end, &"*".repeat(end - start));
        from = end;
    }
    out
}

/// Messages may quote what the user wrote: never a secret.
fn redact(s: String) -> String {
    if crate::secret::find_secret(&s).is_some() { crate::secret::redact_secrets(&s) } else { s }
}

/// One broken rule.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Problem {
    pub rule: Rule,
    pub message: String,
    pub file: Option<SourceFile>,
    /// Byte range of the offending text in `file`.
    pub span: Option<Range<usize>>,
    pub label: Option<String>,
    /// Further labelled spans in the same file (e.g. "first defined here").
    pub others: Vec<(Range<usize>, String)>,
    pub help: Option<String>,
}

impl Problem {
    /// A problem without a place (a missing directory, a `-var` flag).
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Self {
            rule,
            message: redact(message.into()),
            file: None,
            span: None,
            label: None,
            others: Vec::new(),
            help: None,
        }
    }

    /// A problem at `span` of `file`, labelled.
    pub fn at(
        rule: Rule,
        message: impl Into<String>,
        file: &SourceFile,
        span: Range<usize>,
        label: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            message: redact(message.into()),
            file: Some(file.clone()),
            span: Some(span),
            label: Some(redact(label.into())),
            others: Vec::new(),
            help: None,
        }
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(redact(help.into()));
        self
    }

    #[must_use]
    pub fn with_other(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.others.push((span, redact(label.into())));
        self
    }

    fn sort_key(&self) -> (String, usize, Rule, String) {
        (
            self.file.as_ref().map(|f| f.name.clone()).unwrap_or_default(),
            self.span.as_ref().map_or(0, |s| s.start),
            self.rule,
            self.message.clone(),
        )
    }
}

struct Code(Rule);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tokenform::config::{}", self.0.name())
    }
}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(Code(self.rule)))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.file.as_ref().map(|f| &*f.source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span.clone()?;
        self.file.as_ref()?;
        let primary = LabeledSpan::new_primary_with_span(self.label.clone(), to_source_span(&span));
        let others =
            self.others.iter().map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), to_source_span(s)));
        Some(Box::new(std::iter::once(primary).chain(others)))
    }
}

fn to_source_span(span: &Range<usize>) -> SourceSpan {
    SourceSpan::from(span.start..span.end.max(span.start))
}

/// Collects the problems of one load.
#[derive(Debug, Default)]
pub struct Sink {
    problems: Vec<Problem>,
}

impl Sink {
    pub fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Every problem, in file and position order, duplicates (same rule, place and message:
    /// e.g. one error repeated by every `for_each` instance) removed.
    pub fn into_sorted(self) -> Vec<Problem> {
        let mut problems = self.problems;
        problems.sort_by_cached_key(Problem::sort_key);
        problems.dedup_by(|a, b| {
            a.rule == b.rule
                && a.span == b.span
                && a.message == b.message
                && a.file.as_ref().map(|f| &f.name) == b.file.as_ref().map(|f| &f.name)
        });
        problems
    }
}

/// Renders problems as miette graphical reports (colour only when asked), one after another.
pub fn render(problems: &[Problem], color: bool) -> String {
    let theme =
        if color { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    render_with(problems, &miette::GraphicalReportHandler::new_themed(theme))
}

/// Renders problems with a given handler (tests use a fixed width).
pub fn render_with(problems: &[Problem], handler: &miette::GraphicalReportHandler) -> String {
    let mut out = String::new();
    for p in problems {
        let _ = handler.render_report(&mut out, p);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_keeping_offsets() {
        let text = "a = \"api-0a1b2c3d-0000-4000-8000-00000000beef\"\n";
        let masked = mask_secrets(text);
        assert_eq!(masked.len(), text.len());
        assert!(!masked.contains("beef"));
        assert!(masked.contains("api-****"));
    }

    #[test]
    fn line_col_is_one_based() {
        let f = SourceFile::new("a.hcl", "x = 1\ny = 2\n");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(8), (2, 3));
    }
}
