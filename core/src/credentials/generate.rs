//! Password generation with the policy of External Secrets' Password generator.

use javari_crds::credential::GeneratePolicy;

use crate::vault::SecretValue;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
const SYMBOLS: &[u8] = b"!#$%&*+-=?@^_~";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenerateError {
    #[error("length {length} is too long for {available} distinct characters without repeats")]
    TooLongWithoutRepeats { length: usize, available: usize },
    #[error("length {length} cannot hold one character of each of the {classes} enabled classes")]
    TooShort { length: usize, classes: usize },
    #[error("the OS random source failed: {0}")]
    Random(String),
}

/// A random value with at least one character of every enabled class.
pub fn generate(policy: &GeneratePolicy) -> Result<SecretValue, GenerateError> {
    let length = usize::try_from(policy.length).unwrap_or(0);
    let mut classes: Vec<&[u8]> = vec![LOWER];
    if policy.uppercase {
        classes.push(UPPER);
    }
    if policy.digits {
        classes.push(DIGITS);
    }
    if policy.symbols {
        classes.push(SYMBOLS);
    }
    let alphabet: Vec<u8> = classes.concat();
    if length < classes.len() {
        return Err(GenerateError::TooShort {
            length,
            classes: classes.len(),
        });
    }
    if !policy.allow_repeat && length > alphabet.len() {
        return Err(GenerateError::TooLongWithoutRepeats {
            length,
            available: alphabet.len(),
        });
    }
    let mut out = Vec::with_capacity(length);
    // One from each class first, then the rest from the whole alphabet, then shuffle.
    for class in &classes {
        push_unique(&mut out, class, policy.allow_repeat)?;
    }
    while out.len() < length {
        push_unique(&mut out, &alphabet, policy.allow_repeat)?;
    }
    for i in (1..out.len()).rev() {
        out.swap(i, uniform(i + 1)?);
    }
    Ok(SecretValue::new(out))
}

fn push_unique(out: &mut Vec<u8>, from: &[u8], allow_repeat: bool) -> Result<(), GenerateError> {
    loop {
        let c = from[uniform(from.len())?];
        if allow_repeat || !out.contains(&c) {
            out.push(c);
            return Ok(());
        }
    }
}

/// Uniform in `0..n` by rejection sampling over random u32s.
fn uniform(n: usize) -> Result<usize, GenerateError> {
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    let zone = u32::MAX - (u32::MAX % n32);
    loop {
        let mut buf = [0u8; 4];
        getrandom::fill(&mut buf).map_err(|e| GenerateError::Random(e.to_string()))?;
        let r = u32::from_le_bytes(buf);
        if r < zone {
            return Ok((r % n32) as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(length: i32, symbols: bool, allow_repeat: bool) -> GeneratePolicy {
        GeneratePolicy {
            length,
            digits: true,
            uppercase: true,
            symbols,
            allow_repeat,
        }
    }

    #[test]
    fn honours_length_and_classes() {
        for _ in 0..200 {
            let v = generate(&policy(16, true, true)).expect("generate");
            let s = v.expose();
            assert_eq!(s.len(), 16);
            assert!(s.iter().any(u8::is_ascii_lowercase));
            assert!(s.iter().any(u8::is_ascii_uppercase));
            assert!(s.iter().any(u8::is_ascii_digit));
            assert!(s.iter().any(|c| SYMBOLS.contains(c)));
        }
        let plain = generate(&GeneratePolicy {
            length: 40,
            digits: false,
            uppercase: false,
            symbols: false,
            allow_repeat: true,
        })
        .expect("generate");
        assert!(plain.expose().iter().all(u8::is_ascii_lowercase));
    }

    #[test]
    fn no_repeats_when_asked() {
        let v = generate(&policy(60, false, false)).expect("generate");
        let mut seen = v.expose().to_vec();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 60);
        assert_eq!(
            generate(&policy(100, false, false)).err(),
            Some(GenerateError::TooLongWithoutRepeats {
                length: 100,
                available: 62
            })
        );
    }

    #[test]
    fn values_differ() {
        let a = generate(&policy(32, false, true)).expect("a");
        let b = generate(&policy(32, false, true)).expect("b");
        assert_ne!(a, b);
    }
}
