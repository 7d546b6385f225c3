//! The functions configuration expressions may call: `toset`, `tolist`, `lower`, `upper`,
//! `format`, `join`, `concat`, `merge`, `length`, `keys`, `values`, `trimspace`, `replace`.
//! Pure: plain `fn` pointers over `hcl::Value`, as `hcl::eval::FuncDef` requires.

// `hcl::eval::Func` is `fn(FuncArgs) -> …`: the arguments come by value whether used or not.
#![allow(clippy::needless_pass_by_value)]

use hcl::Value;
use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};

/// Names of every function, for "did you mean" help.
pub(super) const NAMES: &[&str] = &[
    "toset",
    "tolist",
    "lower",
    "upper",
    "format",
    "join",
    "concat",
    "merge",
    "length",
    "keys",
    "values",
    "trimspace",
    "replace",
];

/// Declares every function in `ctx`, and the checked arithmetic operators
/// ([`super::arith`]) that expressions are rewritten to use.
pub(super) fn declare(ctx: &mut Context<'_>) {
    super::arith::declare(ctx);
    let list = || ParamType::array_of(ParamType::Any);
    ctx.declare_func("toset", FuncDef::builder().param(list()).build(toset));
    ctx.declare_func("tolist", FuncDef::builder().param(list()).build(tolist));
    ctx.declare_func("lower", FuncDef::builder().param(ParamType::String).build(lower));
    ctx.declare_func("upper", FuncDef::builder().param(ParamType::String).build(upper));
    ctx.declare_func("trimspace", FuncDef::builder().param(ParamType::String).build(trimspace));
    ctx.declare_func(
        "replace",
        FuncDef::builder().params([ParamType::String, ParamType::String, ParamType::String]).build(replace),
    );
    ctx.declare_func(
        "format",
        FuncDef::builder().param(ParamType::String).variadic_param(ParamType::Any).build(format),
    );
    ctx.declare_func(
        "join",
        FuncDef::builder().param(ParamType::String).param(ParamType::array_of(ParamType::Any)).build(join),
    );
    ctx.declare_func("concat", FuncDef::builder().variadic_param(list()).build(concat));
    ctx.declare_func(
        "merge",
        FuncDef::builder().variadic_param(ParamType::object_of(ParamType::Any)).build(merge),
    );
    ctx.declare_func(
        "length",
        FuncDef::builder()
            .param(ParamType::one_of([ParamType::String, list(), ParamType::object_of(ParamType::Any)]))
            .build(length),
    );
    ctx.declare_func("keys", FuncDef::builder().param(ParamType::object_of(ParamType::Any)).build(keys));
    ctx.declare_func("values", FuncDef::builder().param(ParamType::object_of(ParamType::Any)).build(values));
}

fn str_arg(args: &FuncArgs, i: usize) -> Result<&str, String> {
    args.get(i).and_then(Value::as_str).ok_or_else(|| format!("argument {} must be a string", i + 1))
}

fn array_arg(args: &FuncArgs, i: usize) -> Result<&Vec<Value>, String> {
    args.get(i).and_then(Value::as_array).ok_or_else(|| format!("argument {} must be a list", i + 1))
}

/// A value as a string the way templates show it (strings bare, numbers and bools as text).
pub(super) fn to_display(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A set: unique elements, sorted (as Terraform orders string sets).
fn toset(args: FuncArgs) -> Result<Value, String> {
    let mut items = array_arg(&args, 0)?.clone();
    items.sort_by_key(|v| to_display(v).unwrap_or_else(|| v.to_string()));
    items.dedup();
    Ok(Value::Array(items))
}

fn tolist(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(array_arg(&args, 0)?.clone()))
}

fn lower(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(str_arg(&args, 0)?.to_lowercase()))
}

fn upper(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(str_arg(&args, 0)?.to_uppercase()))
}

fn trimspace(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(str_arg(&args, 0)?.trim()))
}

fn replace(args: FuncArgs) -> Result<Value, String> {
    Ok(Value::from(str_arg(&args, 0)?.replace(str_arg(&args, 1)?, str_arg(&args, 2)?)))
}

/// `format(spec, args…)` with `%s`, `%d`, `%v`, `%q` and `%%`.
fn format(args: FuncArgs) -> Result<Value, String> {
    let spec = str_arg(&args, 0)?;
    let mut rest = args.iter().skip(1);
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next().ok_or("format string ends with a lone %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = rest.next().ok_or_else(|| format!("not enough arguments for %{verb}"))?;
        match verb {
            's' | 'v' => out.push_str(
                &to_display(v).ok_or_else(|| format!("%{verb} needs a string, number or bool, got {v}"))?,
            ),
            'd' => match v {
                Value::Number(n) if n.is_i64() || n.is_u64() => out.push_str(&n.to_string()),
                _ => return Err(format!("%d needs a whole number, got {v}")),
            },
            'q' => out.push_str(&Value::from(to_display(v).ok_or("%q needs a string")?).to_string()),
            other => return Err(format!("unsupported format verb %{other} (use %s, %d, %v, %q or %%)")),
        }
    }
    if rest.next().is_some() {
        return Err("too many arguments for the format string".into());
    }
    Ok(Value::from(out))
}

fn join(args: FuncArgs) -> Result<Value, String> {
    let sep = str_arg(&args, 0)?;
    let parts: Result<Vec<String>, String> = array_arg(&args, 1)?
        .iter()
        .map(|v| to_display(v).ok_or_else(|| format!("join needs a list of strings, got {v}")))
        .collect();
    Ok(Value::from(parts?.join(sep)))
}

fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args.iter() {
        out.extend(a.as_array().ok_or("concat takes lists")?.iter().cloned());
    }
    Ok(Value::Array(out))
}

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for a in args.iter() {
        for (k, v) in a.as_object().ok_or("merge takes maps")? {
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn length(args: FuncArgs) -> Result<Value, String> {
    let n = match args.first() {
        Some(Value::String(s)) => s.chars().count(),
        Some(Value::Array(a)) => a.len(),
        Some(Value::Object(o)) => o.len(),
        _ => return Err("length takes a string, list or map".into()),
    };
    Ok(Value::from(n))
}

fn keys(args: FuncArgs) -> Result<Value, String> {
    let o = args.first().and_then(Value::as_object).ok_or("keys takes a map")?;
    Ok(Value::Array(o.keys().map(|k| Value::from(k.clone())).collect()))
}

fn values(args: FuncArgs) -> Result<Value, String> {
    let o = args.first().and_then(Value::as_object).ok_or("values takes a map")?;
    Ok(Value::Array(o.values().cloned().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(src: &str) -> Result<Value, String> {
        let mut ctx = Context::new();
        declare(&mut ctx);
        let expr = hcl::edit::parser::parse_expr(src).map_err(|e| e.to_string())?;
        hcl::Expression::from(expr).evaluate(&ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn functions_table() {
        let cases: &[(&str, &str)] = &[
            (r#"toset(["b", "a", "b"])"#, r#"["a","b"]"#),
            (r#"lower("AbC")"#, r#""abc""#),
            (r#"upper("abc")"#, r#""ABC""#),
            (r#"format("%s-%d-%%", "x", 3)"#, r#""x-3-%""#),
            (r#"join(",", ["a", "b"])"#, r#""a,b""#),
            (r#"concat(["a"], ["b", "c"])"#, r#"["a","b","c"]"#),
            ("merge({a = 1, b = 2}, {b = 3})", r#"{"a":1,"b":3}"#),
            (r#"length(["a", "b"])"#, "2"),
            ("keys({a = 1})", r#"["a"]"#),
            (r#"trimspace("  x ")"#, r#""x""#),
            (r#"replace("a-b", "-", "_")"#, r#""a_b""#),
        ];
        for (src, want) in cases {
            let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e}"));
            assert_eq!(serde_json::to_string(&got).unwrap(), *want, "{src}");
        }
    }

    #[test]
    fn function_errors_do_not_panic() {
        for src in [
            r#"format("%d", "x")"#,
            r#"format("%s")"#,
            r#"format("%")"#,
            r#"join(",", [{}])"#,
            "lower(1)",
            r#"format("%z", 1)"#,
        ] {
            assert!(eval(src).is_err(), "{src}");
        }
    }
}
