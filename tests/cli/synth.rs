//! Small valid 837 files built in tests, for property tests.

#![allow(dead_code)]

/// A service line: procedure code (None: an 837I revenue-only line),
/// charge in cents, revenue code.
#[derive(Clone, Debug)]
pub struct Line {
    pub code: Option<&'static str>,
    pub cents: u32,
    pub revenue: &'static str,
}

/// A claim: id, frequency code, lines, whether it has 2320 AMT.
#[derive(Clone, Debug)]
pub struct Claim {
    pub id: String,
    pub frequency: char,
    pub lines: Vec<Line>,
    pub other_payer_paid: bool,
}

fn amount(cents: u32) -> String {
    let whole = cents / 100;
    match cents % 100 {
        0 => whole.to_string(),
        c if c % 10 == 0 => format!("{whole}.{}", c / 10),
        c => format!("{whole}.{c:02}"),
    }
}

/// One interchange with one transaction of `form` ('P' or 'I'); each claim
/// under its own subscriber.
pub fn interchange(form: char, claims: &[Claim]) -> String {
    let version = if form == 'P' {
        "005010X222A1"
    } else {
        "005010X223A2"
    };
    let mut s: Vec<String> = vec![
        format!("ST*837*0001*{version}"),
        "BHT*0019*00*B1*20240601*1200*CH".into(),
        "NM1*41*2*SENDER*****46*S1".into(),
        "PER*IC*DESK*TE*5555550100".into(),
        "NM1*40*2*BCBSMA*****46*BCBSMA".into(),
        "HL*1**20*1".into(),
        "NM1*85*2*ONCOLOGY GROUP*****XX*1234567893".into(),
        "N3*1 MAIN ST".into(),
        "N4*BOSTON*MA*021101234".into(),
        "REF*EI*123456789".into(),
    ];
    for (i, c) in claims.iter().enumerate() {
        s.push(format!("HL*{}*1*22*0", i + 2));
        s.push("SBR*P*18*GRP1******BL".into());
        s.push(format!("NM1*IL*1*DOE*JANE****MI*M{i}"));
        s.push("NM1*PR*2*BCBSMA*****PI*BCBSMA".into());
        let total: u32 = c.lines.iter().map(|l| l.cents).sum();
        if form == 'P' {
            s.push(format!(
                "CLM*{}*{}***11:B:{}*Y*A*Y*Y",
                c.id,
                amount(total),
                c.frequency
            ));
        } else {
            s.push(format!(
                "CLM*{}*{}***13:A:{}**A*Y*Y",
                c.id,
                amount(total),
                c.frequency
            ));
            s.push("DTP*434*RD8*20240105-20240105".into());
            s.push("CL1*1*1*01".into());
        }
        if c.frequency != '1' {
            s.push("REF*F8*PAYER1".into());
        }
        s.push("REF*G1*CRL1".into());
        s.push("HI*ABK:C50911".into());
        if c.other_payer_paid {
            s.push("SBR*S*18*******CI".into());
            s.push(format!("AMT*D*{}", amount(total / 2)));
            s.push("OI***Y***Y".into());
            s.push("NM1*IL*1*DOE*JANE****MI*OTHER1".into());
            s.push("NM1*PR*2*OTHER PLAN*****PI*OTHER".into());
        }
        for (n, l) in c.lines.iter().enumerate() {
            s.push(format!("LX*{}", n + 1));
            match (form, l.code) {
                ('P', code) => s.push(format!(
                    "SV1*HC:{}*{}*UN*1***1",
                    code.unwrap_or("99213"),
                    amount(l.cents)
                )),
                (_, Some(code)) => s.push(format!(
                    "SV2*{}*HC:{code}*{}*UN*1",
                    l.revenue,
                    amount(l.cents)
                )),
                (_, None) => s.push(format!("SV2*{}**{}*UN*1", l.revenue, amount(l.cents))),
            }
            s.push("DTP*472*D8*20240105".into());
        }
    }
    let count = s.len() + 1;
    s.push(format!("SE*{count}*0001"));
    let mut out = String::from("ISA*00*          *00*          *ZZ*SENDER         *ZZ*BCBSMA         *240601*1200*^*00501*000000001*0*T*:~\n");
    out.push_str(&format!(
        "GS*HC*SENDER*BCBSMA*20240601*1200*1*X*{version}~\n"
    ));
    for seg in s {
        out.push_str(&seg);
        out.push_str("~\n");
    }
    out.push_str("GE*1*1~\nIEA*1*000000001~\n");
    out
}
