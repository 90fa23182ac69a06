//! The shadow file's text format, this harness's own: a magic line, the line naming the
//! delta it was saved with, then one record a line, every reference in logical identities
//! (see the module above for why and how).

use std::fmt::Write as _;
use std::path::Path;

use cowheap::Value;

use super::SavedError;
use crate::life::Life;
use crate::shadow::{Become, Body, Lid, Map, PrivateObj, Shadow, Stored, GONE};
use crate::Workload;

/// The shadow format's first line. Version 2 added the `delta` line (version 1 files, which
/// cannot be paired with their delta, are refused).
const MAGIC: &str = "cowheap-shadow 2";

fn lid_text(l: Lid) -> String {
    match l {
        Lid::Base(i) => format!("b{i}"),
        Lid::Private(j) => format!("p{j}"),
    }
}

fn stored_text(s: &Stored, out: &mut String) {
    match *s {
        Stored::Imm(v) => write!(out, " i{:x}", v.to_bits()),
        Stored::Ref(l) => write!(out, " {}", lid_text(l)),
    }
    .ok();
}

fn hex(bytes: &[u8], out: &mut String) {
    out.push(' ');
    if bytes.is_empty() {
        out.push('-');
    }
    for b in bytes {
        write!(out, "{b:02x}").ok();
    }
}

fn body_text(b: &Body, out: &mut String) {
    match b {
        Body::Slots(s) => {
            write!(out, " S {}", s.len()).ok();
            s.iter().for_each(|x| stored_text(x, out));
        }
        Body::Words(w) => {
            write!(out, " W {}", w.len()).ok();
            w.iter().for_each(|x| {
                write!(out, " {x}").ok();
            });
        }
        Body::Bytes(b) => {
            out.push_str(" B");
            hex(b, out);
        }
        Body::Method { literals, code } => {
            write!(out, " M {}", literals.len()).ok();
            literals.iter().for_each(|x| stored_text(x, out));
            hex(code, out);
        }
    }
}

/// The content hash that pairs a shadow with its delta.
fn delta_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The shadow of `life` in identities, paired with the delta `delta` (its bytes).
pub(super) fn shadow_text(life: &Life<'_>, delta: &[u8]) -> String {
    let w = life.w;
    let ordinals: Map<u64, usize> = life
        .img
        .private_objects()
        .iter()
        .enumerate()
        .map(|(n, v)| (v.to_bits(), n))
        .collect();
    let sh = &life.sh;
    let mut out = String::new();
    out.push_str(MAGIC);
    out.push('\n');
    writeln!(out, "delta {} {:016x}", delta.len(), delta_hash(delta)).ok();
    for p in &sh.private {
        // Where the object's reference is now: its ordinal among the private objects; a base
        // object's number where a collection rewrote the reference of an object that became
        // a base object; `-` where a collection freed it.
        let at = match w.oracle.index.get(&p.value) {
            _ if p.collected => "-".to_string(),
            Some(&i) => format!("b{i}"),
            None => ordinals
                .get(&p.value.to_bits())
                .copied()
                .unwrap_or(usize::MAX)
                .to_string(),
        };
        write!(out, "private {at} {}", p.hash).ok();
        body_text(&p.body, &mut out);
        out.push('\n');
    }
    for &i in &sh.written_order {
        if let Some(b) = sh.written.get(&i) {
            write!(out, "written {i}").ok();
            body_text(b, &mut out);
            out.push('\n');
        }
    }
    let mut forward: Vec<_> = sh.forward.iter().collect();
    forward.sort_by_key(|(a, _)| lid_text(**a));
    for (a, b) in forward {
        writeln!(out, "forward {} {}", lid_text(*a), lid_text(*b)).ok();
    }
    for b in &sh.becomes {
        writeln!(out, "become {} {}", lid_text(b.from.1), lid_text(b.to.1)).ok();
    }
    out
}

struct Reader<'a> {
    path: &'a Path,
    line: usize,
}

impl Reader<'_> {
    fn err(&self, reason: impl Into<String>) -> SavedError {
        SavedError::Shadow {
            path: self.path.to_owned(),
            line: self.line,
            reason: reason.into(),
        }
    }

    fn num<T: std::str::FromStr>(&self, t: Option<&str>) -> Result<T, SavedError> {
        t.and_then(|t| t.parse().ok())
            .ok_or_else(|| self.err("a number is missing or malformed"))
    }

    fn lid(&self, t: Option<&str>, privates: usize, bases: usize) -> Result<Lid, SavedError> {
        let t = t.ok_or_else(|| self.err("an identity is missing"))?;
        let mut chars = t.chars();
        let kind = chars.next();
        let n: Option<u32> = chars.as_str().parse().ok();
        match (kind, n) {
            (Some('b'), Some(n)) if (n as usize) < bases => Ok(Lid::Base(n)),
            (Some('p'), Some(n)) if (n as usize) < privates => Ok(Lid::Private(n)),
            _ => Err(self.err(format!("no object {t}"))),
        }
    }

    fn stored(&self, t: Option<&str>, privates: usize, bases: usize) -> Result<Stored, SavedError> {
        match t {
            Some(t) if t.starts_with('i') => {
                let bits =
                    u64::from_str_radix(&t[1..], 16).map_err(|_| self.err("an immediate"))?;
                // Only immediates the harness stores: SmallIntegers and Characters.
                let v = Value::small_int((bits as i64) >> 3)
                    .filter(|v| v.to_bits() == bits)
                    .or_else(|| {
                        u32::try_from(bits >> 3)
                            .ok()
                            .and_then(char::from_u32)
                            .map(Value::character)
                            .filter(|v| v.to_bits() == bits)
                    })
                    .ok_or_else(|| self.err("an immediate the harness never stores"))?;
                Ok(Stored::Imm(v))
            }
            t => Ok(Stored::Ref(self.lid(t, privates, bases)?)),
        }
    }

    fn bytes(&self, t: Option<&str>) -> Result<Vec<u8>, SavedError> {
        let t = t.ok_or_else(|| self.err("bytes are missing"))?;
        if t == "-" {
            return Ok(Vec::new());
        }
        if !t.is_ascii() {
            return Err(self.err("bytes that are not hex"));
        }
        if t.len() % 2 != 0 {
            return Err(self.err("odd hex"));
        }
        (0..t.len() / 2)
            .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).map_err(|_| self.err("hex")))
            .collect()
    }

    fn body<'t>(
        &self,
        it: &mut impl Iterator<Item = &'t str>,
        privates: usize,
        bases: usize,
    ) -> Result<Body, SavedError> {
        match it.next() {
            Some("S") => {
                let n: usize = self.num(it.next())?;
                Ok(Body::Slots(
                    (0..n)
                        .map(|_| self.stored(it.next(), privates, bases))
                        .collect::<Result<_, _>>()?,
                ))
            }
            Some("W") => {
                let n: usize = self.num(it.next())?;
                Ok(Body::Words(
                    (0..n)
                        .map(|_| self.num(it.next()))
                        .collect::<Result<_, _>>()?,
                ))
            }
            Some("B") => Ok(Body::Bytes(self.bytes(it.next())?)),
            Some("M") => {
                let n: usize = self.num(it.next())?;
                let literals = (0..n)
                    .map(|_| self.stored(it.next(), privates, bases))
                    .collect::<Result<_, _>>()?;
                Ok(Body::Method {
                    literals,
                    code: self.bytes(it.next())?,
                })
            }
            _ => Err(self.err("an unknown body kind")),
        }
    }
}

/// Rebuilds a shadow model for the resumed image `img`.
pub(super) fn read_shadow(
    path: &Path,
    text: &str,
    w: &Workload,
    privates: &[Value],
) -> Result<Shadow, SavedError> {
    let bases = w.oracle.objs.len();
    let mut r = Reader { path, line: 1 };
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err(r.err("not a shadow file of this harness"));
    }
    // The pairing line, checked by `pairing` before the delta was resumed.
    lines.next();
    r.line += 1;
    let private_count = text.lines().filter(|l| l.starts_with("private ")).count();
    let mut sh = Shadow::default();
    for line in lines {
        r.line += 1;
        let mut it = line.split(' ');
        match it.next() {
            Some("private") => {
                let (value, collected) = match it.next() {
                    Some("-") => (GONE, true),
                    Some(t) if t.starts_with('b') => match r.lid(Some(t), private_count, bases)? {
                        Lid::Base(i) => (w.oracle.objs[i as usize].value, false),
                        Lid::Private(_) => return Err(r.err("no such base object")),
                    },
                    t => {
                        let ordinal: usize = r.num(t)?;
                        let value = *privates
                            .get(ordinal)
                            .ok_or_else(|| r.err("no such private object in the delta"))?;
                        (value, false)
                    }
                };
                let hash = r.num(it.next())?;
                let body = r.body(&mut it, private_count, bases)?;
                if !collected {
                    sh.held.push(sh.private.len() as u32);
                }
                sh.private.push(PrivateObj {
                    value,
                    hash,
                    body,
                    collected,
                });
            }
            Some("written") => {
                let i: u32 = r.num(it.next())?;
                if i as usize >= bases {
                    return Err(r.err("no such base object"));
                }
                let body = r.body(&mut it, private_count, bases)?;
                sh.written_order.push(i);
                sh.written.insert(i, body);
            }
            Some("forward") => {
                let a = r.lid(it.next(), private_count, bases)?;
                let b = r.lid(it.next(), private_count, bases)?;
                sh.forward.insert(a, b);
            }
            Some("become") => {
                // A become is resolved to references as it is read: the private objects it
                // names must be defined by lines above it (the harness writes them first).
                let defined = sh.private.len();
                let a = r.lid(it.next(), private_count, bases)?;
                let b = r.lid(it.next(), private_count, bases)?;
                for lid in [a, b] {
                    if let Lid::Private(j) = lid {
                        if j as usize >= defined {
                            return Err(r.err(format!(
                                "a become of p{j} before the private line that defines it"
                            )));
                        }
                        if sh.private[j as usize].collected {
                            return Err(r.err(format!("a become of p{j}, which was collected")));
                        }
                    }
                }
                sh.becomes.push(Become {
                    from: (sh.value_of(&w.oracle, a), a),
                    to: (sh.value_of(&w.oracle, b), b),
                });
                sh.becomes_total += 1;
            }
            _ => return Err(r.err("an unknown record")),
        }
        if it.next().is_some() {
            return Err(r.err("trailing fields"));
        }
    }
    sh.reindex(&w.oracle);
    Ok(sh)
}

/// The delta the shadow `text` (at `path`) was saved with, by its length and XXH3 (its
/// second line). A shadow without a well-formed pairing line is refused as damaged.
pub(super) fn pairing(path: &Path, text: &str) -> Result<(u64, u64), SavedError> {
    let r = Reader { path, line: 2 };
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        let r = Reader { path, line: 1 };
        return Err(r.err(if text.starts_with("cowheap-shadow ") {
            "a shadow file of another version of this harness (save the deltas again)"
        } else {
            "not a shadow file of this harness"
        }));
    }
    let mut it = lines.next().unwrap_or("").split(' ');
    if it.next() != Some("delta") {
        return Err(r.err("no delta line (the delta's length and hash)"));
    }
    let len: u64 = r.num(it.next())?;
    let hash = it
        .next()
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| r.err("the delta's hash is missing or malformed"))?;
    if it.next().is_some() {
        return Err(r.err("trailing fields"));
    }
    Ok((len, hash))
}
