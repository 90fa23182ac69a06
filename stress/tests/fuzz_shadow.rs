//! The shadow-file reader's fuzz target (`fuzz/fuzz_targets/shadow.rs`) as a bounded property
//! test: damaged shadow files, from byte edits of a real one and from line edits (lines
//! dropped, repeated, moved first, cut short, a field replaced by one of the format's own
//! words), are refused with a typed error or read and verified; never a panic, never past the
//! time bound.

use cowheap_stress::fuzz::{self, Edit};
use proptest::prelude::*;

/// Words of the format and values at its edges, for field replacements.
const FIELDS: [&str; 25] = [
    "b0",
    "b1",
    "b",
    "p0",
    "p1",
    "b99999999",
    "p99999",
    "i0",
    "i9",
    "i1f",
    "-",
    "S",
    "W",
    "B",
    "M",
    "0",
    "1",
    "18446744073709551615",
    "zz",
    "\u{e9}",
    "",
    "become",
    "private",
    "forward",
    "written",
];

/// One line edit: `(line, kind, position, field)`, positions taken modulo what they index.
type LineEdit = (usize, u8, usize, usize);

fn edit_lines(text: &str, edits: &[LineEdit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for &(at, kind, pos, field) in edits {
        // Line 0 is the magic number: damage to it is the byte edits' business.
        let at = 1 + at % (lines.len() - 1).max(1);
        if at >= lines.len() {
            lines.push(String::new());
        }
        match kind % 5 {
            0 => {
                lines.remove(at);
                if lines.len() < 2 {
                    lines.push(String::new());
                }
            }
            1 => lines.insert(at, lines[at].clone()),
            2 => {
                let line = lines.remove(at);
                lines.insert(1, line);
            }
            3 => {
                let line = &mut lines[at];
                let cut = (0..=pos % (line.len() + 1))
                    .rev()
                    .find(|&c| line.is_char_boundary(c))
                    .unwrap_or(0);
                line.truncate(cut);
            }
            _ => {
                let mut words: Vec<&str> = lines[at].split(' ').collect();
                let k = pos % words.len();
                words[k] = FIELDS[field % FIELDS.len()];
                lines[at] = words.join(" ");
            }
        }
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn line_edits_are_refused_or_read(
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<usize>(), any::<usize>()), 1..4)
    ) {
        fuzz::shadow(edit_lines(fuzz::shadow_seed(), &edits).as_bytes());
    }

    #[test]
    fn byte_edits_are_refused_or_read(edits in prop::collection::vec(any::<Edit>(), 1..6)) {
        fuzz::shadow(&fuzz::mutate(fuzz::shadow_seed().as_bytes(), &edits));
    }

    #[test]
    fn arbitrary_bytes_are_refused(input in prop::collection::vec(any::<u8>(), 0..256)) {
        // Without the magic number and the pairing line nothing is read.
        prop_assert!(!fuzz::shadow(&input));
    }
}

/// The seed itself is accepted, and many of the line edits are refused: the target reaches
/// both sides (if every edit were accepted or refused, it would test one path only).
#[test]
fn the_seed_is_read_and_damage_is_refused() {
    let seed = fuzz::shadow_seed();
    assert!(seed.contains("\nprivate - "), "{seed}");
    assert!(fuzz::shadow(seed.as_bytes()));
    let refused = (0..64)
        .filter(|&i| !fuzz::shadow(edit_lines(seed, &[(i * 7, 4, i, i % 3 + 5)]).as_bytes()))
        .count();
    assert!(refused > 16, "{refused} of 64 refused");
}
