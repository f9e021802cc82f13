//! Element definitions: what each element of a segment may hold at one
//! place in a guide.
//!
//! `grammar/837p-elements.toml` and `837i-elements.toml` hold one
//! `[[segment]]` table per segment entry of the loop maps, keyed by loop, id
//! and `match`: every element and component with its usage, data element
//! number, data type, length and codes, and the segment's relational
//! conditions (`P0809`, `C1110`, ...). [`Grammar::with_elements`] attaches
//! each to its [`SegmentNode`]; [`crate::validate`] checks segments against
//! them. The format is described in `grammar/README.md`.
//!
//! [`SegmentNode`]: super::SegmentNode

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use super::{Grammar, Node};
use crate::codes::{list_index, pack_exact};
use crate::error::{Error, ErrorKind, Result};
use crate::lex::element_name;
use crate::validate::Plan;

/// Whether the guide requires, allows or forbids an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElementUsage {
    /// `R`: must be present.
    Required,
    /// `S`: present when the guide's situation applies.
    Situational,
    /// `N`: must not be present.
    NotUsed,
}

/// The X12 data type of an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataType {
    /// `AN`: a string of the character set.
    String,
    /// `ID`: a code.
    Identifier,
    /// `N0`..`N9`: an integer with that many implied decimal places.
    Numeric(u8),
    /// `R`: a decimal number.
    Decimal,
    /// `DT`: a date, `CCYYMMDD` (or `YYMMDD`).
    Date,
    /// `TM`: a time, `HHMM[SS[d..]]`.
    Time,
    /// A composite: its components carry the types.
    Composite,
}

impl DataType {
    fn parse(s: &str) -> Option<DataType> {
        Some(match s {
            "AN" => DataType::String,
            "ID" => DataType::Identifier,
            "R" => DataType::Decimal,
            "DT" => DataType::Date,
            "TM" => DataType::Time,
            "composite" => DataType::Composite,
            n if n.len() == 2 && n.starts_with('N') => {
                DataType::Numeric(n.as_bytes()[1].checked_sub(b'0').filter(|d| *d <= 9)?)
            }
            _ => return None,
        })
    }
}

/// A sorted set of codes.
pub type CodeSet = Box<[Box<[u8]>]>;

/// The codes an element may hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Codes {
    /// Any value of the data type.
    Any,
    /// One of these, sorted.
    List(CodeSet),
    /// A code list kept outside the guide, by name (`states`, `pos`,
    /// `icd10-cm`, ...): checked when the list is known (bundled, or given
    /// with `--code-list`), else not at all.
    External(ExternalCodes),
}

/// A reference to an external code list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalCodes {
    /// The list's name.
    pub name: Box<str>,
    /// Its index in [`crate::codes::KNOWN_LISTS`].
    pub list: usize,
    /// Only when component `when.0` of the same composite is one of these
    /// qualifiers (HI: ICD-10-CM only behind `ABK`, `ABF`, ...).
    pub when: Option<(u8, CodeSet)>,
    /// Compare only the first this many bytes (a ZIP+4 against a list of
    /// five-digit ZIP codes); 0 for the whole value.
    pub prefix: u8,
}

/// One element or component.
#[derive(Clone, Debug)]
pub struct ElementDef {
    /// The name findings use: `NM1-09`, `CLM05-3`, `DTP03`.
    pub name: Box<str>,
    /// The X12 data element reference number (`98`, `1331`, `C023`).
    pub reference: Box<str>,
    /// Required, situational or not used.
    pub usage: ElementUsage,
    /// The data type.
    pub data_type: DataType,
    /// Least length (digits only for numbers).
    pub min: u16,
    /// Greatest length (digits only for numbers).
    pub max: u16,
    /// The allowed values.
    pub codes: Codes,
    /// The guide asks for exactly this many digits (an SSN or EIN), 0 if not.
    pub digits: u8,
    /// The codes of a [`Codes::List`] of up to eight bytes packed as
    /// integers, sorted: the list test is an integer search.
    packed: Box<[u64]>,
}

impl ElementDef {
    /// Whether `v` is one of the element's listed codes (exactly: codes are
    /// upper case). `true` when the element has no list.
    ///
    /// ```
    /// use scrub837::grammar::Grammars;
    /// let g = &Grammars::embedded().professional;
    /// let nm1 = g.loops[g.loop_index("2010AA").unwrap()].trigger();
    /// let nm102 = &nm1.elements.as_ref().unwrap().slots[1].def;
    /// assert!(nm102.has_code(b"2") && !nm102.has_code(b"3") && !nm102.has_code(b"22"));
    /// ```
    #[inline]
    pub fn has_code(&self, v: &[u8]) -> bool {
        let Codes::List(list) = &self.codes else {
            return true;
        };
        match pack_exact(v) {
            Some(k) if self.packed.len() <= 8 => self.packed.contains(&k),
            Some(k) => self.packed.binary_search(&k).is_ok(),
            None => list.iter().any(|c| **c == *v),
        }
    }
}

/// A relational condition between the elements of a segment or the
/// components of a composite (X12 syntax notes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// Which kind.
    pub kind: ConditionKind,
    /// The positions it names (1-based), in order.
    pub positions: Box<[u8]>,
}

/// The five X12 relational conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionKind {
    /// `P`: if any is present, all are.
    Paired,
    /// `R`: at least one is present.
    Required,
    /// `E`: at most one is present.
    Exclusion,
    /// `C`: if the first is present, all the others are.
    Conditional,
    /// `L`: if the first is present, at least one of the others is.
    ListConditional,
}

impl Condition {
    /// Parses `P0809`, `L100405`, ...
    ///
    /// ```
    /// use scrub837::grammar::elements::{Condition, ConditionKind};
    /// let c = Condition::parse("C1110").unwrap();
    /// assert_eq!(c.kind, ConditionKind::Conditional);
    /// assert_eq!(&*c.positions, &[11, 10]);
    /// assert!(Condition::parse("X0102").is_none());
    /// ```
    pub fn parse(s: &str) -> Option<Condition> {
        let (k, rest) = s.split_at_checked(1)?;
        let kind = match k {
            "P" => ConditionKind::Paired,
            "R" => ConditionKind::Required,
            "E" => ConditionKind::Exclusion,
            "C" => ConditionKind::Conditional,
            "L" => ConditionKind::ListConditional,
            _ => return None,
        };
        if rest.len() < 4 || rest.len() % 2 != 0 || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let positions = rest
            .as_bytes()
            .chunks(2)
            .map(|p| (p[0] - b'0') * 10 + (p[1] - b'0'))
            .collect::<Box<[u8]>>();
        positions
            .iter()
            .all(|p| (1..=64).contains(p))
            .then_some(Condition { kind, positions })
    }
}

/// One element position of a segment: a simple element, or a composite and
/// its components.
#[derive(Clone, Debug)]
pub struct ElementSlot {
    /// The element (for a composite: its usage and reference).
    pub def: ElementDef,
    /// The components, by position; empty for a simple element.
    pub components: Box<[ElementDef]>,
    /// Relational conditions between the components.
    pub conditions: Box<[Condition]>,
}

/// Everything the guide says about the elements of one segment entry.
#[derive(Clone, Debug)]
pub struct SegmentDef {
    /// Element positions 1.., in order.
    pub slots: Box<[ElementSlot]>,
    /// Relational conditions between the elements.
    pub conditions: Box<[Condition]>,
    /// Bit `n - 1` set: element `n` is required.
    pub required: u64,
    /// The fields above compiled for the element checker's fast path, when
    /// the definition is loaded.
    pub(crate) plan: Plan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementsFile {
    guide: String,
    #[serde(rename = "segment")]
    segments: Vec<SegmentEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentEntry {
    #[serde(rename = "loop")]
    loop_id: String,
    segment: String,
    #[serde(rename = "match")]
    matcher: Option<String>,
    #[serde(default)]
    syntax: Vec<String>,
    elements: Vec<ElementEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ElementEntry {
    at: String,
    #[serde(rename = "ref")]
    reference: String,
    usage: String,
    #[serde(rename = "type")]
    data_type: Option<String>,
    len: Option<[u16; 2]>,
    codes: Option<Vec<String>>,
    external: Option<String>,
    /// `N=CODE|CODE`: the external list applies only behind these
    /// qualifiers in component N of the same composite.
    when: Option<String>,
    prefix: Option<u8>,
    digits: Option<u8>,
    #[serde(default)]
    syntax: Vec<String>,
}

/// Splits `NM109` / `CLM05-3` after segment id `seg` into (element, component).
fn parse_at(seg: &str, at: &str) -> Option<(u8, u8)> {
    let rest = at.strip_prefix(seg)?;
    let (e, c) = match rest.split_once('-') {
        Some((e, c)) => (e, Some(c)),
        None => (rest, None),
    };
    if e.len() != 2 {
        return None;
    }
    let e: u8 = e.parse().ok().filter(|n| (1..=64).contains(n))?;
    let c: u8 = match c {
        Some(c) => c.parse().ok().filter(|n| (1..=64).contains(n))?,
        None => 0,
    };
    Some((e, c))
}

fn element_def(
    seg: &str,
    e: &ElementEntry,
    element: u8,
    component: u8,
) -> std::result::Result<ElementDef, String> {
    let usage = match e.usage.as_str() {
        "R" => ElementUsage::Required,
        "S" => ElementUsage::Situational,
        "N" => ElementUsage::NotUsed,
        u => return Err(format!("usage {u:?} is not R, S or N")),
    };
    let element_at = element_name(seg.as_bytes(), usize::from(element));
    let name = if component == 0 {
        element_at
    } else {
        format!("{element_at}-{component}")
    };
    let data_type = match (&e.data_type, usage) {
        (Some(t), _) => DataType::parse(t).ok_or_else(|| format!("unknown type {t:?}"))?,
        (None, ElementUsage::NotUsed) => DataType::String,
        (None, _) => return Err("a used element needs a type".into()),
    };
    let [min, max] = match e.len {
        Some([lo, hi]) if lo >= 1 && lo <= hi => [lo, hi],
        Some(l) => return Err(format!("bad length {l:?}")),
        None if usage == ElementUsage::NotUsed || data_type == DataType::Composite => [0, 0],
        None => return Err("a used element needs a length".into()),
    };
    let upper = |v: &Vec<String>| -> CodeSet {
        let mut out: Vec<Box<[u8]>> = v.iter().map(|c| c.as_bytes().into()).collect();
        out.sort();
        out.dedup();
        out.into()
    };
    let codes = match (&e.codes, &e.external) {
        (Some(_), Some(_)) => return Err("give `codes` or `external`, not both".into()),
        (Some(c), None) => Codes::List(upper(c)),
        (None, Some(name)) => {
            let when = match &e.when {
                None => None,
                Some(w) => {
                    let (n, codes) = w.split_once('=').ok_or_else(|| format!("bad when {w:?}"))?;
                    let n: u8 = n.parse().map_err(|_| format!("bad when {w:?}"))?;
                    Some((n, upper(&codes.split('|').map(str::to_string).collect())))
                }
            };
            Codes::External(ExternalCodes {
                list: list_index(name).ok_or_else(|| format!("unknown code list {name:?}"))?,
                name: name.as_str().into(),
                when,
                prefix: e.prefix.unwrap_or(0),
            })
        }
        (None, None) => {
            if e.when.is_some() || e.prefix.is_some() {
                return Err("`when` and `prefix` go with `external`".into());
            }
            Codes::Any
        }
    };
    let mut packed: Vec<u64> = match &codes {
        Codes::List(l) => l.iter().filter_map(|c| pack_exact(c)).collect(),
        _ => Vec::new(),
    };
    packed.sort_unstable();
    Ok(ElementDef {
        packed: packed.into(),
        name: name.into(),
        reference: e.reference.as_str().into(),
        usage,
        data_type,
        min,
        max,
        codes,
        digits: e.digits.unwrap_or(0),
    })
}

fn conditions(list: &[String]) -> std::result::Result<Box<[Condition]>, String> {
    list.iter()
        .map(|s| Condition::parse(s).ok_or_else(|| format!("bad syntax note {s:?}")))
        .collect()
}

fn segment_def(s: &SegmentEntry) -> std::result::Result<SegmentDef, String> {
    let mut slots: Vec<ElementSlot> = Vec::new();
    let mut comps: Vec<ElementDef> = Vec::new();
    for e in &s.elements {
        let ctx = |m: String| format!("{}: {m}", e.at);
        let (el, comp) = parse_at(&s.segment, &e.at).ok_or_else(|| ctx("bad position".into()))?;
        let def = element_def(&s.segment, e, el, comp).map_err(ctx)?;
        if comp == 0 {
            if let Some(last) = slots.last_mut() {
                last.components = std::mem::take(&mut comps).into();
            }
            if usize::from(el) != slots.len() + 1 {
                return Err(ctx("elements must be listed 01, 02, ... in order".into()));
            }
            let composite = def.data_type == DataType::Composite;
            if !composite && !e.syntax.is_empty() {
                return Err(ctx("only a composite takes `syntax`".into()));
            }
            slots.push(ElementSlot {
                def,
                components: Box::new([]),
                conditions: conditions(&e.syntax).map_err(ctx)?,
            });
        } else {
            let parent = slots
                .last()
                .ok_or_else(|| ctx("a component before its composite".into()))?;
            if usize::from(el) != slots.len() || parent.def.data_type != DataType::Composite {
                return Err(ctx("a component must follow its composite".into()));
            }
            if usize::from(comp) != comps.len() + 1 {
                return Err(ctx("components must be listed -1, -2, ... in order".into()));
            }
            comps.push(def);
        }
    }
    if let Some(last) = slots.last_mut() {
        if !comps.is_empty() {
            last.components = comps.into();
        }
    }
    // Presence is tracked in a 64-bit set; no X12 segment comes near.
    if slots.len() > 64 || slots.iter().any(|s| s.components.len() > 64) {
        return Err("more than 64 elements or components".into());
    }
    let required = slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.def.usage == ElementUsage::Required)
        .fold(0u64, |acc, (i, _)| acc | 1 << i);
    let conditions = conditions(&s.syntax)?;
    for c in conditions.iter() {
        if c.positions.iter().any(|p| usize::from(*p) > slots.len()) {
            return Err(format!(
                "syntax note names an element the segment does not define: {c:?}"
            ));
        }
    }
    let mut def = SegmentDef {
        slots: slots.into(),
        conditions,
        required,
        plan: Plan::default(),
    };
    def.plan = Plan::compile(&def);
    Ok(def)
}

impl Grammar {
    /// Attaches the element definitions of a `*-elements.toml` file to the
    /// segment entries they name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Grammar`] when the file is not for this guide, names a
    /// segment entry the loop map lacks, names one twice, or holds a bad
    /// definition.
    ///
    /// ```
    /// use scrub837::grammar::{Grammar, Node};
    /// let g = Grammar::from_toml(include_str!("../../grammar/837p.toml"))
    ///     .and_then(|g| g.with_elements(include_str!("../../grammar/837p-elements.toml")))
    ///     .unwrap();
    /// let clm = g.loops[g.loop_index("2300").unwrap()].trigger();
    /// let def = clm.elements.as_ref().unwrap();
    /// assert_eq!(&*def.slots[4].components[2].name, "CLM05-3");
    /// ```
    pub fn with_elements(mut self, text: &str) -> Result<Grammar> {
        let guide = self.guide.clone();
        let fail = |message: String| {
            Error::new(
                ErrorKind::Grammar {
                    guide: guide.clone(),
                    message,
                },
                None,
            )
        };
        let file: ElementsFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if file.guide != self.guide {
            return Err(fail(format!(
                "element file is for {}, not {}",
                file.guide, self.guide
            )));
        }
        let loops: HashMap<&str, usize> = self
            .loops
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        let mut defs: Vec<(usize, usize, SegmentDef)> = Vec::with_capacity(file.segments.len());
        for s in &file.segments {
            let ctx = |m: String| {
                format!(
                    "element definitions of {} {} in loop {}: {m}",
                    s.segment,
                    s.matcher.as_deref().unwrap_or(""),
                    s.loop_id
                )
            };
            let li = *loops
                .get(s.loop_id.as_str())
                .ok_or_else(|| fail(ctx("unknown loop".into())))?;
            let want_match = s.matcher.as_deref();
            let at = self.loops[li].body.iter().position(|n| match n {
                Node::Segment(sn) => {
                    sn.id.as_bytes() == s.segment.as_bytes()
                        && sn.match_text.as_deref() == want_match
                }
                Node::Loop(_) => false,
            });
            let at = at.ok_or_else(|| fail(ctx("no such segment entry in the loop map".into())))?;
            let def = segment_def(s).map_err(|m| fail(ctx(m)))?;
            defs.push((li, at, def));
        }
        for (li, at, def) in defs {
            let l = &mut self.loops[li];
            let Node::Segment(sn) = &mut l.body[at] else {
                unreachable!("`at` was found as a segment entry")
            };
            if sn.elements.is_some() {
                return Err(fail(format!("{} in loop {} is defined twice", sn.id, l.id)));
            }
            sn.elements = Some(Arc::new(def));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        assert_eq!(parse_at("NM1", "NM109"), Some((9, 0)));
        assert_eq!(parse_at("CLM", "CLM05-3"), Some((5, 3)));
        assert_eq!(parse_at("CLM", "NM105"), None);
        assert_eq!(parse_at("HI", "HI1"), None);
    }

    #[test]
    fn conditions_parse() {
        let l = Condition::parse("L100405").unwrap();
        assert_eq!(l.kind, ConditionKind::ListConditional);
        assert_eq!(&*l.positions, &[10, 4, 5]);
        assert!(Condition::parse("P08").is_none());
        assert!(Condition::parse("P0899x").is_none());
        assert!(Condition::parse("E0000").is_none());
    }

    fn one(elements: &str) -> std::result::Result<SegmentDef, String> {
        let text = format!("guide = \"g\"\n[[segment]]\nloop = \"L\"\nsegment = \"CLM\"\nelements = [{elements}]\n");
        let f: ElementsFile = toml::from_str(&text).map_err(|e| e.to_string())?;
        segment_def(&f.segments[0])
    }

    #[test]
    fn definitions_are_checked() {
        let d = one(r#"{ at = "CLM01", ref = "1028", usage = "R", type = "AN", len = [1, 20] },
            { at = "CLM02", ref = "C023", usage = "S", type = "composite" },
            { at = "CLM02-1", ref = "1331", usage = "R", type = "ID", len = [1, 2], codes = ["B", "A"] }"#)
        .unwrap();
        assert_eq!(d.required, 1);
        assert_eq!(d.slots[1].components.len(), 1);
        assert_eq!(
            d.slots[1].components[0].codes,
            Codes::List(vec![b"A".to_vec().into(), b"B".to_vec().into()].into())
        );
        let e = one(r#"{ at = "CLM02", ref = "1", usage = "R", type = "AN", len = [1, 2] }"#)
            .unwrap_err();
        assert!(e.contains("in order"), "{e}");
        let e = one(r#"{ at = "CLM01", ref = "1", usage = "R", type = "XX", len = [1, 2] }"#)
            .unwrap_err();
        assert!(e.contains("unknown type"), "{e}");
        let e = one(r#"{ at = "CLM01", ref = "1", usage = "R", type = "AN", len = [3, 2] }"#)
            .unwrap_err();
        assert!(e.contains("bad length"), "{e}");
        let e = one(r#"{ at = "CLM01-1", ref = "1", usage = "R", type = "AN", len = [1, 2] }"#)
            .unwrap_err();
        assert!(e.contains("before its composite"), "{e}");
    }
}
