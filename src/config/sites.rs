//! Where things are written: for each `token` block (by label) and the singleton blocks,
//! the file and line/column range of the block's label and of each attribute, so a later
//! stage (`tokenform check`) can point at the configuration without re-reading it.
//! Built once from the parsed files with one line index per file. Pure: no I/O.

use std::collections::BTreeMap;
use std::ops::Range;

use super::parse::{Block, Body, File};

/// A 1-based line and column (columns count Unicode characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A range of one configuration file: `start` inclusive, `end` exclusive (the position
/// just after the last character), as SARIF regions count.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Site {
    /// The file name, relative to the configuration directory (e.g. `main.hcl`).
    pub file: String,
    pub start: Pos,
    pub end: Pos,
}

impl std::fmt::Display for Site {
    /// `main.hcl:4:3`, as compilers and `validate` print a place.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.start.line, self.start.column)
    }
}

/// One block: where its header is, and where each of its attributes is (`key = value`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockSites {
    /// The block's first label (`"ci"` of `token "ci"`), or its name when it has none.
    pub header: Option<Site>,
    pub attrs: BTreeMap<String, Site>,
}

impl BlockSites {
    /// The attribute's site, else the block header's.
    pub fn attr_or_header(&self, key: &str) -> Option<&Site> {
        self.attrs.get(key).or(self.header.as_ref())
    }
}

/// A `token` block and its nested blocks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenSites {
    pub block: BlockSites,
    /// The `policy` blocks in order (the order of the token's statements).
    pub policies: Vec<BlockSites>,
    pub rotation: Option<BlockSites>,
    pub checks: Option<BlockSites>,
}

/// Every site a configuration has, for diagnostics made after loading.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sites {
    /// By token block label (every `for_each` instance shares its block's sites).
    pub tokens: BTreeMap<String, TokenSites>,
    pub launchdarkly: Option<BlockSites>,
    pub unmanaged: Option<BlockSites>,
    pub checks: Option<BlockSites>,
    /// The start of the first configuration file: where findings about the account as a
    /// whole point when no block fits.
    pub first_file: Option<Site>,
}

impl Sites {
    /// Where attribute `key` of token block `label` is written, else the block's label.
    pub fn token_attr(&self, label: &str, key: &str) -> Option<&Site> {
        self.tokens.get(label).and_then(|t| t.block.attr_or_header(key))
    }
}

/// Byte offsets → line/column for one file.
struct LineIndex<'a> {
    name: &'a str,
    text: &'a str,
    /// Byte offset where each line starts.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(name: &'a str, text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { name, text, starts }
    }

    fn pos(&self, offset: usize) -> Pos {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count()) + 1;
        Pos { line, column }
    }

    fn site(&self, span: &Range<usize>) -> Site {
        Site {
            file: self.name.to_owned(),
            start: self.pos(span.start),
            end: self.pos(span.end.max(span.start)),
        }
    }
}

fn block_sites(ix: &LineIndex<'_>, b: &Block) -> BlockSites {
    let header = b.labels.first().map_or(&b.ident_span, |l| &l.span);
    BlockSites { header: Some(ix.site(header)), attrs: attr_sites(ix, &b.body) }
}

fn attr_sites(ix: &LineIndex<'_>, body: &Body) -> BTreeMap<String, Site> {
    let mut out = BTreeMap::new();
    for a in &body.attrs {
        // The first occurrence: a duplicate is a load error anyway.
        out.entry(a.key.clone()).or_insert_with(|| ix.site(&(a.key_span.start..a.span.end)));
    }
    out
}

/// Collects the sites of every block of `files`.
pub(super) fn collect(files: &[File]) -> Sites {
    let mut sites = Sites::default();
    for f in files {
        let ix = LineIndex::new(&f.src.name, f.src.source.inner());
        if sites.first_file.is_none() {
            sites.first_file = Some(ix.site(&(0..0)));
        }
        for b in &f.body.blocks {
            match b.ident.as_str() {
                "token" => {
                    let Some(label) = b.labels.first() else { continue };
                    let nested = |name: &'static str| b.body.blocks.iter().filter(move |n| n.ident == name);
                    let t = TokenSites {
                        block: block_sites(&ix, b),
                        policies: nested("policy").map(|p| block_sites(&ix, p)).collect(),
                        rotation: nested("rotation").next().map(|r| block_sites(&ix, r)),
                        checks: nested("checks").next().map(|c| block_sites(&ix, c)),
                    };
                    sites.tokens.entry(label.value.clone()).or_insert(t);
                }
                "launchdarkly" => {
                    sites.launchdarkly.get_or_insert_with(|| block_sites(&ix, b));
                }
                "unmanaged" => {
                    sites.unmanaged.get_or_insert_with(|| block_sites(&ix, b));
                }
                "checks" => {
                    sites.checks.get_or_insert_with(|| block_sites(&ix, b));
                }
                _ => {}
            }
        }
    }
    sites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let ix = LineIndex::new("a.hcl", "ab\né = 1\n\nx");
        assert_eq!(ix.pos(0), Pos { line: 1, column: 1 });
        assert_eq!(ix.pos(2), Pos { line: 1, column: 3 });
        assert_eq!(ix.pos(3), Pos { line: 2, column: 1 });
        // `é` is two bytes, one column.
        assert_eq!(ix.pos(5), Pos { line: 2, column: 2 });
        assert_eq!(ix.pos(10), Pos { line: 3, column: 1 });
        assert_eq!(ix.pos(11), Pos { line: 4, column: 1 });
        assert_eq!(ix.pos(12), Pos { line: 4, column: 2 });
        assert_eq!(ix.pos(999), Pos { line: 4, column: 2 });
    }
}
