//! Value parsers for the options that take units or ranges, so that clap reports every bad
//! value in its one style (`error: invalid value 'x' for '--flag <V>': why`) and exits with the
//! usage code, before any work starts.

use std::time::Duration;

use cowheap_stress::{MAX_DURATION, MAX_SKEW, MIN_STACK_SIZE};

/// A fraction of ops, `0..=1`.
pub fn ratio(text: &str) -> Result<f64, String> {
    let r: f64 = text
        .parse()
        .map_err(|_| "not a number between 0 and 1".to_string())?;
    if !(0.0..=1.0).contains(&r) {
        return Err("must be between 0 and 1".into());
    }
    Ok(r)
}

/// A Zipf exponent, `0..=MAX_SKEW`.
pub fn skew(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("not a number between 0 and {MAX_SKEW}"))?;
    if !(0.0..=MAX_SKEW).contains(&s) {
        return Err(format!("must be between 0 and {MAX_SKEW}"));
    }
    Ok(s)
}

/// A positive duration of at most [`MAX_DURATION`] (a year): `30s`, `500ms`, `2m`, `1h 30m`
/// (humantime's units), or bare seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let too_long = || format!("must be at most a year ({} s)", MAX_DURATION.as_secs());
    let d = match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > MAX_DURATION.as_secs_f64() => return Err(too_long()),
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err("must be a positive number of seconds".into()),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{e} (a duration like 30s, 500ms, 2m or 1h)"))?,
    };
    if d.is_zero() {
        return Err("must be more than 0".into());
    }
    if d > MAX_DURATION {
        return Err(too_long());
    }
    Ok(d)
}

/// `run --time-limit`: a [`duration`], or `none` for no time bound.
pub fn time_limit(text: &str) -> Result<crate::run::TimeLimit, String> {
    if matches!(text.trim(), "none" | "off") {
        return Ok(crate::run::TimeLimit(None));
    }
    duration(text)
        .map(|d| crate::run::TimeLimit(Some(d)))
        .map_err(|e| format!("{e}, or none"))
}

/// A size in bytes, with an optional suffix in powers of 1024 (`parse-size`'s binary mode):
/// `256k`, `1m`, `1g`, `64KiB`, `2MB`, `1.5m`, `512`.
pub fn bytes(text: &str) -> Result<usize, String> {
    let b = parse_size::Config::new()
        .with_binary()
        .parse_size(text.trim())
        .map_err(|e| format!("{e}: not a size like 256k, 64KiB, 1m or 1g (powers of 1024)"))?;
    usize::try_from(b).map_err(|_| "too large".to_string())
}

/// A thread stack size: [`bytes`], at least [`MIN_STACK_SIZE`].
pub fn stack_size(text: &str) -> Result<usize, String> {
    let b = bytes(text)?;
    if b < MIN_STACK_SIZE {
        return Err(format!("must be at least {}k", MIN_STACK_SIZE / 1024));
    }
    Ok(b)
}

/// A count of at least one.
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}: not a whole number")),
    }
}

/// A base URL other hosts can reach: `http://` or `https://` and a host, with nothing after a
/// path (no query, no fragment), its trailing `/` dropped.
pub fn base_url(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err("must be http://HOST[:PORT][/PATH], with no query or fragment".into());
    }
    Ok(text.to_owned())
}

/// `--churn`'s value: a number of lifetimes, or `auto` (the default when the flag is bare).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChurnArg {
    /// 10 lifetimes per concurrent image, or until the time is up with `--duration`.
    Auto,
    /// This many lifetimes in all.
    Lifetimes(u64),
}

/// Parses [`ChurnArg`].
pub fn churn(text: &str) -> Result<ChurnArg, String> {
    if text == "auto" {
        return Ok(ChurnArg::Auto);
    }
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(ChurnArg::Lifetimes(n)),
        _ => Err("not a positive number of lifetimes (or `auto`)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_urls() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("-1").is_err());
        assert_eq!(base_url("http://a:8080/"), Ok("http://a:8080".into()));
        assert_eq!(base_url("https://a.b/x"), Ok("https://a.b/x".into()));
        for bad in [
            "notaurl",
            "http://",
            "ftp://a",
            "http:///x",
            "http://a?b",
            "http://a b",
        ] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(bytes("256k"), Ok(256 * 1024));
        assert_eq!(bytes("1g"), Ok(1 << 30));
        assert_eq!(bytes("64KiB"), Ok(64 * 1024));
        assert_eq!(bytes("2MB"), Ok(2 << 20));
        assert_eq!(bytes("512"), Ok(512));
        assert_eq!(bytes("1.5m"), Ok(3 << 19));
        assert!(bytes("1x").is_err());
        assert!(bytes("k").is_err());
        assert!(bytes("-1k").is_err());
        assert!(stack_size("32k").is_err());
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(duration("0s").is_err());
        assert!(duration("-1").is_err());
        assert!(duration("soon").is_err());
        assert!(duration("9300000000000000000s").is_err());
        assert!(duration("1e12").is_err());
        assert!(duration("366days").is_err());
        assert_eq!(duration("365days"), Ok(MAX_DURATION));
        assert!(ratio("1.5").is_err());
        assert!(ratio("NaN").is_err());
        assert!(skew("11").is_err());
        assert_eq!(churn("auto"), Ok(ChurnArg::Auto));
        assert!(churn("0").is_err());
    }
}
