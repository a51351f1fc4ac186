//! The OData query options of the SensorThings API 1.1 (OGC 18-088, §9.3): `$top`, `$skip`,
//! `$count`, `$orderby`, `$select`, `$expand` (with nested options) and `$filter` — comparisons
//! (`eq ne gt ge lt le`), `and`/`or`/`not`, parentheses, string functions (`startswith`,
//! `endswith`, `substringof`, `contains`, `tolower`, `toupper`, `length`), date parts (`year` …
//! `second`) and `geo.distance` (planar distance in the coordinates' degrees, as FROST's
//! PostGIS back end gives it). Literals: numbers, `'strings'` (`''` escapes a quote),
//! `true`/`false`/`null`, ISO 8601 date-times without quotes, and `geography'POINT(lon lat)'`.

/// A value an expression takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// Missing or null.
    Null,
    /// Boolean.
    Bool(bool),
    /// Number.
    Num(f64),
    /// String.
    Str(String),
    /// Instant, ms since the epoch.
    Time(i64),
    /// A point (longitude, latitude).
    Point(f64, f64),
}

/// Parses an ISO 8601 / RFC 3339 date-time (offset required) to ms.
pub fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.timestamp_millis())
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

/// A `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal.
    Lit(Val),
    /// A property path (`result`, `properties/medium`, `Thing/name`).
    Path(Vec<String>),
    /// `a op b`.
    Cmp(Op, Box<Expr>, Box<Expr>),
    /// `a and b`.
    And(Box<Expr>, Box<Expr>),
    /// `a or b`.
    Or(Box<Expr>, Box<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// A function call.
    Call(String, Vec<Expr>),
}

/// Where a path's value comes from: an entity.
pub trait Source {
    /// The value of a property path.
    fn get(&self, path: &[String]) -> Val;
}

/// A JSON entity as a [`Source`]: `id` is `@iot.id`; a GeoJSON point is a [`Val::Point`].
impl Source for serde_json::Value {
    fn get(&self, path: &[String]) -> Val {
        let mut v = self;
        for (i, p) in path.iter().enumerate() {
            let key = if i == 0 && p == "id" { "@iot.id" } else { p };
            match v.get(key) {
                Some(x) => v = x,
                None => return Val::Null,
            }
        }
        json_val(v)
    }
}

fn json_val(v: &serde_json::Value) -> Val {
    match v {
        serde_json::Value::Null => Val::Null,
        serde_json::Value::Bool(b) => Val::Bool(*b),
        serde_json::Value::Number(n) => n.as_f64().map_or(Val::Null, Val::Num),
        serde_json::Value::String(s) => Val::Str(s.clone()),
        serde_json::Value::Object(o) => {
            let c = o.get("coordinates").and_then(|c| c.as_array());
            match (o.get("type").and_then(|t| t.as_str()), c) {
                (Some("Point"), Some(c)) if c.len() >= 2 => match (c[0].as_f64(), c[1].as_f64()) {
                    (Some(x), Some(y)) => Val::Point(x, y),
                    _ => Val::Null,
                },
                _ => Val::Null,
            }
        }
        serde_json::Value::Array(_) => Val::Null,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Val),
    Open,
    Close,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let string_at = |mut i: usize| -> Result<(String, usize), String> {
        // c[i] is the opening quote
        let mut v = String::new();
        i += 1;
        loop {
            match c.get(i) {
                None => return Err(format!("unterminated string in `{s}`")),
                Some('\'') if c.get(i + 1) == Some(&'\'') => {
                    v.push('\'');
                    i += 2;
                }
                Some('\'') => return Ok((v, i + 1)),
                Some(ch) => {
                    v.push(*ch);
                    i += 1;
                }
            }
        }
    };
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::Open);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::Close);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if ch == '\'' {
            let (v, j) = string_at(i)?;
            out.push(Tok::Lit(Val::Str(v)));
            i = j;
        } else {
            // a word: identifier, number or date-time (up to a delimiter)
            let start = i;
            while i < c.len() && !c[i].is_whitespace() && !"(),'".contains(c[i]) {
                i += 1;
            }
            let w: String = c[start..i].iter().collect();
            if w == "geography" && c.get(i) == Some(&'\'') {
                let (v, j) = string_at(i)?;
                i = j;
                out.push(Tok::Lit(parse_point(&v)?));
                continue;
            }
            let first = w.chars().next().unwrap_or(' ');
            if first.is_ascii_digit() || first == '-' || first == '+' {
                if let Some(t) = parse_time(&w) {
                    out.push(Tok::Lit(Val::Time(t)));
                } else if let Ok(x) = w.parse::<f64>() {
                    if !x.is_finite() {
                        return Err(format!("`{w}` is not a finite number"));
                    }
                    out.push(Tok::Lit(Val::Num(x)));
                } else {
                    return Err(format!(
                        "`{w}` is neither a number nor a date-time with offset"
                    ));
                }
            } else {
                out.push(match w.as_str() {
                    "true" => Tok::Lit(Val::Bool(true)),
                    "false" => Tok::Lit(Val::Bool(false)),
                    "null" => Tok::Lit(Val::Null),
                    _ => Tok::Ident(w),
                });
            }
        }
    }
    Ok(out)
}

fn parse_point(wkt: &str) -> Result<Val, String> {
    let inner = wkt
        .trim()
        .strip_prefix("POINT")
        .map(str::trim)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("geography'{wkt}': only POINT(lon lat) is supported"))?;
    let xy: Vec<f64> = inner
        .split_whitespace()
        .map(str::parse::<f64>)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("geography'{wkt}': coordinates are not numbers"))?;
    match xy.as_slice() {
        [x, y] if x.is_finite() && y.is_finite() => Ok(Val::Point(*x, *y)),
        _ => Err(format!("geography'{wkt}': expected two coordinates")),
    }
}

const FUNCTIONS: [&str; 15] = [
    "startswith",
    "endswith",
    "substringof",
    "contains",
    "tolower",
    "toupper",
    "length",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "geo.distance",
    "indexof",
];

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Tok::Ident(w)) => Some(w),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut a = self.and()?;
        while self.peek_word() == Some("or") {
            self.pos += 1;
            a = Expr::Or(Box::new(a), Box::new(self.and()?));
        }
        Ok(a)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut a = self.not()?;
        while self.peek_word() == Some("and") {
            self.pos += 1;
            a = Expr::And(Box::new(a), Box::new(self.not()?));
        }
        Ok(a)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek_word() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let a = self.operand()?;
        let op = match self.peek_word() {
            Some("eq") => Op::Eq,
            Some("ne") => Op::Ne,
            Some("gt") => Op::Gt,
            Some("ge") => Op::Ge,
            Some("lt") => Op::Lt,
            Some("le") => Op::Le,
            _ => return Ok(a),
        };
        self.pos += 1;
        let b = self.operand()?;
        Ok(Expr::Cmp(op, Box::new(a), Box::new(b)))
    }

    fn operand(&mut self) -> Result<Expr, String> {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("the expression ends where an operand was expected")?;
        self.pos += 1;
        match t {
            Tok::Lit(v) => Ok(Expr::Lit(v)),
            Tok::Open => {
                let e = self.or()?;
                match self.toks.get(self.pos) {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => Err("a `(` is not closed".into()),
                }
            }
            Tok::Ident(w) if self.toks.get(self.pos) == Some(&Tok::Open) => {
                if !FUNCTIONS.contains(&w.as_str()) {
                    return Err(format!("unknown function `{w}`"));
                }
                self.pos += 1;
                let mut args = Vec::new();
                if self.toks.get(self.pos) == Some(&Tok::Close) {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.or()?);
                        match self.toks.get(self.pos) {
                            Some(Tok::Comma) => self.pos += 1,
                            Some(Tok::Close) => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(format!("`{w}(`: expected `,` or `)`")),
                        }
                    }
                }
                Ok(Expr::Call(w, args))
            }
            Tok::Ident(w) => {
                if ["and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le"].contains(&w.as_str()) {
                    return Err(format!("`{w}` where an operand was expected"));
                }
                Ok(Expr::Path(w.split('/').map(str::to_string).collect()))
            }
            Tok::Close | Tok::Comma => Err("`)` or `,` where an operand was expected".into()),
        }
    }
}

/// The deepest nesting of parentheses in `s` (outside quotes).
fn depth(s: &str) -> usize {
    let (mut d, mut max, mut quoted) = (0usize, 0usize, false);
    for ch in s.chars() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => {
                d += 1;
                max = max.max(d);
            }
            ')' if !quoted => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Deepest parentheses a `$filter` may nest (the parser recurses once per level: a hostile
/// request must not exhaust the stack).
pub const MAX_FILTER_DEPTH: usize = 64;
/// Deepest `$expand` nesting.
pub const MAX_EXPAND_DEPTH: usize = 8;

/// Parses a `$filter` expression.
pub fn parse_filter(s: &str) -> Result<Expr, String> {
    if depth(s) > MAX_FILTER_DEPTH {
        return Err(format!(
            "parentheses nest deeper than {MAX_FILTER_DEPTH} levels"
        ));
    }
    let mut p = Parser {
        toks: tokenize(s)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "$filter `{s}`: unexpected text after the expression"
        ));
    }
    Ok(e)
}

fn as_time(v: &Val) -> Option<i64> {
    match v {
        Val::Time(t) => Some(*t),
        Val::Str(s) => parse_time(s),
        _ => None,
    }
}

/// Orders two values of comparable kinds (numbers, strings, instants — a string against an
/// instant is read as a date-time, booleans); `None` when they do not compare.
pub fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Time(_), _) | (_, Val::Time(_)) => Some(as_time(a)?.cmp(&as_time(b)?)),
        _ => None,
    }
}

fn truthy(v: &Val) -> bool {
    matches!(v, Val::Bool(true))
}

/// Evaluates an expression on an entity.
pub fn eval(e: &Expr, s: &dyn Source) -> Val {
    match e {
        Expr::Lit(v) => v.clone(),
        Expr::Path(p) => s.get(p),
        Expr::And(a, b) => Val::Bool(truthy(&eval(a, s)) && truthy(&eval(b, s))),
        Expr::Or(a, b) => Val::Bool(truthy(&eval(a, s)) || truthy(&eval(b, s))),
        Expr::Not(a) => Val::Bool(!truthy(&eval(a, s))),
        Expr::Cmp(op, a, b) => {
            let (a, b) = (eval(a, s), eval(b, s));
            use std::cmp::Ordering::*;
            Val::Bool(match (op, compare(&a, &b)) {
                (Op::Eq, _) if a == Val::Null || b == Val::Null => a == b,
                (Op::Ne, _) if a == Val::Null || b == Val::Null => a != b,
                (_, None) => false,
                (Op::Eq, Some(o)) => o == Equal,
                (Op::Ne, Some(o)) => o != Equal,
                (Op::Gt, Some(o)) => o == Greater,
                (Op::Ge, Some(o)) => o != Less,
                (Op::Lt, Some(o)) => o == Less,
                (Op::Le, Some(o)) => o != Greater,
            })
        }
        Expr::Call(f, args) => {
            let v: Vec<Val> = args.iter().map(|a| eval(a, s)).collect();
            call(f, &v)
        }
    }
}

fn call(f: &str, v: &[Val]) -> Val {
    let text = |i: usize| match v.get(i) {
        Some(Val::Str(s)) => Some(s.as_str()),
        _ => None,
    };
    let date_part = |pick: fn(&chrono::DateTime<chrono::Utc>) -> u32| {
        v.first()
            .and_then(as_time)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map_or(Val::Null, |d| Val::Num(f64::from(pick(&d))))
    };
    use chrono::{Datelike, Timelike};
    match f {
        "startswith" => match (text(0), text(1)) {
            (Some(a), Some(b)) => Val::Bool(a.starts_with(b)),
            _ => Val::Null,
        },
        "endswith" => match (text(0), text(1)) {
            (Some(a), Some(b)) => Val::Bool(a.ends_with(b)),
            _ => Val::Null,
        },
        // OData 3 `substringof(needle, haystack)`; OData 4 `contains(haystack, needle)`
        "substringof" => match (text(0), text(1)) {
            (Some(a), Some(b)) => Val::Bool(b.contains(a)),
            _ => Val::Null,
        },
        "contains" => match (text(0), text(1)) {
            (Some(a), Some(b)) => Val::Bool(a.contains(b)),
            _ => Val::Null,
        },
        "indexof" => match (text(0), text(1)) {
            (Some(a), Some(b)) => a
                .find(b)
                .map_or(Val::Num(-1.0), |i| Val::Num(a[..i].chars().count() as f64)),
            _ => Val::Null,
        },
        "tolower" => text(0).map_or(Val::Null, |a| Val::Str(a.to_lowercase())),
        "toupper" => text(0).map_or(Val::Null, |a| Val::Str(a.to_uppercase())),
        "length" => text(0).map_or(Val::Null, |a| Val::Num(a.chars().count() as f64)),
        "year" => date_part(|d| d.year().max(0) as u32),
        "month" => date_part(|d| d.month()),
        "day" => date_part(|d| d.day()),
        "hour" => date_part(|d| d.hour()),
        "minute" => date_part(|d| d.minute()),
        "second" => date_part(|d| d.second()),
        "geo.distance" => match (v.first(), v.get(1)) {
            (Some(Val::Point(x1, y1)), Some(Val::Point(x2, y2))) => {
                Val::Num((x1 - x2).hypot(y1 - y2))
            }
            _ => Val::Null,
        },
        _ => Val::Null,
    }
}

/// `$orderby` key: a path and whether descending.
pub type OrderKey = (Vec<String>, bool);

/// One `$expand` item: a navigation property and its nested options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expand {
    /// Navigation property (`Datastreams`, `Observations`, `Thing`, …).
    pub nav: String,
    /// Nested options (`Observations($top=3;$orderby=phenomenonTime desc)`).
    pub options: Options,
}

/// Parsed query options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Options {
    /// `$top`.
    pub top: Option<usize>,
    /// `$skip`.
    pub skip: usize,
    /// `$count=true`.
    pub count: bool,
    /// `$filter`.
    pub filter: Option<Expr>,
    /// `$orderby`.
    pub orderby: Vec<OrderKey>,
    /// `$select`.
    pub select: Option<Vec<String>>,
    /// `$expand`.
    pub expand: Vec<Expand>,
}

/// Splits at `sep` outside parentheses and quotes.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, ch) in s.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && depth == 0 && !quoted => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// Largest `$top` a request may ask for.
pub const MAX_TOP: usize = 10_000;

impl Options {
    /// Parses the decoded `(name, value)` pairs of a query string; other parameters are
    /// ignored. The message names the option.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut o = Options::default();
        for (k, v) in pairs {
            o.set(k, v)?;
        }
        Ok(o)
    }

    fn set(&mut self, k: &str, v: &str) -> Result<(), String> {
        let v = v.trim();
        match k {
            "$top" => {
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("$top={v}: not a non-negative integer"))?;
                if n > MAX_TOP {
                    return Err(format!("$top={v}: at most {MAX_TOP}"));
                }
                self.top = Some(n);
            }
            "$skip" => {
                self.skip = v
                    .parse()
                    .map_err(|_| format!("$skip={v}: not a non-negative integer"))?;
            }
            "$count" => {
                self.count = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(format!("$count={v}: true or false")),
                }
            }
            "$filter" => self.filter = Some(parse_filter(v).map_err(|e| format!("$filter: {e}"))?),
            "$orderby" => {
                self.orderby = split_top(v, ',')
                    .into_iter()
                    .map(|item| {
                        let mut w = item.split_whitespace();
                        let path = w
                            .next()
                            .ok_or_else(|| format!("$orderby={v}: an empty key"))?;
                        let desc = match w.next() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(x) => {
                                return Err(format!("$orderby={v}: `{x}` is not asc or desc"));
                            }
                        };
                        Ok((path.split('/').map(str::to_string).collect(), desc))
                    })
                    .collect::<Result<_, String>>()?;
            }
            "$select" => {
                self.select = Some(
                    v.split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            "$expand" => {
                // each level is `Nav(…$expand=Nav(…))`: two parentheses per level at most
                if depth(v) > 2 * MAX_EXPAND_DEPTH {
                    return Err(format!(
                        "$expand nests deeper than {MAX_EXPAND_DEPTH} levels"
                    ));
                }
                for item in split_top(v, ',') {
                    let item = item.trim();
                    let (nav, nested) = match item.find('(') {
                        Some(i) if item.ends_with(')') => {
                            (&item[..i], &item[i + 1..item.len() - 1])
                        }
                        Some(_) => return Err(format!("$expand={v}: `(` not closed")),
                        None => (item, ""),
                    };
                    let mut e = Expand {
                        nav: nav.trim().to_string(),
                        options: Options::default(),
                    };
                    for opt in split_top(nested, ';')
                        .into_iter()
                        .filter(|s| !s.trim().is_empty())
                    {
                        let (k, val) = opt
                            .split_once('=')
                            .ok_or_else(|| format!("$expand={v}: `{opt}` is not $option=value"))?;
                        e.options.set(k.trim(), val)?;
                    }
                    // `Datastreams/Observations`: expand the first, the rest nested in it
                    if let Some((head, rest)) = e.nav.clone().split_once('/') {
                        let inner = Expand {
                            nav: rest.to_string(),
                            options: std::mem::take(&mut e.options),
                        };
                        e.nav = head.to_string();
                        e.options.expand.push(inner);
                    }
                    self.expand.push(e);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The bounds a filter puts on `phenomenonTime` through a chain of `and`s at its top (each
/// `(lower inclusive, upper inclusive)` ms); `(i64::MIN, i64::MAX)` when it puts none. A
/// superset of what matches: the filter is still applied.
pub fn time_bounds(e: &Expr) -> (i64, i64) {
    let mut b = (i64::MIN, i64::MAX);
    fn walk(e: &Expr, b: &mut (i64, i64)) {
        match e {
            Expr::And(x, y) => {
                walk(x, b);
                walk(y, b);
            }
            Expr::Cmp(op, x, y) => {
                let (op, t) = match (&**x, &**y) {
                    (Expr::Path(p), Expr::Lit(v)) if p.len() == 1 && p[0] == "phenomenonTime" => {
                        (*op, as_time(v))
                    }
                    (Expr::Lit(v), Expr::Path(p)) if p.len() == 1 && p[0] == "phenomenonTime" => {
                        let flipped = match op {
                            Op::Gt => Op::Lt,
                            Op::Ge => Op::Le,
                            Op::Lt => Op::Gt,
                            Op::Le => Op::Ge,
                            o => *o,
                        };
                        (flipped, as_time(v))
                    }
                    _ => return,
                };
                let Some(t) = t else { return };
                match op {
                    Op::Eq => {
                        b.0 = b.0.max(t);
                        b.1 = b.1.min(t);
                    }
                    Op::Gt => b.0 = b.0.max(t.saturating_add(1)),
                    Op::Ge => b.0 = b.0.max(t),
                    Op::Lt => b.1 = b.1.min(t.saturating_sub(1)),
                    Op::Le => b.1 = b.1.min(t),
                    Op::Ne => {}
                }
            }
            _ => {}
        }
    }
    walk(e, &mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn filters_compare_combine_and_call_functions() {
        let thing = serde_json::json!({
            "@iot.id": "st-1", "name": "Trạm Hạ Long", "properties": {"medium": "air", "n": 4},
        });
        let ok = |f: &str| truthy(&eval(&parse_filter(f).expect(f), &thing));
        assert!(ok("id eq 'st-1'"));
        assert!(ok("properties/medium eq 'air' and properties/n ge 4"));
        assert!(!ok("properties/medium eq 'water' or properties/n gt 4"));
        assert!(ok("not (properties/n lt 4)"));
        assert!(ok("startswith(name, 'Trạm') and substringof('Hạ', name)"));
        assert!(ok("length(name) eq 12 and tolower(id) eq 'st-1'"));
        assert!(ok("properties/missing eq null"));
        assert!(!ok("properties/missing gt 3"));
        let loc = serde_json::json!({"location": {"type": "Point", "coordinates": [107.0, 21.0]}});
        assert!(truthy(&eval(
            &parse_filter("geo.distance(location, geography'POINT(107.3 21.4)') lt 0.51")
                .expect("geo"),
            &loc
        )));
        assert!(parse_filter("name eq").is_err());
        assert!(parse_filter("(name eq 'a'").is_err());
        assert!(parse_filter("nosuch(name)").is_err());
        assert!(parse_filter("name eq 'a' 'b'").is_err());
    }

    #[test]
    fn time_ranges_bound_the_scan() {
        let e = parse_filter(
            "phenomenonTime ge 2026-01-01T00:00:00Z and phenomenonTime lt 2026-01-02T00:00:00+07:00 and result gt 3",
        )
        .expect("filter");
        let (lo, hi) = time_bounds(&e);
        assert_eq!(lo, 1_767_225_600_000);
        assert_eq!(hi, 1_767_286_800_000 - 1);
        assert_eq!(
            time_bounds(&parse_filter("result gt 3").expect("f")),
            (i64::MIN, i64::MAX)
        );
        // or: no bound can be taken
        let e = parse_filter("phenomenonTime ge 2026-01-01T00:00:00Z or result gt 3").expect("f");
        assert_eq!(time_bounds(&e), (i64::MIN, i64::MAX));
    }

    #[test]
    fn options_parse_with_nested_expands() {
        let o = Options::parse(&pairs(&[
            ("$top", "5"),
            ("$skip", "10"),
            ("$count", "true"),
            ("$orderby", "phenomenonTime desc, result"),
            ("$select", "id,name"),
            (
                "$expand",
                "Datastreams($filter=name eq 'a;b';$expand=Observations($top=3;$orderby=phenomenonTime desc)),Locations",
            ),
        ]))
        .expect("options");
        assert_eq!((o.top, o.skip, o.count), (Some(5), 10, true));
        assert_eq!(o.orderby[0], (vec!["phenomenonTime".to_string()], true));
        assert_eq!(o.orderby[1], (vec!["result".to_string()], false));
        assert_eq!(o.expand.len(), 2);
        assert_eq!(o.expand[0].nav, "Datastreams");
        assert!(o.expand[0].options.filter.is_some());
        assert_eq!(o.expand[0].options.expand[0].options.top, Some(3));
        let o = Options::parse(&pairs(&[("$expand", "Datastreams/Observations")])).expect("path");
        assert_eq!(o.expand[0].options.expand[0].nav, "Observations");
        // nesting a hostile request could use to exhaust the stack
        let deep = format!("{}name eq 'a'{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse_filter(&deep).is_err());
        let nested = (0..1000).fold(String::from("Thing"), |acc, _| {
            format!("Datastreams($expand={acc})")
        });
        assert!(Options::parse(&pairs(&[("$expand", nested.as_str())])).is_err());
        assert!(parse_filter(&format!("{}name eq 'a'{}", "(".repeat(60), ")".repeat(60))).is_ok());
        for bad in [
            ("$top", "-1"),
            ("$top", "99999999"),
            ("$count", "yes"),
            ("$orderby", "a up"),
        ] {
            assert!(Options::parse(&pairs(&[bad])).is_err(), "{bad:?}");
        }
    }
}
