//! The loop grammar of the implementation guides, as data.
//!
//! `grammar/837p.toml` (005010X222A1) and `grammar/837i.toml` (005010X223A2)
//! are embedded at build time, checked once, and compiled into a compact
//! [`Grammar`]: loops with their bodies of segment and child-loop nodes. The
//! [`builder::LoopBuilder`] walks a transaction's segments over it. 837P and
//! 837I differ in data, never in code paths; a fix to a guide is a change to
//! its file. The file format is described in `grammar/README.md`.

pub mod builder;
pub mod elements;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::digit1;
use nom::combinator::{all_consuming, map_res, opt};
use nom::multi::separated_list1;
use nom::sequence::preceded;
use nom::{IResult, Parser};
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};
use crate::lex::{Segment, SegmentId};
use crate::model::ModelRead;
use elements::SegmentDef;

/// The claim form a guide describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[non_exhaustive]
pub enum Form {
    /// 837P, professional claims (CMS-1500), 005010X222A1.
    #[serde(rename = "837P")]
    Professional,
    /// 837I, institutional claims (UB-04), 005010X223A2.
    #[serde(rename = "837I")]
    Institutional,
}

impl Form {
    /// `837P` or `837I`.
    pub fn as_str(self) -> &'static str {
        match self {
            Form::Professional => "837P",
            Form::Institutional => "837I",
        }
    }
}

impl std::fmt::Display for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the guide requires a segment or loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Usage {
    /// Required.
    Required,
    /// Situational.
    Situational,
}

/// The loops the claim model reads, by their guide ids. Other loops are
/// [`LoopKind::Other`]; both guides use the same ids for these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoopKind {
    /// The transaction set (ST..SE).
    Transaction,
    /// 2000A billing provider hierarchical level.
    BillingProvider,
    /// 2010AA billing provider name.
    BillingProviderName,
    /// 2000B subscriber hierarchical level.
    Subscriber,
    /// 2010BA subscriber name.
    SubscriberName,
    /// 2010BB payer name.
    PayerName,
    /// 2000C patient hierarchical level.
    Patient,
    /// 2010CA patient name.
    PatientName,
    /// 2300 claim information.
    Claim,
    /// 2320 other subscriber information (coordination of benefits).
    OtherSubscriber,
    /// 2400 service line.
    ServiceLine,
    /// Any other loop.
    Other,
}

impl LoopKind {
    fn from_id(id: &str) -> LoopKind {
        match id {
            "ST" => LoopKind::Transaction,
            "2000A" => LoopKind::BillingProvider,
            "2010AA" => LoopKind::BillingProviderName,
            "2000B" => LoopKind::Subscriber,
            "2010BA" => LoopKind::SubscriberName,
            "2010BB" => LoopKind::PayerName,
            "2000C" => LoopKind::Patient,
            "2010CA" => LoopKind::PatientName,
            "2300" => LoopKind::Claim,
            "2320" => LoopKind::OtherSubscriber,
            "2400" => LoopKind::ServiceLine,
            _ => LoopKind::Other,
        }
    }
}

/// The qualifier test of a segment node: element (and component) and codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    /// 1-based element position.
    pub element: usize,
    /// 1-based component position, 0 for the whole element.
    pub component: usize,
    /// The codes that match.
    pub codes: Vec<Box<[u8]>>,
}

/// Packs a code of up to 7 bytes, upper-cased, with its length in the top
/// byte, so codes compare as integers; `None` for longer ones.
#[inline]
pub(crate) fn pack_code(v: &[u8]) -> Option<u64> {
    if v.len() > 7 {
        return None;
    }
    // All bytes at once: zero-padded, then `a`..=`z` (and nothing else,
    // bytes over 0x7F included) lowered by 0x20 in place.
    Some(pack_word(crate::lex::load_short(v), v.len()))
}

/// [`pack_code`] of the `len` (at most 7) bytes in the low end of `w`,
/// the bytes above them zero.
#[inline(always)]
pub(crate) fn pack_word(w: u64, len: usize) -> u64 {
    debug_assert!(len <= 7 && w >> (8 * len) == 0);
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HI: u64 = 0x8080_8080_8080_8080;
    let low7 = w & LO7;
    // High bit per byte: low7 >= b'a', and low7 > b'z'.
    let ge_a = low7.wrapping_add(0x1F1F_1F1F_1F1F_1F1F) & HI;
    let gt_z = low7.wrapping_add(0x0505_0505_0505_0505) & HI;
    let lower = ge_a & !gt_z & !w & HI;
    (w - (lower >> 2)) | ((len as u64) << 56)
}

/// A [`Matcher`] compiled for the loop builder: codes packed as integers.
#[derive(Clone, Debug)]
pub(crate) struct QuickMatch {
    /// 1-based element position.
    pub(crate) element: u16,
    /// 1-based component position, 0 for the whole element.
    pub(crate) component: u16,
    /// Codes of up to 7 bytes, packed, sorted.
    keys: Box<[u64]>,
    /// Longer codes, compared as bytes (rare).
    long: Box<[Box<[u8]>]>,
}

impl QuickMatch {
    fn new(m: &Matcher) -> QuickMatch {
        let mut keys: Vec<u64> = m.codes.iter().filter_map(|c| pack_code(c)).collect();
        keys.sort_unstable();
        keys.dedup();
        QuickMatch {
            element: m.element.min(usize::from(u16::MAX)) as u16,
            component: m.component.min(usize::from(u16::MAX)) as u16,
            keys: keys.into_boxed_slice(),
            long: m.codes.iter().filter(|c| c.len() > 7).cloned().collect(),
        }
    }

    /// Whether a trimmed qualifier (`raw`, packed as `key`, `u64::MAX` when
    /// too long to pack) is one of the codes.
    #[inline]
    pub(crate) fn matches(&self, key: u64, raw: &[u8]) -> bool {
        let hit = if self.keys.len() <= 8 {
            self.keys.contains(&key)
        } else {
            self.keys.binary_search(&key).is_ok()
        };
        hit || (!self.long.is_empty() && self.long.iter().any(|c| c.eq_ignore_ascii_case(raw)))
    }
}

impl Matcher {
    fn value<'a>(&self, seg: &Segment<'a>) -> &'a [u8] {
        match seg.element(self.element) {
            None => &[],
            Some(e) if self.component == 0 => e.as_bytes(),
            Some(e) => e.component(self.component).unwrap_or(&[]),
        }
    }

    /// Whether `seg`'s qualifier is one of the codes, ignoring blanks and
    /// case: a lower-case qualifier still places its segment (as lower-case
    /// ids do), so no data is lost to the model.
    pub fn matches(&self, seg: &Segment<'_>) -> bool {
        let v = self.value(seg).trim_ascii();
        self.codes.iter().any(|c| c.eq_ignore_ascii_case(v))
    }
}

/// One segment position in a loop body.
#[derive(Clone, Debug)]
pub struct SegmentNode {
    /// The segment id.
    pub id: SegmentId,
    /// The qualifier that tells this node apart, if any.
    pub matcher: Option<Matcher>,
    /// Required or situational.
    pub usage: Usage,
    /// Most repeats in one loop instance; `None` for unbounded.
    pub max: Option<u32>,
    /// Nodes with the same position group may come in any order.
    pub group: u32,
    /// The `match` string as the map writes it (`NM101=85`).
    pub match_text: Option<Box<str>>,
    /// What the guide says of the segment's elements at this place, when
    /// the element map defines it.
    pub elements: Option<Arc<SegmentDef>>,
    /// What the claim model reads here, from the loop's kind and the id.
    pub(crate) model: ModelRead,
    /// [`LoopDef::required_mask`] of the groups before this node's: when
    /// the filled nodes cover it, moving here leaves nothing missing
    /// (`u64::MAX` when the loop has no masks, so the full check runs).
    pub(crate) needs: u64,
    /// [`LoopDef::required_bit`] of this node, where placing it reads it.
    pub(crate) bit: u64,
    /// For a segment used at most once among the first 64 nodes of its
    /// loop (most are): bit `i` of node `i`, which says in the open loop's
    /// `seen` that it was placed, without a count. 0 for the rest.
    pub(crate) once: u64,
}

impl SegmentNode {
    /// Whether `seg` fills this node.
    pub fn matches(&self, id: SegmentId, seg: &Segment<'_>) -> bool {
        self.id == id && self.matcher.as_ref().is_none_or(|m| m.matches(seg))
    }
}

/// A node of a loop body.
#[derive(Clone, Debug)]
pub enum Node {
    /// A segment.
    Segment(SegmentNode),
    /// A child loop.
    Loop(LoopNode),
}

/// A child loop's position in a body.
#[derive(Clone, Copy, Debug)]
pub struct LoopNode {
    /// Index into [`Grammar::loops`].
    pub index: usize,
    /// Required or situational at this position (a loop may sit under two
    /// parents with different usage, as 2300 does under 2000B and 2000C).
    pub usage: Usage,
    /// Nodes with the same position group may come in any order.
    pub group: u32,
    /// As [`SegmentNode`]'s: the required nodes of the groups before.
    pub(crate) needs: u64,
    /// As [`SegmentNode`]'s: this node's required bit.
    pub(crate) bit: u64,
}

impl Node {
    pub(crate) fn group(&self) -> u32 {
        match self {
            Node::Segment(s) => s.group,
            Node::Loop(l) => l.group,
        }
    }
}

/// One loop of a guide.
#[derive(Clone, Debug)]
pub struct LoopDef {
    /// The guide's loop id (`2300`); the root is `ST`.
    pub id: String,
    /// The loop's name.
    pub name: String,
    /// What the claim model makes of it.
    pub kind: LoopKind,
    /// Index of the declared parent loop; `None` for the root. A loop may
    /// also be listed in other bodies (2300 sits under 2000B and 2000C).
    pub parent: Option<usize>,
    /// Most repeats per parent instance; `None` for unbounded.
    pub repeat: Option<u32>,
    /// Segments and child loops in guide order; the first is the trigger.
    pub body: Vec<Node>,
    /// Body node indices by the segment id that fills them (a segment node's
    /// id, a child loop's trigger id), sorted by id, then by position; the
    /// trigger (index 0) is left out. Compiled from `body`.
    by_id: Vec<(SegmentId, u16)>,
    /// Body node indices that are required (segments and child loops), with
    /// their position groups, ordered by group (body order within a group):
    /// the loop builder asks for the ones in a range of groups per segment.
    required: Vec<(u32, u16)>,
    /// Per body node, its bit among the required nodes (bit `k`: the `k`th
    /// of `required`), 0 when it is not required or past the 64th.
    required_bit: Vec<u64>,
    /// Per position group `g`, the bits of the required nodes in groups
    /// before `g`; one more entry, for every group. Empty when the loop
    /// requires more than 64 nodes.
    required_before: Vec<u64>,
    /// Per body node: the segment id that fills it and its qualifier test
    /// (a child loop's trigger's), compiled from `body`.
    quick: Vec<(SegmentId, Option<QuickMatch>)>,
    /// `by_id` hashed by id (see [`LoopDef::hash_by_id`]).
    table: Box<[(u32, u16, u16)]>,
}

impl LoopDef {
    /// The body nodes (after the trigger) that a segment with `id` may
    /// fill, in body order.
    pub fn candidates(&self, id: SegmentId) -> impl Iterator<Item = usize> + '_ {
        self.candidate_slice(id)
            .iter()
            .map(|(_, i)| usize::from(*i))
    }

    /// The run of `by_id` for `id`, found in the loop's small hash table.
    #[inline]
    fn candidate_slice(&self, id: SegmentId) -> &[(SegmentId, u16)] {
        let key = id.key();
        let mask = self.table.len() - 1;
        let mut h = (key.wrapping_mul(0x9E37_79B1) >> 16) as usize & mask;
        loop {
            let (k, start, len) = self.table[h];
            if k == key {
                return &self.by_id[usize::from(start)..usize::from(start) + usize::from(len)];
            }
            if k == 0 {
                return &[];
            }
            h = (h + 1) & mask;
        }
    }

    /// The loop's body as a hash table from filling id to its run in
    /// `by_id`: (id key, start, length), key 0 for an empty slot; at most
    /// half full, so probes are short.
    fn hash_by_id(by_id: &[(SegmentId, u16)]) -> Box<[(u32, u16, u16)]> {
        let distinct = by_id.chunk_by(|a, b| a.0 == b.0).count();
        let size = (distinct * 2).next_power_of_two().max(4);
        let mut table = vec![(0u32, 0u16, 0u16); size].into_boxed_slice();
        let mut start = 0usize;
        for run in by_id.chunk_by(|a, b| a.0 == b.0) {
            let key = run[0].0.key();
            let mut h = (key.wrapping_mul(0x9E37_79B1) >> 16) as usize & (size - 1);
            while table[h].0 != 0 {
                h = (h + 1) & (size - 1);
            }
            table[h] = (key, start as u16, run.len() as u16);
            start += run.len();
        }
        table
    }

    /// The filling id and compiled qualifier test of body node `i`.
    #[inline]
    pub(crate) fn quick(&self, i: usize) -> &(SegmentId, Option<QuickMatch>) {
        &self.quick[i]
    }

    /// The body nodes the guide requires, in body order.
    pub fn required(&self) -> impl Iterator<Item = usize> + '_ {
        self.required.iter().map(|(_, i)| usize::from(*i))
    }

    /// The bits ([`LoopDef::required_bit`]) of the required nodes whose
    /// position group is in `from..to`; `None` when the loop requires more
    /// than 64 nodes. With the bits of the nodes filled so far, the loop
    /// builder tells that nothing is missing in a few instructions.
    #[inline]
    pub(crate) fn required_mask(&self, from: u32, to: u32) -> Option<u64> {
        let last = self.required_before.len().checked_sub(1)?;
        let before = |g: u32| self.required_before[(g as usize).min(last)];
        Some(before(to) & !before(from))
    }

    /// The bit of body node `i` among the required nodes (see
    /// [`LoopDef::required_mask`]); 0 when it is not required.
    #[inline]
    pub(crate) fn required_bit(&self, i: usize) -> u64 {
        self.required_bit[i]
    }

    /// The required body nodes whose position group is in `from..to`, in
    /// body order: found by binary search, as the builder asks on every
    /// move forward and most ranges hold none.
    #[inline]
    pub fn required_in(&self, from: u32, to: u32) -> impl Iterator<Item = usize> + '_ {
        let start = self.required.partition_point(|(g, _)| *g < from);
        self.required[start..]
            .iter()
            .take_while(move |(g, _)| *g < to)
            .map(|(_, i)| usize::from(*i))
    }

    /// The segment that opens the loop.
    pub fn trigger(&self) -> &SegmentNode {
        match &self.body[0] {
            Node::Segment(s) => s,
            Node::Loop(..) => unreachable!("the loader requires a segment first"),
        }
    }
}

/// A compiled implementation guide.
#[derive(Clone, Debug)]
pub struct Grammar {
    /// The guide id (`005010X222A1`).
    pub guide: String,
    /// Errata ids read with the same map.
    pub also: Vec<String>,
    /// The claim form.
    pub form: Form,
    /// The guide's title.
    pub title: String,
    /// Every loop; index 0 is the root.
    pub loops: Vec<LoopDef>,
    /// Every loop's [`LoopDef::kind`], packed: the claim model asks for it
    /// whenever a loop opens, and a `LoopDef` is a cache line or more.
    kinds: Box<[LoopKind]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    guide: String,
    #[serde(default)]
    also: Vec<String>,
    form: String,
    title: String,
    #[serde(rename = "loop")]
    loops: Vec<LoopEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoopEntry {
    id: String,
    name: String,
    parent: String,
    usage: String,
    repeat: Repeat,
    body: Vec<BodyEntry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repeat {
    Count(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyEntry {
    segment: Option<String>,
    #[serde(rename = "match")]
    matcher: Option<String>,
    usage: Option<String>,
    max: Option<Repeat>,
    #[serde(rename = "loop")]
    child: Option<String>,
}

fn parse_usage(s: &str) -> std::result::Result<Usage, String> {
    match s {
        "R" => Ok(Usage::Required),
        "S" => Ok(Usage::Situational),
        other => Err(format!("usage {other:?} is not R or S")),
    }
}

fn parse_repeat(r: &Repeat) -> std::result::Result<Option<u32>, String> {
    match r {
        Repeat::Count(0) => Err("a repeat count of 0".into()),
        Repeat::Count(n) => Ok(Some(*n)),
        Repeat::Text(t) if t == ">1" => Ok(None),
        Repeat::Text(t) => Err(format!("repeat {t:?} is neither a number nor \">1\"")),
    }
}

/// A parsed `match` string: segment id, element, component, codes.
type MatchSpec<'a> = (&'a [u8], usize, usize, Vec<&'a [u8]>);

fn parse_match(input: &[u8]) -> IResult<&[u8], MatchSpec<'_>> {
    // `SEGnn`: the id is what precedes the last two digits.
    let position = map_res(
        take_while1(|b: u8| b.is_ascii_uppercase() || b.is_ascii_digit()),
        |p: &[u8]| {
            let (id, el) = p.split_at(p.len().saturating_sub(2));
            match (id.len(), std::str::from_utf8(el).map(str::parse::<usize>)) {
                (2..=3, Ok(Ok(n))) if el.iter().all(u8::is_ascii_digit) => Ok((id, n)),
                _ => Err(()),
            }
        },
    );
    let component = map_res(digit1, |d: &[u8]| {
        std::str::from_utf8(d).unwrap_or("x").parse::<usize>()
    });
    let code = take_while1(|b: u8| b != b'|');
    (
        position,
        opt(preceded(tag(&b"-"[..]), component)),
        preceded(tag(&b"="[..]), separated_list1(tag(&b"|"[..]), code)),
    )
        .map(|((seg, el), comp, codes)| (seg, el, comp.unwrap_or(0), codes))
        .parse(input)
}

impl Grammar {
    /// Reads and checks a map in the TOML format of `grammar/README.md`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Grammar`] naming the loop or entry that is wrong.
    ///
    /// ```
    /// let g = scrub837::grammar::Grammar::from_toml(include_str!("../../grammar/837p.toml")).unwrap();
    /// assert_eq!(g.guide, "005010X222A1");
    /// assert_eq!(g.loops[0].id, "ST");
    /// assert!(g.loop_index("2400").is_some());
    /// ```
    pub fn from_toml(text: &str) -> Result<Grammar> {
        let file: MapFile = toml::from_str(text).map_err(|e| {
            Error::new(
                ErrorKind::Grammar {
                    guide: "?".into(),
                    message: e.to_string(),
                },
                None,
            )
        })?;
        let guide = file.guide.clone();
        Grammar::compile(file)
            .map_err(|message| Error::new(ErrorKind::Grammar { guide, message }, None))
    }

    fn compile(file: MapFile) -> std::result::Result<Grammar, String> {
        let form = match file.form.as_str() {
            "837P" => Form::Professional,
            "837I" => Form::Institutional,
            other => return Err(format!("form {other:?} is not 837P or 837I")),
        };
        let index: HashMap<&str, usize> = file
            .loops
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.as_str(), i))
            .collect();
        if index.len() != file.loops.len() {
            return Err("two loops share an id".into());
        }
        let mut loops = Vec::with_capacity(file.loops.len());
        let mut referenced = vec![0u32; file.loops.len()];
        for (li, l) in file.loops.iter().enumerate() {
            let ctx = |m: String| format!("loop {}: {m}", l.id);
            parse_usage(&l.usage).map_err(ctx)?;
            let parent = if l.parent.is_empty() {
                if li != 0 {
                    return Err(ctx("only the first loop may be the root".into()));
                }
                None
            } else {
                Some(
                    *index
                        .get(l.parent.as_str())
                        .ok_or_else(|| ctx(format!("unknown parent {}", l.parent)))?,
                )
            };
            if li == 0 && parent.is_some() {
                return Err(ctx("the first loop must be the root (parent \"\")".into()));
            }
            let mut body = Vec::with_capacity(l.body.len());
            let mut group = 0u32;
            let mut last_id: Option<SegmentId> = None;
            for (bi, b) in l.body.iter().enumerate() {
                let ectx = |m: String| ctx(format!("entry {}: {m}", bi + 1));
                let node = match (&b.segment, &b.child) {
                    (Some(seg), None) => {
                        let id = SegmentId::from_bytes(seg.as_bytes())
                            .ok_or_else(|| ectx(format!("bad segment id {seg:?}")))?;
                        let matcher = match &b.matcher {
                            None => None,
                            Some(m) => {
                                let (_, (mseg, element, component, codes)) =
                                    all_consuming(parse_match)
                                        .parse(m.as_bytes())
                                        .map_err(|_| ectx(format!("bad match {m:?}")))?;
                                if mseg != id.as_bytes() {
                                    return Err(ectx(format!("match {m:?} names another segment")));
                                }
                                Some(Matcher {
                                    element,
                                    component,
                                    codes: codes
                                        .into_iter()
                                        .map(|c| c.to_vec().into_boxed_slice())
                                        .collect(),
                                })
                            }
                        };
                        let usage =
                            parse_usage(b.usage.as_deref().ok_or_else(|| ectx("no usage".into()))?)
                                .map_err(ectx)?;
                        let max =
                            parse_repeat(b.max.as_ref().ok_or_else(|| ectx("no max".into()))?)
                                .map_err(ectx)?;
                        if last_id != Some(id) {
                            group += 1;
                        }
                        last_id = Some(id);
                        Node::Segment(SegmentNode {
                            id,
                            matcher,
                            usage,
                            max,
                            group,
                            match_text: b.matcher.as_deref().map(Into::into),
                            elements: None,
                            model: ModelRead::of(LoopKind::from_id(&l.id), id),
                            needs: u64::MAX,
                            bit: 0,
                            once: match (max, bi) {
                                (Some(1), i @ 0..64) => 1 << i,
                                _ => 0,
                            },
                        })
                    }
                    (None, Some(child)) => {
                        if b.matcher.is_some() || b.max.is_some() {
                            return Err(ectx("a loop entry takes only `loop` and `usage`".into()));
                        }
                        let ci = *index
                            .get(child.as_str())
                            .ok_or_else(|| ectx(format!("unknown loop {child}")))?;
                        if ci == 0 {
                            return Err(ectx("the root loop cannot be a child".into()));
                        }
                        if file.loops[ci].parent == l.id {
                            referenced[ci] += 1;
                        }
                        let usage = match &b.usage {
                            Some(u) => parse_usage(u).map_err(ectx)?,
                            None => parse_usage(&file.loops[ci].usage).map_err(ectx)?,
                        };
                        let trigger = file.loops[ci]
                            .body
                            .first()
                            .and_then(|e| e.segment.as_deref())
                            .and_then(|s| SegmentId::from_bytes(s.as_bytes()));
                        if trigger.is_none() || last_id != trigger {
                            group += 1;
                        }
                        last_id = trigger;
                        Node::Loop(LoopNode {
                            index: ci,
                            usage,
                            group,
                            needs: u64::MAX,
                            bit: 0,
                        })
                    }
                    _ => return Err(ectx("give exactly one of `segment` and `loop`".into())),
                };
                if bi == 0 && !matches!(node, Node::Segment(_)) {
                    return Err(ctx(
                        "the first entry must be the segment that opens the loop".into(),
                    ));
                }
                body.push(node);
            }
            if body.is_empty() {
                return Err(ctx("empty body".into()));
            }
            if body.len() > usize::from(u16::MAX) {
                return Err(ctx("too many entries".into()));
            }
            loops.push(LoopDef {
                id: l.id.clone(),
                name: l.name.clone(),
                kind: LoopKind::from_id(&l.id),
                parent,
                repeat: parse_repeat(&l.repeat).map_err(ctx)?,
                body,
                by_id: Vec::new(),
                required: Vec::new(),
                required_bit: Vec::new(),
                required_before: Vec::new(),
                quick: Vec::new(),
                table: Box::new([]),
            });
        }
        // Index each body by filling segment id, now that every loop's
        // trigger is known.
        for li in 0..loops.len() {
            let mut by_id = Vec::new();
            let mut required = Vec::new();
            let mut quick = Vec::new();
            for (i, node) in loops[li].body.iter().enumerate() {
                let trigger = match node {
                    Node::Segment(s) => s,
                    Node::Loop(l) => loops[l.index].trigger(),
                };
                quick.push((trigger.id, trigger.matcher.as_ref().map(QuickMatch::new)));
                let (id, usage) = match node {
                    Node::Segment(s) => (s.id, s.usage),
                    Node::Loop(l) => (loops[l.index].trigger().id, l.usage),
                };
                if i > 0 {
                    by_id.push((id, i as u16));
                }
                if usage == Usage::Required {
                    required.push((node.group(), i as u16));
                }
            }
            by_id.sort();
            // Stable: body order stays within a group.
            required.sort_by_key(|(g, _)| *g);
            let body_len = loops[li].body.len();
            let mut required_bit = vec![0u64; body_len];
            let mut required_before = Vec::new();
            if required.len() <= 64 {
                for (k, (_, i)) in required.iter().enumerate() {
                    required_bit[usize::from(*i)] = 1 << k;
                }
                let groups = loops[li].body.iter().map(Node::group).max().unwrap_or(0);
                for g in 0..=groups + 1 {
                    required_before.push(
                        required
                            .iter()
                            .enumerate()
                            .filter(|(_, (rg, _))| *rg < g)
                            .fold(0u64, |m, (k, _)| m | 1 << k),
                    );
                }
            }
            loops[li].required_bit = required_bit;
            loops[li].required_before = required_before;
            let l = &mut loops[li];
            for i in 0..l.body.len() {
                // (No masks, more than 64 required nodes: the full check.)
                let needs = l.required_mask(0, l.body[i].group()).unwrap_or(u64::MAX);
                let bit = l.required_bit(i);
                match &mut l.body[i] {
                    Node::Segment(sn) => (sn.needs, sn.bit) = (needs, bit),
                    Node::Loop(ln) => (ln.needs, ln.bit) = (needs, bit),
                }
            }
            loops[li].table = LoopDef::hash_by_id(&by_id);
            loops[li].by_id = by_id;
            loops[li].required = required;
            loops[li].quick = quick;
        }
        for (i, n) in referenced.iter().enumerate().skip(1) {
            if *n != 1 {
                return Err(format!(
                    "loop {} is listed in its declared parent's body {n} times, not once",
                    loops[i].id
                ));
            }
        }
        Ok(Grammar {
            guide: file.guide,
            also: file.also,
            form,
            title: file.title,
            kinds: loops.iter().map(|l| l.kind).collect(),
            loops,
        })
    }

    /// What the claim model makes of loop `index` ([`LoopDef::kind`]).
    ///
    /// ```
    /// use scrub837::grammar::{Grammars, LoopKind};
    /// let g = &Grammars::structure().professional;
    /// assert_eq!(g.loop_kind(g.loop_index("2400").unwrap()), LoopKind::ServiceLine);
    /// assert_eq!(g.loop_kind(usize::MAX), LoopKind::Other);
    /// ```
    #[inline]
    pub fn loop_kind(&self, index: usize) -> LoopKind {
        self.kinds.get(index).copied().unwrap_or(LoopKind::Other)
    }

    /// The index of the loop with guide id `id`.
    pub fn loop_index(&self, id: &str) -> Option<usize> {
        self.loops.iter().position(|l| l.id == id)
    }

    /// Whether this map reads transactions declaring `version` (GS08/ST03).
    pub fn reads(&self, version: &[u8]) -> bool {
        let v = version.trim_ascii();
        self.guide.as_bytes() == v || self.also.iter().any(|a| a.as_bytes() == v)
    }
}

/// The maps compiled into the binary.
#[derive(Debug)]
pub struct Grammars {
    /// 837P, 005010X222A1.
    pub professional: Grammar,
    /// 837I, 005010X223A2.
    pub institutional: Grammar,
}

/// The 837P map as embedded in the binary.
pub const EMBEDDED_837P: &str = include_str!("../../grammar/837p.toml");
/// The 837I map as embedded in the binary.
pub const EMBEDDED_837I: &str = include_str!("../../grammar/837i.toml");
/// The 837P element definitions as embedded in the binary.
pub const EMBEDDED_837P_ELEMENTS: &str = include_str!("../../grammar/837p-elements.toml");
/// The 837I element definitions as embedded in the binary.
pub const EMBEDDED_837I_ELEMENTS: &str = include_str!("../../grammar/837i-elements.toml");

impl Grammars {
    /// The embedded maps with their element definitions, compiled once.
    ///
    /// # Panics
    ///
    /// If an embedded map is broken, which the test suite rules out.
    ///
    /// ```
    /// let g = scrub837::grammar::Grammars::embedded();
    /// assert!(g.for_version(b"005010X223A3").is_some());
    /// assert!(g.for_version(b"004010X098A1").is_none());
    /// ```
    pub fn embedded() -> &'static Grammars {
        static CELL: OnceLock<Grammars> = OnceLock::new();
        // The loop maps are read once, by `structure`, for both.
        CELL.get_or_init(|| {
            let s = Grammars::structure();
            Grammars {
                professional: s
                    .professional
                    .clone()
                    .with_elements(EMBEDDED_837P_ELEMENTS)
                    .expect("the embedded 837P element map is valid"),
                institutional: s
                    .institutional
                    .clone()
                    .with_elements(EMBEDDED_837I_ELEMENTS)
                    .expect("the embedded 837I element map is valid"),
            }
        })
    }

    /// The embedded maps without their element definitions, compiled once:
    /// all that reading the loop structure and the claim model needs. The
    /// element definitions are most of the maps' start-up (about 15 ms),
    /// which `parse`, `fix` and a scan without element checks skip.
    ///
    /// ```
    /// let g = scrub837::grammar::Grammars::structure();
    /// let clm = g.professional.loops.iter().flat_map(|l| &l.body).find_map(|n| match n {
    ///     scrub837::grammar::Node::Segment(s) if s.id.as_bytes() == b"CLM" => Some(s),
    ///     _ => None,
    /// });
    /// assert!(clm.is_some_and(|s| s.elements.is_none()));
    /// assert_eq!(g.professional.loops.len(), scrub837::grammar::Grammars::embedded().professional.loops.len());
    /// ```
    pub fn structure() -> &'static Grammars {
        static CELL: OnceLock<Grammars> = OnceLock::new();
        CELL.get_or_init(|| Grammars {
            professional: Grammar::from_toml(EMBEDDED_837P)
                .expect("the embedded 837P map is valid"),
            institutional: Grammar::from_toml(EMBEDDED_837I)
                .expect("the embedded 837I map is valid"),
        })
    }

    /// The map for a GS08/ST03 version id.
    pub fn for_version(&self, version: &[u8]) -> Option<&Grammar> {
        [&self.professional, &self.institutional]
            .into_iter()
            .find(|g| g.reads(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_maps_compile() {
        let g = Grammars::embedded();
        for gr in [&g.professional, &g.institutional] {
            for kind in [
                "ST", "2000A", "2010AA", "2000B", "2010BA", "2010BB", "2000C", "2010CA", "2300",
                "2320", "2400",
            ] {
                let i = gr
                    .loop_index(kind)
                    .unwrap_or_else(|| panic!("{} lacks {kind}", gr.guide));
                assert_ne!(gr.loops[i].kind, LoopKind::Other);
            }
        }
        assert_eq!(g.professional.form, Form::Professional);
        assert_eq!(g.institutional.form, Form::Institutional);
    }

    #[test]
    fn pack_code_upper_cases_ascii_letters_only() {
        let slow = |v: &[u8]| -> Option<u64> {
            if v.len() > 7 {
                return None;
            }
            let mut k = (v.len() as u64) << 56;
            for (i, b) in v.iter().enumerate() {
                k |= u64::from(b.to_ascii_uppercase()) << (8 * i);
            }
            Some(k)
        };
        for b in 0..=255u8 {
            for len in 0..=8 {
                let v: Vec<u8> = (0..len)
                    .map(|i| b.wrapping_add((i as u8).wrapping_mul(37)))
                    .collect();
                assert_eq!(pack_code(&v), slow(&v), "{v:?}");
            }
        }
        assert_eq!(pack_code(b"abk"), pack_code(b"ABK"));
    }

    #[test]
    fn required_masks_name_the_required_nodes_of_each_group_range() {
        let gs = Grammars::embedded();
        for g in [&gs.professional, &gs.institutional] {
            for l in &g.loops {
                let groups = l.body.iter().map(Node::group).max().unwrap_or(0);
                for from in 0..=groups + 1 {
                    for to in (from..=groups + 2).chain([u32::MAX]) {
                        let want = l
                            .required_in(from, to)
                            .fold(0u64, |m, i| m | l.required_bit(i));
                        assert_eq!(
                            l.required_mask(from, to),
                            Some(want),
                            "{} {from}..{to}",
                            l.id
                        );
                        // Every required node has a bit of its own.
                        assert_eq!(want.count_ones() as usize, l.required_in(from, to).count());
                    }
                }
                // Each node's `needs` is the mask of the groups before it,
                // its `bit` its own.
                for (i, n) in l.body.iter().enumerate() {
                    let (needs, bit) = match n {
                        Node::Segment(sn) => (sn.needs, sn.bit),
                        Node::Loop(ln) => (ln.needs, ln.bit),
                    };
                    assert_eq!(Some(needs), l.required_mask(0, n.group()), "{}", l.id);
                    assert_eq!(bit, l.required_bit(i), "{} node {i}", l.id);
                }
            }
        }
    }

    #[test]
    fn match_strings() {
        let (_, (s, e, c, codes)) = parse_match(b"HI01-1=ABK|BK").unwrap();
        assert_eq!((s, e, c), (&b"HI"[..], 1, 1));
        assert_eq!(codes, vec![&b"ABK"[..], b"BK"]);
        assert!(all_consuming(parse_match).parse(&b"NM1=41"[..]).is_err());
        assert!(all_consuming(parse_match).parse(&b"NM101="[..]).is_err());
    }

    fn map(body: &str) -> std::result::Result<Grammar, String> {
        let text = format!("guide = \"X\"\nform = \"837P\"\ntitle = \"t\"\n{body}");
        Grammar::from_toml(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn broken_maps_name_the_problem() {
        let root =
            "[[loop]]\nid = \"ST\"\nname = \"r\"\nparent = \"\"\nusage = \"R\"\nrepeat = 1\n";
        let e = map(&format!("{root}body = [{{ loop = \"2000A\" }}]")).unwrap_err();
        assert!(e.contains("unknown loop 2000A"), "{e}");
        let e = map(&format!(
            "{root}body = [{{ segment = \"ST\", usage = \"X\", max = 1 }}]"
        ))
        .unwrap_err();
        assert!(e.contains("usage"), "{e}");
        let e = map(&format!(
            "{root}body = [{{ segment = \"ST\", usage = \"R\", max = 1, match = \"NM101=41\" }}]"
        ))
        .unwrap_err();
        assert!(e.contains("another segment"), "{e}");
        let e = map(&format!(
            "{root}body = [{{ segment = \"ST\", usage = \"R\", max = 1, extra = 1 }}]"
        ))
        .unwrap_err();
        assert!(e.contains("extra"), "{e}");
        assert!(map(&format!(
            "{root}body = [{{ segment = \"ST\", usage = \"R\", max = \">1\" }}]"
        ))
        .is_ok());
    }
}
