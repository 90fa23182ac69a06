//! Session ids and tokens: random, and the store keeps only a token's hash, compared in
//! constant time so that a wrong token's answer time says nothing about the right one.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Bytes of randomness in a token: 256 bits.
const TOKEN_BYTES: usize = 32;
/// Bytes of randomness in a session id: 128 bits, so that ids of many hosts never collide.
const ID_BYTES: usize = 16;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// A new session's id: 32 lowercase hex digits.
pub fn new_id() -> Result<String, getrandom::Error> {
    Ok(hex(&random::<ID_BYTES>()?))
}

/// A new token: 64 lowercase hex digits.
pub fn new_token() -> Result<String, getrandom::Error> {
    Ok(hex(&random::<TOKEN_BYTES>()?))
}

/// A host id when none is given: 16 hex digits.
pub fn new_host_id() -> Result<String, getrandom::Error> {
    Ok(hex(&random::<8>()?))
}

/// What the store keeps of a token.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `token` is the one whose hash is `expected`, in time independent of where they
/// differ.
pub fn matches(token: &str, expected: &[u8; 32]) -> bool {
    hash(token).ct_eq(expected).into()
}

/// [`matches`](fn@matches), remembering in `seen` the token that matched: once a token matched, later
/// calls compare with it in constant time instead of hashing (two SHA-256 blocks, about
/// 7,000 instructions, which was 4% of a `3 + 4` evaluation's server work). For a host's
/// memory only: the store keeps the hash alone.
pub fn matches_remembered(token: &str, expected: &[u8; 32], seen: &OnceLock<Box<[u8]>>) -> bool {
    if let Some(known) = seen.get() {
        return known.ct_eq(token.as_bytes()).into();
    }
    let ok = matches(token, expected);
    if ok {
        // Racing callers set it once, to the same bytes.
        let _ = seen.set(token.as_bytes().into());
    }
    ok
}

/// Whether `id` has the form of a session id (so that no longer or stranger string reaches
/// the store).
pub fn is_id(id: &str) -> bool {
    id.len() == 2 * ID_BYTES && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_the_right_one_matches() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(matches(&a, &hash(&a)));
        assert!(!matches(&b, &hash(&a)));
        assert!(!matches("", &hash(&a)));
        let id = new_id().unwrap();
        assert!(is_id(&id));
        assert!(!is_id(&format!("{id}0")));
        assert!(!is_id(&id.to_uppercase()));
        assert!(!is_id("../../etc/passwd0000000000000000"));
    }

    #[test]
    fn a_remembered_token_still_refuses_every_other() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        let seen = OnceLock::new();
        assert!(!matches_remembered(&b, &hash(&a), &seen));
        assert!(seen.get().is_none(), "a wrong token is not remembered");
        assert!(matches_remembered(&a, &hash(&a), &seen));
        assert_eq!(seen.get().map(|s| &s[..]), Some(a.as_bytes()));
        assert!(matches_remembered(&a, &hash(&a), &seen));
        for wrong in [&b[..], "", &a[..63], &format!("{a}0"), &a.to_uppercase()] {
            assert!(!matches_remembered(wrong, &hash(&a), &seen), "{wrong}");
        }
    }
}
