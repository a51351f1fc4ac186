//! Dotted key paths into a scenario's TOML: `wind.speed_m_s`, `grid.extent_m[2]`,
//! `sources.point[0].emissions[0].rate`. A sweep sets only keys its base already has — a
//! misspelt key is an error naming it, never a silent addition — with one exception the
//! dispersion scenario documents: entries of `sources.scale` (a factor per dataset plant or
//! mine id), which the scenario checks against the dataset when it resolves.

use toml::Value;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A table key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A parsed key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath {
    /// As written.
    pub text: String,
    /// Its steps.
    pub steps: Vec<Step>,
}

impl std::fmt::Display for KeyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl KeyPath {
    /// Parses `a.b[0].c`; keys are bare TOML keys (letters, digits, `_`, `-`) or quoted
    /// (`sources.scale."plant-x"`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("key {text:?}: {why}");
        let mut steps = Vec::new();
        let b = text.as_bytes();
        let mut i = 0;
        let mut need_key = true;
        while i < b.len() {
            match b[i] {
                b'.' if !need_key => {
                    need_key = true;
                    i += 1;
                }
                b'[' if !need_key => {
                    let end = text[i..]
                        .find(']')
                        .map(|e| i + e)
                        .ok_or_else(|| bad("an unclosed `[`"))?;
                    let n: usize = text[i + 1..end]
                        .trim()
                        .parse()
                        .map_err(|_| bad("an index must be a whole number, e.g. [0]"))?;
                    steps.push(Step::Index(n));
                    i = end + 1;
                }
                b'"' if need_key => {
                    let end = text[i + 1..]
                        .find('"')
                        .map(|e| i + 1 + e)
                        .ok_or_else(|| bad("an unclosed quote"))?;
                    steps.push(Step::Key(text[i + 1..end].to_string()));
                    need_key = false;
                    i = end + 1;
                }
                c if need_key && (c.is_ascii_alphanumeric() || c == b'_' || c == b'-') => {
                    let end = text[i..]
                        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
                        .map_or(b.len(), |e| i + e);
                    steps.push(Step::Key(text[i..end].to_string()));
                    need_key = false;
                    i = end;
                }
                _ => return Err(bad(&format!("unexpected {:?} at byte {i}", b[i] as char))),
            }
        }
        if need_key {
            return Err(bad(if steps.is_empty() {
                "empty"
            } else {
                "ends with `.`"
            }));
        }
        Ok(Self {
            text: text.to_string(),
            steps,
        })
    }

    /// Whether this is an entry of the dispersion scenario's `sources.scale` table, the one
    /// place a sweep may add a key.
    pub fn is_source_scale(&self) -> bool {
        matches!(self.steps.as_slice(),
            [Step::Key(a), Step::Key(b), Step::Key(_)] if a == "sources" && b == "scale")
    }

    /// The value at this path in `root`, if there is one.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        let mut v = root;
        for s in &self.steps {
            v = match (s, v) {
                (Step::Key(k), Value::Table(t)) => t.get(k)?,
                (Step::Index(n), Value::Array(a)) => a.get(*n)?,
                _ => return None,
            };
        }
        Some(v)
    }

    /// Replaces the value at this path in `root` by `value`. The path must exist (a
    /// `sources.scale` entry is created, with its table), and a number may only replace a
    /// number, a string a string, and so on: the error names the key and what the base has.
    pub fn set(&self, root: &mut Value, value: Value) -> Result<(), String> {
        if self.is_source_scale() {
            if !matches!(value, Value::Float(_) | Value::Integer(_)) {
                return Err(format!(
                    "key {:?}: a source scale is a number, not {}",
                    self.text,
                    value.type_str()
                ));
            }
            let Step::Key(id) = &self.steps[2] else {
                unreachable!("checked by is_source_scale")
            };
            let sources = root
                .as_table_mut()
                .ok_or_else(|| format!("key {:?}: the base is not a table", self.text))?
                .entry("sources")
                .or_insert_with(|| Value::Table(Default::default()));
            let scale = sources
                .as_table_mut()
                .ok_or_else(|| format!("key {:?}: `sources` is not a table", self.text))?
                .entry("scale")
                .or_insert_with(|| Value::Table(Default::default()));
            scale
                .as_table_mut()
                .ok_or_else(|| format!("key {:?}: `sources.scale` is not a table", self.text))?
                .insert(id.clone(), value);
            return Ok(());
        }
        let mut v = root;
        let mut walked = String::new();
        for s in &self.steps {
            let next = match (s, v) {
                (Step::Key(k), Value::Table(t)) => t.get_mut(k),
                (Step::Index(n), Value::Array(a)) => a.get_mut(*n),
                _ => None,
            };
            v = next.ok_or_else(|| {
                let at = if walked.is_empty() {
                    "the base's top level".to_string()
                } else {
                    format!("`{walked}`")
                };
                format!(
                    "key {:?}: the base has no {} in {at} (a sweep only changes keys the base has)",
                    self.text,
                    match s {
                        Step::Key(k) => format!("key `{k}`"),
                        Step::Index(n) => format!("element [{n}]"),
                    }
                )
            })?;
            match s {
                Step::Key(k) if walked.is_empty() => walked = k.clone(),
                Step::Key(k) => walked = format!("{walked}.{k}"),
                Step::Index(n) => walked = format!("{walked}[{n}]"),
            }
        }
        let same = matches!(
            (&*v, &value),
            (
                Value::Float(_) | Value::Integer(_),
                Value::Float(_) | Value::Integer(_)
            ) | (Value::String(_), Value::String(_))
                | (Value::Boolean(_), Value::Boolean(_))
                | (Value::Array(_), Value::Array(_))
                | (Value::Table(_), Value::Table(_))
                | (Value::Datetime(_), Value::Datetime(_))
        );
        if !same {
            return Err(format!(
                "key {:?}: the base has {} here, the sweep gives {}",
                self.text,
                v.type_str(),
                value.type_str()
            ));
        }
        *v = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        toml::from_str(
            "name = \"x\"\n[wind]\nspeed_m_s = 2.0\n[[sources.point]]\nname = \"a\"\nemissions = [{ pollutant = \"SO2\", rate = 100 }]\n",
        )
        .expect("toml")
    }

    #[test]
    fn paths_parse_with_indices_and_quotes() {
        let k = KeyPath::parse("sources.point[0].emissions[0].rate").expect("parse");
        assert_eq!(k.steps.len(), 6);
        assert_eq!(k.steps[2], Step::Index(0));
        let q = KeyPath::parse("sources.scale.\"plant-x\"").expect("quoted");
        assert!(q.is_source_scale());
        for bad in ["", "a.", ".a", "a[x]", "a[0", "a..b", "a b"] {
            assert!(KeyPath::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn set_replaces_existing_values_only() {
        let mut v = base();
        KeyPath::parse("sources.point[0].emissions[0].rate")
            .expect("parse")
            .set(&mut v, Value::Float(150.0))
            .expect("set");
        assert_eq!(
            v["sources"]["point"][0]["emissions"][0]["rate"].as_float(),
            Some(150.0)
        );
        let e = KeyPath::parse("wind.sped_m_s")
            .expect("parse")
            .set(&mut v, Value::Float(1.0))
            .expect_err("misspelt");
        assert!(e.contains("sped_m_s") && e.contains("`wind`"), "{e}");
        let e = KeyPath::parse("sources.point[3].name")
            .expect("parse")
            .set(&mut v, Value::String("b".into()))
            .expect_err("index");
        assert!(e.contains("[3]"), "{e}");
        let e = KeyPath::parse("name")
            .expect("parse")
            .set(&mut v, Value::Float(1.0))
            .expect_err("type");
        assert!(e.contains("string") && e.contains("float"), "{e}");
        // a source scale is created
        KeyPath::parse("sources.scale.plant-x")
            .expect("parse")
            .set(&mut v, Value::Float(1.2))
            .expect("scale");
        assert_eq!(v["sources"]["scale"]["plant-x"].as_float(), Some(1.2));
    }
}
