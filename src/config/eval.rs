//! Evaluation: the environment (variables from [`super::variables`], then `locals` in
//! dependency order, cycles reported) and one attribute at a time with `var`, `local` and
//! `each` in scope. References are checked against the syntax tree first, so an unknown name
//! is labelled exactly where it is written. No I/O.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use hcl::Value;
use hcl::edit::expr::{Expression as EditExpr, ForExpr, FuncCall, Traversal, TraversalOperator};
use hcl::edit::template::ForTemplateExpr;
use hcl::edit::visit::{self, Visit};
use hcl::eval::{Context, Evaluate};

use super::VarInputs;
use super::arith;
use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::functions;
use super::parse::{Attr, Block, File};
use super::schema;
use super::variables::resolve_variables;
/// A reference found in an expression.
#[derive(Debug)]
pub(super) enum Ref {
    Var(String, Range<usize>),
    Local(String, Range<usize>),
    Each(Option<String>, Range<usize>),
    Other(String, Range<usize>),
    Func(String, Range<usize>),
}

impl Ref {
    fn with_span(self, s: Range<usize>) -> Ref {
        match self {
            Ref::Var(n, _) => Ref::Var(n, s),
            Ref::Local(n, _) => Ref::Local(n, s),
            Ref::Each(n, _) => Ref::Each(n, s),
            Ref::Other(n, _) => Ref::Other(n, s),
            Ref::Func(n, _) => Ref::Func(n, s),
        }
    }
}

#[derive(Default)]
struct Refs {
    found: Vec<Ref>,
    scopes: Vec<String>,
}

fn span(s: &impl hcl::edit::Span) -> Range<usize> {
    s.span().unwrap_or(0..0)
}

impl Visit for Refs {
    fn visit_expr(&mut self, expr: &EditExpr) {
        if let EditExpr::Variable(v) = expr {
            let name = v.as_str();
            if !self.scopes.iter().any(|s| s == name) {
                self.found.push(Ref::Other(name.to_owned(), span(v)));
            }
            return;
        }
        visit::visit_expr(self, expr);
    }

    fn visit_traversal(&mut self, node: &Traversal) {
        let mut ops = node.operators.iter();
        if let EditExpr::Variable(root) = &node.expr {
            let name = root.as_str();
            let first = node.operators.first().and_then(|o| match o.value() {
                TraversalOperator::GetAttr(a) => Some(a.as_str().to_owned()),
                _ => None,
            });
            let whole = span(node);
            let shadowed = self.scopes.iter().any(|s| s == name);
            match (name, first) {
                _ if shadowed => {}
                ("var", Some(a)) => {
                    self.found.push(Ref::Var(a, whole));
                    ops.next();
                }
                ("local", Some(a)) => {
                    self.found.push(Ref::Local(a, whole));
                    ops.next();
                }
                ("each", a) => {
                    if a.is_some() {
                        ops.next();
                    }
                    self.found.push(Ref::Each(a, whole));
                }
                (other, _) => self.found.push(Ref::Other(other.to_owned(), whole)),
            }
        } else {
            self.visit_expr(&node.expr);
        }
        for op in ops {
            self.visit_traversal_operator(op);
        }
    }

    fn visit_func_call(&mut self, node: &FuncCall) {
        self.found.push(Ref::Func(node.name.name.as_str().to_owned(), span(&node.name.name)));
        visit::visit_func_args(self, &node.args);
    }

    fn visit_for_expr(&mut self, node: &ForExpr) {
        self.visit_expr(&node.intro.collection_expr);
        let n = self.scopes.len();
        if let Some(k) = &node.intro.key_var {
            self.scopes.push(k.as_str().to_owned());
        }
        self.scopes.push(node.intro.value_var.as_str().to_owned());
        if let Some(k) = &node.key_expr {
            self.visit_expr(k);
        }
        self.visit_expr(&node.value_expr);
        if let Some(c) = &node.cond {
            self.visit_expr(&c.expr);
        }
        self.scopes.truncate(n);
    }

    fn visit_for_template_expr(&mut self, node: &ForTemplateExpr) {
        self.visit_expr(&node.collection_expr);
        let n = self.scopes.len();
        if let Some(k) = &node.key_var {
            self.scopes.push(k.as_str().to_owned());
        }
        self.scopes.push(node.value_var.as_str().to_owned());
        self.visit_template(&node.template);
        self.scopes.truncate(n);
    }
}

pub(super) fn references(expr: &EditExpr) -> Vec<Ref> {
    let mut r = Refs::default();
    r.visit_expr(expr);
    r.found
}

/// Names that failed to evaluate: expressions using them are skipped silently, since the
/// failure was already reported where it happened.
#[derive(Debug, Default)]
pub(super) struct Env {
    pub vars: hcl::Map<String, Value>,
    pub locals: hcl::Map<String, Value>,
    pub bad_vars: BTreeSet<String>,
    pub bad_locals: BTreeSet<String>,
    /// Variables with no value (no default, not set), each with its `missing_variable`
    /// problem: [`environment`] reports them all, [`environment_deferring_unset`] leaves them
    /// here for the caller to report those it needs.
    pub unset: BTreeMap<String, Problem>,
    pub(super) declared_vars: BTreeSet<String>,
    declared_locals: BTreeSet<String>,
    /// `var` and `local` (and every function): set by [`Env::set_base`].
    base: Context<'static>,
    /// A copy of `base` that `each` is declared in, made once and reused by every
    /// `for_each` instance: copying `base` (every variable's value) per instance made
    /// `for_each` over a large variable quadratic.
    each_scope: RefCell<Option<Context<'static>>>,
}

/// What `each` is bound to in a `for_each` instance.
#[derive(Debug, Clone)]
pub(super) struct Each {
    pub key: Value,
    pub value: Value,
}

impl Env {
    /// Makes the values of `vars` and `locals` the ones expressions see.
    pub(super) fn set_base(&mut self) {
        let mut ctx = Context::new();
        functions::declare(&mut ctx);
        ctx.declare_var("var", Value::Object(self.vars.clone()));
        ctx.declare_var("local", Value::Object(self.locals.clone()));
        self.base = ctx;
        self.each_scope = RefCell::new(None);
    }

    /// Evaluates one attribute; `None` after reporting a problem (or when it uses a value that
    /// already failed).
    pub(super) fn eval(
        &self,
        attr: &Attr,
        src: &SourceFile,
        each: Option<&Each>,
        sink: &mut Sink,
    ) -> Option<Value> {
        if !self.check_refs(attr, src, each.is_some(), sink) {
            return None;
        }
        let mut value = attr.value.clone();
        let operations = arith::rewrite(&mut value);
        let expr = hcl::Expression::from(value);
        let result = match each {
            None => expr.evaluate(&self.base),
            Some(e) => {
                let mut scope = self.each_scope.borrow_mut();
                let ctx = scope.get_or_insert_with(|| self.base.clone());
                let mut obj = hcl::Map::new();
                obj.insert("key".to_owned(), e.key.clone());
                obj.insert("value".to_owned(), e.value.clone());
                // Replaces the previous instance's `each`.
                ctx.declare_var("each", Value::Object(obj));
                expr.evaluate(ctx)
            }
        };
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if let Some(f) = arith::failure(e.kind()) {
                    let span = match operations.get(f.index) {
                        Some(Some(s)) if !attr.coarse => s.clone(),
                        _ => attr.span.clone(),
                    };
                    let label =
                        if f.message.ends_with("by zero") { "divides by zero" } else { "cannot be computed" };
                    sink.push(Problem::at(
                        Rule::EvalError,
                        format!("cannot evaluate `{}`: {}", attr.key, f.message),
                        src,
                        span,
                        label,
                    ));
                    return None;
                }
                let msg = crate::secret::redact_secrets(&e.kind().to_string());
                sink.push(Problem::at(
                    Rule::EvalError,
                    format!("cannot evaluate `{}`: {msg}", attr.key),
                    src,
                    attr.span.clone(),
                    msg,
                ));
                None
            }
        }
    }

    /// Reports unknown references; false when the expression must not be evaluated.
    fn check_refs(&self, attr: &Attr, src: &SourceFile, in_for_each: bool, sink: &mut Sink) -> bool {
        let mut ok = true;
        for r in references(&attr.value) {
            let r = if attr.coarse { r.with_span(attr.span.clone()) } else { r };
            match r {
                Ref::Var(name, span) => {
                    if self.bad_vars.contains(&name) {
                        ok = false;
                    } else if !self.declared_vars.contains(&name) {
                        ok = false;
                        let names: Vec<&str> = self.declared_vars.iter().map(String::as_str).collect();
                        let help = match schema::suggest(&name, &names) {
                            Some(s) => format!("did you mean `var.{s}`?"),
                            None => format!("declare it: variable \"{name}\" {{ type = string }}"),
                        };
                        sink.push(
                            Problem::at(
                                Rule::UnknownVariable,
                                format!("unknown variable `var.{name}`"),
                                src,
                                span,
                                "no variable block declares this",
                            )
                            .with_help(help),
                        );
                    }
                }
                Ref::Local(name, span) => {
                    if self.bad_locals.contains(&name) {
                        ok = false;
                    } else if !self.declared_locals.contains(&name) {
                        ok = false;
                        let names: Vec<&str> = self.declared_locals.iter().map(String::as_str).collect();
                        let help = match schema::suggest(&name, &names) {
                            Some(s) => format!("did you mean `local.{s}`?"),
                            None => format!("define it in a locals block: locals {{ {name} = … }}"),
                        };
                        sink.push(
                            Problem::at(
                                Rule::UnknownLocal,
                                format!("unknown local value `local.{name}`"),
                                src,
                                span,
                                "no locals block defines this",
                            )
                            .with_help(help),
                        );
                    }
                }
                Ref::Each(attr, span) => {
                    if !in_for_each {
                        ok = false;
                        sink.push(
                            Problem::at(
                                Rule::UnknownReference,
                                "`each` is only available in a token block with for_each",
                                src,
                                span,
                                "not inside for_each",
                            )
                            .with_help("add for_each = toset([...]) to the token block"),
                        );
                    } else if !matches!(attr.as_deref(), Some("key" | "value")) {
                        ok = false;
                        sink.push(Problem::at(
                            Rule::UnknownReference,
                            "`each` has only `each.key` and `each.value`",
                            src,
                            span,
                            "use each.key or each.value",
                        ));
                    }
                }
                Ref::Other(name, span) => {
                    ok = false;
                    let msg = match name.as_str() {
                        "var" | "local" => format!("`{name}` must be followed by a name, e.g. `{name}.team`"),
                        "token" => "tokens cannot refer to other tokens".to_owned(),
                        _ => format!("unknown name `{name}`"),
                    };
                    sink.push(
                        Problem::at(Rule::UnknownReference, msg, src, span, "not a known value")
                            .with_help("expressions may use var.NAME, local.NAME, each.key/each.value, and names bound by a for expression; quote literal strings"),
                    );
                }
                Ref::Func(name, span) => {
                    if !functions::NAMES.contains(&name.as_str()) {
                        ok = false;
                        let help = match schema::suggest(&name, functions::NAMES) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("available functions: {}", functions::NAMES.join(", ")),
                        };
                        sink.push(
                            Problem::at(
                                Rule::UnknownFunction,
                                format!("unknown function `{name}`"),
                                src,
                                span,
                                "no such function",
                            )
                            .with_help(help),
                        );
                    }
                }
            }
        }
        ok
    }
}

/// Builds the evaluation environment: every variable's value, then every local's. A
/// variable with no value is a problem.
pub(super) fn environment(files: &[File], inputs: &VarInputs, sink: &mut Sink) -> Env {
    let mut env = environment_deferring_unset(files, inputs, sink);
    for (_, problem) in std::mem::take(&mut env.unset) {
        sink.push(problem);
    }
    env
}

/// [`environment`], with the problems of variables that have no value left in
/// [`Env::unset`]; whatever uses such a variable (directly or through a local) evaluates to
/// nothing, silently.
pub(super) fn environment_deferring_unset(files: &[File], inputs: &VarInputs, sink: &mut Sink) -> Env {
    let mut env = Env::default();
    resolve_variables(files, inputs, &mut env, sink);
    env.set_base();
    resolve_locals(files, &mut env, sink);
    env.set_base();
    env
}

/// The variables of `env.unset` that the attributes of `blocks` (nested blocks included)
/// use, directly or through locals.
pub(super) fn unset_used_by<'a>(
    blocks: impl IntoIterator<Item = &'a Block>,
    files: &[File],
    env: &Env,
) -> BTreeSet<String> {
    let locals: HashMap<&str, &Attr> = files
        .iter()
        .flat_map(|f| f.body.blocks.iter().filter(|b| b.ident == "locals"))
        .flat_map(|b| b.body.attrs.iter().map(|a| (a.key.as_str(), a)))
        .collect();
    let mut pending: Vec<&Attr> = Vec::new();
    let mut stack: Vec<&Block> = blocks.into_iter().collect();
    while let Some(b) = stack.pop() {
        pending.extend(&b.body.attrs);
        stack.extend(&b.body.blocks);
    }
    let mut seen_locals: BTreeSet<&str> = BTreeSet::new();
    let mut found = BTreeSet::new();
    while let Some(attr) = pending.pop() {
        for r in references(&attr.value) {
            match r {
                Ref::Var(name, _) if env.unset.contains_key(&name) => {
                    found.insert(name);
                }
                Ref::Local(name, _) => {
                    if let Some((key, a)) = locals.get_key_value(name.as_str())
                        && seen_locals.insert(key)
                    {
                        pending.push(a);
                    }
                }
                _ => {}
            }
        }
    }
    found
}

fn resolve_locals(files: &[File], env: &mut Env, sink: &mut Sink) {
    let mut defs: BTreeMap<String, (&Attr, usize)> = BTreeMap::new();
    for (fi, f) in files.iter().enumerate() {
        for b in f.body.blocks.iter().filter(|b| b.ident == "locals") {
            for a in &b.body.attrs {
                if let Some((prev, pfi)) = defs.get(&a.key) {
                    let pf = &files[*pfi].src;
                    let (l, c) = pf.line_col(prev.key_span.start);
                    sink.push(
                        Problem::at(
                            Rule::DuplicateLocal,
                            format!("local value `{}` is defined twice", a.key),
                            &f.src,
                            a.key_span.clone(),
                            "defined again here",
                        )
                        .with_help(format!(
                            "first defined at {}:{l}:{c}; local names are shared by every file",
                            pf.name
                        )),
                    );
                    continue;
                }
                defs.insert(a.key.clone(), (a, fi));
            }
        }
    }
    env.declared_locals = defs.keys().cloned().collect();

    let dependencies: HashMap<&str, Vec<String>> = defs
        .iter()
        .map(|(k, (a, _))| {
            let d = references(&a.value)
                .into_iter()
                .filter_map(|r| if let Ref::Local(n, _) = r { Some(n) } else { None })
                .collect();
            (k.as_str(), d)
        })
        .collect();

    // Depth-first topological order; a back edge is a cycle.
    let mut order = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 visiting, 2 done
    let mut cyclic: BTreeSet<String> = BTreeSet::new();
    for start in defs.keys() {
        let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
        if state.contains_key(start.as_str()) {
            continue;
        }
        state.insert(start.as_str(), 1);
        while let Some((node, i)) = stack.pop() {
            let next = dependencies.get(node).and_then(|d| d.get(i));
            if let Some(dep) = next {
                stack.push((node, i + 1));
                let Some((dep_key, _)) = defs.get_key_value(dep.as_str()) else { continue };
                match state.get(dep_key.as_str()) {
                    None => {
                        state.insert(dep_key.as_str(), 1);
                        stack.push((dep_key.as_str(), 0));
                    }
                    Some(1) => {
                        // The cycle is the part of the stack from `dep` on.
                        let names: Vec<&str> =
                            stack.iter().map(|(n, _)| *n).skip_while(|n| *n != dep_key.as_str()).collect();
                        if names.iter().all(|n| !cyclic.contains(*n)) {
                            let (a, fi) = defs[dep_key.as_str()];
                            let path = names
                                .iter()
                                .chain(std::iter::once(&dep_key.as_str()))
                                .map(|n| format!("local.{n}"))
                                .collect::<Vec<_>>()
                                .join(" → ");
                            sink.push(
                                Problem::at(
                                    Rule::LocalsCycle,
                                    format!("local values refer to each other in a cycle: {path}"),
                                    &files[fi].src,
                                    a.key_span.clone(),
                                    "part of the cycle",
                                )
                                .with_help(
                                    "break the cycle: one of these values must not depend on the others",
                                ),
                            );
                        }
                        cyclic.extend(names.iter().map(|n| (*n).to_owned()));
                    }
                    Some(_) => {}
                }
            } else {
                state.insert(node, 2);
                order.push(node.to_owned());
            }
        }
    }
    env.bad_locals.extend(cyclic);

    for name in order {
        if env.bad_locals.contains(&name) {
            continue;
        }
        let (a, fi) = defs[name.as_str()];
        env.set_base();
        match env.eval(a, &files[fi].src, None, sink) {
            Some(v) => {
                env.locals.insert(name, v);
            }
            None => {
                env.bad_locals.insert(name);
            }
        }
    }
}
