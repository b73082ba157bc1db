//! One-time passwords: HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA-1, and the base32
//! (RFC 4648) form authenticator apps read. Pure functions; the console stores the secret
//! sealed and remembers the last accepted time step so a code cannot be replayed.

use hmac::{Hmac, KeyInit, Mac};

/// Seconds per time step.
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of the current one (clock drift).
pub const SKEW_STEPS: i64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// The HOTP value of `counter` with `digits` digits (RFC 4226 §5.3, dynamic truncation).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret)
        .expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[digest.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The time step of `unix_seconds` (RFC 6238 T, with T0 = 0).
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The TOTP code at `unix_seconds`, zero-padded to `digits`.
pub fn code_at(secret: &[u8], unix_seconds: i64, digits: u32) -> String {
    let value = hotp(secret, step_at(unix_seconds).max(0) as u64, digits);
    format!("{value:0width$}", width = digits as usize)
}

/// The step whose code `code` is, within ±[`SKEW_STEPS`] of `unix_seconds` and later than
/// `after_step` (the last step accepted, so a code works once). `None` when it matches none.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_seconds: i64,
    after_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_seconds);
    let mut found = None;
    // Every candidate is compared, so timing does not say which step matched.
    for step in (now - SKEW_STEPS)..=(now + SKEW_STEPS) {
        if step < 0 || after_step.is_some_and(|last| step <= last) {
            continue;
        }
        let expected = format!(
            "{:0width$}",
            hotp(secret, step as u64, DIGITS),
            width = DIGITS as usize
        );
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (case-insensitive; spaces and `=` padding ignored). `None` on other characters.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=')) {
        let value = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://totp/…` URI an authenticator app imports.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32_encode(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: the SHA-1 seed is the ASCII "12345678901234567890".
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_test_vectors() {
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(SEED, time, 8), code, "T = {time}");
        }
    }

    #[test]
    fn rfc_4226_hotp_test_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(hotp(SEED, counter as u64, 6), *value, "counter {counter}");
        }
    }

    #[test]
    fn six_digit_codes_verify_within_one_step_and_only_once() {
        let now = 1_111_111_111;
        let code = code_at(SEED, now, 6);
        assert_eq!(code, "050471");
        assert_eq!(verify(SEED, &code, now, None), Some(step_at(now)));
        assert_eq!(
            verify(SEED, &code, now + 30, None),
            Some(step_at(now)),
            "one step late"
        );
        assert_eq!(
            verify(SEED, &code, now - 30, None),
            Some(step_at(now)),
            "one step early"
        );
        assert_eq!(verify(SEED, &code, now + 61, None), None, "two steps late");
        assert_eq!(
            verify(SEED, &code, now, Some(step_at(now))),
            None,
            "replayed"
        );
        assert_eq!(verify(SEED, "12345", now, None), None);
        assert_eq!(verify(SEED, "abcdef", now, None), None);
        assert_eq!(verify(b"another secret", &code, now, None), None);
    }

    #[test]
    fn base32_round_trips_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base32_decode("mzxw 6==="), Some(b"foo".to_vec()));
        assert_eq!(base32_decode("MZ1"), None);
        let uri = otpauth_uri("Javari", "a b@x", SEED);
        assert!(uri.starts_with("otpauth://totp/Javari:a%20b@x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Javari"), "{uri}");
    }
}
