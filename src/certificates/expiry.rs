//! When a certificate expires: its notAfter read from the DER, and unix
//! times as dates for log lines, without an X.509 or a calendar crate in
//! the server for one field and one format.

/// A certificate's notAfter as unix time, read from its DER.
///
/// rustls checks no expiry of the server's own certificate, and the only
/// crate here that reads X.509 fields (x509-parser, behind rcgen's
/// optional feature) would bring nom, asn1-rs, der-parser and an OID
/// registry into the server for one date. The walk needs five fields of
/// RFC 5280's fixed order: Certificate { tbsCertificate { `[0]` version,
/// serialNumber, signature, issuer, validity { notBefore, notAfter } } }.
pub fn not_after(certificate: &[u8]) -> Option<i64> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der(certificate)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(certificate)? else {
        return None;
    };
    let (mut tag, _, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        // The explicit version; the serial number follows.
        (tag, _, rest) = der(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let (SEQUENCE, _, rest) = der(rest)? else {
        return None; // signature algorithm
    };
    let (SEQUENCE, _, rest) = der(rest)? else {
        return None; // issuer
    };
    let (SEQUENCE, validity, _) = der(rest)? else {
        return None;
    };
    let (_, _, after) = der(validity)?;
    let (tag, time, _) = der(after)?;
    parse_time(tag, time)
}

/// One DER element: its tag, its contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte))
    };
    (rest.len() >= len).then(|| {
        let (contents, after) = rest.split_at(len);
        (tag, contents, after)
    })
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`, tag 0x18) as unix time.
fn parse_time(tag: u8, time: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(time).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            // RFC 5280 4.1.2.5.1: 50-99 are 19xx, 00-49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 11 || !rest.ends_with('Z') {
        return None;
    }
    let field = |at: usize| rest.get(at..at + 2)?.parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a unix time (Hinnant's `civil_from_days`).
pub fn utc_date(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}
