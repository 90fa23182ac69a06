//! System: `flushCache` (89), `flushCacheByMethod:` (116), `flushCacheSelective:` (119),
//! `specialObjectsOop` (129), `garbageCollect` (130), `incrementalGarbageCollect` (131),
//! `millisecondClock` (135) and `secondsClock` (137, UTC).

use super::common::{answer, Call, Prim};
use crate::interp::limits::RunError;
use crate::interp::state::{self, int, Exec, MAX_INT};

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

/// Primitives 130 (`garbageCollect`) and 131 (`incrementalGarbageCollect`): collects this
/// image's private space and answers the bytes left under its cap, as `bytesLeft` does. The
/// receiver is on the stack, so it is a root; nothing else of the send is held here. While
/// the expression compiler holds references (see `Exec::may_collect`) it only answers.
pub(crate) fn garbage_collect(x: &mut Exec<'_>, _: Call) -> Result<Prim, RunError> {
    if x.may_collect {
        x.collect_garbage()?;
    }
    let left = x
        .limits
        .private_bytes
        .saturating_sub(x.image.private_bytes());
    answer(Some(int((left as i64).min(MAX_INT))))
}

/// Primitive 135, `millisecondClock`: milliseconds since the first call, in 30 bits: the
/// clock the image's timer (primitive 136) runs on.
pub(crate) fn millisecond_clock(_: &mut Exec<'_>, _: Call) -> Result<Prim, RunError> {
    answer(Some(int(state::millisecond_clock())))
}

/// Primitive 137, `secondsClock`: seconds since 1 January 1901 (UTC here), a LargeInteger.
pub(crate) fn seconds_clock(x: &mut Exec<'_>, _: Call) -> Result<Prim, RunError> {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let v = x.large_integer(unix as i128 + 2_177_452_800)?;
    answer(Some(v))
}

#[cfg(test)]
mod tests {
    use crate::interp::tests::{int, Run};

    #[test]
    fn flush_cache_answers_the_receiver_and_drops_the_cache() {
        let mut r = Run::new();
        let before = r.interp.cache_flushes();
        assert_eq!(r.answer(89, int(3), &[]), int(3));
        assert_eq!(r.answer(116, int(4), &[int(0)]), int(4));
        assert_eq!(r.answer(119, int(5), &[int(0)]), int(5));
        assert_eq!(r.interp.cache_flushes(), before + 3);
    }

    #[test]
    fn garbage_collect_frees_what_nothing_holds_and_answers_the_bytes_left() {
        let mut r = Run::new();
        let kept = r.image.new_pointers(r.t.k.array, &[int(7)]).unwrap();
        r.image.set_root("kept", kept).unwrap();
        for _ in 0..1000 {
            r.image.new_pointers(r.t.k.array, &[int(0); 8]).unwrap();
        }
        let before = r.image.private_bytes();
        let left = r.answer(130, int(3), &[]).as_small_int().unwrap() as usize;
        let after = r.image.private_bytes();
        assert!(after * 10 < before, "{after} of {before}");
        assert_eq!(left, (256 << 20) - after);
        assert_eq!(r.image.stats().collections, 1);
        let kept = r.image.root("kept").unwrap();
        assert_eq!(r.image.read(kept, 0).unwrap(), int(7));
        // 131 collects too.
        r.answer(131, int(3), &[]);
        assert_eq!(r.image.stats().collections, 2);
    }

    /// Squeak's weak objects (format 4): the fixed fields (the class format's instance size)
    /// hold strongly, the indexable ones lose private objects that died.
    #[test]
    fn weak_fields_lose_dead_objects_in_a_collection() {
        let mut r = Run::new();
        // A class whose format word says one fixed field: ((4 >> 1) & 0x3F) - 1.
        let nil = r.nil();
        let class = r
            .image
            .new_pointers(r.t.k.class, &[nil, nil, int(4)])
            .unwrap();
        let strong = r.image.new_pointers(r.t.k.array, &[int(1)]).unwrap();
        let dies = r.image.new_pointers(r.t.k.array, &[int(2)]).unwrap();
        let lives = r.image.new_pointers(r.t.k.array, &[int(3)]).unwrap();
        let weak = r.image.new_pointers(class, &[strong, dies, lives]).unwrap();
        r.image.set_language_format(weak, 4).unwrap();
        r.image.set_root("weak", weak).unwrap();
        r.image.set_root("lives", lives).unwrap();
        r.answer(130, int(3), &[]);
        let weak = r.image.root("weak").unwrap();
        let s = r.image.read(weak, 0).unwrap();
        assert_eq!(r.image.read(s, 0).unwrap(), int(1), "a fixed field holds");
        assert_eq!(r.image.read(weak, 1).unwrap(), nil, "its object died");
        let l = r.image.read(weak, 2).unwrap();
        let lives = r.image.root("lives").unwrap();
        assert!(r.image.identical(l, lives).unwrap());
    }

    #[test]
    fn special_objects_and_clocks() {
        let mut r = Run::new();
        let specials = r.t.specials;
        assert_eq!(r.answer(129, int(0), &[]), specials);
        let ms = r.answer(135, int(0), &[]).as_small_int().unwrap();
        assert!((0..1 << 30).contains(&ms));
        let secs = r.answer(137, int(0), &[]);
        assert_eq!(r.image.class_of(secs).unwrap(), r.t.large_positive);
        let value = r
            .image
            .bytes(secs)
            .unwrap()
            .iter()
            .rev()
            .fold(0u64, |v, &b| v << 8 | b as u64);
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(value.abs_diff(unix + 2_177_452_800) < 60, "{value}");
    }
}
