use cowheap::{BaseBuilder, Format, Kernel, Value};

#[test]
fn cow_and_isolation_smoke() {
    let mut b = BaseBuilder::new();
    let k = Kernel::install(&mut b).unwrap();
    let z = b.new_object(k.object, Format::Pointers, 3).unwrap();
    let holder = b.new_pointers(k.array, &[z]).unwrap();
    let heap = b.seal().unwrap();
    let mut i1 = heap.new_image().unwrap();
    let mut i2 = heap.new_image().unwrap();
    let a2 = i2.new_pointers(k.array, &[z]).unwrap();
    i2.write(z, 0, Value::small_int(7).unwrap()).unwrap();
    assert_eq!(i2.read(z, 0).unwrap(), Value::small_int(7).unwrap());
    assert_eq!(i1.read(z, 0).unwrap(), k.nil);
    let via = i2.read(a2, 0).unwrap();
    assert_ne!(via, z);
    assert!(i2.identical(via, z).unwrap());
    assert_eq!(i2.stats().fixups, 1);
    let via_base = i2.read(holder, 0).unwrap();
    assert_eq!(via_base, via);
    assert_eq!(heap.census().forwarders, 1);
    drop(i2);
    assert_eq!(heap.census().entries, 0);
    let mut i3 = heap.new_image().unwrap();
    assert_eq!(i3.read(z, 0).unwrap(), k.nil);
}
