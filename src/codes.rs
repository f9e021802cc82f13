//! External code lists: the code sets the guides name but do not list.
//!
//! The small ones (US states and Canadian provinces, countries, currencies,
//! places of service) are bundled from `grammar/codes.toml`. The big or
//! licensed ones (ICD-10-CM, ICD-10-PCS, HCPCS, provider taxonomy, ZIP codes,
//! revenue codes, remark codes) are not: a user adds one with
//! `--code-list NAME=FILE` ([`CodeLists::add_text`]), and until then the
//! elements that name it are checked for type and length only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// The bundled lists as embedded in the binary.
pub const EMBEDDED_CODES: &str = include_str!("../grammar/codes.toml");

/// The names the element maps use for external lists, with what they hold.
pub const KNOWN_LISTS: &[(&str, &str)] = &[
    ("states", "US state and Canadian province codes (bundled)"),
    ("country", "country codes (bundled)"),
    ("currency", "currency codes (bundled)"),
    ("pos", "place of service codes (bundled)"),
    (
        "icd10-cm",
        "ICD-10-CM diagnosis codes, behind HI qualifiers ABK, ABF, ABJ, ABN, APR",
    ),
    (
        "icd10-pcs",
        "ICD-10-PCS procedure codes, behind HI qualifiers BBR, BBQ",
    ),
    (
        "hcpcs",
        "HCPCS and CPT procedure codes, behind SV101-1/SV202-1 = HC",
    ),
    ("taxonomy", "provider taxonomy codes (PRV03)"),
    ("zip", "five-digit ZIP codes (N403, first five digits)"),
    ("revenue", "NUBC revenue codes (837I SV201)"),
    ("remark_code", "remittance advice remark codes"),
];

/// Packs a code of up to eight bytes into an integer, exactly (no case
/// folding); `None` for longer ones. Shorter codes are padded with zero
/// bytes, which no code holds, so equal keys are equal codes.
#[inline]
pub(crate) fn pack_exact(v: &[u8]) -> Option<u64> {
    if v.len() > 8 {
        return None;
    }
    let mut k = 0u64;
    for (i, b) in v.iter().enumerate() {
        k |= u64::from(*b) << (8 * i);
    }
    Some(k)
}

/// One code list: upper-cased codes.
#[derive(Clone, Debug, Default)]
pub struct CodeList {
    /// Codes of up to eight bytes, packed, sorted: most lists are only these.
    packed: Vec<u64>,
    /// Longer codes.
    long: HashSet<Box<[u8]>>,
}

impl CodeList {
    fn from_codes(codes: impl IntoIterator<Item = Vec<u8>>) -> CodeList {
        let mut list = CodeList::default();
        for c in codes {
            match pack_exact(&c) {
                Some(k) => list.packed.push(k),
                None => {
                    list.long.insert(c.into_boxed_slice());
                }
            }
        }
        list.packed.sort_unstable();
        list.packed.dedup();
        list
    }

    /// Whether `code` is on the list (ignoring ASCII case).
    #[inline]
    pub fn contains(&self, code: &[u8]) -> bool {
        if code.iter().any(u8::is_ascii_lowercase) {
            return self.contains_exact(&code.to_ascii_uppercase());
        }
        self.contains_exact(code)
    }

    fn contains_exact(&self, code: &[u8]) -> bool {
        match pack_exact(code) {
            Some(k) => self.packed.binary_search(&k).is_ok(),
            None => self.long.contains(code),
        }
    }

    /// How many codes the list holds.
    pub fn len(&self) -> usize {
        self.packed.len() + self.long.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The external code lists known to a run, by name.
///
/// ```
/// use scrub837::codes::CodeLists;
/// let mut lists = CodeLists::bundled().clone();
/// assert!(lists.get("states").unwrap().contains(b"MA"));
/// assert!(lists.get("icd10-cm").is_none());
/// let n = lists.add_text("icd10-cm", "# code,description\nE11.9,Type 2 diabetes\nC50.911\n").unwrap();
/// assert_eq!(n, 2);
/// // ICD-10 codes are written without their dot in X12.
/// assert!(lists.get("icd10-cm").unwrap().contains(b"E119"));
/// assert!(lists.add_text("nonsense", "A\n").is_err());
/// ```
#[derive(Clone, Debug)]
pub struct CodeLists {
    /// By index into [`KNOWN_LISTS`].
    lists: Vec<Option<Arc<CodeList>>>,
}

impl Default for CodeLists {
    fn default() -> CodeLists {
        CodeLists {
            lists: vec![None; KNOWN_LISTS.len()],
        }
    }
}

/// The index of list `name` in [`KNOWN_LISTS`].
pub fn list_index(name: &str) -> Option<usize> {
    KNOWN_LISTS.iter().position(|(n, _)| *n == name)
}

impl CodeLists {
    /// No lists at all: external codes go unchecked.
    pub fn empty() -> CodeLists {
        CodeLists::default()
    }

    /// The bundled lists, parsed once.
    ///
    /// # Panics
    ///
    /// If the embedded `grammar/codes.toml` is broken, which the tests rule out.
    pub fn bundled() -> &'static CodeLists {
        static CELL: OnceLock<CodeLists> = OnceLock::new();
        CELL.get_or_init(|| {
            let raw: HashMap<String, Vec<String>> =
                toml::from_str(EMBEDDED_CODES).expect("the embedded code lists are valid");
            let mut lists = CodeLists::default();
            for (name, codes) in raw {
                let i = list_index(&name).expect("bundled lists are known lists");
                let list =
                    CodeList::from_codes(codes.iter().map(|c| c.to_ascii_uppercase().into_bytes()));
                lists.lists[i] = Some(Arc::new(list));
            }
            lists
        })
    }

    /// The list called `name`, if known.
    pub fn get(&self, name: &str) -> Option<&CodeList> {
        self.at(list_index(name)?)
    }

    /// The list at index `i` of [`KNOWN_LISTS`], if known.
    #[inline]
    pub fn at(&self, i: usize) -> Option<&CodeList> {
        self.lists.get(i)?.as_deref()
    }

    /// Adds (or replaces) list `name` from text: one code per line, the
    /// first field of the line (up to a comma, tab, `|` or blank), so a
    /// CSV or a vendor's fixed-width file works as it is. Blank lines and
    /// lines starting with `#` are skipped; dots are dropped from ICD-10
    /// codes. Returns how many codes the list holds.
    ///
    /// # Errors
    ///
    /// When `name` is not one of [`KNOWN_LISTS`] (a typo would otherwise
    /// check nothing) or the text holds no code.
    pub fn add_text(&mut self, name: &str, text: &str) -> Result<usize, String> {
        let Some(index) = list_index(name) else {
            let names: Vec<&str> = KNOWN_LISTS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "unknown code list {name:?}; the maps name {}",
                names.join(", ")
            ));
        };
        let icd = name.starts_with("icd10");
        let mut codes = HashSet::new();
        for line in text.lines() {
            let line = line.trim_start_matches('\u{feff}').trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let field = line
                .split([',', '\t', '|', ' '])
                .next()
                .unwrap_or("")
                .trim_matches('"');
            let mut code = field.to_ascii_uppercase();
            if icd {
                code.retain(|c| c != '.');
            }
            if !code.is_empty() {
                codes.insert(code.into_bytes());
            }
        }
        if codes.is_empty() {
            return Err(format!("code list {name:?} holds no code"));
        }
        let list = CodeList::from_codes(codes);
        let n = list.len();
        self.lists[index] = Some(Arc::new(list));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_lists_are_there() {
        let b = CodeLists::bundled();
        for name in ["states", "country", "currency", "pos"] {
            assert!(b.get(name).is_some_and(|l| l.len() > 10), "{name}");
        }
        assert!(b.get("pos").unwrap().contains(b"11"));
        assert!(!b.get("states").unwrap().contains(b"XX"));
    }

    #[test]
    fn user_lists_read_csv_and_plain_lines() {
        let mut l = CodeLists::empty();
        assert_eq!(
            l.add_text("hcpcs", "\u{feff}S0353\tcare plan\n\"S0354\",x\n\n# c\n")
                .unwrap(),
            2
        );
        assert!(l.get("hcpcs").unwrap().contains(b"s0353"));
        assert!(l.add_text("hcpcs", "# only a comment\n").is_err());
    }
}
