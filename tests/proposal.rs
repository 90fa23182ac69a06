//! The scenario of the 2014 "Lazy become for Copy On Write" proposal, step by step.

use cowheap::{BaseBuilder, Format, Kernel, Value};

#[test]
fn lazy_become_for_copy_on_write() {
    let mut builder = BaseBuilder::new();
    let kernel = Kernel::install(&mut builder).unwrap();
    let z_b = builder
        .new_object(kernel.object, Format::Pointers, 1)
        .unwrap();
    let base_holder = builder.new_pointers(kernel.array, &[z_b]).unwrap();
    let heap = builder.seal().unwrap();

    let mut image1 = heap.new_image().unwrap();
    let mut image2 = heap.new_image().unwrap();
    let a1 = image1.new_pointers(kernel.array, &[z_b]).unwrap();
    let b1 = image1.new_pointers(kernel.array, &[z_b]).unwrap();
    let a2 = image2.new_pointers(kernel.array, &[z_b]).unwrap();
    let b2 = image2.new_pointers(kernel.array, &[z_b]).unwrap();

    // Image 2 stores into zB: it gets its own copy z2.
    let two = Value::small_int(2).unwrap();
    image2.write(z_b, 0, two).unwrap();
    assert_eq!(image2.stats().copies, 1);
    assert_eq!(heap.census().forwarders, 1);

    // a2 and b2 reach z2; a1, b1 and the base reach the original zB.
    let fixups_before = image2.stats().fixups;
    let z2 = image2.read(a2, 0).unwrap();
    assert_ne!(z2, z_b, "image 2 gets a reference to its copy");
    assert_eq!(image2.read(z2, 0).unwrap(), two);
    assert_eq!(image2.read(b2, 0).unwrap(), z2);
    assert_eq!(image1.read(a1, 0).unwrap(), z_b);
    assert_eq!(image1.read(b1, 0).unwrap(), z_b);
    assert_eq!(image1.read(z_b, 0).unwrap(), kernel.nil);
    assert_eq!(heap.original_field(base_holder, 0).unwrap(), z_b);
    assert_eq!(heap.original_field(z_b, 0).unwrap(), kernel.nil);

    // Reading a2's slot fixed it up: it now points straight at z2, and the statistics saw it.
    assert_eq!(
        image2.stats().fixups,
        fixups_before + 2,
        "a2 and b2 were each fixed once"
    );
    let fixups_after = image2.stats().fixups;
    assert_eq!(image2.read(a2, 0).unwrap(), z2);
    assert_eq!(
        image2.stats().fixups,
        fixups_after,
        "a fixed slot needs no second fix-up"
    );
    let lookups = image2.stats().lookups;
    image2.read(a2, 0).unwrap();
    assert_eq!(
        image2.stats().lookups,
        lookups,
        "a fixed slot reaches z2 without the forwarder"
    );

    // A later store by image 1 gives it its own z1; image 2 still sees z2.
    let one = Value::small_int(1).unwrap();
    image1.write(z_b, 0, one).unwrap();
    let z1 = image1.read(a1, 0).unwrap();
    assert_ne!(z1, z_b);
    assert_eq!(image1.read(z1, 0).unwrap(), one);
    assert_eq!(image1.read(b1, 0).unwrap(), z1);
    assert_eq!(image2.read(a2, 0).unwrap(), z2);
    assert_eq!(image2.read(z2, 0).unwrap(), two);
    assert_eq!(
        image1.stats().entries_added,
        1,
        "image 1 joined image 2's forwarder"
    );
    assert_eq!(heap.census().forwarders, 1);
    assert_eq!(heap.census().entries, 2);
    assert_eq!(heap.original_field(z_b, 0).unwrap(), kernel.nil);
}
