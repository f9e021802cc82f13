#!/usr/bin/env python3
"""Writes the rule fixtures in this folder: small, valid 837 files that each
show one rule firing or not. Run it from anywhere; it rewrites the files.

Every file is one interchange, one group, one transaction, one billing
provider. A claim is (patient, id, lines, options); a line is
(code, charge, units, date, revenue code, modifiers, line auth).
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

SUB = {  # member id -> (last, first, dob)
    "M100": ("ALVAREZ", "ROSA", "19610203"),
    "M200": ("BECK", "OTTO", "19550911"),
    "M300": ("CHEN", "LI", "19700121"),
}

def isa(ctrl):
    return ("ISA*00*          *00*          *ZZ*TESTSENDER     *ZZ*BCBSMA         "
            "*240601*1200*^*00501*%09d*0*T*:" % ctrl)

def build(kind, claims, ctrl=1, bht="20240601"):
    """claims: list of dicts with keys member, dependent (optional (last, first, dob)),
    id, lines, auth (claim REF*G1), freq, f8."""
    version = "005010X222A1" if kind == "P" else "005010X223A2"
    body = []
    body.append("BHT*0019*00*B%d*%s*1200*CH" % (ctrl, bht))
    body.append("NM1*41*2*TEST SENDER*****46*TESTSENDER")
    body.append("PER*IC*DESK*TE*5555550100")
    body.append("NM1*40*2*BCBSMA*****46*BCBSMA")
    body.append("HL*1**20*1")
    body.append("NM1*85*2*ONCOLOGY GROUP*****XX*1234567893")
    body.append("N3*1 MAIN ST")
    body.append("N4*BOSTON*MA*021101234")
    body.append("REF*EI*123456789")
    hl = 1
    # group claims by (member, dependent)
    order = []
    groups = {}
    for c in claims:
        k = (c["member"], c.get("dependent"))
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(c)
    members = []
    for (m, dep) in order:
        if m not in members:
            members.append(m)
    for m in members:
        hl += 1
        sub_hl = hl
        deps = [d for (mm, d) in order if mm == m and d is not None]
        own = groups.get((m, None), [])
        child = 1 if deps else 0
        body.append("HL*%d*1*22*%d" % (sub_hl, child))
        body.append("SBR*P*%s*GRP1******BL" % ("" if deps and not own else "18"))
        last, first, dob = SUB[m]
        body.append("NM1*IL*1*%s*%s****MI*%s" % (last, first, m))
        body.append("DMG*D8*%s*F" % dob)
        body.append("NM1*PR*2*BCBSMA*****PI*BCBSMA")
        for c in own:
            body.extend(claim(kind, c))
        for d in deps:
            hl += 1
            body.append("HL*%d*%d*23*0" % (hl, sub_hl))
            body.append("PAT*19")
            body.append("NM1*QC*1*%s*%s" % (d[0], d[1]))
            body.append("N3*1 MAIN ST")
            body.append("N4*BOSTON*MA*021101234")
            body.append("DMG*D8*%s*M" % d[2])
            for c in groups[(m, d)]:
                body.extend(claim(kind, c))
    segs = ["ST*837*0001*%s" % version] + body
    segs.append("SE*%d*0001" % (len(segs) + 1))
    out = [isa(ctrl), "GS*HC*TESTSENDER*BCBSMA*20240601*1200*%d*X*%s" % (ctrl, version)]
    out += segs
    out += ["GE*1*%d" % ctrl, "IEA*1*%09d" % ctrl]
    return "~\n".join(out) + "~\n"

def amount(x):
    s = ("%.2f" % x).rstrip("0").rstrip(".")
    return s

def claim(kind, c):
    lines = c["lines"]
    total = sum(l[1] for l in lines)
    freq = c.get("freq", "1")
    out = []
    if kind == "P":
        out.append("CLM*%s*%s***11:B:%s*Y*A*Y*Y" % (c["id"], amount(total), freq))
    else:
        out.append("CLM*%s*%s***13:A:%s**A*Y*Y" % (c["id"], amount(total), freq))
        dates = [l[3] for l in lines if l[3]]
        span = c.get("statement", (min(dates), max(dates)) if dates else None)
        if span:
            out.append("DTP*434*RD8*%s-%s" % (span[0][:8], span[1][:8]))
        out.append("CL1*1*1*01")
    if c.get("auth"):
        out.append("REF*G1*%s" % c["auth"])
    if c.get("f8"):
        out.append("REF*F8*%s" % c["f8"])
    out.append("HI*ABK:C50911")
    for n, l in enumerate(lines, 1):
        code, charge, units, date, rev, mods, lauth = (list(l) + [None] * 7)[:7]
        out.append("LX*%d" % n)
        proc = ("HC:" + code + ("".join(":" + m for m in mods) if mods else "")) if code else ""
        if kind == "P":
            out.append("SV1*%s*%s*UN*%s***1" % (proc, amount(charge), amount(units)))
            if date:
                q = "RD8" if "-" in date else "D8"
                out.append("DTP*472*%s*%s" % (q, date))
            if lauth:
                out.append("REF*G1*%s" % lauth)
        else:
            rv = rev if rev is not None else "0960"
            if code is None:
                out.append("SV2*%s**%s*UN*%s" % (rv, amount(charge), amount(units)))
            else:
                out.append("SV2*%s*%s*%s*UN*%s" % (rv, proc, amount(charge), amount(units)))
            if date:
                out.append("DTP*472*D8*%s" % date)
    return out

def S(code, date, **kw):
    return (code, kw.get("charge", 300), kw.get("units", 1), date, kw.get("rev"), kw.get("mods"), kw.get("lauth"))

def OTHER(code, date, charge=450, rev="0335"):
    return (code, charge, 1, date, rev, None, None)

def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)

A = "CRL1001"
def c(member, id, lines, **kw):
    d = {"member": member, "id": id, "lines": lines, "auth": kw.pop("auth", A)}
    d.update(kw)
    return d

# standalone-claim and one-scode-per-claim
write("standalone-mixed.edi", build("P", [c("M100", "MIX1", [S("S0353", "20240105"), OTHER("96413", "20240105")])]))
write("standalone-alone.edi", build("P", [c("M100", "ALN1", [S("S0353", "20240105")]), c("M100", "ALN2", [OTHER("96413", "20240105")])]))
write("standalone-837i-revenue-only-line.edi", build("I", [c("M100", "RVO1", [S("S0353", "20240105"), OTHER(None, "20240105", rev="0250")])]))
write("two-scodes-one-claim.edi", build("P", [c("M100", "TWO1", [S("S0353", "20240105"), S("S0354", "20240215")])]))
# revenue codes
write("revenue-0510-and-960.edi", build("I", [c("M100", "REV1", [S("S0353", "20240105", rev="0510")]), c("M200", "REV2", [S("S0353", "20240105", rev="960")])]))
write("revenue-0980.edi", build("I", [c("M100", "LEG1", [S("S0354", "20240105", rev="0980")])]))
write("revenue-0960.edi", build("I", [c("M100", "GOOD1", [S("S0354", "20240105", rev="0960")])]))
# frequency: once, onset, interval, after-s0353, cap
write("s0353-jan.edi", build("P", [c("M100", "ONC1", [S("S0353", "20240105")])], ctrl=11))
write("s0353-again-mar.edi", build("P", [c("M100", "ONC2", [S("S0353", "20240305")])], ctrl=12))
write("s0353-dependent-same-member.edi", build("P", [c("M100", "DEP1", [S("S0353", "20240305")], dependent=("ALVAREZ", "TOMAS", "20100404"))], ctrl=13))
write("s0354-then-s0353.edi", build("P", [c("M200", "ONS1", [S("S0354", "20240110")]), c("M200", "ONS2", [S("S0353", "20240215")])]))
write("s0354-29-days-after-s0353.edi", build("P", [c("M200", "A1", [S("S0353", "20240101")]), c("M200", "A2", [S("S0354", "20240130")])]))
write("s0354-30-days-after-s0353.edi", build("P", [c("M200", "B1", [S("S0353", "20240101")]), c("M200", "B2", [S("S0354", "20240131")])]))
write("s0354-interval-29-and-30.edi", build("P", [c("M300", "I1", [S("S0353", "20240101")]), c("M300", "I2", [S("S0354", "20240201")]),
    c("M300", "I3", [S("S0354", "20240301")]), c("M300", "I4", [S("S0354", "20240302")])]))
import datetime
def series(n, start="20240101", member="M300", prefix="CAP"):
    d0 = datetime.date(int(start[:4]), int(start[4:6]), int(start[6:]))
    claims = [c(member, prefix + "0", [S("S0353", d0.strftime("%Y%m%d"))])]
    for i in range(1, n + 1):
        d = d0 + datetime.timedelta(days=31 * i)
        claims.append(c(member, "%s%d" % (prefix, i), [S("S0354", d.strftime("%Y%m%d"))]))
    return claims
write("s0354-eleven.edi", build("P", series(11)))
write("s0354-twelve.edi", build("P", series(12)))
# form-exclusive
write("form-p-jun3.edi", build("P", [c("M100", "FP1", [S("S0354", "20240603")])], ctrl=21))
write("form-i-jun3.edi", build("I", [c("M100", "FI1", [S("S0354", "20240603")])], ctrl=22))
write("form-i-jun4.edi", build("I", [c("M100", "FI2", [S("S0354", "20240604")])], ctrl=23))
# authorizations
write("auth-none.edi", build("P", [c("M100", "AN1", [S("S0353", "20240105")], auth=None)]))
write("auth-line-level.edi", build("P", [c("M100", "AL1", [S("S0353", "20240105", lauth="CRL1001")], auth=None)]))
write("auth-known.edi", build("P", [c("M100", "AK1", [S("S0353", "20240105")], auth="crl 1001")]))
write("auth-unknown.edi", build("P", [c("M100", "AU1", [S("S0353", "20240105")], auth="CRL9999")]))
write("auth-other-member.edi", build("P", [c("M200", "AO1", [S("S0353", "20240105")], auth="CRL1001")]))
write("auth-window-edges.edi", build("P", [c("M100", "AW1", [S("S0353", "20240101")]), c("M100", "AW2", [S("S0354", "20240630")]), c("M100", "AW3", [S("S0354", "20240801")])]))
write("auth.csv", "auth_number,member_id,valid_from,valid_to,program\nCRL1001,m100,2024-01-01,2024-06-30,QCCP\n")
write("auth.json", '[{"auth_number": "CRL1001", "member_id": "M100", "valid_from": "2024-01-01", "valid_to": "2024-06-30"}]\n')
# units
write("units.edi", build("P", [c("M100", "U1", [S("S0353", "20240105", units=2)]), c("M200", "U2", [S("S0353", "20240105", units=1)]), c("M300", "U3", [S("S0353", "20240105")])]).replace("SV1*HC:S0353*300*UN*1***1~\nDTP*472*D8*20240105~\nLX", "SV1*HC:S0353*300*UN*1.0***1~\nDTP*472*D8*20240105~\nLX", 1))
# timely filing: BHT04 2024-06-01; DOS 90 and 91 days before
write("timely-filing.edi", build("P", [c("M100", "T90", [S("S0353", "20240303")]), c("M200", "T91", [S("S0353", "20240302")])]))
write("policy-filing-90.toml", open(os.path.join(HERE, "..", "..", "..", "policy", "default.toml")).read().replace("filing_limit_days = 0", "filing_limit_days = 90"))
# service dates
write("date-missing-837p.edi", build("P", [c("M100", "DM1", [S("S0353", None)])]))
write("date-from-statement-837i.edi", build("I", [c("M100", "DS1", [S("S0353", None)], statement=("20240105", "20240105"))]))
write("date-rd8-range.edi", build("P", [c("M300", "R1", [S("S0353", "20240101-20240105")]), c("M300", "R2", [S("S0354", "20240131")])]))
# voids, replacements, modifiers, case
write("void-then-new-s0353.edi", build("P", [c("M100", "V1", [S("S0353", "20240105")]), c("M100", "V1", [S("S0353", "20240105")], freq="8", f8="PAYER77"),
    c("M100", "V2", [S("S0353", "20240301")])]))
write("replacement.edi", build("P", [c("M100", "RP1", [S("S0353", "20240105")]), c("M100", "RP1", [S("S0353", "20240105")], freq="7", f8="PAYER78")]))
write("modifiers-and-case.edi", build("P", [c("M100", "MC1", [S("S0353", "20240105", mods=["GT"])]), c("M100", "MC2", [S("S0353", "20240305")])]).replace("HC:S0353~", "hc:s0353~").replace("HC:S0353*300", "hc:s0353*300", 2))
print("ok")
# history store: one file per run
write("hist-s0353-jan01.edi", build("P", [c("M300", "H1", [S("S0353", "20240101")])], ctrl=31))
write("hist-s0354-jan30.edi", build("P", [c("M300", "H2", [S("S0354", "20240130")])], ctrl=32))
write("hist-s0354-jan31.edi", build("P", [c("M300", "H3", [S("S0354", "20240131")])], ctrl=33))
d12 = datetime.date(2024, 1, 1) + datetime.timedelta(days=31 * 12)
write("hist-s0354-twelfth.edi", build("P", [c("M300", "CAP12", [S("S0354", d12.strftime("%Y%m%d"))])], ctrl=34))
write("hist-void-h1.edi", build("P", [c("M300", "H1", [S("S0353", "20240101")], freq="8", f8="PAYER9")], ctrl=35))
write("hist-s0353-feb15.edi", build("P", [c("M300", "H4", [S("S0353", "20240215")])], ctrl=36))
write("hist-replace-h1.edi", build("P", [c("M300", "H1", [S("S0353", "20240102")], freq="7", f8="PAYER9")], ctrl=37))
