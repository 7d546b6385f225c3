//! Variables: `variable` blocks, their `type` constraints, and their values from `default`,
//! `-var-file` files, `TOKENFORM_VAR_<name>` and `-var` (later wins), converted to the
//! declared type. Reads only `-var-file` files.

use std::collections::BTreeMap;
use std::ops::Range;

use hcl::Value;
use hcl::edit::expr::Expression as EditExpr;
use hcl::eval::{Context, Evaluate};

use super::VarInputs;
use super::diagnostics::{Problem, Rule, Sink, SourceFile};
use super::eval::{Env, Ref, references};
use super::functions;
use super::parse::{self, Attr, Block, File};

/// A variable's `type` constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum VarType {
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
pub(super) fn convert(v: Value, t: &VarType) -> Result<Value, String> {
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

struct VarDecl<'a> {
    ty: VarType,
    default: Option<(&'a Attr, usize)>,
    block: &'a Block,
    file: usize,
}

fn literal_env() -> Env {
    let mut env = Env::default();
    env.set_base();
    env
}

#[allow(clippy::too_many_lines)]
pub(super) fn resolve_variables(files: &[File], inputs: &VarInputs, env: &mut Env, sink: &mut Sink) {
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
            // Kept aside: whether it is a problem depends on who needs the value (eval::environment).
            env.unset.insert(
                name.clone(),
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
            let shown = crate::secret::redact_secrets(text);
            let example =
                if matches!(ty, VarType::Map(_)) { "{ key = \"value\" }" } else { "[\"a\", \"b\"]" };
            let not_a = |why: String| {
                format!("`{shown}` is not a {ty} value ({why}); write it in HCL, e.g. {example}")
            };
            let mut expr = hcl::edit::parser::parse_expr(text).map_err(|e| not_a(e.message().to_owned()))?;
            super::arith::rewrite(&mut expr);
            let mut ctx = Context::new();
            functions::declare(&mut ctx);
            hcl::Expression::from(expr).evaluate(&ctx).map_err(|e| {
                not_a(super::arith::failure(e.kind()).map_or_else(|| e.kind().to_string(), |f| f.message))
            })
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
    let bytes = match crate::files::read(path, crate::files::Kind::VarFile) {
        Ok(b) => b,
        Err(e) => {
            sink.push(Problem::new(Rule::BadVarFile, format!("-var-file: {e}")));
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
