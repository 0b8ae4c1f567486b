//! RFC 3492 Punycode encoding, for one purpose: suggesting the A-label form of a
//! non-ASCII server name in an error message ([`to_ascii_suggestion`]).
//!
//! fedca never accepts or decodes Unicode names; the suggestion is a hint. It maps
//! what IDNA (UTS #46) maps in the common case — ASCII case and the ideographic full
//! stops — and offers nothing for input it would need Unicode normalisation or the
//! IDNA tables to map correctly (combining marks, characters with multi-character
//! lower cases), rather than a wrong suggestion.

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 0x80;

fn adapt(mut delta: u32, num_points: u32, first_time: bool) -> u32 {
    delta /= if first_time { DAMP } else { 2 };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

fn digit(d: u32) -> char {
    // 0..25 are a..z, 26..35 are 0..9 (RFC 3492 §5).
    match d {
        0..=25 => char::from(b'a' + d as u8),
        _ => char::from(b'0' + (d - 26) as u8),
    }
}

/// Encodes one label (RFC 3492 §6.3): the basic code points, a `-` delimiter when
/// there are any, then the deltas. `None` on overflow.
pub(crate) fn encode(input: &str) -> Option<String> {
    let chars: Vec<u32> = input.chars().map(u32::from).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let basic = u32::try_from(out.len()).ok()?;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias, mut h) = (INITIAL_N, 0u32, INITIAL_BIAS, basic);
    let total = u32::try_from(chars.len()).ok()?;
    while h < total {
        let m = chars.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in &chars {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, h + 1, h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// The A-label form of a host (`bücher.example` → `xn--bcher-kva.example`), or `None`
/// when fedca cannot tell it without Unicode normalisation (see the module docs).
pub(crate) fn to_ascii_suggestion(host: &str) -> Option<String> {
    let mut lower = String::with_capacity(host.len());
    for c in host.chars() {
        if is_combining(c) {
            return None;
        }
        let mut l = c.to_lowercase();
        match (l.next(), l.next()) {
            (Some(one), None) => lower.push(one),
            _ => return None,
        }
    }
    let labels: Vec<String> = lower
        .split(['.', '\u{3002}', '\u{ff0e}', '\u{ff61}'])
        .map(|label| {
            if label.is_ascii() {
                Some(label.to_string())
            } else {
                encode(label).map(|p| format!("xn--{p}"))
            }
        })
        .collect::<Option<_>>()?;
    let out = labels.join(".");
    (!out.is_empty()).then_some(out)
}

/// Combining marks, which NFC would compose with the character before them.
fn is_combining(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036f}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{fe20}'..='\u{fe2f}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3492 §7.1 sample strings (lower-case forms), and the classic one.
    #[test]
    fn rfc_3492_samples() {
        let cases = [
            ("b\u{fc}cher", "bcher-kva"),
            ("\u{fc}", "tda"),
            ("Bach", "Bach-"),
            // (A) Arabic (Egyptian)
            (
                "\u{644}\u{64a}\u{647}\u{645}\u{627}\u{628}\u{62a}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64a}\u{61f}",
                "egbpdaj6bu4bxfgehfvwxn",
            ),
            // (B) Chinese (simplified)
            (
                "\u{4ed6}\u{4eec}\u{4e3a}\u{4ec0}\u{4e48}\u{4e0d}\u{8bf4}\u{4e2d}\u{6587}",
                "ihqwcrb4cv8a8dqg056pqjye",
            ),
            // (C) Chinese (traditional)
            (
                "\u{4ed6}\u{5011}\u{7232}\u{4ec0}\u{9ebd}\u{4e0d}\u{8aaa}\u{4e2d}\u{6587}",
                "ihqwctvzc91f659drss3x8bo0yb",
            ),
            // (D) Czech
            (
                "Pro\u{10d}prost\u{11b}nemluv\u{ed}\u{10d}esky",
                "Proprostnemluvesky-uyb24dma41a",
            ),
            // (E) Hebrew
            (
                "\u{5dc}\u{5de}\u{5d4}\u{5d4}\u{5dd}\u{5e4}\u{5e9}\u{5d5}\u{5d8}\u{5dc}\u{5d0}\u{5de}\u{5d3}\u{5d1}\u{5e8}\u{5d9}\u{5dd}\u{5e2}\u{5d1}\u{5e8}\u{5d9}\u{5ea}",
                "4dbcagdahymbxekheh6e0a7fei0b",
            ),
            // (G) Japanese (kanji and hiragana)
            (
                "\u{306a}\u{305c}\u{307f}\u{3093}\u{306a}\u{65e5}\u{672c}\u{8a9e}\u{3092}\u{8a71}\u{3057}\u{3066}\u{304f}\u{308c}\u{306a}\u{3044}\u{306e}\u{304b}",
                "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa",
            ),
            // (I) Russian (Cyrillic)
            (
                "\u{43f}\u{43e}\u{447}\u{435}\u{43c}\u{443}\u{436}\u{435}\u{43e}\u{43d}\u{438}\u{43d}\u{435}\u{433}\u{43e}\u{432}\u{43e}\u{440}\u{44f}\u{442}\u{43f}\u{43e}\u{440}\u{443}\u{441}\u{441}\u{43a}\u{438}",
                "b1abfaaepdrnnbgefbadotcwatmq2g4l",
            ),
            // (J) Spanish
            (
                "Porqu\u{e9}nopuedensimplementehablarenEspa\u{f1}ol",
                "PorqunopuedensimplementehablarenEspaol-fmd56a",
            ),
            // (K) Vietnamese
            (
                "T\u{1ea1}isaoh\u{1ecd}kh\u{f4}ngth\u{1ec3}ch\u{1ec9}n\u{f3}iti\u{1ebf}ngVi\u{1ec7}t",
                "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g",
            ),
        ];
        for (decoded, encoded) in cases {
            assert_eq!(encode(decoded).as_deref(), Some(encoded), "{decoded}");
        }
    }

    #[test]
    fn suggestions_map_case_and_dots_and_refuse_what_needs_normalisation() {
        let s = |h: &str| to_ascii_suggestion(h);
        assert_eq!(
            s("B\u{fc}cher.example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(
            s("\u{4f8b}\u{3048}\u{3002}\u{30c6}\u{30b9}\u{30c8}").as_deref(),
            Some("xn--r8jz45g.xn--zckzah")
        );
        // "u" + combining diaeresis: NFC would make it ü; no guess.
        assert_eq!(s("bu\u{308}cher.example"), None);
    }
}
