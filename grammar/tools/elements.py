#!/usr/bin/env python3
"""Writes grammar/837p-elements.toml and grammar/837i-elements.toml.

The element facts (which elements a segment has at each position of the
guide, their usage, data element number, code lists and the segment's
relational conditions) are read from pyx12's XML maps; data types and
lengths from its data element dictionary; the small external code lists
(states, countries, currencies, places of service) from its code list file.
Everything is written in this project's own format (grammar/README.md), keyed
to the body entries of grammar/837p.toml and 837i.toml so each definition
lands on exactly one entry.

Usage (pyx12 installed in .venv by .ci/run):

    .venv/bin/python grammar/tools/elements.py

Run it again after changing a loop map's `match`; the output is stable, so
a diff shows exactly what changed.
"""

import os
import sys
import tomllib
import xml.etree.ElementTree as ET

import pyx12

HERE = os.path.dirname(os.path.abspath(__file__))
GRAMMAR = os.path.dirname(HERE)
MAPS = os.path.join(os.path.dirname(pyx12.__file__), "map")

GUIDES = [
    ("837p", "837.5010.X222.A1.xml"),
    ("837i", "837Q3.I.5010.X223.A1.xml"),
]
# External lists small enough to bundle; the others are named in the maps
# and checked only when the user supplies them (`--code-list NAME=FILE`).
BUNDLED = ["states", "country", "currency", "pos"]
# Where the guide's length is tighter than the base standard's (pyx12 keeps
# the base length): CLM01, the patient control number, is at most 20.
LENGTHS = {"CLM01": (1, 20)}
# Where the guide's usage is stricter than pyx12's map: the 5010 guides
# require ST03, the implementation convention reference.
USAGES = {"ST03": "R"}
# External code sets the guides name in prose and pyx12 does not: the user
# supplies them with `--code-list NAME=FILE`. (segment, element, component)
# -> (list name, qualifier set the list applies behind, prefix length).
ICD10_CM = {"ABK", "ABF", "ABJ", "ABN", "APR"}
ICD10_PCS = {"BBR", "BBQ"}


def text(node, tag):
    child = node.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def data_elements():
    out = {}
    for d in ET.parse(os.path.join(MAPS, "dataele.xml")).getroot():
        out[d.get("ele_num")] = (d.get("data_type"), int(d.get("min_len")), int(d.get("max_len")))
    return out


def codes_of(el):
    vc = el.find("valid_codes")
    if vc is None:
        return None, None
    ext = vc.get("external")
    codes = [c.text.strip() for c in vc.findall("code") if c.text]
    return codes or None, ext


def loops_of(root):
    """First definition of every loop id, in document order."""
    found = {}
    for lp in root.iter("loop"):
        found.setdefault(lp.get("xid"), lp)
    return found


def qualifier_codes(seg, match):
    """The codes of the element `match` tests, or None for no match."""
    if match is None:
        return None
    name, codes = match.split("=")
    pos = name[len(text(seg, ".") or "") :]
    return sorted(codes.split("|"))


def element_codes(seg, at):
    """Valid codes of element `at` (`NM101`, `HI01-1`) in pyx12 segment `seg`."""
    seg_id = seg.get("xid")
    rest = at[len(seg_id):]
    if "-" in rest:
        e, c = rest.split("-")
        comp = seg.find(f"composite[seq='{int(e):02d}']")
        if comp is None:
            return None
        el = comp.find(f"element[seq='{int(c):02d}']")
    else:
        el = seg.find(f"element[seq='{rest}']")
    if el is None:
        return None
    codes, _ = codes_of(el)
    return sorted(codes or [])


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def external_for(seg_id, seq, parent, form, comp1_codes):
    """This project's external code list for an element, if any."""
    if seg_id == "HI" and parent and seq == 2:
        for name, quals in (("icd10-cm", ICD10_CM), ("icd10-pcs", ICD10_PCS)):
            hit = sorted(quals & set(comp1_codes or []))
            if hit:
                return name, "1=" + "|".join(hit), 0
    if (seg_id, parent, seq) in (("SV1", 1, 2), ("SV2", 2, 2)):
        return "hcpcs", "1=HC", 0
    if (seg_id, parent, seq) == ("PRV", 0, 3):
        return "taxonomy", None, 0
    if (seg_id, parent, seq) == ("N4", 0, 3):
        return "zip", None, 5
    if (form, seg_id, parent, seq) == ("837I", "SV2", 0, 1):
        return "revenue", None, 0
    return None


def element_line(seg_id, el, parent, dict_, form, comp1_codes=None):
    seq = int(text(el, "seq"))
    at = f"{seg_id}{parent:02d}-{seq}" if parent else f"{seg_id}{seq:02d}"
    ref = text(el, "data_ele")
    usage = USAGES.get(at, text(el, "usage"))
    parts = [f"at = {toml_str(at)}", f"ref = {toml_str(ref)}", f"usage = {toml_str(usage)}"]
    if usage != "N":
        typ, lo, hi = dict_[ref]
        lo, hi = LENGTHS.get(at, (lo, hi))
        parts.append(f"type = {toml_str(typ)}")
        parts.append(f"len = [{lo}, {hi}]")
        codes, ext = codes_of(el)
        if codes:
            parts.append("codes = [" + ", ".join(toml_str(c) for c in codes) + "]")
        if ext:
            parts.append(f"external = {toml_str(ext)}")
        own = None if codes or ext else external_for(seg_id, seq, parent, form, comp1_codes)
        if own:
            name, when, prefix = own
            parts.append(f"external = {toml_str(name)}")
            if when:
                parts.append(f"when = {toml_str(when)}")
            if prefix:
                parts.append(f"prefix = {prefix}")
        rx = text(el, "regex")
        if rx:
            if rx != "[0-9]{9}":
                sys.exit(f"unexpected pattern {rx} at {at}")
            parts.append("digits = 9")
    return "  { " + ", ".join(parts) + " },"


def segment_block(loop_id, entry, seg, dict_, form):
    seg_id = seg.get("xid")
    lines = ["[[segment]]", f"loop = {toml_str(loop_id)}", f"segment = {toml_str(seg_id)}"]
    if "match" in entry:
        lines.append(f"match = {toml_str(entry['match'])}")
    syntax = [s.text.strip() for s in seg.findall("syntax")]
    if syntax:
        lines.append("syntax = [" + ", ".join(toml_str(s) for s in syntax) + "]")
    lines.append("elements = [")
    for el in seg:
        if el.tag == "element":
            lines.append(element_line(seg_id, el, 0, dict_, form))
        elif el.tag == "composite":
            seq = int(text(el, "seq"))
            usage = text(el, "usage")
            parts = [
                f"at = {toml_str(f'{seg_id}{seq:02d}')}",
                f"ref = {toml_str(text(el, 'data_ele'))}",
                f"usage = {toml_str(usage)}",
                'type = "composite"',
            ]
            csyn = [s.text.strip() for s in el.findall("syntax")]
            if csyn:
                parts.append("syntax = [" + ", ".join(toml_str(s) for s in csyn) + "]")
            lines.append("  { " + ", ".join(parts) + " },")
            if usage != "N":
                subs = el.findall("element")
                comp1 = codes_of(subs[0])[0] if subs else None
                for sub in subs:
                    lines.append(element_line(seg_id, sub, seq, dict_, form, comp1))
    lines.append("]")
    return "\n".join(lines)


def find_segment(pyloop, entry):
    """The pyx12 segment of `pyloop` that body entry `entry` stands for."""
    seg_id = entry["segment"]
    want = None
    if "match" in entry:
        name, codes = entry["match"].split("=")
        want = (name, sorted(codes.split("|")))
    hits = []
    for seg in pyloop.findall("segment"):
        if seg.get("xid") != seg_id:
            continue
        if want is None or element_codes(seg, want[0]) == want[1]:
            hits.append(seg)
    if len(hits) != 1:
        sys.exit(f"{pyloop.get('xid')}: {entry} matches {len(hits)} pyx12 segments")
    return hits[0]


def write_guide(stem, xml_name, dict_):
    with open(os.path.join(GRAMMAR, f"{stem}.toml"), "rb") as f:
        loop_map = tomllib.load(f)
    root = ET.parse(os.path.join(MAPS, xml_name)).getroot()
    py_loops = loops_of(root)
    blocks = []
    for lp in loop_map["loop"]:
        pyloop = root if lp["id"] == "ST" else py_loops[lp["id"]]
        if lp["id"] == "ST":
            # ST, BHT and SE sit in the transaction's header and trailer tables.
            pyloop = ET.Element("loop")
            for seg in root.iter("segment"):
                if seg.get("xid") in ("ST", "BHT", "SE"):
                    pyloop.append(seg)
        for entry in lp["body"]:
            if "segment" in entry:
                seg = find_segment(pyloop, entry)
                blocks.append(segment_block(lp["id"], entry, seg, dict_, loop_map["form"]))
    head = [
        f"# Element definitions for {loop_map['guide']} ({loop_map['form']}), one table per",
        f"# segment entry of grammar/{stem}.toml. Format: grammar/README.md, \"Element",
        "# definitions\". Written by grammar/tools/elements.py from the facts in pyx12's",
        "# maps; edit by hand or regenerate.",
        "",
        f"guide = {toml_str(loop_map['guide'])}",
        "",
        "",
    ]
    with open(os.path.join(GRAMMAR, f"{stem}-elements.toml"), "w") as f:
        f.write("\n".join(head) + "\n\n".join(blocks) + "\n")


def write_codes():
    root = ET.parse(os.path.join(MAPS, "codes.xml")).getroot()
    out = [
        "# Code lists the guides name as external and that are small enough to",
        "# bundle. Written by grammar/tools/elements.py from pyx12's code list file.",
        "# Other external lists (remark codes, ICD-10, HCPCS, taxonomy, ZIP) are",
        "# checked only when given with `--code-list NAME=FILE`.",
        "",
    ]
    for cs in root.findall("codeset"):
        cid = text(cs, "id")
        if cid not in BUNDLED:
            continue
        codes = sorted({c.text.strip() for c in cs.iter("code") if c.text})
        out.append(f"{cid} = [")
        for i in range(0, len(codes), 16):
            out.append("  " + ", ".join(toml_str(c) for c in codes[i : i + 16]) + ",")
        out.append("]")
    with open(os.path.join(GRAMMAR, "codes.toml"), "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    dict_ = data_elements()
    for stem, xml_name in GUIDES:
        write_guide(stem, xml_name, dict_)
    write_codes()


if __name__ == "__main__":
    main()
