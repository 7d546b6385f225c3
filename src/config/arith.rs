//! Checked arithmetic in configuration expressions.
//!
//! hcl-rs computes `+ - * / %` in machine integers or floats: `1/0` becomes 1.797e308, and
//! `1 % 0` or an integer overflow panics. Before an expression is evaluated, [`rewrite`]
//! turns every arithmetic operation into a call of one of this module's functions, with the
//! operation's index as a third argument. A function that cannot compute its result fails
//! with that index, and [`failure`] maps it back to the operation's span, so the problem is
//! labelled where it is written. Pure.

// `hcl::eval::Func` is `fn(FuncArgs) -> …`: the arguments come by value.
#![allow(clippy::needless_pass_by_value)]

use std::ops::Range;

use hcl::edit::Ident;
use hcl::edit::Span as _;
use hcl::edit::expr::{BinaryOperator, Expression, FuncArgs, FuncCall};
use hcl::edit::visit_mut::{self, VisitMut};
use hcl::eval::{Context, ErrorKind, FuncDef, ParamType};
use hcl::{Number, Value};

/// The function each operator becomes. They are not in [`super::functions::NAMES`], so a
/// configuration cannot call them by name (an unknown function is refused before evaluation).
const OPS: [(BinaryOperator, &str); 5] = [
    (BinaryOperator::Plus, "tokenform_checked_add"),
    (BinaryOperator::Minus, "tokenform_checked_sub"),
    (BinaryOperator::Mul, "tokenform_checked_mul"),
    (BinaryOperator::Div, "tokenform_checked_div"),
    (BinaryOperator::Mod, "tokenform_checked_mod"),
];

/// Declares the checked operators in `ctx`.
pub(super) fn declare(ctx: &mut Context<'_>) {
    let def = |f: hcl::eval::Func| {
        FuncDef::builder().params([ParamType::Any, ParamType::Any, ParamType::Any]).build(f)
    };
    ctx.declare_func(OPS[0].1, def(add));
    ctx.declare_func(OPS[1].1, def(sub));
    ctx.declare_func(OPS[2].1, def(mul));
    ctx.declare_func(OPS[3].1, def(div));
    ctx.declare_func(OPS[4].1, def(rem));
}

/// Rewrites every arithmetic operation of `expr` into a checked call; returns the span of
/// each operation by index (`None` where the expression has no span).
pub(super) fn rewrite(expr: &mut Expression) -> Vec<Option<Range<usize>>> {
    let mut r = Rewriter::default();
    r.visit_expr_mut(expr);
    r.spans
}

#[derive(Default)]
struct Rewriter {
    spans: Vec<Option<Range<usize>>>,
}

impl VisitMut for Rewriter {
    fn visit_expr_mut(&mut self, expr: &mut Expression) {
        // Operands first: the rewritten call takes them as they are.
        visit_mut::visit_expr_mut(self, expr);
        let Expression::BinaryOp(op) = expr else { return };
        let Some(name) = OPS.iter().find(|(o, _)| o == op.operator.value()).map(|(_, n)| *n) else {
            return;
        };
        let span = op.span();
        let index = self.spans.len() as u64;
        self.spans.push(span);
        let Expression::BinaryOp(op) = std::mem::replace(expr, Expression::from(false)) else { return };
        let op = *op;
        let mut args = FuncArgs::new();
        args.push(op.lhs_expr);
        args.push(op.rhs_expr);
        args.push(Expression::from(index));
        *expr = Expression::from(FuncCall::new(Ident::new(name), args));
    }
}

/// A checked operation that failed: which one (its index from [`rewrite`]) and why.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Failure {
    pub index: usize,
    pub message: String,
}

/// The failure of a checked operation, when `kind` is one.
pub(super) fn failure(kind: &ErrorKind) -> Option<Failure> {
    let ErrorKind::FuncCall(name, msg) = kind else { return None };
    if !OPS.iter().any(|(_, n)| *n == name.name.as_str()) {
        return None;
    }
    let (index, message) = msg.split_once(':')?;
    Some(Failure { index: index.parse().ok()?, message: message.to_owned() })
}

fn add(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    apply(&args, BinaryOperator::Plus)
}

fn sub(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    apply(&args, BinaryOperator::Minus)
}

fn mul(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    apply(&args, BinaryOperator::Mul)
}

fn div(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    apply(&args, BinaryOperator::Div)
}

fn rem(args: hcl::eval::FuncArgs) -> Result<Value, String> {
    apply(&args, BinaryOperator::Mod)
}

fn apply(args: &hcl::eval::FuncArgs, op: BinaryOperator) -> Result<Value, String> {
    let index = args.get(2).and_then(Value::as_u64).unwrap_or(u64::MAX);
    let fail = |msg: String| format!("{index}:{msg}");
    match (args.first(), args.get(1)) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            compute(a, b, op).map(Value::Number).map_err(fail)
        }
        (a, b) => Err(fail(format!(
            "`{op}` takes two numbers, not a {} and a {}",
            a.map_or("nothing", super::values::value_type),
            b.map_or("nothing", super::values::value_type)
        ))),
    }
}

/// Integers exactly (as i128, so no operation on two 64-bit values overflows silently),
/// anything else as a finite float.
fn compute(lhs: &Number, rhs: &Number, op: BinaryOperator) -> Result<Number, String> {
    let out_of_range = || format!("the result of `{op}` is out of range");
    #[allow(clippy::float_cmp)] // exactly zero: any other divisor has a quotient, or is out of range
    let zero = int(rhs) == Some(0) || rhs.as_f64().is_some_and(|f| f == 0.0);
    match op {
        BinaryOperator::Div if zero => return Err("division by zero".into()),
        BinaryOperator::Mod if zero => return Err("modulo by zero".into()),
        _ => {}
    }
    if let (Some(x), Some(y)) = (int(lhs), int(rhs)) {
        let exact = match op {
            BinaryOperator::Plus => x.checked_add(y),
            BinaryOperator::Minus => x.checked_sub(y),
            BinaryOperator::Mul => x.checked_mul(y),
            BinaryOperator::Div if x.checked_rem(y) == Some(0) => x.checked_div(y),
            BinaryOperator::Mod => x.checked_rem(y),
            // An inexact quotient is a float, as in Terraform (`1/2` is 0.5).
            _ => None,
        };
        if let Some(n) = exact {
            return from_int(n).ok_or_else(out_of_range);
        }
        if op != BinaryOperator::Div {
            return Err(out_of_range());
        }
    }
    let (Some(x), Some(y)) = (lhs.as_f64(), rhs.as_f64()) else { return Err(out_of_range()) };
    let result = match op {
        BinaryOperator::Plus => x + y,
        BinaryOperator::Minus => x - y,
        BinaryOperator::Mul => x * y,
        BinaryOperator::Div => x / y,
        _ => x % y,
    };
    Number::from_f64(result).ok_or_else(out_of_range)
}

fn int(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

fn from_int(n: i128) -> Option<Number> {
    match i64::try_from(n) {
        Ok(v) => Some(Number::from(v)),
        Err(_) => u64::try_from(n).ok().map(Number::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(src: &str) -> Result<Value, (Failure, Option<Range<usize>>)> {
        let mut ctx = Context::new();
        declare(&mut ctx);
        let mut expr = hcl::edit::parser::parse_expr(src).unwrap();
        let spans = rewrite(&mut expr);
        hcl::Expression::from(expr).evaluate(&ctx).map_err(|e| {
            let f = failure(e.kind()).unwrap_or_else(|| panic!("{src}: not a checked failure: {e}"));
            let span = spans[f.index].clone();
            (f, span)
        })
    }

    #[test]
    fn arithmetic_keeps_its_results() {
        for (src, want) in [
            ("1 + 2 * 3", "7"),
            ("(1 + 2) * 3", "9"),
            ("7 - 10", "-3"),
            ("1 / 2", "0.5"),
            ("6 / 3", "2"),
            ("7 % 3", "1"),
            ("-7 % 3", "-1"),
            ("2.5 * 2", "5"),
            ("5.5 % 2", "1.5"),
            ("9223372036854775807 + 1", "9223372036854775808"),
            ("\"${1 + 1}x\"", "\"2x\""),
            ("[for n in [1, 2] : n * 10]", "[10,20]"),
        ] {
            let got = eval(src).unwrap_or_else(|e| panic!("{src}: {e:?}"));
            assert_eq!(serde_json::to_string(&got).unwrap(), want, "{src}");
        }
    }

    #[test]
    fn division_by_zero_overflow_and_non_numbers_fail_where_written() {
        for (src, message, at) in [
            ("1/0", "division by zero", "1/0"),
            ("1 % 0", "modulo by zero", "1 % 0"),
            ("2 + 1.5 / 0.0", "division by zero", "1.5 / 0.0"),
            ("1 + (4 % (2 - 2))", "modulo by zero", "4 % (2 - 2)"),
            ("18446744073709551615 + 1", "the result of `+` is out of range", "18446744073709551615 + 1"),
            (
                "-9223372036854775807 - 18446744073709551615",
                "the result of `-` is out of range",
                "-9223372036854775807 - 18446744073709551615",
            ),
            ("4294967296 * 4294967296", "the result of `*` is out of range", "4294967296 * 4294967296"),
            ("1e300 * 1e300", "the result of `*` is out of range", "1e300 * 1e300"),
            ("\"a\" + 1", "`+` takes two numbers, not a string and a number", "\"a\" + 1"),
            ("[for n in [1, 0] : 10 / n]", "division by zero", "10 / n"),
        ] {
            let (f, span) = eval(src).err().unwrap_or_else(|| panic!("{src} evaluated"));
            assert_eq!(f.message, message, "{src}");
            let span = span.unwrap_or_else(|| panic!("{src}: no span"));
            assert_eq!(&src[span], at, "{src}");
        }
    }
}
