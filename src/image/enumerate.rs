//! An image's objects one after another, as a VM's `someInstance` and `nextInstance` walk
//! them: the base's objects in arena order, then the image's own in the order of its space.
//! Each object comes once, under the reference the image uses for it, so a walk that starts
//! from any object it answered reaches every later one exactly once.

use super::Image;
use crate::object::{Loc, FORWARDED};
use crate::{Error, Result, Value};

impl Image {
    /// The object after `after` (the first object with `None`), or `None` past the last.
    ///
    /// A base object this image copied comes as the base reference (what every reference to
    /// it reads as), and its private copy is skipped; a base object this image made `become`
    /// another is skipped (its references read as the other), as is a private object that a
    /// `become` forwarded. Refuses a reference that is no object of this image. A walk costs
    /// one look per object it passes, and a set of the image's copies per call that reaches
    /// its own objects.
    pub fn next_object(&self, after: Option<Value>) -> Result<Option<Value>> {
        let (base_from, private_from) = match after {
            None => (Some(0), 0),
            Some(v) if v.has_tag(self.base_tag) => {
                let n = self.heap.ordinal(v)?;
                (Some(n + 1), 0)
            }
            Some(v) if v.has_tag(self.own_tag) && self.space.is_start(v.index()) => {
                (None, v.index() + 1)
            }
            Some(v) if v.is_object() => return Err(Error::ForeignReference(v)),
            Some(v) => return Err(Error::NotAnObject(v)),
        };
        if let Some(from) = base_from {
            let own = self.resolutions.has_own();
            for n in from..self.heap.object_count() {
                let Some(obj) = self.heap.object(n) else {
                    break;
                };
                if !(own && matches!(self.resolutions.get(obj.index()), Some(Loc::Base(_)))) {
                    return Ok(Some(obj));
                }
            }
        }
        let copies: std::collections::HashSet<usize> = self
            .resolutions
            .iter()
            .filter_map(|(_, loc)| match loc {
                Loc::Private(p) => Some(p),
                Loc::Base(_) => None,
            })
            .collect();
        let mut at = private_from;
        while let Some(start) = self.space.next_start(at) {
            let forwarded = self
                .space
                .words
                .get(start)
                .is_none_or(|w| w & FORWARDED != 0);
            if !forwarded && !copies.contains(&start) {
                return Ok(Some(Value::object(self.incarnation, start as u64)));
            }
            at = start + 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::{BaseBuilder, Kernel, Value};

    #[test]
    fn a_walk_meets_every_object_once_under_the_reference_the_image_uses() {
        let mut b = BaseBuilder::new();
        let k = Kernel::install(&mut b).unwrap();
        let one = Value::small_int(1).unwrap();
        let kept = b.new_pointers(k.array, &[one]).unwrap();
        let copied = b.new_pointers(k.array, &[one]).unwrap();
        let other = b.new_pointers(k.array, &[one]).unwrap();
        let heap = b.seal().unwrap();
        let mut image = heap.new_image().unwrap();
        image
            .write(copied, 0, Value::small_int(2).unwrap())
            .unwrap();
        let own = image.new_pointers(k.array, &[one]).unwrap();
        let gone = image.new_pointers(k.array, &[one]).unwrap();
        let last = image.new_pointers(k.array, &[one]).unwrap();
        image.become_forward(gone, last).unwrap();

        let mut walk = Vec::new();
        let mut at = None;
        while let Some(obj) = image.next_object(at).unwrap() {
            walk.push(obj);
            at = Some(obj);
        }
        let base: Vec<Value> = heap.objects().collect();
        assert_eq!(&walk[..base.len()], &base[..], "the base, in arena order");
        assert_eq!(
            &walk[base.len()..],
            &[own, last],
            "then the image's own, once each"
        );
        assert!(walk.contains(&kept) && walk.contains(&copied) && walk.contains(&other));
        // From any object of the walk, the rest of it.
        assert_eq!(image.next_object(Some(copied)).unwrap(), Some(other));
        assert_eq!(image.next_object(Some(last)).unwrap(), None);
        assert!(image.next_object(Some(one)).is_err());
    }
}
