//! System: `flushCache` (89), `flushCacheByMethod:` (116), `flushCacheSelective:` (119),
//! `specialObjectsOop` (129), `millisecondClock` (135) and `secondsClock` (137, UTC).

use std::sync::OnceLock;
use std::time::Instant;

use super::common::{answer, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{int, Exec, MAX_INT};

/// Primitives 89, 116 and 119: the stores that changed the methods already dropped this
/// image's method cache; drop it anyway.
pub(crate) fn flush_cache(x: &mut Exec<'_>, c: Call) -> Result<Prim, RunError> {
    x.cache.flush();
    answer(Some(x.stack[c.ri]))
}

/// Primitive 129, `specialObjectsOop`.
pub(crate) fn special_objects(x: &mut Exec<'_>, _: Call) -> Result<Prim, RunError> {
    let specials = x.image.root("specialObjects")?;
    answer(Some(specials))
}

/// Primitive 135, `millisecondClock`: milliseconds since the first call, in 30 bits.
pub(crate) fn millisecond_clock(_: &mut Exec<'_>, _: Call) -> Result<Prim, RunError> {
    static START: OnceLock<Instant> = OnceLock::new();
    let ms = START.get_or_init(Instant::now).elapsed().as_millis() as i64;
    answer(Some(int(ms & MAX_INT)))
}

/// Primitive 137, `secondsClock`: seconds since 1 January 1901 (UTC here), a LargeInteger.
pub(crate) fn seconds_clock(x: &mut Exec<'_>, _: Call) -> Result<Prim, RunError> {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let v = x.large_integer(unix as i128 + 2_177_452_800)?;
    answer(Some(v))
}
