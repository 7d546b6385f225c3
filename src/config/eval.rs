//! Evaluation: variables (default < `-var-file` < `TOKENFORM_VAR_x` < `-var`), `locals` (in
//! dependency order, cycles reported), and one attribute at a time with `var`, `local` and
//! `each` in scope. References are checked against the syntax tree first, so an unknown name
//! is labelled exactly where it is written. Reads only `-var-file` files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use hcl::Value;
use hcl::edit::expr::{Expression as EditExpr, ForExpr, FuncCall, Traversal, TraversalOperator};
use hcl::edit::template::ForTemplateExpr;
use hcl::edit::visit::{self, Visit};
use hcl::eval::{Context, Evaluate};

use super::VarInputs;
use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::functions;
use super::parse::{self, Attr, Block, File};
use super::schema;

/// A variable's `type` constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarType {
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Set(Box<VarType>),
    Map(Box<VarType>),
}

impl std::fmt::Display for VarType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarType::Any => f.write_str("any"),
            VarType::String => f.write_str("string"),
            VarType::Number => f.write_str("number"),
            VarType::Bool => f.write_str("bool"),
            VarType::List(t) => write!(f, "list({t})"),
            VarType::Set(t) => write!(f, "set({t})"),
            VarType::Map(t) => write!(f, "map({t})"),
        }
    }
}

fn parse_type(expr: &EditExpr) -> Option<VarType> {
    match expr {
        EditExpr::Variable(v) => match v.as_str() {
            "string" => Some(VarType::String),
            "number" => Some(VarType::Number),
            "bool" => Some(VarType::Bool),
            "any" => Some(VarType::Any),
            _ => None,
        },
        EditExpr::FuncCall(call) if call.args.len() == 1 && call.name.namespace.is_empty() => {
            let inner = Box::new(parse_type(call.args.iter().next()?)?);
            match call.name.name.as_str() {
                "list" => Some(VarType::List(inner)),
                "set" => Some(VarType::Set(inner)),
                "map" => Some(VarType::Map(inner)),
                _ => None,
            }
        }
        // JSON syntax writes types as strings: "list(string)".
        EditExpr::String(s) => parse_type(&hcl::edit::parser::parse_expr(s.as_str()).ok()?),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

/// Converts `v` to `t` as Terraform would (numbers and bools become strings, "true" a bool…).
pub fn convert(v: Value, t: &VarType) -> Result<Value, String> {
    let mismatch = |v: &Value| format!("expected {t}, got {}", type_name(v));
    match (t, v) {
        (VarType::Any, v) => Ok(v),
        (VarType::String, Value::String(s)) => Ok(Value::String(s)),
        (VarType::String, v @ (Value::Number(_) | Value::Bool(_))) => {
            Ok(Value::String(functions::to_display(&v).unwrap_or_default()))
        }
        (VarType::Number, Value::Number(n)) => Ok(Value::Number(n)),
        (VarType::Number, Value::String(s)) => parse_number(&s).ok_or_else(|| {
            format!("expected number, got the string {:?}", crate::secret::redact_secrets(&s))
        }),
        (VarType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
        (VarType::Bool, Value::String(s)) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        (VarType::List(e) | VarType::Set(e), Value::Array(items)) => {
            let mut out = items.into_iter().map(|i| convert(i, e)).collect::<Result<Vec<_>, _>>()?;
            if matches!(t, VarType::Set(_)) {
                out.sort_by_key(|v| functions::to_display(v).unwrap_or_else(|| v.to_string()));
                out.dedup();
            }
            Ok(Value::Array(out))
        }
        (VarType::Map(e), Value::Object(map)) => {
            let mut out = hcl::Map::new();
            for (k, v) in map {
                out.insert(k, convert(v, e)?);
            }
            Ok(Value::Object(out))
        }
        (_, v) => Err(mismatch(&v)),
    }
}

fn parse_number(s: &str) -> Option<Value> {
    if let Ok(i) = s.trim().parse::<i64>() {
        return Some(Value::from(i));
    }
    let f = s.trim().parse::<f64>().ok()?;
    hcl::Number::from_f64(f).map(Value::Number)
}

/// A reference found in an expression.
#[derive(Debug)]
enum Ref {
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

fn references(expr: &EditExpr) -> Vec<Ref> {
    let mut r = Refs::default();
    r.visit_expr(expr);
    r.found
}

/// Names that failed to evaluate: expressions using them are skipped silently, since the
/// failure was already reported where it happened.
#[derive(Debug, Default)]
pub struct Env {
    pub vars: hcl::Map<String, Value>,
    pub locals: hcl::Map<String, Value>,
    pub bad_vars: BTreeSet<String>,
    pub bad_locals: BTreeSet<String>,
    declared_vars: BTreeSet<String>,
    declared_locals: BTreeSet<String>,
    base: Context<'static>,
}

/// What `each` is bound to in a `for_each` instance.
#[derive(Debug, Clone)]
pub struct Each {
    pub key: Value,
    pub value: Value,
}

impl Env {
    fn context(&self) -> Context<'static> {
        let mut ctx = Context::new();
        functions::declare(&mut ctx);
        ctx.declare_var("var", Value::Object(self.vars.clone()));
        ctx.declare_var("local", Value::Object(self.locals.clone()));
        ctx
    }

    /// Evaluates one attribute; `None` after reporting a problem (or when it uses a value that
    /// already failed).
    pub fn eval(&self, attr: &Attr, src: &SourceFile, each: Option<&Each>, sink: &mut Sink) -> Option<Value> {
        if !self.check_refs(attr, src, each.is_some(), sink) {
            return None;
        }
        let expr = hcl::Expression::from(attr.value.clone());
        let result = match each {
            None => expr.evaluate(&self.base),
            Some(e) => {
                let mut ctx = self.base.clone();
                let mut obj = hcl::Map::new();
                obj.insert("key".to_owned(), e.key.clone());
                obj.insert("value".to_owned(), e.value.clone());
                ctx.declare_var("each", Value::Object(obj));
                expr.evaluate(&ctx)
            }
        };
        match result {
            Ok(v) => Some(v),
            Err(e) => {
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

/// Builds the evaluation environment: every variable's value, then every local's.
pub fn environment(files: &[File], inputs: &VarInputs, sink: &mut Sink) -> Env {
    let mut env = Env::default();
    resolve_variables(files, inputs, &mut env, sink);
    env.base = env.context();
    resolve_locals(files, &mut env, sink);
    env.base = env.context();
    env
}

struct VarDecl<'a> {
    ty: VarType,
    default: Option<(&'a Attr, usize)>,
    block: &'a Block,
    file: usize,
}

fn literal_env() -> Env {
    let mut env = Env::default();
    env.base = env.context();
    env
}

#[allow(clippy::too_many_lines)]
fn resolve_variables(files: &[File], inputs: &VarInputs, env: &mut Env, sink: &mut Sink) {
    let mut decls: BTreeMap<String, VarDecl<'_>> = BTreeMap::new();
    for (fi, f) in files.iter().enumerate() {
        for b in f.body.blocks.iter().filter(|b| b.ident == "variable") {
            let Some(label) = b.labels.first() else { continue };
            if !crate::model::is_identifier(&label.value) {
                sink.push(
                    Problem::at(
                        Rule::BadLabel,
                        format!("{:?} is not a valid variable name", label.value),
                        &f.src,
                        label.span.clone(),
                        "not an identifier",
                    )
                    .with_help("a variable name starts with a letter or _, then letters, digits, _ or -"),
                );
                continue;
            }
            if let Some(prev) = decls.get(&label.value) {
                let pf = &files[prev.file].src;
                let (l, c) = pf.line_col(prev.block.labels[0].span.start);
                sink.push(
                    Problem::at(
                        Rule::DuplicateLabel,
                        format!("variable `{}` is declared twice", label.value),
                        &f.src,
                        label.span.clone(),
                        "declared again here",
                    )
                    .with_help(format!("first declared at {}:{l}:{c}; remove one", pf.name)),
                );
                continue;
            }
            let mut ty = VarType::Any;
            let mut default = None;
            for a in &b.body.attrs {
                match a.key.as_str() {
                    "type" => match parse_type(&a.value) {
                        Some(t) => ty = t,
                        None => sink.push(
                            Problem::at(
                                Rule::BadVariable,
                                format!("`{}` is not a type", a.value.to_string().trim()),
                                &f.src,
                                a.span.clone(),
                                "unknown type",
                            )
                            .with_help("use string, number, bool, list(string), set(string) or map(string)"),
                        ),
                    },
                    "default" => default = Some((a, fi)),
                    _ => {}
                }
            }
            decls.insert(label.value.clone(), VarDecl { ty, default, block: b, file: fi });
        }
    }
    env.declared_vars = decls.keys().cloned().collect();

    // Candidate values, later wins: (value, where it came from: file source + span, if any).
    let mut values: Values = BTreeMap::new();
    let lit = literal_env();
    for (name, d) in &decls {
        if let Some((a, fi)) = d.default {
            let src = &files[fi].src;
            if !references(&a.value).iter().all(|r| matches!(r, Ref::Func(..))) {
                sink.push(
                    Problem::at(
                        Rule::BadVariable,
                        format!("the default of `var.{name}` must be a literal value"),
                        src,
                        a.span.clone(),
                        "refers to other values",
                    )
                    .with_help("use a local value to combine variables"),
                );
                env.bad_vars.insert(name.clone());
                continue;
            }
            match lit.eval(a, src, None, sink) {
                Some(v) => {
                    values.insert(name.clone(), (v, Some((src.clone(), a.span.clone()))));
                }
                None => {
                    env.bad_vars.insert(name.clone());
                }
            }
        }
    }
    for path in &inputs.var_files {
        read_var_file(path, &decls, &lit, &mut values, env, sink);
    }
    for (k, v) in &inputs.env {
        if let Some(name) = k.strip_prefix("TOKENFORM_VAR_")
            && let Some(d) = decls.get(name)
        {
            match text_value(v, &d.ty) {
                Ok(val) => {
                    values.insert(name.to_owned(), (val, None));
                }
                Err(e) => {
                    sink.push(
                        Problem::new(Rule::WrongType, format!("{k}: {e}"))
                            .with_help(format!("variable `{name}` has type {}", d.ty)),
                    );
                    env.bad_vars.insert(name.to_owned());
                }
            }
        }
    }
    for (k, v) in &inputs.vars {
        if k.is_empty() {
            sink.push(
                Problem::new(
                    Rule::BadVariable,
                    format!("-var needs NAME=VALUE, got `{}`", crate::secret::redact_secrets(v)),
                )
                .with_help("write -var 'team=platform'"),
            );
            continue;
        }
        let Some(d) = decls.get(k.as_str()) else {
            sink.push(
                Problem::new(
                    Rule::UndeclaredVariable,
                    format!("-var sets `{k}`, which no variable block declares"),
                )
                .with_help(format!("declare it: variable \"{k}\" {{ type = string }}")),
            );
            continue;
        };
        match text_value(v, &d.ty) {
            Ok(val) => {
                values.insert(k.clone(), (val, None));
            }
            Err(e) => {
                sink.push(
                    Problem::new(Rule::WrongType, format!("-var {k}: {e}"))
                        .with_help(format!("variable `{k}` has type {}", d.ty)),
                );
                env.bad_vars.insert(k.clone());
            }
        }
    }

    for (name, d) in &decls {
        if env.bad_vars.contains(name) {
            continue;
        }
        let src = &files[d.file].src;
        let Some((v, origin)) = values.remove(name) else {
            let label = d.block.labels[0].span.clone();
            sink.push(
                Problem::at(
                    Rule::MissingVariable,
                    format!("variable `{name}` has no value"),
                    src,
                    label,
                    "no default and not set",
                )
                .with_help(format!(
                    "give it a default, or set it with -var '{name}=…', TOKENFORM_VAR_{name} or a -var-file"
                )),
            );
            env.bad_vars.insert(name.clone());
            continue;
        };
        match convert(v, &d.ty) {
            Ok(v) => {
                env.vars.insert(name.clone(), v);
            }
            Err(e) => {
                let p = match origin {
                    Some((f, span)) => Problem::at(
                        Rule::WrongType,
                        format!("wrong type for variable `{name}`: {e}"),
                        &f,
                        span,
                        e.clone(),
                    ),
                    None => Problem::new(Rule::WrongType, format!("wrong type for variable `{name}`: {e}")),
                };
                sink.push(p.with_help(format!("variable `{name}` has type {}", d.ty)));
                env.bad_vars.insert(name.clone());
            }
        }
    }
}

/// A value given as text (env var, `-var`): strings stay text, other types are parsed.
fn text_value(text: &str, ty: &VarType) -> Result<Value, String> {
    match ty {
        VarType::Any | VarType::String => Ok(Value::from(text)),
        VarType::Number | VarType::Bool => convert(Value::from(text), ty),
        _ => {
            let expr = hcl::edit::parser::parse_expr(text).map_err(|e| {
                format!("`{}` is not a {ty} value: {}", crate::secret::redact_secrets(text), e.message())
            })?;
            let mut ctx = Context::new();
            functions::declare(&mut ctx);
            hcl::Expression::from(expr).evaluate(&ctx).map_err(|e| e.kind().to_string())
        }
    }
}

type Values = BTreeMap<String, (Value, Option<(SourceFile, Range<usize>)>)>;

#[allow(clippy::case_sensitive_file_extension_comparisons)] // as config files: lowercase names
fn read_var_file(
    path: &std::path::Path,
    decls: &BTreeMap<String, VarDecl<'_>>,
    lit: &Env,
    values: &mut Values,
    env: &mut Env,
    sink: &mut Sink,
) {
    let shown = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            sink.push(Problem::new(Rule::BadVarFile, format!("cannot read -var-file {shown}: {e}")));
            return;
        }
    };
    // A var file is HCL (or JSON when named *.json): `name = value` lines.
    let mut local = Sink::default();
    let parsed = match std::str::from_utf8(&bytes) {
        Ok(text) if shown.ends_with(".json") => parse::parse_json_attrs(&shown, text, &mut local),
        _ => parse::parse_file(&shown, &bytes, 0, &mut local),
    };
    for p in local.into_sorted() {
        sink.push(p);
    }
    let Some(file) = parsed else { return };
    let src = SourceFile::new(&shown, &String::from_utf8_lossy(&bytes));
    for b in &file.body.blocks {
        sink.push(Problem::at(
            Rule::BadVarFile,
            format!("-var-file {shown} may only hold `name = value` lines"),
            &src,
            b.ident_span.clone(),
            "a block is not allowed here",
        ));
    }
    for a in &file.body.attrs {
        if !decls.contains_key(&a.key) {
            sink.push(
                Problem::at(
                    Rule::UndeclaredVariable,
                    format!("{shown} sets `{}`, which no variable block declares", a.key),
                    &src,
                    a.key_span.clone(),
                    "undeclared",
                )
                .with_help(format!("declare it: variable \"{}\" {{ type = string }}", a.key)),
            );
            continue;
        }
        match lit.eval(a, &src, None, sink) {
            Some(v) => {
                env.bad_vars.remove(&a.key);
                values.insert(a.key.clone(), (v, Some((src.clone(), a.span.clone()))));
            }
            None => {
                env.bad_vars.insert(a.key.clone());
            }
        }
    }
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
        env.base = env.context();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_and_convert() {
        let t = parse_type(&hcl::edit::parser::parse_expr("list(string)").unwrap()).unwrap();
        assert_eq!(t, VarType::List(Box::new(VarType::String)));
        assert_eq!(t.to_string(), "list(string)");
        assert!(parse_type(&hcl::edit::parser::parse_expr("strin").unwrap()).is_none());
        assert_eq!(convert(Value::from(3), &VarType::String).unwrap(), Value::from("3"));
        assert!(convert(Value::from("x"), &VarType::Number).is_err());
        assert_eq!(
            text_value("[\"a\", \"b\"]", &VarType::Set(Box::new(VarType::String)))
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
}
